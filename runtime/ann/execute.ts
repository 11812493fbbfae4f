/**
 * The ANN reference executor: runs an AnnGraph's nodes in order with the kernels, in float32 tensors
 * (float64 accumulators inside Conv, Gemm, MatMul and reductions).
 */
import type { AnnGraph, DType, Tensor, ValueInfo } from '../../compiler/graph.ts';
import { makeTensor, tensorSize } from '../../compiler/graph.ts';
import { indexIn, SnncError, type ErrorPlace } from '../../compiler/errors.ts';
import { formatDims } from '../../compiler/ops/rules.ts';
import { inferShapes } from '../../compiler/shapes.ts';
import { kernels } from '../../compiler/ops/kernels/index.ts';

export const SUPPORTED_OPS: ReadonlySet<string> = new Set(kernels().keys());

export interface ExecuteOptions {
  /** Also return these values (inputs or node outputs), e.g. activations for calibration. */
  keep?: (valueName: string) => boolean;
  /** Check every node output for NaN/±Inf, not only where one could be lost (see finiteCheckpoints). */
  checkEveryOutput?: boolean;
}

/**
 * (op, input) pairs whose output surely holds a NaN or ±Inf if that input does: element-wise arithmetic
 * on every element (Inf + −Inf and 0 · Inf are NaN), views, and BatchNormalization's x · gain + shift.
 * Everything else — ReLU and Clip (NaN → 0, Inf → max), a divisor (x / Inf = 0), Gemm (skips zero
 * factors), Conv, pooling, slices — may turn one into a finite number or drop it.
 */
const PROPAGATES: Readonly<Record<string, (input: number) => boolean>> = {
  Add: () => true,
  Sub: () => true,
  Mul: () => true,
  Div: (input) => input === 0,
  Floor: (input) => input === 0,
  BatchNormalization: (input) => input === 0,
  Identity: (input) => input === 0,
  Flatten: (input) => input === 0,
  Reshape: (input) => input === 0,
  Squeeze: (input) => input === 0,
  Unsqueeze: (input) => input === 0,
};

/**
 * The values whose finiteness executeGraph checks: the graph outputs, the kept values, and every value some
 * node reads where a NaN or ±Inf might not reach its output. A NaN or ±Inf anywhere else surely reaches one
 * of these (through PROPAGATES links), so one pass over each of them finds every overflow, at a fraction of
 * the cost of a pass over every node output (a QCFS activation is 7 element-wise nodes; 2 of 9 outputs per
 * block are checked). Where one is found, the batch runs again checking every output, to name the node.
 */
function finiteCheckpoints(graph: AnnGraph, wanted: (name: string) => boolean): Set<string> {
  const points = new Set<string>();
  for (const node of graph.nodes) {
    const propagates = PROPAGATES[node.op];
    node.inputs.forEach((name, k) => {
      if (name && !propagates?.(k)) points.add(name);
    });
    for (const name of node.outputs) if (name && wanted(name)) points.add(name);
  }
  return points;
}

/**
 * Runs the graph on `feeds` (one tensor per graph input) and returns the graph outputs plus the kept values.
 * Each intermediate is dropped after its last consumer, so memory stays near the widest layer.
 */
export function executeGraph(graph: AnnGraph, feeds: Record<string, Tensor>, opts: ExecuteOptions = {}): Map<string, Tensor> {
  const file = graph.source.path;
  const keep = opts.keep ?? (() => false);
  const outputNames = new Set(graph.outputs.map((o) => o.name));
  const wanted = (name: string): boolean => outputNames.has(name) || keep(name);

  const checkpoints = opts.checkEveryOutput ? undefined : finiteCheckpoints(graph, wanted);
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((node, i) => node.inputs.forEach((name) => name && lastUse.set(name, i)));

  const buffers = new BufferPool();
  // Feeds, initializers and returned values are never recycled.
  for (const t of graph.initializers.values()) buffers.pin(t);
  const live = new Map<string, Tensor>();
  const result = new Map<string, Tensor>();
  for (const input of graph.inputs) {
    const t = feeds[input.name];
    if (!t) throw new SnncError(`no value given for graph input ${input.name}`, { file });
    checkFeed(input, t, file);
    buffers.pin(t);
    live.set(input.name, t);
    if (wanted(input.name)) result.set(input.name, t);
  }

  graph.nodes.forEach((node, i) => {
    const where = { file, node: node.name, op: node.op };
    const kernel = kernels().get(node.op);
    if (!kernel) throw new SnncError(`unsupported op ${node.op}`, where);
    const inputs = node.inputs.map((name) => {
      if (!name) return undefined;
      const t = live.get(name) ?? graph.initializers.get(name);
      if (!t) throw new SnncError(`input ${name} is not available (nodes out of order?)`, where);
      return t;
    });
    const outputs = kernel({ node, opset: graph.opset, file, allocate: (dtype, dims) => buffers.take(dtype, dims) }, inputs);
    node.outputs.forEach((name, k) => {
      const t = outputs[k];
      if (!name || !t) return;
      if (!checkpoints || checkpoints.has(name)) {
        try {
          checkFiniteOutput(t, name, outputNames.has(name), where);
        } catch (e) {
          // Found downstream of where it arose: run again checking every output, to name the node that made it.
          if (checkpoints && e instanceof NonFiniteOutputError) executeGraph(graph, feeds, { ...opts, checkEveryOutput: true });
          throw e;
        }
      }
      if (wanted(name)) {
        result.set(name, t);
        buffers.pin(t);
      }
      buffers.hold(t);
      if (lastUse.has(name)) live.set(name, t);
      else buffers.release(t); // produced but never read
    });
    for (const name of node.inputs) {
      const t = live.get(name);
      if (t && lastUse.get(name) === i) {
        live.delete(name);
        buffers.release(t);
      }
    }
  });

  // Outputs that are initializers themselves (no node makes them).
  for (const name of outputNames) {
    const t = result.get(name) ?? graph.initializers.get(name);
    if (!t) throw new SnncError(`graph output ${name} was not produced`, { file });
    result.set(name, t);
  }
  return result;
}

/**
 * A node output holding NaN or ±Inf: float32 overflow inside the model (or Inf − Inf, 0 · Inf after it).
 * Later nodes can turn it back into finite but meaningless numbers (a ReLU maps NaN to 0, a Gemm of ±Inf
 * gives NaN), so it is refused at the node that made it, not only in the logits.
 */
export class NonFiniteOutputError extends SnncError {
  constructor(
    /** The first bad value and its flat index in `dims`. */
    readonly value: number,
    readonly index: number,
    readonly dims: readonly number[],
    /** The value's name, and whether it is a graph output (the logits) rather than an intermediate. */
    readonly output: string,
    readonly graphOutput: boolean,
    where: ErrorPlace,
    /** runBatched: the samples that were running (index 0 of the batch is sample `first`); the CLI: their file. */
    readonly context: { batch?: { first: number; count: number }; samplesFile?: string } = {},
  ) {
    const { batch, samplesFile } = context;
    const samples = batch ? ` in the batch of samples ${batch.first}–${batch.first + batch.count - 1}${samplesFile ? ` of ${samplesFile}` : ''}` : samplesFile ? ` on the samples of ${samplesFile}` : '';
    super(`output ${output} holds ${value} at ${indexIn(dims, index)}${samples}: the values overflow float32 inside the model`, where);
  }

  with(context: { batch?: { first: number; count: number }; samplesFile?: string }): NonFiniteOutputError {
    return new NonFiniteOutputError(this.value, this.index, this.dims, this.output, this.graphOutput, this.where, { ...this.context, ...context });
  }
}

/** One pass over a float output (integer tensors are exact); throws at its first NaN or ±Inf. */
function checkFiniteOutput(t: Tensor, name: string, graphOutput: boolean, where: ErrorPlace): void {
  if (t.dtype !== 'float32' && t.dtype !== 'float64') return;
  const i = t.data instanceof Float32Array ? firstNonFiniteFloat32(t.data) : firstNonFiniteFloat64(t.data);
  if (i >= 0) throw new NonFiniteOutputError(t.data[i]!, i, t.dims, name, graphOutput, where);
}

const EXPONENT = 0x7f800000;

/**
 * A float32 is NaN or ±Inf exactly when its exponent bits are all ones: tested on the bits, four at a time
 * (integer ANDs, one branch per four values), about twice as fast as a comparison per value.
 */
function firstNonFiniteFloat32(data: Float32Array): number {
  const bits = new Int32Array(data.buffer, data.byteOffset, data.length);
  const n = bits.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = bits[i]! & EXPONENT;
    const b = bits[i + 1]! & EXPONENT;
    const c = bits[i + 2]! & EXPONENT;
    const d = bits[i + 3]! & EXPONENT;
    if (((a === EXPONENT ? 1 : 0) | (b === EXPONENT ? 1 : 0) | (c === EXPONENT ? 1 : 0) | (d === EXPONENT ? 1 : 0)) !== 0) break;
  }
  for (; i < n; i++) if ((bits[i]! & EXPONENT) === EXPONENT) return i;
  return -1;
}

function firstNonFiniteFloat64(data: Float64Array): number {
  for (let i = 0, n = data.length; i < n; i++) {
    const v = data[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}

/**
 * Recycles the buffers of intermediates nothing reads any more for later outputs of the same size: fresh
 * large typed arrays cost page faults, which dominate cheap element-wise ops. Views (Reshape, Identity)
 * share buffers, so a buffer returns to the pool only when no live value holds it.
 */
class BufferPool {
  private readonly free = new Map<string, (Float32Array | Float64Array)[]>();
  private readonly holders = new Map<Float32Array | Float64Array, number>();
  private readonly pinned = new Set<Float32Array | Float64Array>();

  /** Small buffers are cheap to allocate; not worth tracking. */
  private static readonly MIN_ELEMENTS = 1024;

  private static key(float32: boolean, length: number): string {
    return `${float32 ? 'f32' : 'f64'}:${length}`;
  }

  take(dtype: DType, dims: number[]): Tensor {
    // makeTensor's rule: float32 data is a Float32Array, everything else a Float64Array.
    const recycled = this.free.get(BufferPool.key(dtype === 'float32', tensorSize(dims)))?.pop();
    if (!recycled) return makeTensor(dtype, dims);
    recycled.fill(0);
    return { dtype, dims, data: recycled };
  }

  pin(t: Tensor): void {
    this.pinned.add(t.data);
  }

  hold(t: Tensor): void {
    this.holders.set(t.data, (this.holders.get(t.data) ?? 0) + 1);
  }

  /** One holder fewer; the last one returns the buffer to the pool. */
  release(t: Tensor): void {
    const count = (this.holders.get(t.data) ?? 0) - 1;
    if (count > 0) {
      this.holders.set(t.data, count);
      return;
    }
    this.holders.delete(t.data);
    if (this.pinned.has(t.data) || t.data.length < BufferPool.MIN_ELEMENTS) return;
    const key = BufferPool.key(t.data instanceof Float32Array, t.data.length);
    const list = this.free.get(key);
    if (list) list.push(t.data);
    else this.free.set(key, [t.data]);
  }
}

function checkFeed(input: ValueInfo, t: Tensor, file: string): void {
  const fits = t.dims.length === input.dims.length && input.dims.every((d, i) => d < 0 || d === t.dims[i]);
  if (!fits) throw new SnncError(`graph input ${input.name} expects dims ${formatDims(input.dims)}, got ${formatDims(t.dims)}`, { file });
  if (t.data.length !== tensorSize(t.dims)) {
    throw new SnncError(`graph input ${input.name}: ${t.data.length} values for dims ${formatDims(t.dims)}`, { file });
  }
}

export interface RunBatchedOptions {
  /** Samples per executeGraph call (default 64). */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Runs a one-input, one-output graph over `input` [N, ...] in batches and concatenates the output along dim 0. */
export function runBatched(graph: AnnGraph, input: Tensor, opts: RunBatchedOptions = {}): Tensor {
  const file = graph.source.path;
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) {
    throw new SnncError(`batched runs need one graph input and one output, this graph has ${graph.inputs.length} and ${graph.outputs.length}`, { file });
  }
  const batchSize = opts.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new SnncError(`batch size must be a positive integer, got ${batchSize}`);
  if (input.dims.length === 0) throw new SnncError('batched input needs a leading sample dim', { file });
  const inputName = graph.inputs[0].name;
  const outputName = graph.outputs[0].name;
  const total = input.dims[0];
  const sampleDims = input.dims.slice(1);
  const sampleSize = tensorSize(sampleDims);

  if (total === 0) {
    const shape = inferShapes(graph, 1).get(outputName)!;
    return makeTensor(shape.dtype, [0, ...shape.dims.slice(1)]);
  }
  let out: Tensor | undefined;
  for (let start = 0; start < total; start += batchSize) {
    const n = Math.min(batchSize, total - start);
    const feed = makeTensor(input.dtype, [n, ...sampleDims], input.data.subarray(start * sampleSize, (start + n) * sampleSize));
    let y: Tensor;
    try {
      y = executeGraph(graph, { [inputName]: feed }).get(outputName)!;
    } catch (e) {
      if (e instanceof NonFiniteOutputError) throw e.with({ batch: { first: start, count: n } });
      throw e;
    }
    if (y.dims[0] !== n) {
      throw new SnncError(`output ${outputName} ${formatDims(y.dims)} does not keep the batch dim (${n}) first`, { file });
    }
    out ??= makeTensor(y.dtype, [total, ...y.dims.slice(1)]);
    out.data.set(y.data, (start * y.data.length) / n);
    opts.onProgress?.(start + n, total);
  }
  return out!;
}
