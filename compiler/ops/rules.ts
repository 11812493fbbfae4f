/**
 * Shape rules, one per op, shared by shape inference (compiler/shapes.ts) and by the op kernels (./kernels/),
 * so that every output-shape decision (broadcasting, conv/pool windows, Reshape's 0 and -1, Slice clamping,
 * ...) is written once. Rules are pure: they read a node's attributes, its inputs' dtypes and dims, and the
 * values of inputs that are constant (initializers, or small integer tensors computed from shapes).
 */
import type { AttrValue, DType, GraphNode, Tensor } from '../graph.ts';
import { tensorSize } from '../graph.ts';
import { SnncError } from '../errors.ts';

export interface ValueShape {
  dtype: DType;
  dims: number[];
}

/** What a rule sees of an input: dtype and dims always, the values when they are known. A Tensor is one. */
export interface ShapedValue extends ValueShape {
  data?: Float32Array | Float64Array;
}

/** The node being inferred or executed, for attributes, opset-dependent semantics and error messages. */
export interface NodeContext {
  node: GraphNode;
  opset: number;
  file?: string;
  /** Where kernels get zeroed output tensors (the executor recycles dead intermediates); makeTensor if absent. */
  allocate?: (dtype: DType, dims: number[]) => Tensor;
}

export type ShapeRule = (ctx: NodeContext, inputs: (ShapedValue | undefined)[]) => ValueShape[];

// ---------------------------------------------------------------------------------------------------------
// Errors, attributes, inputs

export function nodeError(ctx: NodeContext, message: string): SnncError {
  return new SnncError(message, { file: ctx.file, node: ctx.node.name, op: ctx.node.op });
}

export function shapeMismatch(ctx: NodeContext, detail: string): SnncError {
  return nodeError(ctx, `shape mismatch: ${detail}`);
}

export function formatDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

function attr(ctx: NodeContext, name: string): AttrValue | undefined {
  return ctx.node.attrs[name];
}

export function attrInt(ctx: NodeContext, name: string, fallback: number): number {
  const v = attr(ctx, name);
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw nodeError(ctx, `attribute ${name} must be an integer`);
  return v;
}

export function attrFloat(ctx: NodeContext, name: string, fallback: number): number {
  const v = attr(ctx, name);
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw nodeError(ctx, `attribute ${name} must be a number`);
  return v;
}

export function attrInts(ctx: NodeContext, name: string): number[] | undefined {
  const v = attr(ctx, name);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x))) {
    throw nodeError(ctx, `attribute ${name} must be a list of integers`);
  }
  return v as number[];
}

export function attrString(ctx: NodeContext, name: string, fallback: string): string {
  const v = attr(ctx, name);
  if (v === undefined) return fallback;
  if (typeof v !== 'string') throw nodeError(ctx, `attribute ${name} must be a string`);
  return v;
}

/** Input `i`, which the op requires. */
export function required<T extends ShapedValue>(ctx: NodeContext, inputs: (T | undefined)[], i: number): T {
  const v = inputs[i];
  if (!v) throw nodeError(ctx, `input ${i} is required but missing`);
  return v;
}

/** The integer values of an input that must be known (Reshape's shape, Slice's starts, ...). */
export function constantInts(ctx: NodeContext, input: ShapedValue, what: string): number[] {
  if (!input.data) throw nodeError(ctx, `${what} must be a constant or computable from shapes, but it depends on data`);
  return Array.from(input.data);
}

/** Integers given at opset ≥ `sinceOpset` by input `index`, before that by attribute `name`. */
function intsFromInputOrAttr(
  ctx: NodeContext,
  inputs: (ShapedValue | undefined)[],
  index: number,
  name: string,
  sinceOpset: number,
): number[] | undefined {
  if (ctx.opset < sinceOpset) return attrInts(ctx, name);
  const input = inputs[index];
  return input ? constantInts(ctx, input, name) : undefined;
}

export function normalizeAxis(ctx: NodeContext, axis: number, rank: number): number {
  if (axis < -rank || axis >= rank) throw nodeError(ctx, `axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

function normalizeAxes(ctx: NodeContext, axes: number[], rank: number): number[] {
  const out = axes.map((a) => normalizeAxis(ctx, a, rank));
  if (new Set(out).size !== out.length) throw nodeError(ctx, `axes ${formatDims(axes)} repeat an axis`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Broadcasting

/** NumPy broadcasting of two shapes. `ctx` names the node in the error. */
export function broadcastDims(a: readonly number[], b: readonly number[], ctx?: NodeContext): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      const message = `cannot broadcast ${formatDims(a)} with ${formatDims(b)}`;
      throw ctx ? shapeMismatch(ctx, message) : new SnncError(`shape mismatch: ${message}`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Sliding windows (Conv, MaxPool, AveragePool)

export interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
  /** Spatial output dims. */
  out: number[];
}

/**
 * Output size and padding of a sliding window over the spatial dims `inSpatial`, from the node's
 * strides/dilations/pads/auto_pad attributes. `ceilMode` is pooling's ceil_mode.
 */
function windowGeometry(ctx: NodeContext, inSpatial: number[], kernel: number[], ceilMode: boolean): WindowGeometry {
  const rank = inSpatial.length;
  const perAxis = (name: string, fallback: number): number[] => {
    const v = attrInts(ctx, name) ?? new Array<number>(rank).fill(fallback);
    if (v.length !== rank) throw nodeError(ctx, `attribute ${name} has ${v.length} values, expected ${rank}`);
    return v;
  };
  const strides = perAxis('strides', 1);
  const dilations = perAxis('dilations', 1);
  if ([...strides, ...dilations, ...kernel].some((v) => v < 1)) {
    throw nodeError(ctx, 'kernel sizes, strides and dilations must be positive');
  }
  const autoPad = attrString(ctx, 'auto_pad', 'NOTSET');
  const pads = attrInts(ctx, 'pads') ?? new Array<number>(2 * rank).fill(0);
  if (pads.length !== 2 * rank) throw nodeError(ctx, `attribute pads has ${pads.length} values, expected ${2 * rank}`);
  const padsBegin: number[] = [];
  const padsEnd: number[] = [];
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const extent = (kernel[i] - 1) * dilations[i] + 1;
    const size = inSpatial[i];
    let begin = 0;
    let end = 0;
    let o: number;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      o = Math.ceil(size / strides[i]);
      const total = Math.max(0, (o - 1) * strides[i] + extent - size);
      begin = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      end = total - begin;
    } else if (autoPad === 'VALID') {
      o = Math.floor((size - extent) / strides[i]) + 1;
    } else if (autoPad === 'NOTSET') {
      begin = pads[i];
      end = pads[i + rank];
      const span = size + begin + end - extent;
      o = (ceilMode ? Math.ceil(span / strides[i]) : Math.floor(span / strides[i])) + 1;
      // ceil_mode may not start a window inside the end padding (PyTorch and onnxruntime agree).
      if (ceilMode && (o - 1) * strides[i] >= size + begin) o--;
    } else {
      throw nodeError(ctx, `unknown auto_pad ${autoPad}`);
    }
    if (o < 1) {
      throw shapeMismatch(ctx, `window of extent ${extent} does not fit spatial dims ${formatDims(inSpatial)} with pads ${formatDims(pads)}`);
    }
    padsBegin.push(begin);
    padsEnd.push(end);
    out.push(o);
  }
  return { kernel, strides, dilations, padsBegin, padsEnd, out };
}

export interface ConvGeometry extends WindowGeometry {
  group: number;
  /** [N, M, ...out] */
  outDims: number[];
}

/** Conv: X [N, C, ...spatial], W [M, C/group, ...kernel], optional B [M]. */
export function convGeometry(ctx: NodeContext, xDims: number[], wDims: number[], bDims?: number[]): ConvGeometry {
  if (xDims.length < 3 || wDims.length !== xDims.length) {
    throw shapeMismatch(ctx, `input ${formatDims(xDims)} and weight ${formatDims(wDims)} must both be [N, C, spatial...] of equal rank`);
  }
  const group = attrInt(ctx, 'group', 1);
  const [, channels, ...spatial] = xDims;
  const [outChannels, groupChannels, ...kernel] = wDims;
  if (group < 1 || channels !== groupChannels * group || outChannels % group !== 0) {
    throw shapeMismatch(ctx, `input ${formatDims(xDims)} and weight ${formatDims(wDims)} with group ${group}`);
  }
  const declared = attrInts(ctx, 'kernel_shape');
  if (declared && formatDims(declared) !== formatDims(kernel)) {
    throw shapeMismatch(ctx, `kernel_shape ${formatDims(declared)} but weight ${formatDims(wDims)}`);
  }
  if (bDims && (bDims.length !== 1 || bDims[0] !== outChannels)) {
    throw shapeMismatch(ctx, `bias ${formatDims(bDims)} for ${outChannels} output channels`);
  }
  const geometry = windowGeometry(ctx, spatial, kernel, false);
  return { ...geometry, group, outDims: [xDims[0], outChannels, ...geometry.out] };
}

export function convOutputDims(ctx: NodeContext, xDims: number[], wDims: number[]): number[] {
  return convGeometry(ctx, xDims, wDims).outDims;
}

export interface PoolGeometry extends WindowGeometry {
  /** [N, C, ...out] */
  outDims: number[];
}

/** MaxPool / AveragePool: X [N, C, ...spatial], kernel_shape attribute. */
export function poolGeometry(ctx: NodeContext, xDims: number[]): PoolGeometry {
  const kernel = attrInts(ctx, 'kernel_shape');
  if (!kernel) throw nodeError(ctx, 'attribute kernel_shape is required');
  if (ctx.node.outputs[1]) throw nodeError(ctx, 'the Indices output of MaxPool is not supported');
  if (xDims.length !== kernel.length + 2) {
    throw shapeMismatch(ctx, `input ${formatDims(xDims)} for a ${kernel.length}-D kernel ${formatDims(kernel)}`);
  }
  const geometry = windowGeometry(ctx, xDims.slice(2), kernel, attrInt(ctx, 'ceil_mode', 0) === 1);
  return { ...geometry, outDims: [xDims[0], xDims[1], ...geometry.out] };
}

export function poolOutputDims(ctx: NodeContext, xDims: number[]): number[] {
  return poolGeometry(ctx, xDims).outDims;
}

// ---------------------------------------------------------------------------------------------------------
// Matrix products

export interface GemmGeometry {
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
}

/** Gemm: op(A) [M, K] × op(B) [K, N] (+ C broadcast to [M, N]). */
export function gemmGeometry(ctx: NodeContext, aDims: number[], bDims: number[], cDims?: number[]): GemmGeometry {
  if (aDims.length !== 2 || bDims.length !== 2) {
    throw shapeMismatch(ctx, `Gemm needs 2-D A and B, got ${formatDims(aDims)} and ${formatDims(bDims)}`);
  }
  const transA = attrInt(ctx, 'transA', 0) === 1;
  const transB = attrInt(ctx, 'transB', 0) === 1;
  const [M, K] = transA ? [aDims[1], aDims[0]] : aDims;
  const [KB, N] = transB ? [bDims[1], bDims[0]] : bDims;
  if (K !== KB) {
    throw shapeMismatch(ctx, `A ${formatDims(aDims)}${transA ? 'ᵀ' : ''} × B ${formatDims(bDims)}${transB ? 'ᵀ' : ''}: inner dims ${K} ≠ ${KB}`);
  }
  if (cDims && formatDims(broadcastDims(cDims, [M, N], ctx)) !== formatDims([M, N])) {
    throw shapeMismatch(ctx, `C ${formatDims(cDims)} does not broadcast to [${M}, ${N}]`);
  }
  return { M, K, N, transA, transB };
}

export interface MatMulGeometry {
  M: number;
  K: number;
  N: number;
  /** Batch dims of A and B padded to the output batch rank, and the broadcast batch dims. */
  aBatch: number[];
  bBatch: number[];
  batch: number[];
  outDims: number[];
}

/** MatMul with NumPy semantics: 1-D operands are promoted (and the added dim dropped), batch dims broadcast. */
export function matmulGeometry(ctx: NodeContext, aDims: number[], bDims: number[]): MatMulGeometry {
  if (aDims.length === 0 || bDims.length === 0) throw shapeMismatch(ctx, 'MatMul operands must be at least 1-D');
  const a = aDims.length === 1 ? [1, aDims[0]] : aDims;
  const b = bDims.length === 1 ? [bDims[0], 1] : bDims;
  const [M, K] = a.slice(-2);
  const [KB, N] = b.slice(-2);
  if (K !== KB) throw shapeMismatch(ctx, `A ${formatDims(aDims)} × B ${formatDims(bDims)}: inner dims ${K} ≠ ${KB}`);
  const batch = broadcastDims(a.slice(0, -2), b.slice(0, -2), ctx);
  const pad = (d: number[]): number[] => [...new Array<number>(batch.length - d.length).fill(1), ...d];
  const outDims = [...batch, ...(aDims.length === 1 ? [] : [M]), ...(bDims.length === 1 ? [] : [N])];
  return { M, K, N, aBatch: pad(a.slice(0, -2)), bBatch: pad(b.slice(0, -2)), batch, outDims };
}

// ---------------------------------------------------------------------------------------------------------
// Layout ops

/** Reshape target: 0 copies the input dim (unless allowzero), one -1 takes what is left. */
export function reshapeDims(ctx: NodeContext, inDims: number[], shape: number[]): number[] {
  const allowZero = attrInt(ctx, 'allowzero', 0) === 1;
  const out = shape.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= inDims.length) throw shapeMismatch(ctx, `shape ${formatDims(shape)} copies dim ${i} of ${formatDims(inDims)}`);
      return inDims[i];
    }
    if (d < -1) throw nodeError(ctx, `invalid dim ${d} in shape ${formatDims(shape)}`);
    return d;
  });
  const total = tensorSize(inDims);
  const unknown = out.indexOf(-1);
  if (unknown !== out.lastIndexOf(-1)) throw nodeError(ctx, `shape ${formatDims(shape)} has more than one -1`);
  if (unknown >= 0) {
    const known = tensorSize(out.filter((_, i) => i !== unknown));
    if (known === 0 || total % known !== 0) {
      throw shapeMismatch(ctx, `cannot reshape ${formatDims(inDims)} (${total} elements) to ${formatDims(shape)}`);
    }
    out[unknown] = total / known;
  }
  if (tensorSize(out) !== total) {
    throw shapeMismatch(ctx, `cannot reshape ${formatDims(inDims)} (${total} elements) to ${formatDims(shape)}`);
  }
  return out;
}

export function flattenDims(ctx: NodeContext, inDims: number[]): number[] {
  const rank = inDims.length;
  const axis = attrInt(ctx, 'axis', 1);
  if (axis < -rank || axis > rank) throw nodeError(ctx, `axis ${axis} is out of range for rank ${rank}`);
  const at = axis < 0 ? axis + rank : axis;
  return [tensorSize(inDims.slice(0, at)), tensorSize(inDims.slice(at))];
}

export function transposePerm(ctx: NodeContext, rank: number): number[] {
  const perm = attrInts(ctx, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const sorted = [...perm].sort((x, y) => x - y);
  if (perm.length !== rank || sorted.some((p, i) => p !== i)) {
    throw nodeError(ctx, `perm ${formatDims(perm)} is not a permutation of ${rank} axes`);
  }
  return perm;
}

/** Split: the axis and the size of each output along it. */
export function splitSizes(ctx: NodeContext, inputs: (ShapedValue | undefined)[]): { axis: number; sizes: number[] } {
  const x = required(ctx, inputs, 0);
  const axis = normalizeAxis(ctx, attrInt(ctx, 'axis', 0), x.dims.length);
  const dim = x.dims[axis];
  const count = ctx.node.outputs.length;
  let sizes = intsFromInputOrAttr(ctx, inputs, 1, 'split', 13);
  if (!sizes) {
    const numOutputs = ctx.opset >= 18 ? attrInt(ctx, 'num_outputs', 0) : 0;
    if (numOutputs > 0) {
      // opset 18: chunks of ceil(dim / n); the last one takes the remainder.
      const chunk = Math.ceil(dim / numOutputs);
      sizes = Array.from({ length: numOutputs }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
    } else {
      if (dim % count !== 0) throw shapeMismatch(ctx, `cannot split dim ${dim} of ${formatDims(x.dims)} into ${count} equal parts`);
      sizes = new Array<number>(count).fill(dim / count);
    }
  }
  if (sizes.length !== count || sizes.some((s) => s < 0) || sizes.reduce((s, v) => s + v, 0) !== dim) {
    throw shapeMismatch(ctx, `split ${formatDims(sizes)} into ${count} outputs does not cover dim ${dim} of ${formatDims(x.dims)}`);
  }
  return { axis, sizes };
}

/** Per-axis view a Slice takes: first index, step, and element count (every axis, untouched ones in full). */
export interface SliceView {
  starts: number[];
  steps: number[];
  counts: number[];
}

export function sliceView(ctx: NodeContext, inputs: (ShapedValue | undefined)[]): SliceView {
  const dims = required(ctx, inputs, 0).dims;
  const rank = dims.length;
  const fromInputs = ctx.opset >= 10;
  const starts = fromInputs ? constantInts(ctx, required(ctx, inputs, 1), 'starts') : attrInts(ctx, 'starts');
  const ends = fromInputs ? constantInts(ctx, required(ctx, inputs, 2), 'ends') : attrInts(ctx, 'ends');
  if (!starts || !ends || starts.length !== ends.length) throw nodeError(ctx, 'starts and ends must be given with equal lengths');
  const axes = normalizeAxes(
    ctx,
    (fromInputs ? inputs[3] && constantInts(ctx, inputs[3], 'axes') : attrInts(ctx, 'axes')) ?? starts.map((_, i) => i),
    rank,
  );
  const steps = (fromInputs && inputs[4] && constantInts(ctx, inputs[4], 'steps')) || starts.map(() => 1);
  if (axes.length !== starts.length || steps.length !== starts.length) {
    throw nodeError(ctx, 'starts, ends, axes and steps must have equal lengths');
  }
  const view: SliceView = { starts: new Array<number>(rank).fill(0), steps: new Array<number>(rank).fill(1), counts: [...dims] };
  axes.forEach((axis, i) => {
    const dim = dims[axis];
    const step = steps[i];
    if (step === 0) throw nodeError(ctx, 'slice step 0');
    // Negative indices count from the end; then clamp (INT64_MAX / INT64_MIN mean "to the end").
    const resolve = (v: number, lo: number, hi: number): number => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const start = step > 0 ? resolve(starts[i], 0, dim) : resolve(starts[i], 0, dim - 1);
    const end = step > 0 ? resolve(ends[i], 0, dim) : resolve(ends[i], -1, dim - 1);
    view.starts[axis] = start;
    view.steps[axis] = step;
    view.counts[axis] = Math.max(0, Math.ceil((end - start) / step));
  });
  return view;
}

export function concatDims(ctx: NodeContext, inputs: ValueShape[]): { axis: number; dims: number[] } {
  if (inputs.length === 0) throw nodeError(ctx, 'Concat needs at least one input');
  const first = inputs[0].dims;
  const axis = normalizeAxis(ctx, attrInt(ctx, 'axis', 0), first.length);
  let total = 0;
  for (const { dims } of inputs) {
    if (dims.length !== first.length || dims.some((d, i) => i !== axis && d !== first[i])) {
      throw shapeMismatch(ctx, `cannot concatenate ${inputs.map((v) => formatDims(v.dims)).join(' and ')} on axis ${axis}`);
    }
    total += dims[axis];
  }
  return { axis, dims: first.map((d, i) => (i === axis ? total : d)) };
}

export function gatherDims(ctx: NodeContext, dataDims: number[], indexDims: number[]): { axis: number; dims: number[] } {
  const axis = normalizeAxis(ctx, attrInt(ctx, 'axis', 0), dataDims.length);
  return { axis, dims: [...dataDims.slice(0, axis), ...indexDims, ...dataDims.slice(axis + 1)] };
}

export function unsqueezeDims(ctx: NodeContext, inputs: (ShapedValue | undefined)[]): number[] {
  const dims = required(ctx, inputs, 0).dims;
  const axes = intsFromInputOrAttr(ctx, inputs, 1, 'axes', 13);
  if (!axes) throw nodeError(ctx, 'Unsqueeze needs axes');
  const rank = dims.length + axes.length;
  const inserted = new Set(normalizeAxes(ctx, axes, rank));
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) out.push(inserted.has(i) ? 1 : dims[next++]);
  return out;
}

export function squeezeDims(ctx: NodeContext, inputs: (ShapedValue | undefined)[]): number[] {
  const dims = required(ctx, inputs, 0).dims;
  const axes = intsFromInputOrAttr(ctx, inputs, 1, 'axes', 13);
  if (!axes) return dims.filter((d) => d !== 1);
  const removed = new Set(normalizeAxes(ctx, axes, dims.length));
  for (const a of removed) {
    if (dims[a] !== 1) throw shapeMismatch(ctx, `cannot squeeze axis ${a} of ${formatDims(dims)}`);
  }
  return dims.filter((_, i) => !removed.has(i));
}

/** ReduceMean: which axes are reduced, and the output dims. */
export function reduceGeometry(ctx: NodeContext, inputs: (ShapedValue | undefined)[]): { reduced: boolean[]; dims: number[] } {
  const dims = required(ctx, inputs, 0).dims;
  const keepDims = attrInt(ctx, 'keepdims', 1) === 1;
  const axes = intsFromInputOrAttr(ctx, inputs, 1, 'axes', 18);
  const noopWhenEmpty = attrInt(ctx, 'noop_with_empty_axes', 0) === 1;
  const reduceAll = !axes || axes.length === 0;
  const chosen = new Set(reduceAll ? [] : normalizeAxes(ctx, axes, dims.length));
  const reduced = dims.map((_, i) => (reduceAll ? !noopWhenEmpty : chosen.has(i)));
  const out = keepDims ? dims.map((d, i) => (reduced[i] ? 1 : d)) : dims.filter((_, i) => !reduced[i]);
  return { reduced, dims: out };
}

/** Pad: what is added before and after every axis (negative = cropped), and how the new elements are filled. */
export interface PadGeometry {
  begin: number[];
  end: number[];
  mode: string;
  /** The fill of mode constant. */
  value: number;
  dims: number[];
}

/**
 * Pad at every opset: before 11 `pads` and `value` are attributes; from 11 they are inputs 1 and 2; from 18
 * input 3 (`axes`) names the axes `pads` covers. `pads` is [x1_begin, x2_begin, …, x1_end, x2_end, …].
 */
export function padGeometry(ctx: NodeContext, inputs: (ShapedValue | undefined)[]): PadGeometry {
  const dims = required(ctx, inputs, 0).dims;
  const rank = dims.length;
  const mode = attrString(ctx, 'mode', 'constant');
  if (!['constant', 'reflect', 'edge'].includes(mode)) throw nodeError(ctx, `Pad mode ${mode} is not supported (constant, reflect and edge are)`);
  const pads = ctx.opset < 11 ? attrInts(ctx, 'pads') : constantInts(ctx, required(ctx, inputs, 1), 'pads');
  const axesInput = ctx.opset >= 18 ? inputs[3] : undefined;
  const axes = axesInput ? normalizeAxes(ctx, constantInts(ctx, axesInput, 'axes'), rank) : dims.map((_, i) => i);
  if (!pads || pads.length !== 2 * axes.length) throw nodeError(ctx, `pads has ${pads?.length ?? 0} values, expected ${2 * axes.length}`);
  const begin = new Array<number>(rank).fill(0);
  const end = new Array<number>(rank).fill(0);
  axes.forEach((axis, i) => {
    begin[axis] = pads[i];
    end[axis] = pads[i + axes.length];
  });
  const out = dims.map((d, i) => d + begin[i] + end[i]);
  if (out.some((d) => d < 0)) throw shapeMismatch(ctx, `pads ${formatDims(pads)} crop ${formatDims(dims)} below zero`);
  if (mode === 'reflect' && dims.some((d, i) => (begin[i] > 0 || end[i] > 0) && (begin[i] >= d || end[i] >= d))) {
    throw shapeMismatch(ctx, `reflect pads ${formatDims(pads)} must be smaller than the dims ${formatDims(dims)}`);
  }
  const valueInput = ctx.opset < 11 ? undefined : inputs[2];
  const value = valueInput?.data ? valueInput.data[0] : ctx.opset < 11 ? attrFloat(ctx, 'value', 0) : 0;
  if (valueInput && !valueInput.data) throw nodeError(ctx, 'the constant_value of Pad must be a constant');
  return { begin, end, mode, value, dims: out };
}

/** Shape (opset 15 start/end): the range of dims it returns. */
export function shapeRange(ctx: NodeContext, rank: number): [number, number] {
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  return [clamp(attrInt(ctx, 'start', 0)), clamp(attrInt(ctx, 'end', rank))];
}

/**
 * Softmax as [outer, n, inner]: opset ≥ 13 normalises along one axis; earlier opsets over the input
 * coerced to 2-D at `axis` (everything from `axis` on).
 */
export function softmaxLayout(ctx: NodeContext, dims: number[]): { outer: number; n: number; inner: number } {
  const axis = normalizeAxis(ctx, attrInt(ctx, 'axis', ctx.opset >= 13 ? -1 : 1), dims.length);
  const outer = tensorSize(dims.slice(0, axis));
  if (ctx.opset < 13) return { outer, n: tensorSize(dims.slice(axis)), inner: 1 };
  return { outer, n: dims[axis], inner: tensorSize(dims.slice(axis + 1)) };
}

/** ONNX TensorProto.DataType codes a Cast may target, with the loader's widening (doubles compute as float32). */
const CAST_TARGETS: Record<number, DType | undefined> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'int32', 5: 'int32', 6: 'int32', 7: 'int64', 9: 'bool',
  10: 'float32', 11: 'float32', 12: 'int64', 13: 'int64', 16: 'float32',
};

export function castTarget(ctx: NodeContext): DType {
  const to = attrInt(ctx, 'to', 0);
  const dtype = CAST_TARGETS[to];
  if (!dtype) throw nodeError(ctx, `cannot cast to ONNX type code ${to}`);
  return dtype;
}

// ---------------------------------------------------------------------------------------------------------
// The rule per op

const sameAsInput: ShapeRule = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  return [{ dtype: x.dtype, dims: [...x.dims] }];
};

const pool: ShapeRule = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  return [{ dtype: x.dtype, dims: poolGeometry(ctx, x.dims).outDims }];
};

const broadcastBinary: ShapeRule = (ctx, inputs) => {
  const a = required(ctx, inputs, 0);
  const b = required(ctx, inputs, 1);
  return [{ dtype: a.dtype, dims: broadcastDims(a.dims, b.dims, ctx) }];
};

export const SHAPE_RULES: ReadonlyMap<string, ShapeRule> = new Map<string, ShapeRule>([
  ['Conv', (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    return [{ dtype: x.dtype, dims: convGeometry(ctx, x.dims, required(ctx, inputs, 1).dims, inputs[2]?.dims).outDims }];
  }],
  ['MaxPool', pool],
  ['AveragePool', pool],
  ['GlobalAveragePool', (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    if (x.dims.length < 3) throw shapeMismatch(ctx, `input ${formatDims(x.dims)} must be [N, C, spatial...]`);
    return [{ dtype: x.dtype, dims: x.dims.map((d, i) => (i < 2 ? d : 1)) }];
  }],
  ['Gemm', (ctx, inputs) => {
    const a = required(ctx, inputs, 0);
    const { M, N } = gemmGeometry(ctx, a.dims, required(ctx, inputs, 1).dims, inputs[2]?.dims);
    return [{ dtype: a.dtype, dims: [M, N] }];
  }],
  ['MatMul', (ctx, inputs) => {
    const a = required(ctx, inputs, 0);
    return [{ dtype: a.dtype, dims: matmulGeometry(ctx, a.dims, required(ctx, inputs, 1).dims).outDims }];
  }],
  ['BatchNormalization', (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    if (x.dims.length < 2) throw shapeMismatch(ctx, `input ${formatDims(x.dims)} has no channel dim`);
    for (let i = 1; i <= 4; i++) {
      const p = required(ctx, inputs, i);
      if (p.dims.length !== 1 || p.dims[0] !== x.dims[1]) {
        throw shapeMismatch(ctx, `parameter ${i} is ${formatDims(p.dims)}, expected [${x.dims[1]}] for input ${formatDims(x.dims)}`);
      }
    }
    if (attrInt(ctx, 'training_mode', 0) === 1) throw nodeError(ctx, 'training_mode=1 is not supported (export in eval mode)');
    return [{ dtype: x.dtype, dims: [...x.dims] }];
  }],
  ['Add', broadcastBinary],
  ['Sub', broadcastBinary],
  ['Mul', broadcastBinary],
  ['Div', broadcastBinary],
  ['Pow', broadcastBinary],
  ['Relu', sameAsInput],
  ['Clip', sameAsInput],
  ['Floor', sameAsInput],
  ['Erf', sameAsInput],
  ['Sqrt', sameAsInput],
  ['Identity', sameAsInput],
  ['Softmax', (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    softmaxLayout(ctx, x.dims); // validates the axis
    return [{ dtype: x.dtype, dims: [...x.dims] }];
  }],
  ['Cast', (ctx, inputs) => [{ dtype: castTarget(ctx), dims: [...required(ctx, inputs, 0).dims] }]],
  ['Flatten', (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    return [{ dtype: x.dtype, dims: flattenDims(ctx, x.dims) }];
  }],
  ['Reshape', (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    return [{ dtype: x.dtype, dims: reshapeDims(ctx, x.dims, constantInts(ctx, required(ctx, inputs, 1), 'the target shape')) }];
  }],
  ['Transpose', (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    return [{ dtype: x.dtype, dims: transposePerm(ctx, x.dims.length).map((p) => x.dims[p]) }];
  }],
  ['Split', (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    const { axis, sizes } = splitSizes(ctx, inputs);
    return sizes.map((s) => ({ dtype: x.dtype, dims: x.dims.map((d, i) => (i === axis ? s : d)) }));
  }],
  ['Slice', (ctx, inputs) => [{ dtype: required(ctx, inputs, 0).dtype, dims: sliceView(ctx, inputs).counts }]],
  ['Concat', (ctx, inputs) => {
    const present = inputs.filter((v): v is ShapedValue => v !== undefined);
    const { dims } = concatDims(ctx, present); // throws when there are no inputs
    return [{ dtype: present[0].dtype, dims }];
  }],
  ['Shape', (ctx, inputs) => {
    const [start, end] = shapeRange(ctx, required(ctx, inputs, 0).dims.length);
    return [{ dtype: 'int64', dims: [Math.max(0, end - start)] }];
  }],
  ['Gather', (ctx, inputs) => {
    const data = required(ctx, inputs, 0);
    return [{ dtype: data.dtype, dims: gatherDims(ctx, data.dims, required(ctx, inputs, 1).dims).dims }];
  }],
  ['Unsqueeze', (ctx, inputs) => [{ dtype: required(ctx, inputs, 0).dtype, dims: unsqueezeDims(ctx, inputs) }]],
  ['Squeeze', (ctx, inputs) => [{ dtype: required(ctx, inputs, 0).dtype, dims: squeezeDims(ctx, inputs) }]],
  ['ReduceMean', (ctx, inputs) => [{ dtype: required(ctx, inputs, 0).dtype, dims: reduceGeometry(ctx, inputs).dims }]],
  ['Pad', (ctx, inputs) => [{ dtype: required(ctx, inputs, 0).dtype, dims: padGeometry(ctx, inputs).dims }]],
]);

/** Output shapes of one node. Unknown op → SnncError naming node and op. */
export function outputShapes(ctx: NodeContext, inputs: (ShapedValue | undefined)[]): ValueShape[] {
  const rule = SHAPE_RULES.get(ctx.node.op);
  if (!rule) throw nodeError(ctx, `unsupported op ${ctx.node.op}`);
  return rule(ctx, inputs);
}
