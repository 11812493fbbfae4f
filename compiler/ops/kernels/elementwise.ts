/**
 * Element-wise ops: the broadcasting binary ops (Add, Sub, Mul, Div, Pow), the unary ones (Relu, Clip, Floor,
 * Erf, Sqrt, Cast, Identity) and Softmax. Each op writes its own loop so V8 inlines the arithmetic; only the
 * broadcasting (which rows to run) is shared.
 */
import type { DType, Tensor } from '../../graph.ts';
import { isFloat } from '../../graph.ts';
import type { NodeContext } from '../rules.ts';
import { attrFloat, castTarget, nodeError, outputShapes, required, softmaxLayout } from '../rules.ts';
import type { BroadcastRow, Data, Kernel } from './common.ts';
import { forEachBroadcastRow, outputTensor } from './common.ts';

type RowMaker = (y: Data, a: Data, b: Data) => BroadcastRow;

/** A broadcasting binary op; `integerRow`, if given, replaces `row` for integer tensors. */
function binary(row: RowMaker, integerRow?: RowMaker): Kernel {
  return (ctx, inputs) => {
    const a = required(ctx, inputs, 0);
    const b = required(ctx, inputs, 1);
    const [shape] = outputShapes(ctx, inputs);
    const y = outputTensor(ctx, shape.dtype, shape.dims);
    const make = integerRow && !isFloat(a.dtype) ? integerRow : row;
    forEachBroadcastRow(a.dims, b.dims, shape.dims, make(y.data, a.data, b.data));
    return [y];
  };
}

/** A unary op whose output has the input's dtype and dims; `loop` fills y from x. */
function unary(loop: (x: Data, y: Data) => void): Kernel {
  return (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    const y = outputTensor(ctx, x.dtype, [...x.dims]);
    loop(x.data, y.data);
    return [y];
  };
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erf to about double precision: Maclaurin series below |x| = 2.5, the continued fraction of erfc above. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    const x2 = x * x;
    let term = x; // (-1)^n x^(2n+1) / n!
    let sum = x;
    for (let n = 1; n < 80 && term !== 0; n++) {
      term *= -x2 / n;
      const part = term / (2 * n + 1);
      sum += part;
      if (Math.abs(part) < 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  if (ax > 6) return Math.sign(x); // erfc(6) ≈ 2e-17
  // erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated from the tail.
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * f));
}

/** Clip bounds: inputs 1 and 2 from opset 11 on (either may be omitted), attributes before. */
function clipBounds(ctx: NodeContext, inputs: (Tensor | undefined)[]): [number, number] {
  if (ctx.opset < 11) return [attrFloat(ctx, 'min', -Infinity), attrFloat(ctx, 'max', Infinity)];
  const bound = (i: number, fallback: number): number => {
    const t = inputs[i];
    if (!t) return fallback;
    if (t.data.length !== 1) throw nodeError(ctx, `Clip bound ${i === 1 ? 'min' : 'max'} must be a scalar`);
    return t.data[0];
  };
  return [bound(1, -Infinity), bound(2, Infinity)];
}

const clip: Kernel = (ctx, inputs) => {
  const [lo, hi] = clipBounds(ctx, inputs);
  return unary((x, y) => {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      y[i] = v < lo ? lo : v > hi ? hi : v;
    }
  })(ctx, inputs);
};

const softmax: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const { outer, n, inner } = softmaxLayout(ctx, x.dims);
  const y = outputTensor(ctx, x.dtype, [...x.dims]);
  const exps = new Float64Array(n);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      let max = -Infinity;
      for (let k = 0; k < n; k++) max = Math.max(max, x.data[base + k * inner]);
      let sum = 0;
      for (let k = 0; k < n; k++) sum += exps[k] = Math.exp(x.data[base + k * inner] - max);
      for (let k = 0; k < n; k++) y.data[base + k * inner] = exps[k] / sum;
    }
  }
  return [y];
};

/** ONNX Cast: float → int truncates toward zero, anything → bool is `x != 0`. Constant folding uses it too. */
export function castTensor(t: Tensor, to: DType): Tensor {
  const n = t.data.length;
  if (to === 'float32') return { dtype: to, dims: t.dims, data: Float32Array.from(t.data) };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = to === 'bool' ? (t.data[i] !== 0 ? 1 : 0) : Math.trunc(t.data[i]);
  return { dtype: to, dims: t.dims, data: out };
}

export const elementwiseKernels: Record<string, Kernel> = {
  Add: binary((y, a, b) => (o, ai, as, bi, bs, n) => {
    for (let i = 0; i < n; i++) y[o + i] = a[ai + i * as] + b[bi + i * bs];
  }),
  Sub: binary((y, a, b) => (o, ai, as, bi, bs, n) => {
    for (let i = 0; i < n; i++) y[o + i] = a[ai + i * as] - b[bi + i * bs];
  }),
  Mul: binary((y, a, b) => (o, ai, as, bi, bs, n) => {
    for (let i = 0; i < n; i++) y[o + i] = a[ai + i * as] * b[bi + i * bs];
  }),
  Div: binary(
    (y, a, b) => (o, ai, as, bi, bs, n) => {
      for (let i = 0; i < n; i++) y[o + i] = a[ai + i * as] / b[bi + i * bs];
    },
    // Integer division truncates, as in C (and onnxruntime).
    (y, a, b) => (o, ai, as, bi, bs, n) => {
      for (let i = 0; i < n; i++) y[o + i] = Math.trunc(a[ai + i * as] / b[bi + i * bs]);
    },
  ),
  Pow: binary((y, a, b) => (o, ai, as, bi, bs, n) => {
    for (let i = 0; i < n; i++) y[o + i] = Math.pow(a[ai + i * as], b[bi + i * bs]);
  }),
  Relu: unary((x, y) => {
    for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 ? x[i] : 0;
  }),
  Floor: unary((x, y) => {
    for (let i = 0; i < x.length; i++) y[i] = Math.floor(x[i]);
  }),
  Sqrt: unary((x, y) => {
    for (let i = 0; i < x.length; i++) y[i] = Math.sqrt(x[i]);
  }),
  Erf: unary((x, y) => {
    for (let i = 0; i < x.length; i++) y[i] = erf(x[i]);
  }),
  Clip: clip,
  Softmax: softmax,
  Cast: (ctx, inputs) => [castTensor(required(ctx, inputs, 0), castTarget(ctx))],
  Identity: (ctx, inputs) => [required(ctx, inputs, 0)],
};
