/**
 * The spiking IR as a time-stepped ONNX model (`snnc export-onnx`), so that any ONNX runtime — onnxruntime on
 * CPU or GPU, TensorRT — can evaluate a data set densely, a whole batch per step.
 *
 * Graph (opset 17, batch dimension `N` dynamic; docs/export-onnx.md):
 *
 *   input [N, …]  ─÷ divisor─▶  the nodes fed only by the input (the analog first layers), once per sample
 *   Loop over T steps, carrying per IF population its membrane v and spike count, per mask its survivors'
 *   count, and the readout's accumulator; the body is one forward pass in the IR's topological order:
 *     IF:  v ← λ·v + I;  s = (v ≥ θ);  v ← v − s·θ (subtract) or 0 where s (zero);  out = s·θ
 *     signed IF / bursts: n = min(⌊v/θ⌋, k, t − S) or −min(⌈−v/θ⌉, k, S), with the tracer S as loop state
 *     RSM: out = in · keep[t]   (keep is a graph input: the simulator's counter-hash draws, made by snnc)
 *     matmul, softmax (host nodes): on this step's inputs (per-step) or on their running sums (accumulated)
 *     linear kinds: Conv, Gemm/MatMul, AveragePool, Reshape, Transpose, Concat, Gather, Add, Mul, ReduceMean
 *   outputs: logits [K, N, …] = accumulated readout / t at the K checked steps (1, 2, 4, …, T), and
 *   spikes.<id> [N, …]: spike counts per neuron of each population (and of each mask's survivors).
 *
 * The same rule as the event-driven simulator (runtime/snn/engine.ts), but in float32 and in whatever
 * summation order the runtime picks: a membrane within a few float32 ulps of θ can cross on one side here and
 * on the other there (the test and the docs state how often).
 */
import onnxProto from 'onnx-proto';
import { SnncError } from '../../compiler/errors.ts';
import { type FinalKind, isAnalog, isFinal, kindInfo, type NodeOf } from '../../compiler/ir/kinds.ts';
import { checkShapes } from '../../compiler/ir/shapes.ts';
import { type IfNode, type IrNode, leakOf, type MatMulNode, type RsmNode, type Shape, type SnnIr, type SoftmaxNode, spikeRuleOf } from '../../compiler/ir/types.ts';
import type { AttentionMode } from '../../runtime/snn/engine.ts';
import { sizeOf } from '../../runtime/ir/broadcast.ts';
import { draw32, dropBelow, maskKey } from '../../runtime/snn/rng.ts';
import { checkpointsFor } from '../../runtime/snn/simulate.ts';
import { checkSpikeRule, readoutOf } from '../../runtime/snn/plan.ts';

const { onnx } = onnxProto;
type INode = onnxProto.onnx.INodeProto;
type ITensor = onnxProto.onnx.ITensorProto;
type IAttr = onnxProto.onnx.IAttributeProto;
type IValueInfo = onnxProto.onnx.IValueInfoProto;

export const ONNX_OPSET = 17;
const IR_VERSION = 8;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const UINT8 = onnx.TensorProto.DataType.UINT8;
const BOOL = onnx.TensorProto.DataType.BOOL;

type AttrValue = number | number[] | string | { float: number } | { graph: onnxProto.onnx.IGraphProto };

function attribute(name: string, value: AttrValue): IAttr {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') return { name, type: T.INT, i: value };
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.GRAPH, g: value.graph };
}

function valueInfo(name: string, elemType: number, dims?: Array<number | string>): IValueInfo {
  const shape = dims ? { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } : undefined;
  return { name, type: { tensorType: { elemType, shape } } };
}

function floatTensor(name: string, dims: number[], data: ArrayLike<number>): ITensor {
  const f = Float32Array.from(data);
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
}

function int64Tensor(name: string, dims: number[], data: ArrayLike<number>): ITensor {
  const b = BigInt64Array.from(Array.from(data, (v) => BigInt(v)));
  return { name, dims, dataType: INT64, rawData: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) };
}

/** Appends nodes to one graph (the main graph or the loop body); constants all go to the main graph. */
class Builder {
  readonly nodes: INode[] = [];
  private n = 0;

  constructor(
    private readonly prefix: string,
    private readonly shared: Shared,
  ) {}

  /** One node with one output; returns the output's name. */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, label = type): string {
    // "v<n>/" first: no IR id can make an internal name equal a graph input or output name (spikes.<id>, …).
    const out = `${this.prefix}v${this.n++}/${label}`;
    this.nodes.push({ name: out, opType: type, input: inputs, output: [out], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return out;
  }

  float(dims: number[], data: ArrayLike<number>): string {
    return this.shared.constant('f', (name) => floatTensor(name, dims, data));
  }

  ints(data: number[], dims = [data.length]): string {
    return this.shared.constant('i', (name) => int64Tensor(name, dims, data));
  }

  scalar(value: number): string {
    return this.float([], [value]);
  }
}

/** The initializers (IR weights by name, anonymous constants numbered), shared by both graphs. */
class Shared {
  readonly initializers: ITensor[] = [];
  private readonly byIrName = new Map<string, string>();
  private k = 0;

  constructor(readonly ir: SnnIr) {}

  constant(kind: string, make: (name: string) => ITensor): string {
    const name = `const.${kind}${this.k++}`;
    this.initializers.push(make(name));
    return name;
  }

  /** An IR tensor as a float initializer (once per name and `tag`: w.<name>, or <tag>.<name> transformed). */
  tensor(name: string, node: IrNode, transform?: (data: Float32Array, dims: number[]) => { dims: number[]; data: ArrayLike<number> }, tag = 'w'): string {
    const key = `${tag}.${name}`;
    const known = this.byIrName.get(key);
    if (known) return known;
    const t = this.ir.tensors.get(name);
    if (!t) throw new SnncError(`tensor ${name} is missing`, { node: node.id, op: node.kind });
    const { dims, data } = transform ? transform(t.data, t.dims) : t;
    const out = key;
    this.initializers.push(floatTensor(out, dims, data));
    this.byIrName.set(key, out);
    return out;
  }
}

/** What one node's ONNX form is given: its inputs' value names and shapes (per sample), and where to add nodes. */
interface Ctx {
  b: Builder;
  shared: Shared;
  inputs: string[];
  inShapes: Shape[];
}

/** A linear kind's writer; a neuron or mask kind, which the loop body writes with its state; or a refusal. */
type Form<N> = { write: (node: N, ctx: Ctx) => string } | { loop: string } | { refused: string };

/**
 * The ONNX form of every final kind, or why it is refused (typed by the registry's FinalKind: a final kind
 * added without an entry is a type error).
 */
export const ONNX_FORMS: { [K in FinalKind]: Form<NodeOf<K>> } = {
  conv2d: {
    write: (node, { b, shared, inputs }) => {
      const w = shared.tensor(node.weight, node);
      const args = [inputs[0], w, ...(node.bias ? [shared.tensor(node.bias, node)] : [])];
      return b.op('Conv', args, { strides: node.strides, pads: node.pads, dilations: node.dilations, group: node.groups }, node.id);
    },
  },
  dense: {
    write: (node, { b, shared, inputs, inShapes }) => {
      const bias = node.bias ? shared.tensor(node.bias, node) : undefined;
      if (inShapes[0].length === 1) {
        return b.op('Gemm', [inputs[0], shared.tensor(node.weight, node), ...(bias ? [bias] : [])], { transB: 1 }, node.id);
      }
      // Over the last axis of a [N, …, in] tensor: MatMul by Wᵀ.
      const wt = shared.tensor(node.weight, node, (data, [out, inner]) => {
        const t = new Float32Array(data.length);
        for (let o = 0; o < out; o++) for (let k = 0; k < inner; k++) t[k * out + o] = data[o * inner + k];
        return { dims: [inner, out], data: t };
      }, 'wT');
      const y = b.op('MatMul', [inputs[0], wt], {}, node.id);
      return bias ? b.op('Add', [y, bias], {}, node.id) : y;
    },
  },
  avgpool2d: {
    write: (node, { b, inputs }) =>
      b.op('AveragePool', [inputs[0]], { kernel_shape: node.kernel, strides: node.strides, pads: node.pads, count_include_pad: node.countIncludePad ? 1 : 0 }, node.id),
  },
  reshape: { write: (node, { b, inputs }) => b.op('Reshape', [inputs[0], b.ints([-1, ...node.shape])], {}, node.id) },
  transpose: { write: (node, { b, inputs }) => b.op('Transpose', [inputs[0]], { perm: [0, ...node.perm.map((p) => p + 1)] }, node.id) },
  add: {
    write: (node, { b, inputs }) => {
      const terms = inputs.map((x, k) => (node.scales[k] === 1 ? x : b.op('Mul', [x, b.scalar(node.scales[k])], {}, node.id)));
      return terms.slice(1).reduce((acc, t) => b.op('Add', [acc, t], {}, node.id), terms[0]);
    },
  },
  bias: { write: (node, { b, shared, inputs }) => b.op('Add', [inputs[0], shared.tensor(node.value, node)], {}, node.id) },
  affine: {
    write: (node, { b, shared, inputs }) => {
      const y = b.op('Mul', [inputs[0], shared.tensor(node.scale, node)], {}, node.id);
      return b.op('Add', [y, shared.tensor(node.shift, node)], {}, node.id);
    },
  },
  concat: { write: (node, { b, inputs }) => b.op('Concat', inputs, { axis: node.axis + 1 }, node.id) },
  select: {
    write: (node, { b, shared, inputs }) => {
      const index = shared.constant('index', (name) => {
        const t = shared.ir.tensors.get(node.index);
        if (!t) throw new SnncError(`tensor ${node.index} is missing`, { node: node.id, op: node.kind });
        return int64Tensor(name, [t.data.length], t.data);
      });
      const flat = b.op('Reshape', [inputs[0], b.ints([0, -1])], {}, node.id);
      const picked = b.op('Gather', [flat, index], { axis: 1 }, node.id);
      return b.op('Reshape', [picked, b.ints([-1, ...node.shape])], {}, node.id);
    },
  },
  mean: { write: (node, { b, inputs }) => b.op('ReduceMean', [inputs[0]], { axes: node.axes.map((a) => a + 1), keepdims: node.keepdims ? 1 : 0 }, node.id) },
  matmul: { loop: 'MatMul of this step’s operands (per-step), or of their running sums (accumulated; state carried by the Loop)' },
  softmax: { loop: 'Softmax of this step’s input (per-step), or t·Softmax(S/t) of its running sum S (accumulated)' },
  if: { loop: 'membrane and spike count carried by the Loop; GreaterOrEqual, then Sub or Where' },
  rsm: { loop: 'multiplies by its keep.<id> input at step t; survivors counted' },
};

export interface ExportOnnxOptions {
  T: number;
  /** The rule of the analog (host) nodes, as simulate's --attention (default accumulated). */
  attention?: AttentionMode;
}

export interface OnnxTensorInfo {
  name: string;
  /** 'N' is the batch, 'T' the time steps. */
  shape: Array<number | string>;
  dtype: 'float32' | 'uint8';
  /** What it holds. */
  role: string;
}

export interface OnnxExportSummary {
  T: number;
  /** The steps whose logits are output (rows of `logits`). */
  checkpoints: number[];
  opset: number;
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  /** IR nodes evaluated once per sample (fed only by the input), and inside the loop. */
  static_nodes: number;
  loop_nodes: number;
  onnx_nodes: number;
  populations: number;
  masks: number;
  bytes: number;
}

function fail(node: IrNode, message: string): never {
  throw new SnncError(message, { node: node.id, op: node.kind });
}

/** θ or λ of an IF node as a constant broadcastable to [N, …shape]: a scalar, or per channel along `axis`. */
function perChannel(node: IfNode, value: number | number[], b: Builder, map: (v: number) => number = (v) => v): string {
  if (typeof value === 'number') return b.scalar(map(value));
  const dims = node.shape.map((d, a) => (a === node.axis ? d : 1));
  if (value.length !== node.shape[node.axis]) fail(node, `${value.length} values do not fit axis ${node.axis} of [${node.shape}]`);
  return b.float(dims, value.map(map));
}

/** Checks the IR as the simulator would (runtime/snn/plan.ts validate), naming what is refused. */
function check(ir: SnnIr): void {
  checkShapes(ir);
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  for (const node of ir.nodes) {
    if (!kindInfo(node.kind) || !isFinal(node.kind)) fail(node, `cannot export a ${node.kind} node: the compiler passes must replace it first`);
    const form = ONNX_FORMS[node.kind as FinalKind];
    if ('refused' in form) fail(node, `export-onnx: ${form.refused}`);
    checkSpikeRule(node, byId);
    if (node.kind === 'if') {
      const thetas = typeof node.threshold === 'number' ? [node.threshold] : node.threshold;
      for (const t of thetas) if (!(t > 0 && Number.isFinite(t))) fail(node, `threshold ${t} is not a positive number`);
      const leak = leakOf(node);
      for (const l of typeof leak === 'number' ? [leak] : leak) if (!(l > 0 && l <= 1)) fail(node, `leak ${l} is not within (0, 1]`);
    }
  }
  readoutOf(ir, byId);
  if (!(ir.input.divisor > 0)) throw new SnncError(`input divisor ${ir.input.divisor} is not a positive number`);
}

/** The name of a mask's input tensor and of a population's (or mask's) spike-count output. */
export const maskInputName = (id: string): string => `keep.${id}`;
export const spikeOutputName = (id: string): string => `spikes.${id}`;

/** Builds the ONNX model of an IR: its bytes and what it holds. Deterministic: same IR and T, same bytes. */
export function exportOnnx(ir: SnnIr, opts: ExportOnnxOptions): { bytes: Uint8Array; summary: OnnxExportSummary } {
  const { T } = opts;
  if (!(Number.isInteger(T) && T >= 1)) throw new SnncError(`T must be a positive integer, got ${T}`);
  check(ir);
  const checkpoints = checkpointsFor(T);
  const shared = new Shared(ir);
  const main = new Builder('', shared);
  const body = new Builder('step.', shared);
  const shapes = new Map<string, Shape>([[ir.input.id, ir.input.shape]]);
  for (const n of ir.nodes) shapes.set(n.id, n.shape);
  const ifNodes = ir.nodes.filter((n): n is IfNode => n.kind === 'if');
  const rsmNodes = ir.nodes.filter((n): n is RsmNode => n.kind === 'rsm');

  // Outside the loop: the input divided once, and every node fed only by it (the simulator's constant base).
  const INPUT = 'input';
  const outer = new Map<string, string>([[ir.input.id, main.op('Div', [INPUT, main.scalar(ir.input.divisor)], {}, 'input')]]);
  let staticNodes = 0;
  for (const node of ir.nodes) {
    // Analog nodes keep running sums in accumulated mode: always in the loop, as the simulator computes them.
    if (node.kind === 'if' || node.kind === 'rsm' || isAnalog(node.kind) || !node.inputs.every((x) => outer.has(x))) continue;
    outer.set(node.id, writeLinear(node, main, shared, node.inputs.map((x) => outer.get(x)!), shapes));
    staticNodes++;
  }

  // [N, …shape] from the input's batch size.
  const batch = main.op('Shape', [INPUT], { start: 0, end: 1 }, 'batch');
  const full = (shape: Shape) => main.op('Concat', [batch, main.ints(shape)], { axis: 0 }, 'shape');
  const zeros = (shape: Shape) => main.op('Expand', [main.scalar(0), full(shape)], {}, 'zeros');

  // Loop-carried state, in this order: per population v and count, per mask its count, the readout.
  const carried: Array<{ name: string; init: string }> = [];
  for (const node of ifNodes) {
    const v0 = perChannel(node, node.threshold, main, (t) => node.vInit * t);
    carried.push({ name: `v.${node.id}`, init: main.op('Expand', [v0, full(node.shape)], {}, 'v0') });
    carried.push({ name: `count.${node.id}`, init: zeros(node.shape) });
    if (graded(node)) carried.push({ name: `trace.${node.id}`, init: zeros(node.shape) });
  }
  for (const node of rsmNodes) carried.push({ name: `count.${node.id}`, init: zeros(node.shape) });
  const accumulated = (opts.attention ?? 'accumulated') === 'accumulated';
  if (opts.attention !== undefined && opts.attention !== 'accumulated' && opts.attention !== 'per-step') {
    throw new SnncError(`attention mode ${String(opts.attention)}: expected per-step or accumulated`);
  }
  const analogNodes = ir.nodes.filter((n): n is MatMulNode | SoftmaxNode => isAnalog(n.kind));
  if (accumulated) {
    for (const node of analogNodes) {
      node.inputs.forEach((x, k) => carried.push({ name: `sum${k}.${node.id}`, init: zeros(shapes.get(x)!) }));
      carried.push({ name: `g.${node.id}`, init: zeros(node.shape) });
    }
  }
  carried.push({ name: 'acc', init: zeros(ir.output.shape) });

  // The loop body: one step, every node not computed outside, in topological order.
  const ITER = 'step.t';
  const COND = 'step.cond';
  const state = new Map(carried.map((c) => [c.name, `step.in.${c.name}`]));
  const next = new Map<string, string>();
  const inner = new Map<string, string>(outer);
  /** Per population: 1 where a neuron sent a spike this step (a graded spike counts once), else 0. */
  const spikes01 = new Map<string, string>();
  let step: string | undefined;
  /** t = iteration + 1, as float (graded populations cap their net count at t). */
  const stepNumber = () => (step ??= body.op('Add', [body.op('Cast', [ITER], { to: FLOAT }, 't'), body.scalar(1)], {}, 't'));
  let loopNodes = 0;
  for (const node of ir.nodes) {
    if (outer.has(node.id)) continue;
    loopNodes++;
    const xs = node.inputs.map((x) => inner.get(x)!);
    if (node.kind === 'if') {
      const theta = perChannel(node, node.threshold, body);
      const leak = leakOf(node);
      let v = state.get(`v.${node.id}`)!;
      // λ = 1 skips the product, as the simulator's λ·v is then exactly v.
      if (!(typeof leak === 'number' && leak === 1)) v = body.op('Mul', [v, perChannel(node, leak, body)], {}, node.id);
      v = body.op('Add', [v, xs[0]], {}, node.id);
      let spiked: string;
      let out: string;
      let after: string;
      if (graded(node)) {
        ({ spiked, out, after } = gradedSpikes(node, body, v, theta, state.get(`trace.${node.id}`)!, stepNumber(), next));
      } else {
        const fired = body.op('GreaterOrEqual', [v, theta], {}, node.id);
        spiked = body.op('Cast', [fired], { to: FLOAT }, node.id);
        out = body.op('Mul', [spiked, theta], {}, node.id);
        after = node.reset === 'zero' ? body.op('Where', [fired, body.scalar(0), v], {}, node.id) : body.op('Sub', [v, out], {}, node.id);
      }
      next.set(`v.${node.id}`, after);
      next.set(`count.${node.id}`, body.op('Add', [state.get(`count.${node.id}`)!, spiked], {}, node.id));
      spikes01.set(node.id, spiked);
      inner.set(node.id, out);
    } else if (node.kind === 'rsm') {
      const keep = body.op('Cast', [body.op('Gather', [maskInputName(node.id), ITER], { axis: 0 }, node.id)], { to: FLOAT }, node.id);
      inner.set(node.id, body.op('Mul', [xs[0], keep], {}, node.id));
      const survivors = body.op('Mul', [spikes01.get(node.inputs[0])!, keep], {}, node.id);
      next.set(`count.${node.id}`, body.op('Add', [state.get(`count.${node.id}`)!, survivors], {}, node.id));
    } else if (node.kind === 'matmul' || node.kind === 'softmax') {
      inner.set(node.id, analogStep(node, body, xs, shapes, accumulated ? { state, next, t: stepNumber() } : undefined));
    } else {
      inner.set(node.id, writeLinear(node, body, shared, xs, shapes));
    }
  }
  next.set('acc', body.op('Add', [state.get('acc')!, inner.get(ir.output.id)!], {}, 'readout'));
  const accStep = body.op('Identity', [next.get('acc')!], {}, 'acc_t');
  const condOut = body.op('Identity', [COND], {}, 'cond');
  const bodyGraph: onnxProto.onnx.IGraphProto = {
    name: 'step',
    node: body.nodes,
    input: [valueInfo(ITER, INT64, []), valueInfo(COND, BOOL, []), ...carried.map((c) => valueInfo(state.get(c.name)!, FLOAT))],
    output: [valueInfo(condOut, BOOL, []), ...carried.map((c) => valueInfo(next.get(c.name)!, FLOAT)), valueInfo(accStep, FLOAT)],
  };

  const finals = carried.map((c) => `final.${c.name}`);
  const accSteps = 'final.acc_steps';
  main.nodes.push({
    name: 'loop',
    opType: 'Loop',
    input: [main.ints([T], []), '', ...carried.map((c) => c.init)],
    output: [...finals, accSteps],
    attribute: [attribute('body', { graph: bodyGraph })],
  });
  // logits[k] = accumulated readout after step t_k, divided by t_k.
  const picked = main.op('Gather', [accSteps, main.ints(checkpoints.map((t) => t - 1))], { axis: 0 }, 'checkpoints');
  const LOGITS = 'logits';
  main.nodes.push({ name: LOGITS, opType: 'Div', input: [picked, main.float([checkpoints.length, 1, ...ir.output.shape.map(() => 1)], checkpoints)], output: [LOGITS] });
  const countOutputs: OnnxTensorInfo[] = [];
  for (const node of [...ifNodes, ...rsmNodes]) {
    const name = spikeOutputName(node.id);
    main.nodes.push({ name, opType: 'Identity', input: [finals[carried.findIndex((c) => c.name === `count.${node.id}`)]], output: [name] });
    countOutputs.push({
      name,
      shape: ['N', ...node.shape],
      dtype: 'float32',
      role:
        node.kind === 'if'
          ? `spikes per neuron of population ${node.id} over T steps${graded(node) ? ' (a graded spike counts once, whatever its payload)' : ''}`
          : `spikes per neuron that passed mask ${node.id} over T steps`,
    });
  }

  const inputs: OnnxTensorInfo[] = [
    { name: INPUT, shape: ['N', ...ir.input.shape], dtype: 'float32', role: `raw samples (divided by ${ir.input.divisor} in the graph)` },
    ...rsmNodes.map((n): OnnxTensorInfo => ({
      name: maskInputName(n.id),
      shape: [T, 'N', ...n.shape],
      dtype: 'uint8',
      role: `1 where a spike of ${n.inputs[0]} passes mask ${n.id} (ratio ${n.ratio}) at step t; rsmMasks() makes the simulator's`,
    })),
  ];
  const outputs: OnnxTensorInfo[] = [
    { name: LOGITS, shape: [checkpoints.length, 'N', ...ir.output.shape], dtype: 'float32', role: `accumulated readout / t at t = ${checkpoints.join(', ')}` },
    ...countOutputs,
  ];
  const elem = (d: OnnxTensorInfo['dtype']) => (d === 'uint8' ? UINT8 : FLOAT);
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'snnc',
    producerVersion: ir.provenance.snnc,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    docString: `Time-stepped SNN from ${ir.provenance.source}: T = ${T}, logits at t = ${checkpoints.join(', ')}`,
    metadataProps: [
      { key: 'snnc.T', value: String(T) },
      { key: 'snnc.checkpoints', value: checkpoints.join(',') },
      { key: 'snnc.source_sha256', value: ir.provenance.sha256 },
    ],
    graph: {
      name: 'snn',
      node: main.nodes,
      initializer: shared.initializers,
      input: inputs.map((i) => valueInfo(i.name, elem(i.dtype), i.shape)),
      output: outputs.map((o) => valueInfo(o.name, elem(o.dtype), o.shape)),
    },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  return {
    bytes,
    summary: {
      T,
      checkpoints,
      opset: ONNX_OPSET,
      inputs,
      outputs,
      static_nodes: staticNodes,
      loop_nodes: loopNodes,
      onnx_nodes: main.nodes.length + body.nodes.length,
      populations: ifNodes.length,
      masks: rsmNodes.length,
      bytes: bytes.length,
    },
  };
}

/** Whether a population sends graded spikes (signed, or bursts of more than one): it keeps a tracer. */
function graded(node: IfNode): boolean {
  const { burst, signed } = spikeRuleOf(node);
  return signed || burst > 1;
}

/**
 * The graded rule of runtime/snn/wasm/kernels.wat `integrate`, with the tracer S (net spikes sent) as loop state:
 * n = min(floor(v/θ), burst, t − S) where v ≥ θ; n = −min(ceil(−v/θ), burst, S) where signed, v < 0 and S > 0;
 * else 0. The spike carries n·θ, v ← v − n·θ, S ← S + n; a neuron with n ≠ 0 sent one (graded) spike.
 */
function gradedSpikes(node: IfNode, b: Builder, v: string, theta: string, trace: string, t: string, next: Map<string, string>): { spiked: string; out: string; after: string } {
  const { burst, signed } = spikeRuleOf(node);
  const id = node.id;
  const k = b.scalar(burst);
  const zero = b.scalar(0);
  const ratio = b.op('Div', [v, theta], {}, id);
  const up = b.op('Min', [b.op('Floor', [ratio], {}, id), k, b.op('Sub', [t, trace], {}, id)], {}, id);
  let down = zero;
  let negative: string | undefined;
  if (signed) {
    negative = b.op('And', [b.op('Less', [v, zero], {}, id), b.op('Greater', [trace, zero], {}, id)], {}, id);
    down = b.op('Neg', [b.op('Min', [b.op('Ceil', [b.op('Neg', [ratio], {}, id)], {}, id), k, trace], {}, id)], {}, id);
  }
  const positive = b.op('GreaterOrEqual', [v, theta], {}, id);
  const n = b.op('Where', [positive, up, negative ? b.op('Where', [negative, down, zero], {}, id) : zero], {}, id);
  const out = b.op('Mul', [n, theta], {}, id);
  next.set(`trace.${id}`, b.op('Add', [trace, n], {}, id));
  const spiked = b.op('Cast', [b.op('Not', [b.op('Equal', [n, zero], {}, id)], {}, id)], { to: FLOAT }, id);
  return { spiked, out, after: b.op('Sub', [v, out], {}, id) };
}

/**
 * An analog (host) node's output this step. Per-step: f of this step's inputs. Accumulated (runtime/snn/engine.ts
 * analogStep): with S the running sums of the inputs and G(t) = t·f(S/t) — S_A·S_B/t for a matmul,
 * t·softmax(S/t) for a softmax — the output is G(t) − G(t−1), so the mean output up to t is f of the mean inputs.
 */
function analogStep(
  node: MatMulNode | SoftmaxNode,
  b: Builder,
  xs: string[],
  shapes: Map<string, Shape>,
  acc?: { state: Map<string, string>; next: Map<string, string>; t: string },
): string {
  const id = node.id;
  const sums = acc
    ? xs.map((x, k) => {
        const sum = b.op('Add', [acc.state.get(`sum${k}.${id}`)!, x], {}, id);
        acc.next.set(`sum${k}.${id}`, sum);
        return sum;
      })
    : xs;
  let g: string;
  if (node.kind === 'matmul') {
    // Both operands carry the batch axis first: a shorter one gets size-1 axes after it, so the leading axes
    // broadcast as the IR's per-sample shapes do (numpy aligns from the right).
    const [ra, rb] = node.inputs.map((x) => shapes.get(x)!.length);
    const align = (x: string, r: number) => (r < Math.max(ra, rb) ? b.op('Unsqueeze', [x, b.ints(Array.from({ length: Math.max(ra, rb) - r }, (_, i) => i + 1))], {}, id) : x);
    const product = b.op('MatMul', [align(sums[0], ra), align(sums[1], rb)], {}, id);
    g = acc ? b.op('Div', [product, acc.t], {}, id) : product;
  } else {
    g = acc ? b.op('Mul', [b.op('Softmax', [b.op('Div', [sums[0], acc.t], {}, id)], { axis: node.axis + 1 }, id), acc.t], {}, id) : b.op('Softmax', [sums[0]], { axis: node.axis + 1 }, id);
  }
  if (!acc) return g;
  acc.next.set(`g.${id}`, g);
  return b.op('Sub', [g, acc.state.get(`g.${id}`)!], {}, id);
}

function writeLinear(node: IrNode, b: Builder, shared: Shared, inputs: string[], shapes: Map<string, Shape>): string {
  const form = ONNX_FORMS[node.kind as FinalKind] as Form<IrNode>;
  if (!('write' in form)) fail(node, `export-onnx: ${'refused' in form ? form.refused : 'not a linear node'}`);
  return form.write(node, { b, shared, inputs, inShapes: node.inputs.map((x) => shapes.get(x)!) });
}

/**
 * The simulator's masks as the exported model's `keep.<id>` inputs: per RSM node (IR order = the plan's mask
 * index), uint8 [T, count, …shape], 1 where the draw of (seed, sample, step, mask, neuron) keeps the spike —
 * the same counter hash runtime/snn/engine.ts uses, so samples `sampleOffset …` see exactly its masks.
 */
export function rsmMasks(ir: SnnIr, T: number, seed: number, sampleOffset: number, count: number): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  ir.nodes
    .filter((n): n is RsmNode => n.kind === 'rsm')
    .forEach((node, m) => {
      const size = sizeOf(node.shape);
      const below = dropBelow(node.ratio);
      const keep = new Uint8Array(T * count * size);
      for (let t = 1; t <= T; t++) {
        for (let s = 0; s < count; s++) {
          const key = maskKey(seed >>> 0, sampleOffset + s, t, m);
          const base = ((t - 1) * count + s) * size;
          for (let i = 0; i < size; i++) keep[base + i] = draw32(key, i) < below ? 0 : 1;
        }
      }
      out.set(node.id, keep);
    });
  return out;
}
