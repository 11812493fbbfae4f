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
import { checkShapes } from '../../compiler/ir/shapes.ts';
import type { IfNode, IrNode, RsmNode, Shape, SnnIr } from '../../compiler/ir/types.ts';
import { sizeOf, stridesOf } from '../ir/broadcast.ts';
import { LINEAR_KINDS, type LinearOp, linearOp, SparseVec } from './linear.ts';
import { CATEGORIES, categoryOf, moduleOf } from './modules.ts';
import { type ConvTable, convTable } from './conv-table.ts';

/** Compressed sparse rows: row i's entries are col/val[rowPtr[i] .. rowPtr[i+1]). */
export interface Csr {
  rowPtr: Int32Array;
  /** Index into the plan's flat current space. */
  col: Int32Array;
  /** Composed weight, times θ of the source neuron for spike streams. */
  val: Float32Array;
}

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
  csr: Csr;
  /** Work category (modules.ts) of every entry of the table, or -1 when they differ (then see `split`). */
  category: number;
  /** When `category` is -1: per row, the number of entries in each category (rows × CATEGORIES). */
  split: Int32Array | null;
  /** When the table is exactly one conv2d: its compact twin (conv-table.ts), which the engine delivers from. */
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
  csr: Csr;
  /** Work category of every entry of the table, or -1 when they differ (then see `split`). */
  category: number;
  /** Per output row, the number of table entries in each work category (rows × CATEGORIES). */
  split: Int32Array;
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
  /** Constant current per step from biases: the linear chains evaluated on zero input and no spikes. */
  bias: Float64Array;
  /** Analog input → targets, per unit of (raw input / divisor). */
  input: Csr;
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

export const ANALOG_KINDS = new Set(['matmul', 'softmax']);
const SIMULATED_KINDS = new Set([...LINEAR_KINDS, ...ANALOG_KINDS, 'if', 'rsm']);

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

/** θ per neuron of an IF node: one value, or one per channel along `axis`. */
function thresholds(node: IfNode): Float64Array {
  const n = sizeOf(node.shape);
  const out = new Float64Array(n);
  if (typeof node.threshold === 'number') {
    out.fill(node.threshold);
  } else {
    const axis = node.axis;
    if (!(axis >= 0 && axis < node.shape.length) || node.threshold.length !== node.shape[axis]) {
      fail(node, `${node.threshold.length} thresholds do not fit axis ${axis} of [${node.shape}]`);
    }
    const stride = stridesOf(node.shape)[axis];
    for (let e = 0; e < n; e++) out[e] = node.threshold[Math.floor(e / stride) % node.shape[axis]];
  }
  for (const t of out) if (!(t > 0 && Number.isFinite(t))) fail(node, `threshold ${t} is not a positive number`);
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
    if (node.kind === 'rsm') {
      if (byId.get(node.inputs[0])?.kind !== 'if') fail(node, `a spike mask must follow an IF node, not ${node.inputs[0]}`);
      if (!(node.ratio >= 0 && node.ratio <= 1)) fail(node, `masking ratio ${node.ratio} is not within [0, 1]`);
    }
    if (node.kind === 'if' && node.reset !== 'subtract') fail(node, `reset mode ${String(node.reset)} is not supported`);
  }
  const output = byId.get(ir.output.id);
  if (!output) throw new SnncError(`the output ${ir.output.id} is not a node: nothing to read out`);
  if (output.kind === 'if' || output.kind === 'rsm') fail(output, 'the output must be a non-spiking readout (a linear node), not spikes');
  return output;
}

export function buildPlan(ir: SnnIr): NetworkPlan {
  checkShapes(ir);
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const outputNode = validate(ir, byId);
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
    pops.push({ id: node.id, offset: currentSize, size: theta.length, threshold: summarize(node, theta), streams: [] });
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
  /** Entries per category of each row of a table. */
  const splitOf = (csr: Csr): Int32Array => {
    const rows = csr.rowPtr.length - 1;
    const split = new Int32Array(rows * CATEGORIES);
    for (let i = 0; i < rows; i++) for (let j = csr.rowPtr[i]; j < csr.rowPtr[i + 1]; j++) split[i * CATEGORIES + categoryAt[csr.col[j]]]++;
    return split;
  };
  /** The one category of all a table's entries (0 for an empty table: it costs nothing), or -1. */
  const singleCategory = (csr: Csr): number => {
    if (csr.col.length === 0) return 0;
    const c = categoryAt[csr.col[0]];
    for (const col of csr.col) if (categoryAt[col] !== c) return -1;
    return c;
  };

  const threshold = new Float64Array(currentSize);
  const v0 = new Float64Array(currentSize);
  pops.forEach((p, i) => {
    threshold.set(thetas[i], p.offset);
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
  const propagate = (nodes: IrNode[], constants: boolean) => {
    for (const node of nodes) {
      const op = ops.get(node.id)!;
      const dst = vecs.get(node.id)!;
      node.inputs.forEach((x, k) => {
        const src = vecs.get(x)!;
        if (src.count > 0) op.scatter(k, src, dst);
      });
      if (constants) op.addConstant(dst);
    }
  };

  /** The fan-out table of one source: row i = one-hot(i)·scale[i] pushed to every target. */
  const table = (source: string, scale: Float64Array | number): Csr | undefined => {
    const nodes = downstreamOf(source);
    const reached = [source, ...nodes.map((n) => n.id)];
    const targets = reached
      .flatMap((id) => (readers.get(id) ?? []).map((r) => ({ ...r, vec: vecs.get(id)! })))
      .sort((a, b) => a.offset - b.offset);
    if (targets.length === 0) return undefined;
    const srcVec = vecs.get(source)!;
    const rows = srcVec.size;
    const csr = new CsrBuilder(rows);
    for (let i = 0; i < rows; i++) {
      srcVec.add(i, typeof scale === 'number' ? scale : scale[i]);
      propagate(nodes, false);
      for (const { offset, vec } of targets) {
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

  /** The compact twin of a source's table when the source feeds one conv2d read by one population alone. */
  const convTwin = (source: string, theta: Float64Array, csr: Csr): ConvTable | null => {
    const nodes = downstreamOf(source);
    const conv = nodes[0];
    const convReaders = readers.get(conv?.id) ?? [];
    const inShape = shapes.get(source)!;
    if (nodes.length !== 1 || conv.kind !== 'conv2d' || readers.has(source) || convReaders.length !== 1 || inShape.length !== 3) return null;
    if (convReaders[0].offset >= readout.offset) return null;
    return convTable(conv, inShape, ir.tensors.get(conv.weight)!, theta, convReaders[0].offset, csr);
  };

  const input = table(ir.input.id, 1) ?? { rowPtr: new Int32Array(sizeOf(ir.input.shape) + 1), col: new Int32Array(0), val: new Float32Array(0) };
  const inputLayers = downstreamOf(ir.input.id);
  const macsPerStep = inputLayers.reduce((m, n) => m + ops.get(n.id)!.macs, 0);
  const macsPerStepByModule = [0, 0, 0];
  for (const n of inputLayers) macsPerStepByModule[moduleOf(n)] += ops.get(n.id)!.macs;

  const streams: StreamPlan[] = [];
  const masks: MaskPlan[] = [];
  ifNodes.forEach((node, p) => {
    const csr = table(node.id, thetas[p]);
    if (!csr) return;
    pops[p].streams.push(streams.length);
    const category = singleCategory(csr);
    streams.push({ id: node.id, pop: p, mask: -1, csr, category, split: category < 0 ? splitOf(csr) : null, conv: convTwin(node.id, thetas[p], csr) });
  });
  for (const node of ir.nodes.filter((n): n is RsmNode => n.kind === 'rsm')) {
    const p = popIndex.get(node.inputs[0])!;
    const rows = pops[p].size;
    const csr = table(node.id, thetas[p]) ?? { rowPtr: new Int32Array(rows + 1), col: new Int32Array(0), val: new Float32Array(0) };
    const to = (consumers.get(node.id) ?? []).map((c) => c.id).join(', ');
    pops[p].streams.push(streams.length);
    masks.push({ id: node.id, from: node.inputs[0], to, ratio: node.ratio, stream: streams.length });
    const category = singleCategory(csr);
    streams.push({ id: node.id, pop: p, mask: masks.length - 1, csr, category, split: category < 0 ? splitOf(csr) : null, conv: convTwin(node.id, thetas[p], csr) });
  }

  const emptyCsr = (rows: number): Csr => ({ rowPtr: new Int32Array(rows + 1), col: new Int32Array(0), val: new Float32Array(0) });
  const analog: AnalogPlan[] = analogNodes.map((node, a) => {
    const size = sizeOf(node.shape);
    const csr = table(node.id, 1) ?? emptyCsr(size);
    const base = { id: node.id, module: moduleOf(node), size, csr, category: singleCategory(csr), split: splitOf(csr) };
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
  for (const t of [input, ...analog.map((a) => a.csr)]) for (const c of t.col) written[c] = 1;
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
