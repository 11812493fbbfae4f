/** Pad: constant, reflect and edge modes, negative pads (cropping), on float and integer tensors. */
import { padGeometry, required } from '../rules.ts';
import type { Kernel } from './common.ts';
import { contiguousStrides, outputTensor } from './common.ts';

/** For each output index along one axis, the input index it copies, or -1 for the constant fill. */
function sourceIndices(size: number, begin: number, outSize: number, mode: string): Int32Array {
  const map = new Int32Array(outSize);
  const period = 2 * (size - 1);
  for (let o = 0; o < outSize; o++) {
    const i = o - begin;
    if (i >= 0 && i < size) map[o] = i;
    else if (mode === 'edge') map[o] = i < 0 ? 0 : size - 1;
    else if (mode === 'reflect') {
      // Mirror without repeating the border element: …, 2, 1, [0, 1, 2, …, n-1], n-2, ….
      const r = period === 0 ? 0 : ((i % period) + period) % period;
      map[o] = r < size ? r : period - r;
    } else map[o] = -1;
  }
  return map;
}

const pad: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const g = padGeometry(ctx, inputs);
  const y = outputTensor(ctx, x.dtype, g.dims);
  const rank = g.dims.length;
  if (y.data.length === 0) return [y];
  if (rank === 0) {
    y.data[0] = x.data[0];
    return [y];
  }
  const maps = x.dims.map((d, a) => sourceIndices(d, g.begin[a], g.dims[a], g.mode));
  const strides = contiguousStrides(x.dims);
  const index = new Array<number>(rank).fill(0);
  const last = maps[rank - 1];
  const n = g.dims[rank - 1];
  for (let o = 0; o < y.data.length; o += n) {
    // The row's source offset over the outer axes, or -1 when an outer axis lies in the constant fill.
    let base = 0;
    for (let a = 0; a < rank - 1 && base >= 0; a++) base = maps[a][index[a]] < 0 ? -1 : base + maps[a][index[a]] * strides[a];
    for (let i = 0; i < n; i++) y.data[o + i] = base < 0 || last[i] < 0 ? g.value : x.data[base + last[i]];
    for (let a = rank - 2; a >= 0; a--) {
      if (++index[a] < g.dims[a]) break;
      index[a] = 0;
    }
  }
  return [y];
};

export const padKernels: Record<string, Kernel> = { Pad: pad };
