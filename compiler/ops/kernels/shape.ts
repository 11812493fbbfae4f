/**
 * Layout and shape ops: Flatten, Reshape, Squeeze, Unsqueeze (views), Transpose, Slice, Split (strided
 * copies), Concat, Gather, Shape, and ReduceMean. They work on float and integer tensors alike.
 */
import type { Tensor } from '../../graph.ts';
import { makeTensor, tensorSize } from '../../graph.ts';
import {
  concatDims, gatherDims, nodeError, outputShapes, reduceGeometry, required, shapeRange, sliceView, splitSizes, transposePerm,
} from '../rules.ts';
import type { Kernel } from './common.ts';
import { contiguousStrides, outputTensor, stridedCopy } from './common.ts';

/** Same data, new dims: safe because tensors are never modified after they are made. */
const view: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  return [{ dtype: x.dtype, dims: outputShapes(ctx, inputs)[0].dims, data: x.data }];
};

const transpose: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const perm = transposePerm(ctx, x.dims.length);
  const strides = contiguousStrides(x.dims);
  const y = outputTensor(ctx, x.dtype, perm.map((p) => x.dims[p]));
  stridedCopy(x.data, 0, perm.map((p) => strides[p]), y.dims, y.data);
  return [y];
};

const slice: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const { starts, steps, counts } = sliceView(ctx, inputs);
  const strides = contiguousStrides(x.dims);
  const base = starts.reduce((sum, s, d) => sum + s * strides[d], 0);
  const y = outputTensor(ctx, x.dtype, counts);
  stridedCopy(x.data, base, strides.map((s, d) => s * steps[d]), counts, y.data);
  return [y];
};

const split: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const { axis, sizes } = splitSizes(ctx, inputs);
  const strides = contiguousStrides(x.dims);
  let start = 0;
  return sizes.map((size) => {
    const y = outputTensor(ctx, x.dtype, x.dims.map((d, i) => (i === axis ? size : d)));
    stridedCopy(x.data, start * strides[axis], strides, y.dims, y.data);
    start += size;
    return y;
  });
};

const concat: Kernel = (ctx, inputs) => {
  const parts = inputs.filter((t): t is Tensor => t !== undefined);
  const { axis, dims } = concatDims(ctx, parts);
  const y = outputTensor(ctx, parts[0].dtype, dims);
  const outer = tensorSize(dims.slice(0, axis));
  const inner = tensorSize(dims.slice(axis + 1));
  let offset = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of parts) {
      const block = t.dims[axis] * inner;
      y.data.set(t.data.subarray(o * block, (o + 1) * block), offset);
      offset += block;
    }
  }
  return [y];
};

const shape: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const [start, end] = shapeRange(ctx, x.dims.length);
  const dims = x.dims.slice(start, end);
  return [makeTensor('int64', [dims.length], Float64Array.from(dims))];
};

const gather: Kernel = (ctx, inputs) => {
  const data = required(ctx, inputs, 0);
  const indices = required(ctx, inputs, 1);
  const { axis, dims } = gatherDims(ctx, data.dims, indices.dims);
  const y = outputTensor(ctx, data.dtype, dims);
  const outer = tensorSize(data.dims.slice(0, axis));
  const axisDim = data.dims[axis];
  const inner = tensorSize(data.dims.slice(axis + 1));
  const count = indices.data.length;
  for (let j = 0; j < count; j++) {
    const raw = indices.data[j];
    const k = raw < 0 ? raw + axisDim : raw;
    if (!(k >= 0 && k < axisDim)) throw nodeError(ctx, `index ${raw} is out of range for axis ${axis} of size ${axisDim}`);
    for (let o = 0; o < outer; o++) {
      const src = (o * axisDim + k) * inner;
      const dst = (o * count + j) * inner;
      for (let i = 0; i < inner; i++) y.data[dst + i] = data.data[src + i];
    }
  }
  return [y];
};

const reduceMean: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const { reduced, dims } = reduceGeometry(ctx, inputs);
  // Accumulate in the keepdims layout: reduced axes have output stride 0.
  const kept = x.dims.map((d, i) => (reduced[i] ? 1 : d));
  const outStrides = contiguousStrides(kept).map((s, i) => (reduced[i] ? 0 : s));
  const sums = new Float64Array(tensorSize(kept));
  const rank = x.dims.length;
  const index = new Array<number>(rank).fill(0);
  for (let i = 0, o = 0; i < x.data.length; i++) {
    sums[o] += x.data[i];
    for (let d = rank - 1; d >= 0; d--) {
      o += outStrides[d];
      if (++index[d] < x.dims[d]) break;
      o -= outStrides[d] * x.dims[d];
      index[d] = 0;
    }
  }
  const count = tensorSize(x.dims.filter((_, i) => reduced[i]));
  const y = outputTensor(ctx, x.dtype, dims);
  for (let i = 0; i < sums.length; i++) y.data[i] = sums[i] / count;
  return [y];
};

export const shapeKernels: Record<string, Kernel> = {
  Flatten: view,
  Reshape: view,
  Squeeze: view,
  Unsqueeze: view,
  Transpose: transpose,
  Slice: slice,
  Split: split,
  Concat: concat,
  Shape: shape,
  Gather: gather,
  ReduceMean: reduceMean,
};
