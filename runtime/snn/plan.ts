/**
 * Compiles a final spiking IR into a NetworkPlan: the populations, one explicit fan-out table (CSR)
 * per spike stream, and the constant currents. Linear nodes have no neurons: a table composes every
 * linear path from a source to each target (IF population or readout), so a DAG (residual add, concat)
 * sums all its paths. Tables are built exactly, by pushing one-hot vectors through the scatter maps of
 * linear.ts.
 *
 * Sources: the analog input (row i = the current that input element i adds per unit value, evaluated
 * once per sample), each IF population's unmasked spikes, each RSM node's masked spikes, and each analog
 * node's output (row e = what output element e adds per unit value).
 * Targets share one flat current space: the populations in topological order, then the readout, then
 * (transformers only) the operands of the analog nodes in topological order.
 * The plan is plain numbers, strings and typed arrays, so it can be cloned to workers or shared.
 *
 * Analog nodes (matmul of two dynamic operands, softmax) have no fixed weights, so no table can compose
 * through them: each is computed densely every step from its operand regions (which the tables fill like a
 * population's current) and its output is sent on through its own table. They run on a host processor, not
 * on neuromorphic cores (placement 'host'). Within a step the engine visits populations, analog nodes and
 * the readout in the IR's topological order (`order`).
 */
import { SnncError } from '../../compiler/errors.ts';
import { ANALOG_KINDS as ANALOG_KIND_SET, FINAL_KINDS } from '../../compiler/ir/kinds.ts';
import { checkShapes } from '../../compiler/ir/shapes.ts';
import { type Conv2dNode, type DenseNode, type IfNode, type IrNode, leakOf, type NeuronModel, type ResetMode, type RsmNode, type Shape, type SnnIr, spikeRuleOf } from '../../compiler/ir/types.ts';
import { sizeOf, stridesOf } from '../ir/broadcast.ts';
import { LINEAR_KINDS, type LinearOp, linearOp, SparseVec } from './linear.ts';
import { CATEGORIES, categoryOf, moduleRule } from './modules.ts';
import { type ConvTable, convTable } from './conv-table.ts';
import { composedTwin } from './composed-twin.ts';
import { convFanOut, type Csr, type Fanout, fanoutOf, remapFanOut, type Route, routeStart, tableRoute } from './routes.ts';

export type { Csr, Fanout } from './routes.ts';

export interface ThresholdSummary {
  min: number;
  max: number;
  mean: number;
  per_channel: boolean;
  v_init: number;
  source: string;
}

export interface PopulationPlan {
  /** The IF node. */
  id: string;
  /** First neuron in the flat current space. */
  offset: number;
  size: number;
  threshold: ThresholdSummary;
  /** The neuron rule (compiler/ir/types.ts IfNode): v ← λ·v + I; spike at v ≥ θ; v − θ or 0. λ per neuron in `leak`. */
  model: NeuronModel;
  reset: ResetMode;
  /** Spikes per step at most (1: plain spikes; more: one graded spike carrying the count). */
  burst: number;
  /** Negative spikes while the tracer is positive (model 'signed-if'). */
  signed: boolean;
  /** Indices into `streams` of the streams that carry this population's spikes. */
  streams: number[];
}

export interface StreamPlan {
  /** The IF node (unmasked) or the RSM node (masked) the spikes leave from. */
  id: string;
  /** Index of the source population. */
  pop: number;
  /** Index into `masks`, or -1. */
  mask: number;
  /** Where the spikes go: routes through the operators they cross (routes.ts). */
  fanout: Fanout;
  /** When the fan-out is exactly one conv2d read by one population: its twin (also fanout.routes[0]). */
  conv: ConvTable | null;
}

/** One operand of an analog node: a region of the flat current space that the tables fill every step. */
export interface OperandPlan {
  offset: number;
  size: number;
  /**
   * Only spike streams reach it (no analog input, no analog node, no constant current): its values are
   * spike counts × θ, and a product of two such operands is a spike-pair product.
   */
  spiking: boolean;
}

/** A node computed densely on a host every step: matmul of two dynamic operands, or softmax. */
export interface AnalogPlan {
  id: string;
  kind: 'matmul' | 'softmax';
  /** Index into modules.ts MODULES. */
  module: number;
  /** Output elements. */
  size: number;
  operands: OperandPlan[];
  /** matmul: [m, k] · [k, n] per batch; aBatch/bBatch[b] = element offset of batch b within each operand (broadcast). */
  m: number;
  k: number;
  n: number;
  aBatch: Int32Array;
  bBatch: Int32Array;
  /** softmax: shape seen as [outer, len, inner] with the softmax along len. */
  outer: number;
  len: number;
  inner: number;
  /** Output → targets, per unit of output value. */
  fanout: Fanout;
}

export interface MaskPlan {
  id: string;
  /** The IF node whose spikes it masks. */
  from: string;
  /** The node(s) that receive the survivors. */
  to: string;
  ratio: number;
  stream: number;
}

export interface NetworkPlan {
  inputSize: number;
  /** Raw input samples are divided by this before they become currents. */
  divisor: number;
  /** Size of the flat current space: all population neurons, then the readout. */
  currentSize: number;
  pops: PopulationPlan[];
  readout: { id: string; offset: number; size: number };
  /** Processing order within a step: population index, -1 for the readout, −2 − a for analog node a. */
  order: Int32Array;
  /** θ per neuron over the current space (0 on the readout). */
  threshold: Float64Array;
  /** v(0) = vInit·θ per neuron (0 on the readout, where v is the accumulator). */
  v0: Float64Array;
  /** λ per neuron: v ← λ·v + I (1 for IF neurons and on the readout, where it is not used). */
  leak: Float64Array;
  /** Constant current per step from biases: the linear chains evaluated on zero input and no spikes. */
  bias: Float64Array;
  /** Analog input → targets, per unit of (raw input / divisor). */
  input: Fanout;
  streams: StreamPlan[];
  masks: MaskPlan[];
  /** MACs of the dense (analog) layers fed by the input, per evaluation; a chip recomputes them every step. */
  macsPerStep: number;
  /** macsPerStep split by the module of each linear node (modules.ts MODULES order). */
  macsPerStepByModule: number[];
  /** Module index of each population. */
  popModules: number[];
  /** Module index of the readout. */
  readoutModule: number;
  /** Host nodes (empty for CNN/MLP IRs), in topological order. */
  analog: AnalogPlan[];
}

export const ANALOG_KINDS: ReadonlySet<string> = ANALOG_KIND_SET;
const SIMULATED_KINDS: ReadonlySet<string> = FINAL_KINDS; // linear, analog, neuron and mask kinds: the registry's final kinds

/** Grows typed arrays while a table is built. */
class CsrBuilder {
  private col = new Int32Array(1024);
  private val = new Float32Array(1024);
  private n = 0;
  readonly rowPtr: Int32Array;

  constructor(rows: number) {
    this.rowPtr = new Int32Array(rows + 1);
  }

  push(col: number, val: number): void {
    if (this.n === this.col.length) {
      if (this.n >= 2 ** 31 - 1) throw new SnncError('a fan-out table exceeds 2³¹ synapses');
      const cap = Math.min(this.n * 2, 2 ** 31 - 1);
      const col2 = new Int32Array(cap);
      col2.set(this.col);
      this.col = col2;
      const val2 = new Float32Array(cap);
      val2.set(this.val);
      this.val = val2;
    }
    this.col[this.n] = col;
    this.val[this.n++] = val;
  }

  endRow(row: number): void {
    this.rowPtr[row + 1] = this.n;
  }

  finish(): Csr {
    return { rowPtr: this.rowPtr, col: this.col.slice(0, this.n), val: this.val.slice(0, this.n) };
  }
}

function fail(node: IrNode, message: string): never {
  throw new SnncError(message, { node: node.id, op: node.kind });
}

/** A per-population value of an IF node per neuron: one value, or one per channel along `axis`. */
function perNeuron(node: IfNode, value: number | number[], what: string): Float64Array {
  const n = sizeOf(node.shape);
  const out = new Float64Array(n);
  if (typeof value === 'number') {
    out.fill(value);
  } else {
    const axis = node.axis;
    if (!(axis >= 0 && axis < node.shape.length) || value.length !== node.shape[axis]) {
      fail(node, `${value.length} ${what}s do not fit axis ${axis} of [${node.shape}]`);
    }
    const stride = stridesOf(node.shape)[axis];
    for (let e = 0; e < n; e++) out[e] = value[Math.floor(e / stride) % node.shape[axis]];
  }
  return out;
}

/** θ per neuron of an IF node: one value, or one per channel along `axis`. */
function thresholds(node: IfNode): Float64Array {
  const out = perNeuron(node, node.threshold, 'threshold');
  for (const t of out) if (!(t > 0 && Number.isFinite(t))) fail(node, `threshold ${t} is not a positive number`);
  return out;
}

/** λ per neuron: 1 for IF; a LIF node's leak, each in (0, 1]. */
function leaks(node: IfNode): Float64Array {
  const out = perNeuron(node, leakOf(node), 'leak');
  for (const l of out) if (!(l > 0 && l <= 1)) fail(node, `leak ${l} is not within (0, 1]`);
  return out;
}

function summarize(node: IfNode, theta: Float64Array): ThresholdSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const t of theta) {
    min = Math.min(min, t);
    max = Math.max(max, t);
    sum += t;
  }
  return { min, max, mean: sum / theta.length, per_channel: typeof node.threshold !== 'number', v_init: node.vInit, source: node.thresholdSource };
}

function validate(ir: SnnIr, byId: Map<string, IrNode>): IrNode {
  for (const node of ir.nodes) {
    if (!SIMULATED_KINDS.has(node.kind)) fail(node, `cannot simulate a ${node.kind} node: the compiler passes must replace it first`);
    checkSpikeRule(node, byId);
  }
  return readoutOf(ir, byId);
}

/**
 * What the simulator runs of masks and neurons, checked by every target that runs them the same way (the
 * simulator, export-onnx): a mask after an IF node with a ratio in [0, 1]; a known reset and model; bursts.
 */
export function checkSpikeRule(node: IrNode, byId: Map<string, IrNode>): void {
  if (node.kind === 'rsm') {
    if (byId.get(node.inputs[0])?.kind !== 'if') fail(node, `a spike mask must follow an IF node, not ${node.inputs[0]}`);
    if (!(node.ratio >= 0 && node.ratio <= 1)) fail(node, `masking ratio ${node.ratio} is not within [0, 1]`);
  }
  if (node.kind === 'if') {
    if (node.reset !== 'subtract' && node.reset !== 'zero') fail(node, `reset mode ${String(node.reset)} is not supported (subtract, zero)`);
    if ((node.model ?? 'if') !== 'if' && node.model !== 'lif' && node.model !== 'signed-if') fail(node, `neuron model ${String(node.model)} is not supported (if, lif, signed-if)`);
    const { burst, signed } = spikeRuleOf(node);
    if (!(Number.isInteger(burst) && burst >= 1)) fail(node, `burst ${burst} is not a positive integer`);
    if ((signed || burst > 1) && node.reset !== 'subtract') fail(node, 'signed and burst spikes need reset by subtraction');
  }
}

/** The readout node: it must exist and not be spikes. */
export function readoutOf(ir: SnnIr, byId: Map<string, IrNode>): IrNode {
  const output = byId.get(ir.output.id);
  if (!output) throw new SnncError(`the output ${ir.output.id} is not a node: nothing to read out`);
  if (output.kind === 'if' || output.kind === 'rsm') fail(output, 'the output must be a non-spiking readout (a linear node), not spikes');
  return output;
}

export interface PlanOptions {
  /**
   * false: every fan-out is a composed table of every synapse (the reference the structured routes are
   * tested against; memory O(synapses)). Default true.
   */
  structured?: boolean;
  /** Sources whose fan-out is built so far, of all (input, spike streams, analog nodes): big networks take seconds. */
  onProgress?: (done: number, total: number) => void;
}

export function buildPlan(ir: SnnIr, opts: PlanOptions = {}): NetworkPlan {
  checkShapes(ir);
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const outputNode = validate(ir, byId);
  const moduleOf = moduleRule(ir);
  if (!(ir.input.divisor > 0)) throw new SnncError(`input divisor ${ir.input.divisor} is not a positive number`);
  const position = new Map<string, number>([[ir.input.id, -1]]);
  ir.nodes.forEach((n, i) => position.set(n.id, i));
  const shapes = new Map<string, Shape>([[ir.input.id, ir.input.shape]]);
  for (const n of ir.nodes) shapes.set(n.id, n.shape);
  const consumers = new Map<string, IrNode[]>();
  for (const n of ir.nodes) for (const x of n.inputs) consumers.set(x, [...(consumers.get(x) ?? []), n]);

  // Targets: each IF population reads its input node's value; the readout reads the output node's.
  const ifNodes = ir.nodes.filter((n): n is IfNode => n.kind === 'if');
  const readers = new Map<string, Array<{ offset: number; size: number }>>();
  const addReader = (id: string, offset: number, size: number) => readers.set(id, [...(readers.get(id) ?? []), { offset, size }]);
  const pops: PopulationPlan[] = [];
  const thetas: Float64Array[] = [];
  let currentSize = 0;
  for (const node of ifNodes) {
    const theta = thresholds(node);
    thetas.push(theta);
    pops.push({ id: node.id, offset: currentSize, size: theta.length, threshold: summarize(node, theta), model: node.model ?? 'if', reset: node.reset, ...spikeRuleOf(node), streams: [] });
    addReader(node.inputs[0], currentSize, theta.length);
    currentSize += theta.length;
  }
  const readout = { id: outputNode.id, offset: currentSize, size: sizeOf(outputNode.shape) };
  addReader(outputNode.id, readout.offset, readout.size);
  currentSize += readout.size;
  // Analog operands: after the readout, so CNN/MLP plans keep their layout.
  const analogNodes = ir.nodes.filter((n) => ANALOG_KINDS.has(n.kind));
  const operandRegions = analogNodes.map((node) =>
    node.inputs.map((x) => {
      const region = { offset: currentSize, size: sizeOf(shapes.get(x)!) };
      addReader(x, region.offset, region.size);
      currentSize += region.size;
      return region;
    }),
  );
  const popIndex = new Map(pops.map((p, i) => [p.id, i]));
  const analogIndex = new Map(analogNodes.map((n, a) => [n.id, a]));
  const order: number[] = [];
  for (const n of ir.nodes) {
    if (n.kind === 'if') order.push(popIndex.get(n.id)!);
    if (analogIndex.has(n.id)) order.push(-2 - analogIndex.get(n.id)!);
    if (n.id === outputNode.id) order.push(-1);
  }

  // Work category of every position of the current space: the module of the node it feeds, core or host.
  const categoryAt = new Int8Array(currentSize);
  pops.forEach((p, i) => categoryAt.fill(categoryOf(moduleOf(ifNodes[i]), false), p.offset, p.offset + p.size));
  categoryAt.fill(categoryOf(moduleOf(outputNode), false), readout.offset, readout.offset + readout.size);
  analogNodes.forEach((node, a) => {
    for (const r of operandRegions[a]) categoryAt.fill(categoryOf(moduleOf(node), true), r.offset, r.offset + r.size);
  });
  const threshold = new Float64Array(currentSize);
  const v0 = new Float64Array(currentSize);
  const leak = new Float64Array(currentSize).fill(1);
  pops.forEach((p, i) => {
    threshold.set(thetas[i], p.offset);
    leak.set(leaks(ifNodes[i]), p.offset);
    const vInit = ifNodes[i].vInit;
    for (let e = 0; e < p.size; e++) v0[p.offset + e] = vInit * thetas[i][e];
  });

  const ops = new Map<string, LinearOp>();
  for (const n of ir.nodes) {
    if (LINEAR_KINDS.has(n.kind)) ops.set(n.id, linearOp(n, n.inputs.map((x) => shapes.get(x)!), ir.tensors));
  }
  const vecs = new Map<string, SparseVec>();
  for (const [id, shape] of shapes) vecs.set(id, new SparseVec(sizeOf(shape)));

  /** Linear nodes reachable from `source` without crossing neurons or masks, in topological order. */
  const downstreamOf = (source: string): IrNode[] => {
    const seen = new Set<string>();
    const stack = [source];
    while (stack.length) {
      for (const c of consumers.get(stack.pop()!) ?? []) {
        if (ops.has(c.id) && !seen.has(c.id)) {
          seen.add(c.id);
          stack.push(c.id);
        }
      }
    }
    return [...seen].map((id) => byId.get(id)!).sort((a, b) => position.get(a.id)! - position.get(b.id)!);
  };

  /** Pushes the vectors already set on the sources through `nodes`; with `constants`, adds each node's constant term. */
  // Each node's op and vectors, looked up once: routes propagate one element at a time, millions of times, so
  // their loops take the nodes' steps (stepsOf) once and run them (run), not the nodes by id.
  type Step = { op: LinearOp; dst: SparseVec; srcs: SparseVec[] };
  const stepsOf = (nodes: IrNode[]): Step[] => nodes.map((n) => ({ op: ops.get(n.id)!, dst: vecs.get(n.id)!, srcs: n.inputs.map((x) => vecs.get(x)!) }));
  const run = (steps: Step[], constants: boolean) => {
    for (const { op, dst, srcs } of steps) {
      for (let k = 0; k < srcs.length; k++) if (srcs[k].count > 0) op.scatter(k, srcs[k], dst);
      if (constants) op.addConstant(dst);
    }
  };
  const clear = (steps: Step[]) => {
    for (const { dst } of steps) dst.clear();
  };
  const propagate = (nodes: IrNode[], constants: boolean) => run(stepsOf(nodes), constants);

  interface Target {
    id: string;
    offset: number;
    size: number;
  }
  /** The regions a source's values reach through linear nodes, by first target. */
  const targetsOf = (source: string, nodes: IrNode[]): Target[] =>
    [source, ...nodes.map((n) => n.id)].flatMap((id) => (readers.get(id) ?? []).map((r) => ({ id, ...r }))).sort((a, b) => a.offset - b.offset);

  /** Linear nodes on some path from `source` to `target` (itself included when linear), in topological order. */
  const between = (source: string, downstream: Set<string>, target: string): IrNode[] => {
    const seen = new Set<string>();
    const stack = downstream.has(target) ? [target] : [];
    while (stack.length) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      for (const x of byId.get(id)!.inputs) if (downstream.has(x) && x !== source) stack.push(x);
    }
    return [...seen].map((id) => byId.get(id)!).sort((a, b) => position.get(a.id)! - position.get(b.id)!);
  };

  /** The table of one source into `targets` only: row i = one-hot(i)·value[i] pushed through `nodes`. */
  const composeTable = (source: string, value: Float64Array | number, nodes: IrNode[], targets: Target[]): Csr => {
    const reached = [source, ...nodes.map((n) => n.id)];
    const withVecs = targets.map((t) => ({ ...t, vec: vecs.get(t.id)! }));
    const srcVec = vecs.get(source)!;
    const rows = srcVec.size;
    const csr = new CsrBuilder(rows);
    const steps = stepsOf(nodes);
    for (let i = 0; i < rows; i++) {
      srcVec.add(i, typeof value === 'number' ? value : value[i]);
      run(steps, false);
      for (const { offset, vec } of withVecs) {
        // Sorted columns: deterministic tables and better locality when spikes are delivered.
        const idx = vec.idx.subarray(0, vec.count).sort();
        for (const e of idx) {
          const w = Math.fround(vec.val[e]);
          // A zero composed weight is no synapse: it would cost an SOP and change nothing.
          if (w !== 0) csr.push(offset + e, w);
        }
      }
      csr.endRow(i);
      for (const id of reached) vecs.get(id)!.clear();
    }
    return csr.finish();
  };

  /**
   * A conv or dense route from `source` to `target` when the linear nodes between them form one chain with
   * exactly one weighted op: before it, nodes that send each source element to at most one element of the
   * op's input (with a value uniform per channel or feature); after it, residual adds, reshapes, biases and
   * concats that only shift the region. Null when the chain has another form (a table composes it then).
   */
  const structuredRoute = (source: string, value: Float64Array | number, chain: IrNode[], target: Target): Route | null => {
    let prev = source;
    const inputIndex: number[] = [];
    for (const node of chain) {
      const ks = node.inputs.flatMap((x, k) => (x === source || chain.includes(byId.get(x)!) ? [k] : []));
      if (ks.length !== 1 || node.inputs[ks[0]] !== prev) return null;
      inputIndex.push(ks[0]);
      prev = node.id;
    }
    const weighted = chain.flatMap((n, j) => (n.kind === 'conv2d' || n.kind === 'dense' ? [j] : []));
    if (weighted.length === 0) return null;
    // After the last weighted op: scales in order and a shift of the region.
    const postScales: number[] = [];
    let shift = 0;
    let general = false;
    for (let j = weighted[weighted.length - 1] + 1; j < chain.length; j++) {
      const node = chain[j];
      const k = inputIndex[j];
      if (node.kind === 'add') postScales.push(node.scales[k]);
      else if (node.kind === 'concat') {
        if (sizeOf(node.shape.slice(0, node.axis)) !== 1) return null;
        const inner = sizeOf(node.shape.slice(node.axis + 1));
        for (let q = 0; q < k; q++) shift += shapes.get(node.inputs[q])![node.axis] * inner;
      } else if (node.kind !== 'reshape' && node.kind !== 'bias') general = true;
    }
    if (general) {
      // E.g. a token dense layer read through the residual stream and a norm (transpose, BatchNorm, transpose):
      // still the dense layer, when the nodes after it send output element e to target element e + shift.
      const post = weighted.length === 1 && chain[weighted[0]].kind === 'dense' ? identityAfter(chain, weighted[0]) : null;
      return post === null ? null : simpleRoute(source, value, chain, weighted[0], [], post, target, chain.slice(weighted[0] + 1));
    }
    const simple = weighted.length === 1 ? simpleRoute(source, value, chain, weighted[0], postScales, shift, target) : null;
    return simple ?? composedRoute(source, value, chain, shift, target);
  };

  /** A conv route whose twin composes the chain (composed-twin.ts), when θ is uniform per source channel. */
  const composedRoute = (source: string, value: Float64Array | number, chain: IrNode[], shift: number, target: Target): Route | null => {
    const shape = shapes.get(source)!;
    if (shape.length !== 3) return null;
    const plane = shape[1] * shape[2];
    const channelValue = new Float64Array(shape[0]);
    for (let c = 0; c < shape[0]; c++) {
      channelValue[c] = typeof value === 'number' ? value : value[c * plane];
      if (typeof value !== 'number') for (let s = 1; s < plane; s++) if (value[c * plane + s] !== channelValue[c]) return null;
    }
    const ctx = { shapes, tensors: ir.tensors, vec: (id: string) => vecs.get(id)!, propagate: (nodes: IrNode[]) => propagate(nodes, false) };
    const twin = composedTwin(source, chain, channelValue, target.offset, shift, ctx);
    if (!twin) return null;
    return { kind: 'conv', twin, remap: null, category: categoryAt[target.offset], fanOut: convFanOut(twin, shape[0]) };
  };

  /**
   * The shift when the nodes after the dense op chain[w] send each of its output elements e to exactly one
   * element e + shift of the chain's end, with a factor that depends only on the output feature (e mod out):
   * a per-feature scale that simpleRoute folds into the weights. Null otherwise.
   */
  const identityAfter = (chain: IrNode[], w: number): number | null => {
    const op = chain[w] as DenseNode;
    const post = chain.slice(w + 1);
    const outVec = vecs.get(op.id)!;
    const endVec = vecs.get(post[post.length - 1].id)!;
    const out = ir.tensors.get(op.weight)!.dims[0];
    const factor = new Float64Array(out);
    let shift = 0;
    const steps = stepsOf(post);
    for (let e = 0; e < outVec.size; e++) {
      outVec.add(e, 1);
      run(steps, false);
      const count = endVec.count;
      const at = endVec.idx[0];
      const f = count === 1 ? endVec.val[at] : 0;
      outVec.clear();
      clear(steps);
      if (count !== 1) return null;
      if (e === 0) shift = at;
      if (at !== e + shift) return null;
      if (e < out) factor[e] = f;
      else if (factor[e % out] !== f) return null;
    }
    return shift;
  };

  /**
   * One weighted op after an index-only prefix that sends each source element to at most one of its inputs.
   * With `post` (identityAfter holds for it), each weight is composed through those nodes exactly as a table
   * would compose it (output element o of row 0 propagated), so the route equals the composed table bit for bit.
   */
  const simpleRoute = (
    source: string,
    value: Float64Array | number,
    chain: IrNode[],
    w: number,
    postScales: number[],
    shift: number,
    target: Target,
    post: IrNode[] = [],
  ): Route | null => {
    const op = chain[w] as Conv2dNode | DenseNode;
    // Before the op: where each source element lands in the op's input, and with what value.
    const prefix = chain.slice(0, w);
    const rows = sizeOf(shapes.get(source)!);
    const midShape = shapes.get(op.inputs[0])!;
    const midSize = sizeOf(midShape);
    const remap = prefix.length ? new Int32Array(rows) : null;
    const values = new Float64Array(rows);
    const srcVec = vecs.get(source)!;
    const midVec = vecs.get(prefix.length ? prefix[prefix.length - 1].id : source)!;
    const prefixSteps = stepsOf(prefix);
    for (let i = 0; i < rows; i++) {
      const v = typeof value === 'number' ? value : value[i];
      if (!remap) {
        values[i] = v;
        continue;
      }
      srcVec.add(i, v);
      run(prefixSteps, false);
      const count = midVec.count;
      const m = midVec.idx[0];
      values[i] = count ? midVec.val[m] : 0;
      remap[i] = count ? m : -1;
      srcVec.clear();
      clear(prefixSteps);
      if (count > 1) return null;
    }
    // One value per channel (conv) or feature (dense) of the op's input.
    const conv = op.kind === 'conv2d';
    if (conv && midShape.length !== 3) return null;
    const groupOf = (m: number) => (conv ? Math.floor(m / (midShape[1] * midShape[2])) : m % midShape[midShape.length - 1]);
    const groups = conv ? midShape[0] : midShape[midShape.length - 1];
    const groupValue = new Float64Array(groups);
    const set = new Uint8Array(groups);
    for (let i = 0; i < rows; i++) {
      const m = remap ? remap[i] : i;
      if (m < 0 || m >= midSize) continue;
      const g = groupOf(m);
      if (set[g] && groupValue[g] !== values[i]) return null;
      groupValue[g] = values[i];
      set[g] = 1;
    }
    const category = categoryAt[target.offset];
    const weight = ir.tensors.get(op.weight)!;
    if (op.kind === 'conv2d') {
      const twin = convTable(op, midShape, weight, groupValue, postScales, target.offset + shift);
      return { kind: 'conv', twin, remap, category, fanOut: remapFanOut(remap, convFanOut(twin, midShape[0]), rows) };
    }
    const [out, inner] = weight.dims;
    const weights = new Float32Array(inner * out);
    const perFeature = new Int32Array(inner);
    const opVec = vecs.get(op.id)!;
    const endVec = post.length ? vecs.get(post[post.length - 1].id)! : opVec;
    const postSteps = stepsOf(post);
    for (let k = 0; k < inner; k++) {
      for (let o = 0; o < out; o++) {
        let v = groupValue[k] * weight.data[o * inner + k];
        for (const sc of postScales) v = sc * v;
        if (post.length) {
          opVec.add(o, v);
          run(postSteps, false);
          v = endVec.count ? endVec.val[endVec.idx[0]] : 0;
          opVec.clear();
          clear(postSteps);
        }
        const f = Math.fround(v);
        weights[k * out + o] = f;
        if (f !== 0) perFeature[k]++;
      }
    }
    const perMid = new Int32Array(midSize);
    for (let m = 0; m < midSize; m++) perMid[m] = perFeature[m % inner];
    return { kind: 'dense', offset: target.offset + shift, inner, out, targets: (midSize / inner) * out, weights, remap, category, fanOut: remapFanOut(remap, perMid, rows) };
  };

  /**
   * The fan-out of one source: per target region, a structured route where the chain allows (and
   * `opts.structured` is not false), otherwise a composed table per region.
   */
  const sources = 1 + ifNodes.length + ir.nodes.filter((n) => n.kind === 'rsm').length + analogNodes.length;
  let built = 0;
  const fanoutFrom = (source: string, value: Float64Array | number): Fanout | undefined => {
    const f = fanoutOf_(source, value);
    opts.onProgress?.(++built, sources);
    return f;
  };
  const fanoutOf_ = (source: string, value: Float64Array | number): Fanout | undefined => {
    const nodes = downstreamOf(source);
    const targets = targetsOf(source, nodes);
    if (targets.length === 0) return undefined;
    const downstream = new Set(nodes.map((n) => n.id));
    const routes: Route[] = targets.map((target) => {
      const chain = between(source, downstream, target.id);
      const route = opts.structured === false ? null : structuredRoute(source, value, chain, target);
      return route ?? tableRoute(composeTable(source, value, chain, [target]), categoryAt[target.offset]);
    });
    // By first target; a table's start is a scan of its entries, so each is found once.
    const starts = new Map(routes.map((r) => [r, routeStart(r)]));
    routes.sort((a, b) => starts.get(a)! - starts.get(b)!);
    return fanoutOf(sizeOf(shapes.get(source)!), routes);
  };

  const emptyFanout = (rows: number): Fanout => fanoutOf(rows, []);
  /** The twin the chip may deliver from: the whole fan-out is one conv read straight from the source. */
  const twinOf = (f: Fanout): ConvTable | null => (f.routes.length === 1 && f.routes[0].kind === 'conv' && !f.routes[0].remap ? f.routes[0].twin : null);

  const input = fanoutFrom(ir.input.id, 1) ?? emptyFanout(sizeOf(ir.input.shape));
  const inputLayers = downstreamOf(ir.input.id);
  const macsPerStep = inputLayers.reduce((m, n) => m + ops.get(n.id)!.macs, 0);
  const macsPerStepByModule = [0, 0, 0];
  for (const n of inputLayers) macsPerStepByModule[moduleOf(n)] += ops.get(n.id)!.macs;

  const streams: StreamPlan[] = [];
  const masks: MaskPlan[] = [];
  ifNodes.forEach((node, p) => {
    const fanout = fanoutFrom(node.id, thetas[p]);
    if (!fanout) return;
    pops[p].streams.push(streams.length);
    streams.push({ id: node.id, pop: p, mask: -1, fanout, conv: twinOf(fanout) });
  });
  for (const node of ir.nodes.filter((n): n is RsmNode => n.kind === 'rsm')) {
    const p = popIndex.get(node.inputs[0])!;
    const fanout = fanoutFrom(node.id, thetas[p]) ?? emptyFanout(pops[p].size);
    const to = (consumers.get(node.id) ?? []).map((c) => c.id).join(', ');
    pops[p].streams.push(streams.length);
    masks.push({ id: node.id, from: node.inputs[0], to, ratio: node.ratio, stream: streams.length });
    streams.push({ id: node.id, pop: p, mask: masks.length - 1, fanout, conv: twinOf(fanout) });
  }

  const analog: AnalogPlan[] = analogNodes.map((node, a) => {
    const size = sizeOf(node.shape);
    const fanout = fanoutFrom(node.id, 1) ?? emptyFanout(size);
    const base = { id: node.id, module: moduleOf(node), size, fanout };
    const operands = operandRegions[a].map((r) => ({ ...r, spiking: false }));
    const geometry = { m: 0, k: 0, n: 0, aBatch: new Int32Array(0), bBatch: new Int32Array(0), outer: 0, len: 0, inner: 0 };
    if (node.kind === 'matmul') {
      const [aShape, bShape] = node.inputs.map((x) => shapes.get(x)!);
      return { ...base, kind: 'matmul', operands, ...geometry, ...matmulGeometry(aShape, bShape, node.shape) };
    }
    if (node.kind !== 'softmax') fail(node, `${node.kind} is not an analog node`);
    const axis = node.axis;
    return {
      ...base,
      kind: 'softmax',
      operands,
      ...geometry,
      outer: sizeOf(node.shape.slice(0, axis)),
      len: node.shape[axis],
      inner: sizeOf(node.shape.slice(axis + 1)),
    };
  });

  // Constant currents: every linear node evaluated with its constant term, on zero input and no spikes.
  const linearNodes = ir.nodes.filter((n) => ops.has(n.id));
  propagate(linearNodes, true);
  const bias = new Float64Array(currentSize);
  for (const [id, rs] of readers) {
    const vec = vecs.get(id)!;
    for (const { offset } of rs) for (let k = 0; k < vec.count; k++) bias[offset + vec.idx[k]] += vec.val[vec.idx[k]];
  }

  // An operand is spiking when nothing but spike streams writes into it: no input, no analog output, no constant.
  const written = new Uint8Array(currentSize);
  for (const f of [input, ...analog.map((a) => a.fanout)]) {
    for (const r of f.routes) {
      if (r.kind === 'table') for (const c of r.csr.col) written[c] = 1;
      else if (r.kind === 'dense') written.fill(1, r.offset, r.offset + r.targets);
      else written.fill(1, r.twin.offset, r.twin.offset + r.twin.cout * r.twin.outPlane);
    }
  }
  for (const a of analog) {
    for (const op of a.operands) {
      op.spiking = true;
      for (let e = op.offset; e < op.offset + op.size; e++) if (written[e] || bias[e] !== 0) op.spiking = false;
    }
  }

  return {
    inputSize: sizeOf(ir.input.shape),
    divisor: ir.input.divisor,
    currentSize,
    pops,
    readout,
    order: Int32Array.from(order),
    threshold,
    v0,
    leak,
    bias,
    input,
    streams,
    masks,
    macsPerStep,
    macsPerStepByModule,
    popModules: ifNodes.map(moduleOf),
    readoutModule: moduleOf(outputNode),
    analog,
  };
}

/** [..., m, k] · [..., k, n]: per output batch, the element offsets of the (broadcast) operand batches. */
function matmulGeometry(aShape: Shape, bShape: Shape, outShape: Shape) {
  const m = aShape[aShape.length - 2];
  const k = aShape[aShape.length - 1];
  const n = bShape[bShape.length - 1];
  const lead = outShape.slice(0, -2);
  const batches = sizeOf(lead);
  const offsets = (shape: Shape): Int32Array => {
    const opLead = shape.slice(0, -2);
    const strides = stridesOf(opLead);
    const block = shape[shape.length - 2] * shape[shape.length - 1];
    return Int32Array.from({ length: batches }, (_, bt) => {
      let off = 0;
      for (let j = 0; j < opLead.length; j++) {
        const axis = lead.length - opLead.length + j;
        const coord = Math.floor(bt / sizeOf(lead.slice(axis + 1))) % lead[axis];
        if (opLead[j] !== 1) off += coord * strides[j];
      }
      return off * block;
    });
  };
  return { m, k, n, aBatch: offsets(aShape), bBatch: offsets(bShape) };
}
