/**
 * What every kernel family shares: the kernel signature, the one broadcasting loop, the one strided copy,
 * and the 2-D view of a sliding window.
 */
import type { DType, Tensor } from '../../graph.ts';
import { makeTensor } from '../../graph.ts';
import type { NodeContext, WindowGeometry } from '../rules.ts';
import { nodeError } from '../rules.ts';

/** A kernel computes a node's outputs from its inputs (undefined = omitted optional input). Inputs are never modified. */
export type Kernel = (ctx: NodeContext, inputs: (Tensor | undefined)[]) => Tensor[];

export type Data = Float32Array | Float64Array;

/** A zeroed tensor for a kernel's output, from the executor's recycled buffers when it offers them. */
export function outputTensor(ctx: NodeContext, dtype: DType, dims: number[]): Tensor {
  return ctx.allocate ? ctx.allocate(dtype, dims) : makeTensor(dtype, dims);
}

export function contiguousStrides(dims: readonly number[]): number[] {
  const strides = new Array<number>(dims.length);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= dims[i];
  }
  return strides;
}

/** Strides of `dims` read as broadcast to `outDims` (0 along broadcast axes). */
function broadcastStrides(dims: readonly number[], outDims: readonly number[]): number[] {
  const own = contiguousStrides(dims);
  const lead = outDims.length - dims.length;
  return outDims.map((_, i) => (i < lead || dims[i - lead] === 1 ? 0 : own[i - lead]));
}

/**
 * A run of `n` output elements starting at `out`, reading operand A at `a + i·aStep` and B at `b + i·bStep`.
 * Kernels pass a row function with their own loop, so the per-element work is inlined per op.
 */
export type BroadcastRow = (out: number, a: number, aStep: number, b: number, bStep: number, n: number) => void;

/**
 * NumPy broadcasting of A (`aDims`) and B (`bDims`) onto `outDims`, as the fewest, longest rows: adjacent axes
 * that both operands traverse alike are merged, so a scalar or per-channel operand gives long contiguous runs.
 */
export function forEachBroadcastRow(aDims: readonly number[], bDims: readonly number[], outDims: readonly number[], row: BroadcastRow): void {
  const aFull = broadcastStrides(aDims, outDims);
  const bFull = broadcastStrides(bDims, outDims);
  // Merged axes, innermost first.
  const sizes: number[] = [];
  const aStrides: number[] = [];
  const bStrides: number[] = [];
  for (let d = outDims.length - 1; d >= 0; d--) {
    const size = outDims[d];
    if (size === 0) return;
    if (size === 1) continue;
    const k = sizes.length - 1;
    if (k >= 0 && aStrides[k] * sizes[k] === aFull[d] && bStrides[k] * sizes[k] === bFull[d]) {
      sizes[k] *= size;
    } else {
      sizes.push(size);
      aStrides.push(aFull[d]);
      bStrides.push(bFull[d]);
    }
  }
  if (sizes.length === 0) {
    row(0, 0, 0, 0, 0, 1);
    return;
  }
  const n = sizes[0];
  let rows = 1;
  for (let d = 1; d < sizes.length; d++) rows *= sizes[d];
  const index = new Array<number>(sizes.length).fill(0);
  let a = 0;
  let b = 0;
  for (let r = 0, out = 0; r < rows; r++, out += n) {
    row(out, a, aStrides[0], b, bStrides[0], n);
    for (let d = 1; d < sizes.length; d++) {
      a += aStrides[d];
      b += bStrides[d];
      if (++index[d] < sizes[d]) break;
      a -= aStrides[d] * sizes[d];
      b -= bStrides[d] * sizes[d];
      index[d] = 0;
    }
  }
}

/**
 * Fills `out` in C order over `counts`, reading `src[base + Σ index[d]·strides[d]]`. Slice, Split and
 * Transpose are all this copy with different bases and strides.
 */
export function stridedCopy(src: Data, base: number, strides: readonly number[], counts: readonly number[], out: Data): void {
  const rank = counts.length;
  let total = 1;
  for (const c of counts) total *= c;
  if (total === 0) return;
  if (rank === 0) {
    out[0] = src[base];
    return;
  }
  const n = counts[rank - 1];
  const step = strides[rank - 1];
  const index = new Array<number>(rank).fill(0);
  let s = base;
  for (let o = 0; o < total; o += n) {
    for (let i = 0; i < n; i++) out[o + i] = src[s + i * step];
    for (let d = rank - 2; d >= 0; d--) {
      s += strides[d];
      if (++index[d] < counts[d]) break;
      s -= strides[d] * counts[d];
      index[d] = 0;
    }
  }
}

/** A 1-D or 2-D window over [N, C, (H,) W] seen as 2-D (1-D gets H = 1), the layout conv and pool loops use. */
export interface Planar {
  batch: number;
  channels: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
  OH: number;
  OW: number;
}

export function planar(ctx: NodeContext, xDims: readonly number[], g: WindowGeometry): Planar {
  const rank = xDims.length - 2;
  if (rank !== 1 && rank !== 2) throw nodeError(ctx, `${rank}-D ${ctx.node.op} is not supported (1-D and 2-D are)`);
  // For 1-D, the missing leading axis is a unit axis with a unit window.
  const pick = (v: readonly number[], i: number, unit: number): number => (rank === 2 ? v[i] : i === 0 ? unit : v[0]);
  return {
    batch: xDims[0],
    channels: xDims[1],
    H: pick(xDims.slice(2), 0, 1),
    W: pick(xDims.slice(2), 1, 1),
    KH: pick(g.kernel, 0, 1),
    KW: pick(g.kernel, 1, 1),
    strideH: pick(g.strides, 0, 1),
    strideW: pick(g.strides, 1, 1),
    dilationH: pick(g.dilations, 0, 1),
    dilationW: pick(g.dilations, 1, 1),
    padTop: pick(g.padsBegin, 0, 0),
    padLeft: pick(g.padsBegin, 1, 0),
    padBottom: pick(g.padsEnd, 0, 0),
    padRight: pick(g.padsEnd, 1, 0),
    OH: pick(g.out, 0, 1),
    OW: pick(g.out, 1, 1),
  };
}
