/**
 * AnnGraph → IR, one ONNX node at a time, before any pass. Ops with a direct IR kind (Conv, Gemm,
 * BatchNorm, pooling, layout ops, Relu/ReLU6) map straight to it; other ops (Div, Mul, Floor, Clip, …)
 * are kept as `onnx` nodes for the capture passes. Shapes come from shape inference with batch 2, so a
 * reshape that moves the batch axis is caught here.
 *
 * Batch layout. Shape inference runs twice (batch 2 and 3); the one axis whose size changes is the
 * value's batch axis, and the change is its per-sample factor k. Most values are [N, ...] (axis 0, k = 1:
 * the sample shape drops the axis). Swin/MST windows fold the batch into the window axis,
 * [N·nW, tokens, C] (axis 0, k = nW: the sample keeps the axis with size nW), and MST's fused qkv is
 * permuted to [3, N·nW, heads, tokens, d] (axis 1) before `qkv[0]`. In every case the sample's elements in
 * C order are exactly the ONNX tensor's at batch 1, so index-only ops (Slice, Split, Gather with constant
 * indices) lower to one `select` node whose index map is the ANN kernel run on an iota tensor.
 *
 * Pad. PyTorch exports nn.AvgPool2d as a constant Pad (all zero without padding) and an AveragePool. A
 * constant zero Pad on the spatial axes has no node of its own: its pads are added to the pads of the Conv,
 * AveragePool or MaxPool that reads it, where that is exact (see foldPads); anything else is refused by name.
 */
import { SnncError } from '../errors.ts';
import type { AnnGraph, GraphNode, Tensor } from '../graph.ts';
import { tensorSize } from '../graph.ts';
import { inferShapes } from '../shapes.ts';
import { deriveShape } from '../ir/shapes.ts';
import type { IrNode, IrTensor, Shape, SnnIr } from '../ir/types.ts';
import { IR_FORMAT, IR_VERSION } from '../ir/types.ts';
import { kernels } from '../ops/kernels/index.ts';
import { padGeometry } from '../ops/rules.ts';

const BATCH = 2;

/** Where the batch sits in an ONNX value: axis, per-sample factor k (N·k along that axis), dims at batch 2. */
interface Layout {
  axis: number;
  k: number;
  dims: number[];
}

/** Ops that read their input only through its batch-1 C-order layout (the iota trick above). */
const SELECT_OPS = new Set(['Gather', 'Slice', 'Split']);
/** Ops that assume [N, C, ...] exactly (axis 0, k = 1). */
const STANDARD_ONLY = new Set(['Conv', 'Gemm', 'BatchNormalization', 'AveragePool', 'MaxPool', 'GlobalAveragePool', 'ReduceMean']);
const RESHAPES = new Set(['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze']);

/** Ops that only rename a value. */
const ALIASES = new Set(['Identity', 'Dropout']);

/** Ops whose own zero padding can take a Pad's. */
const PAD_CONSUMERS = new Set(['Conv', 'AveragePool', 'MaxPool']);

/** [top, left, bottom, right], as IR pads. */
type Pads2d = [number, number, number, number];

/** A value made by a non-zero Pad: the pads still to fold into its reader, and the Pad node for errors. */
interface PendingPad {
  pads: Pads2d;
  node: string;
}

export interface ImportOptions {
  /** Input scaling: the simulator divides raw input by this. */
  divisor: number;
  snncVersion: string;
  options: Record<string, unknown>;
}

export function importOnnx(graph: AnnGraph, opts: ImportOptions): SnnIr {
  const file = graph.source.path;
  if (graph.inputs.length !== 1) throw new SnncError(`snnc converts single-input models; this one has ${graph.inputs.length}`, { file });
  if (graph.outputs.length !== 1) throw new SnncError(`snnc converts single-output models; this one has ${graph.outputs.length}`, { file });
  const shapes = inferShapes(graph, BATCH);
  const shapes3 = inferShapes(graph, BATCH + 1);
  const layouts = new Map<string, Layout>();
  const layoutOf = (value: string, where: { file: string; node?: string; op?: string } = { file }): Layout => {
    const known = layouts.get(value);
    if (known) return known;
    const a = shapes.get(value)?.dims;
    const b = shapes3.get(value)?.dims;
    const axes = a && b && a.length === b.length ? a.map((_, i) => i).filter((i) => a[i] !== b[i]) : [];
    const axis = axes[0];
    const k = axes.length === 1 ? b![axis] - a![axis] : 0;
    if (axes.length !== 1 || k <= 0 || a![axis] !== BATCH * k) {
      throw new SnncError(`value ${value} does not keep one batch axis (shapes [${a ?? ''}] at batch 2, [${b ?? ''}] at batch 3)`, where);
    }
    const layout = { axis, k, dims: a! };
    layouts.set(value, layout);
    return layout;
  };
  /** Per-sample shape: the batch axis dropped (k = 1) or kept with size k (k > 1). */
  const irShapeOf = (value: string, where?: { file: string; node?: string; op?: string }): Shape => {
    const l = layoutOf(value, where);
    return l.k === 1 ? l.dims.filter((_, i) => i !== l.axis) : l.dims.map((d, i) => (i === l.axis ? l.k : d));
  };
  const sampleShape = (value: string): Shape => {
    const s = shapes.get(value);
    if (!s || s.dims[0] !== BATCH) throw new SnncError(`value ${value} does not keep the batch axis first`, { file });
    return s.dims.slice(1);
  };

  const input = graph.inputs[0];
  const tensors = new Map<string, IrTensor>();
  const ids = new Map<string, string>([[input.name, input.name]]); // ONNX value → IR node id
  const usedIds = new Set<string>([input.name]);
  const nodes: IrNode[] = [];
  const pendingPads = new Map<string, PendingPad>();

  const constant = (name: string): Tensor | undefined => graph.initializers.get(name);
  const addTensor = (name: string, dims: number[], data: Float32Array): string => {
    tensors.set(name, { dims, data });
    return name;
  };
  const constTensor = (name: string): string => {
    if (!tensors.has(name)) {
      const t = constant(name)!;
      addTensor(name, t.dims, Float32Array.from(t.data));
    }
    return name;
  };

  for (const node of graph.nodes) {
    const where = { file, node: node.name, op: node.op };
    refuseUnfoldablePad(node, pendingPads, file);
    if (ALIASES.has(node.op) || node.op === 'Pad') {
      ids.set(node.outputs[0], resolve(node.inputs[0], ids, where));
      const pads = node.op === 'Pad' ? padToFold(node, graph, shapes, layoutOf, where) : pendingPads.get(node.inputs[0])?.pads;
      if (pads) pendingPads.set(node.outputs[0], { pads, node: pendingPads.get(node.inputs[0])?.node ?? node.name });
      continue;
    }
    if (node.outputs.length !== 1 && node.op !== 'Split' && node.op !== 'BatchNormalization') {
      throw new SnncError(`${node.outputs.length} outputs are not supported for this op`, where);
    }
    const dynamicInputs = node.inputs.filter((x) => x !== '' && !constant(x));
    checkLayouts(node, dynamicInputs, layoutOf, where);
    const base = {
      id: uniqueId(node, usedIds),
      inputs: dynamicInputs.map((x) => resolve(x, ids, where)),
      shape: irShapeOf(node.outputs[0], where),
      onnx: [node.name],
    };
    const irNodes = SELECT_OPS.has(node.op)
      ? selectNodes(node, base, dynamicInputs, { opset: graph.opset, constant, addTensor, layoutOf, irShapeOf, usedIds, where })
      : [translate(node, base, { opset: graph.opset, constant, constTensor, addTensor, sampleShape, layoutOf, pendingPads, where })];
    irNodes.forEach((irNode, i) => {
      const inputShapes = irNode.inputs.map((id) => (id === input.name ? sampleShape(input.name) : nodes.find((n) => n.id === id)!.shape));
      const derived = deriveShape(irNode, inputShapes, tensors, irNode.shape);
      if (derived.join() !== irNode.shape.join()) {
        throw new SnncError(`shape mismatch: IR gives [${derived}], shape inference [${irNode.shape}]`, where);
      }
      nodes.push(irNode);
      ids.set(node.outputs[i], irNode.id);
    });
  }

  const padded = pendingPads.get(graph.outputs[0].name);
  if (padded) throw new SnncError('a Pad whose value is the model output cannot be folded into a following layer', { file, node: padded.node, op: 'Pad' });
  const outputId = resolve(graph.outputs[0].name, ids, { file });
  const output = nodes.find((n) => n.id === outputId);
  if (!output) throw new SnncError('the output is the input itself: nothing to convert', { file });
  return {
    format: IR_FORMAT,
    version: IR_VERSION,
    input: { id: input.name, shape: sampleShape(input.name), divisor: opts.divisor },
    nodes,
    output: { id: outputId, shape: output.shape },
    tensors,
    provenance: { source: file, sha256: graph.source.sha256, snnc: opts.snncVersion, options: opts.options },
  };
}

type Where = { file: string; node?: string; op?: string };

/**
 * The spatial pads of a Pad node to fold into its reader, or undefined when it pads nothing (then it is
 * only a new name, whatever its mode). Only constant zero padding of H and W equals a layer's own pads.
 */
function padToFold(node: GraphNode, graph: AnnGraph, shapes: Map<string, { dtype: Tensor['dtype']; dims: number[] }>, layoutOf: (v: string, w?: Where) => Layout, where: Where): Pads2d | undefined {
  const inputs = node.inputs.map((name, i) => (name === '' ? undefined : i > 0 ? (graph.initializers.get(name) ?? shapes.get(name)) : shapes.get(name)));
  const g = padGeometry({ node, opset: graph.opset, file: where.file }, inputs);
  if ([...g.begin, ...g.end].every((p) => p === 0)) return undefined;
  const fix = 'only a constant zero Pad of H and W is supported, folded into the next Conv, AveragePool or MaxPool';
  if (g.mode !== 'constant') throw new SnncError(`Pad mode ${g.mode} has no spiking conversion: ${fix}`, where);
  if (g.value !== 0) throw new SnncError(`Pad with the value ${g.value} has no spiking conversion: ${fix}`, where);
  const l = layoutOf(node.inputs[0], where);
  const spatialOnly = g.begin.length === 4 && l.axis === 0 && l.k === 1 && [0, 1].every((a) => g.begin[a] === 0 && g.end[a] === 0);
  if (!spatialOnly) throw new SnncError(`Pad of [${l.dims}] by [${g.begin}] before and [${g.end}] after pads more than H and W of an [N, C, H, W] value: ${fix}`, where);
  if ([...g.begin, ...g.end].some((p) => p < 0)) throw new SnncError(`Pad with negative pads (a crop) is not supported: ${fix}`, where);
  return [g.begin[2], g.begin[3], g.end[2], g.end[3]];
}

/** A padded value may only be read as the data input of a Conv, AveragePool or MaxPool (or renamed). */
function refuseUnfoldablePad(node: GraphNode, pendingPads: Map<string, PendingPad>, file: string): void {
  node.inputs.forEach((value, i) => {
    const pending = pendingPads.get(value);
    if (!pending || (i === 0 && (PAD_CONSUMERS.has(node.op) || ALIASES.has(node.op)))) return;
    throw new SnncError(`its padding cannot be folded into ${node.op} node ${node.name}: snnc folds a zero Pad only into a following Conv, AveragePool or MaxPool`, {
      file,
      node: pending.node,
      op: 'Pad',
    });
  });
}

/**
 * A layer's own pads plus those of a Pad before it. Conv pads with zeros, so the sum is exact. So is an
 * AveragePool with count_include_pad=1 (every zero counts), and one with count_include_pad=0 and no pads of
 * its own: its windows lie inside the padded input, so both divide by the whole window, as
 * count_include_pad=1 does. With pads of its own as well, the Pad's zeros would count and its own padding
 * not: one avgpool2d node has one rule, so that is refused. MaxPool is never simulated as a max: snnc
 * refuses it or averages it with padding counted as zeros (--maxpool avg), which the sum matches.
 */
function foldPads(own: Pads2d, pending: PendingPad | undefined, countIncludePad: boolean | undefined, where: Where): { pads: Pads2d; countIncludePad?: boolean } {
  if (!pending) return { pads: own, countIncludePad };
  const pads = own.map((p, i) => p + pending.pads[i]) as Pads2d;
  if (countIncludePad === false && own.some((p) => p !== 0)) {
    throw new SnncError(
      `a zero Pad (node ${pending.node}) before an AveragePool with pads of its own and count_include_pad=0 cannot be folded: the Pad's zeros count in the divisor and the pool's own padding does not`,
      where,
    );
  }
  return { pads, countIncludePad: countIncludePad === undefined ? undefined : true };
}

/** One-line errors for values whose batch layout an op cannot take (see "Batch layout" above). */
function checkLayouts(node: GraphNode, dynamicInputs: string[], layoutOf: (v: string, w?: Where) => Layout, where: Where): void {
  if (SELECT_OPS.has(node.op) || node.op === 'Transpose') return;
  const values = [...dynamicInputs, ...node.outputs.filter((x) => x !== '')];
  for (const v of values) {
    const l = layoutOf(v, where);
    if (RESHAPES.has(node.op)) {
      // C-order per sample needs nothing but size-1 axes before the batch axis.
      if (l.dims.slice(0, l.axis).some((d) => d !== 1)) {
        throw new SnncError(`a ${node.op} whose value ${v} has its batch axis at ${l.axis} behind non-unit axes is not supported`, where);
      }
    } else if (STANDARD_ONLY.has(node.op) ? l.axis !== 0 || l.k !== 1 : l.axis !== 0) {
      const what = l.axis !== 0 ? `its batch axis at ONNX axis ${l.axis}` : `the batch folded into axis 0 (N·${l.k})`;
      throw new SnncError(`${node.op} on value ${v} with ${what} is not supported`, where);
    }
  }
}

interface SelectHelpers {
  opset: number;
  constant(name: string): Tensor | undefined;
  addTensor(name: string, dims: number[], data: Float32Array): string;
  layoutOf(value: string, where?: Where): Layout;
  irShapeOf(value: string, where?: Where): Shape;
  usedIds: Set<string>;
  where: { file: string; node: string; op: string };
}

/**
 * Slice, Split and Gather with constant indices on a dynamic tensor: one `select` node per output. The index
 * map is the op's own ANN kernel applied to iota over the input's batch-1 layout (which is the sample's C
 * order), so every attribute form the executor supports (steps, negative starts, split sizes, negative
 * indices) lowers identically.
 */
function selectNodes(node: GraphNode, base: Base, dynamicInputs: string[], h: SelectHelpers): IrNode[] {
  const { where } = h;
  if (dynamicInputs.length !== 1 || dynamicInputs[0] !== node.inputs[0]) {
    throw new SnncError(`${node.op} with computed (non-constant) ${node.op === 'Gather' ? 'indices' : 'parameters'} is not supported`, where);
  }
  const l = h.layoutOf(node.inputs[0], where);
  const dims1 = l.dims.map((d, i) => (i === l.axis ? l.k : d));
  const n = tensorSize(dims1);
  if (n >= 1 << 24) throw new SnncError(`${node.op} over ${n} elements: index maps are limited to 2^24 elements`, where);
  const iota: Tensor = { dtype: 'float32', dims: dims1, data: Float32Array.from({ length: n }, (_, i) => i) };
  const inputs = node.inputs.map((x, i) => (i === 0 ? iota : x === '' ? undefined : h.constant(x)));
  const outs = kernels().get(node.op)!({ node, opset: h.opset, file: where.file }, inputs);
  return node.outputs.map((value, i) => {
    const lo = h.layoutOf(value, where);
    const want = lo.dims.map((d, a) => (a === lo.axis ? lo.k : d));
    if (outs[i].dims.join() !== want.join()) {
      throw new SnncError(`${node.op} selects along the batch axis (output [${outs[i].dims}] per sample, expected [${want}])`, where);
    }
    let id = base.id;
    if (i > 0) {
      id = `${base.id}_${i}`;
      for (let k = 2; h.usedIds.has(id); k++) id = `${base.id}_${i}_${k}`;
      h.usedIds.add(id);
    }
    const index = h.addTensor(`${id}.index`, [outs[i].data.length], Float32Array.from(outs[i].data));
    return { ...base, id, shape: h.irShapeOf(value, where), kind: 'select', index } as IrNode;
  });
}

function resolve(value: string, ids: Map<string, string>, where: { file: string; node?: string; op?: string }): string {
  const id = ids.get(value);
  if (!id) throw new SnncError(`value ${value} is computed from constants only; fold it before conversion`, where);
  return id;
}

/**
 * "/layer1/conv2/Conv" → "layer1/conv2": the module path, which is what users name layers by; the full
 * name when the module is taken ("blocks.0/attn/Transpose_1").
 */
function uniqueId(node: GraphNode, used: Set<string>): string {
  const parts = node.name.replace(/^\//, '').split('/');
  const last = parts[parts.length - 1];
  const opNamed = last === node.op || last.startsWith(`${node.op}_`);
  const candidates = [...(parts.length > 1 && opNamed ? [parts.slice(0, -1).join('/')] : []), parts.join('/') || node.op];
  let id = candidates.find((c) => !used.has(c)) ?? candidates[candidates.length - 1];
  for (let k = 2; used.has(id); k++) id = `${candidates[candidates.length - 1]}_${k}`;
  used.add(id);
  return id;
}

interface Helpers {
  opset: number;
  constant(name: string): Tensor | undefined;
  constTensor(name: string): string;
  addTensor(name: string, dims: number[], data: Float32Array): string;
  sampleShape(value: string): Shape;
  layoutOf(value: string, where?: Where): Layout;
  pendingPads: Map<string, PendingPad>;
  where: { file: string; node: string; op: string };
}

/** An ONNX axis of `value` as an axis of the sample (the batch axis itself only when it is folded, k > 1). */
function sampleAxis(h: Helpers, value: string, onnxAxis: number, what: string): number {
  const l = h.layoutOf(value, h.where);
  const axis = (onnxAxis + l.dims.length) % l.dims.length;
  if (l.k > 1) return axis;
  if (axis === l.axis) throw new SnncError(`${what} along the batch axis is not supported`, h.where);
  return axis > l.axis ? axis - 1 : axis;
}

type Base = Pick<IrNode, 'id' | 'inputs' | 'shape' | 'onnx'>;

function ints(node: GraphNode, name: string, fallback: number[]): number[] {
  const v = node.attrs[name];
  return Array.isArray(v) ? (v as number[]) : fallback;
}

function pair(v: number[]): [number, number] {
  return [v[0], v[1]];
}

/** ONNX pads are [x1_begin, x2_begin, x1_end, x2_end] = [top, left, bottom, right]; auto_pad computes them. */
function pads2d(node: GraphNode, inputHW: number[], kernel: number[], strides: number[], dilations: number[]): [number, number, number, number] {
  const autoPad = (node.attrs.auto_pad as string | undefined) ?? 'NOTSET';
  if (autoPad === 'NOTSET') {
    const p = ints(node, 'pads', [0, 0, 0, 0]);
    return [p[0], p[1], p[2], p[3]];
  }
  if (autoPad === 'VALID') return [0, 0, 0, 0];
  const total = [0, 1].map((i) => {
    const out = Math.ceil(inputHW[i] / strides[i]);
    return Math.max(0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - inputHW[i]);
  });
  const small = total.map((t) => Math.floor(t / 2));
  const big = total.map((t, i) => t - small[i]);
  return autoPad === 'SAME_UPPER' ? [small[0], small[1], big[0], big[1]] : [big[0], big[1], small[0], small[1]];
}

function scalarValue(t: Tensor | undefined): number | undefined {
  return t && tensorSize(t.dims) === 1 ? t.data[0] : undefined;
}

function translate(node: GraphNode, base: Base, h: Helpers): IrNode {
  const { where } = h;
  const inShape = () => h.sampleShape(node.inputs[0]);
  switch (node.op) {
    case 'Conv': {
      const w = h.constant(node.inputs[1]);
      if (!w) throw new SnncError('Conv with a computed (non-constant) weight is not supported', where);
      if (w.dims.length !== 4) throw new SnncError(`only 2-D convolution is supported (weight has rank ${w.dims.length})`, where);
      const strides = ints(node, 'strides', [1, 1]);
      const dilations = ints(node, 'dilations', [1, 1]);
      const { pads } = foldPads(pads2d(node, inShape().slice(1), w.dims.slice(2), strides, dilations), h.pendingPads.get(node.inputs[0]), undefined, where);
      const bias = node.inputs[2] ? h.constTensor(node.inputs[2]) : undefined;
      return {
        ...base, kind: 'conv2d', weight: h.constTensor(node.inputs[1]), ...(bias ? { bias } : {}),
        strides: pair(strides), pads, dilations: pair(dilations), groups: (node.attrs.group as number) ?? 1,
      };
    }
    case 'Gemm':
      return gemmToDense(node, base, h);
    case 'MatMul': {
      const b = h.constant(node.inputs[1]);
      if (!b && !h.constant(node.inputs[0])) return { ...base, kind: 'matmul' };
      if (!b) return keep(node, base, h);
      if (b.dims.length !== 2) throw new SnncError(`MatMul with a constant of rank ${b.dims.length} is not supported`, where);
      const [k, n] = b.dims;
      const wt = new Float32Array(k * n);
      for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) wt[j * k + i] = b.data[i * n + j];
      return { ...base, kind: 'dense', weight: h.addTensor(`${base.id}.weight`, [n, k], wt) };
    }
    case 'BatchNormalization':
      return {
        ...base, kind: 'batchnorm', scale: h.constTensor(node.inputs[1]), shift: h.constTensor(node.inputs[2]),
        mean: h.constTensor(node.inputs[3]), variance: h.constTensor(node.inputs[4]),
        epsilon: (node.attrs.epsilon as number) ?? 1e-5, axis: 0,
      };
    case 'Relu':
      return { ...base, kind: 'relu', value: node.outputs[0] };
    case 'Clip': {
      const lo = node.inputs[1] ? scalarValue(h.constant(node.inputs[1])) : (node.attrs.min as number | undefined);
      const hi = node.inputs[2] ? scalarValue(h.constant(node.inputs[2])) : (node.attrs.max as number | undefined);
      if (lo === 0 && hi === 6) return { ...base, kind: 'relu6', value: node.outputs[0] };
      if (lo === 0 && hi === undefined) return { ...base, kind: 'relu', value: node.outputs[0] };
      return keep(node, base, h);
    }
    case 'AveragePool':
    case 'MaxPool': {
      const kernel = ints(node, 'kernel_shape', []);
      if (kernel.length !== 2) throw new SnncError('only 2-D pooling is supported', where);
      if ((node.attrs.ceil_mode as number) === 1) throw new SnncError('ceil_mode=1 pooling is not supported', where);
      const strides = ints(node, 'strides', [1, 1]);
      const own = pads2d(node, inShape().slice(1), kernel, strides, [1, 1]);
      const pending = h.pendingPads.get(node.inputs[0]);
      if (node.op === 'MaxPool') return { ...base, kind: 'maxpool2d', kernel: pair(kernel), strides: pair(strides), pads: foldPads(own, pending, undefined, where).pads };
      const { pads, countIncludePad } = foldPads(own, pending, (node.attrs.count_include_pad as number) === 1, where);
      return { ...base, kind: 'avgpool2d', kernel: pair(kernel), strides: pair(strides), pads, countIncludePad: countIncludePad! };
    }
    case 'GlobalAveragePool': {
      const [, hh, ww] = inShape();
      return { ...base, kind: 'avgpool2d', kernel: [hh, ww], strides: [hh, ww], pads: [0, 0, 0, 0], countIncludePad: false };
    }
    case 'Flatten':
    case 'Reshape':
    case 'Squeeze':
    case 'Unsqueeze':
      return { ...base, kind: 'reshape' };
    case 'Transpose': {
      const li = h.layoutOf(node.inputs[0], where);
      const lo = h.layoutOf(node.outputs[0], where);
      const perm = ints(node, 'perm', li.dims.map((_, i) => li.dims.length - 1 - i));
      if (perm[lo.axis] !== li.axis) throw new SnncError('a Transpose that moves the batch axis is not supported', where);
      // k = 1: the batch axis leaves the permutation; k > 1: it is a sample axis like any other.
      const irPerm = li.k > 1 ? perm : perm.filter((_, j) => j !== lo.axis).map((p) => (p > li.axis ? p - 1 : p));
      return { ...base, kind: 'transpose', perm: irPerm };
    }
    case 'Add':
      if (base.inputs.length === 2) return { ...base, kind: 'add', scales: [1, 1] };
      return keep(node, base, h);
    case 'Concat': {
      if (base.inputs.length !== node.inputs.length) return keep(node, base, h);
      const axis = sampleAxis(h, node.outputs[0], node.attrs.axis as number, 'Concat');
      return { ...base, kind: 'concat', axis };
    }
    case 'Softmax': {
      const rank = h.layoutOf(node.outputs[0], where).dims.length;
      const onnxAxis = (((node.attrs.axis as number | undefined) ?? -1) + rank) % rank;
      if (h.opset < 13 && onnxAxis !== rank - 1) throw new SnncError('Softmax before opset 13 flattens the trailing axes; only the last axis is supported', where);
      return { ...base, kind: 'softmax', axis: sampleAxis(h, node.outputs[0], onnxAxis, 'Softmax') };
    }
    case 'ReduceMean': {
      const rank = inShape().length + 1;
      const axes = node.inputs[1] ? Array.from(h.constant(node.inputs[1])?.data ?? []) : ints(node, 'axes', []);
      if (axes.length === 0) throw new SnncError('ReduceMean over all axes (including the batch) is not supported', where);
      const normalized = axes.map((a) => (a + rank) % rank);
      if (normalized.includes(0)) throw new SnncError('ReduceMean over the batch axis is not supported', where);
      return { ...base, kind: 'mean', axes: normalized.map((a) => a - 1).sort((a, b) => a - b), keepdims: ((node.attrs.keepdims as number) ?? 1) === 1 };
    }
    default:
      return keep(node, base, h);
  }
}

function gemmToDense(node: GraphNode, base: Base, h: Helpers): IrNode {
  const { where } = h;
  const b = h.constant(node.inputs[1]);
  if (!b) throw new SnncError('Gemm with a computed (non-constant) B is not supported', where);
  if ((node.attrs.transA as number) === 1) throw new SnncError('Gemm with transA=1 mixes samples of the batch; not supported', where);
  const alpha = (node.attrs.alpha as number) ?? 1;
  const beta = (node.attrs.beta as number) ?? 1;
  const transB = (node.attrs.transB as number) === 1;
  const [r, c] = b.dims;
  const [out, inner] = transB ? [r, c] : [c, r];
  const w = new Float32Array(out * inner);
  for (let o = 0; o < out; o++) for (let i = 0; i < inner; i++) w[o * inner + i] = alpha * (transB ? b.data[o * inner + i] : b.data[i * out + o]);
  const dense: IrNode = { ...base, kind: 'dense', weight: h.addTensor(`${base.id}.weight`, [out, inner], w) };
  const cT = node.inputs[2] ? h.constant(node.inputs[2]) : undefined;
  if (cT) {
    const n = tensorSize(cT.dims);
    if (n !== 1 && n !== out) throw new SnncError(`Gemm bias C of shape [${cT.dims}] is not per output`, where);
    const bias = new Float32Array(out);
    for (let o = 0; o < out; o++) bias[o] = beta * cT.data[n === 1 ? 0 : o];
    dense.bias = h.addTensor(`${base.id}.bias`, [out], bias);
  }
  return dense;
}

/** An op without a direct IR kind: kept for the capture passes, which must consume it. */
function keep(node: GraphNode, base: Base, h: Helpers): IrNode {
  const constants: Record<number, string> = {};
  node.inputs.forEach((x, i) => {
    if (x !== '' && h.constant(x)) constants[i] = h.constTensor(x);
  });
  const attrs: Record<string, number | number[] | string | string[]> = {};
  for (const [k, v] of Object.entries(node.attrs)) if (typeof v !== 'object' || Array.isArray(v)) attrs[k] = v as number;
  return { ...base, kind: 'onnx', op: node.op, attrs, constants, value: node.outputs[0] };
}
