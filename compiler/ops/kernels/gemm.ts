/** Gemm and MatMul (NumPy batching and broadcasting), on one row-major i-k-j product. */
import type { Tensor } from '../../graph.ts';
import { makeTensor } from '../../graph.ts';
import { attrFloat, gemmGeometry, matmulGeometry, required } from '../rules.ts';
import type { Data, Kernel } from './common.ts';
import { forEachBroadcastRow, outputTensor, stridedCopy } from './common.ts';

/**
 * out[M, N] = a[M, K] · b[K, N] (row-major, at the given offsets). i-k-j order: the inner loop streams a row
 * of B into a float64 accumulator row; zero entries of A (ReLU outputs) skip their row of B.
 */
export function matmulInto(a: Data, aOff: number, b: Data, bOff: number, out: Data, outOff: number, M: number, K: number, N: number): void {
  const acc = new Float64Array(N);
  for (let i = 0; i < M; i++) {
    acc.fill(0);
    const aRow = aOff + i * K;
    for (let k = 0; k < K; k++) {
      const aik = a[aRow + k];
      if (aik === 0) continue;
      const bRow = bOff + k * N;
      for (let j = 0; j < N; j++) acc[j] += aik * b[bRow + j];
    }
    const outRow = outOff + i * N;
    for (let j = 0; j < N; j++) out[outRow + j] = acc[j];
  }
}

function transposed2d(t: Tensor): Data {
  const [rows, cols] = t.dims;
  const out = makeTensor(t.dtype, [cols, rows]).data;
  stridedCopy(t.data, 0, [1, cols], [cols, rows], out);
  return out;
}

/** Y = alpha·op(A)·op(B) + beta·C, C broadcast to [M, N]. */
const gemm: Kernel = (ctx, inputs) => {
  const a = required(ctx, inputs, 0);
  const b = required(ctx, inputs, 1);
  const c = inputs[2];
  const { M, K, N, transA, transB } = gemmGeometry(ctx, a.dims, b.dims, c?.dims);
  const alpha = attrFloat(ctx, 'alpha', 1);
  const beta = attrFloat(ctx, 'beta', 1);
  const y = outputTensor(ctx, a.dtype, [M, N]);
  const yd = y.data;
  matmulInto(transA ? transposed2d(a) : a.data, 0, transB ? transposed2d(b) : b.data, 0, yd, 0, M, K, N);
  if (c) {
    const cd = c.data;
    forEachBroadcastRow([M, N], c.dims, [M, N], (o, _a, _aStep, cOff, cStep, n) => {
      for (let i = 0; i < n; i++) yd[o + i] = alpha * yd[o + i] + beta * cd[cOff + i * cStep];
    });
  } else if (alpha !== 1) {
    for (let i = 0; i < yd.length; i++) yd[i] *= alpha;
  }
  return [y];
};

const matmul: Kernel = (ctx, inputs) => {
  const a = required(ctx, inputs, 0);
  const b = required(ctx, inputs, 1);
  const { M, K, N, aBatch, bBatch, batch, outDims } = matmulGeometry(ctx, a.dims, b.dims);
  const y = outputTensor(ctx, a.dtype, outDims);
  forEachBroadcastRow(aBatch, bBatch, batch, (o, aIndex, aStep, bIndex, bStep, n) => {
    for (let i = 0; i < n; i++) {
      matmulInto(a.data, (aIndex + i * aStep) * M * K, b.data, (bIndex + i * bStep) * K * N, y.data, (o + i) * M * N, M, K, N);
    }
  });
  return [y];
};

export const gemmKernels: Record<string, Kernel> = { Gemm: gemm, MatMul: matmul };
