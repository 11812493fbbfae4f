/**
 * The Conv kernel sums its runs in WebAssembly (compiler/ops/kernels/conv.wat); its outputs must be
 * bit-identical to the plain JavaScript loop it replaced, which is kept here as the reference: on random
 * geometries (1-D and 2-D, odd and even run lengths, strides, dilations, pads, groups, tap counts below, at
 * and past eight), float64 and float32 tensors, and across memory growth.
 */
import { describe, expect, it } from 'vitest';
import type { AttrValue, DType, Tensor } from '../../compiler/graph.ts';
import { makeTensor } from '../../compiler/graph.ts';
import type { NodeContext } from '../../compiler/ops/rules.ts';
import { convGeometry } from '../../compiler/ops/rules.ts';
import { planar } from '../../compiler/ops/kernels/common.ts';
import { convKernels } from '../../compiler/ops/kernels/conv.ts';

/** Uniform doubles in [lo, hi) with all 52 mantissa bits random (mulberry32 pairs). */
function randomDoubles(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (next() + next() / 4294967296) * (hi - lo);
  return out;
}

/** The pre-WebAssembly Conv kernel, verbatim in plain JavaScript (padded phase buffer, eight taps per pass). */
function referenceConv(ctx: NodeContext, x: Tensor, w: Tensor, bias: Tensor | undefined): Tensor {
  const geometry = convGeometry(ctx, x.dims, w.dims, bias?.dims);
  const p = planar(ctx, x.dims, geometry);
  const { batch, channels, H, W, OH, OW, strideH: sh, strideW: sw } = p;
  const group = geometry.group;
  const outChannels = w.dims[0];
  const groupChannels = channels / group;
  const groupOutChannels = outChannels / group;
  const y = makeTensor(x.dtype, geometry.outDims);
  const phaseW = Math.ceil((W + p.padLeft + p.padRight) / sw);
  const phaseH = Math.ceil((H + p.padTop + p.padBottom) / sh);
  const phaseSize = (phaseH + 1) * phaseW;
  const channelSize = sh * sw * phaseSize;
  const padded = new Float64Array(channels * channelSize);
  const taps = groupChannels * p.KH * p.KW;
  const tapOffset = new Int32Array(taps);
  for (let c = 0, t = 0; c < groupChannels; c++) {
    for (let kh = 0; kh < p.KH; kh++) {
      const r = kh * p.dilationH;
      for (let kw = 0; kw < p.KW; kw++, t++) {
        const col = kw * p.dilationW;
        const phase = (r % sh) * sw + (col % sw);
        tapOffset[t] = c * channelSize + phase * phaseSize + Math.floor(r / sh) * phaseW + Math.floor(col / sw);
      }
    }
  }
  const runLength = OH * phaseW;
  const acc = new Float64Array(runLength);
  const xd = x.data;
  const wd = w.data;
  const yd = y.data;
  for (let n = 0; n < batch; n++) {
    const base = n * channels * H * W;
    for (let c = 0; c < channels; c++) {
      for (let ih = 0; ih < H; ih++) {
        const r = ih + p.padTop;
        const rowBase = c * channelSize + (r % sh) * sw * phaseSize + Math.floor(r / sh) * phaseW;
        for (let iw = 0; iw < W; iw++) {
          const col = iw + p.padLeft;
          padded[rowBase + (col % sw) * phaseSize + Math.floor(col / sw)] = xd[base + (c * H + ih) * W + iw];
        }
      }
    }
    for (let m = 0; m < outChannels; m++) {
      const groupBase = Math.floor(m / groupOutChannels) * groupChannels * channelSize;
      acc.fill(bias ? bias.data[m] : 0);
      const wBase = m * taps;
      let t = 0;
      for (; t + 8 <= taps; t += 8) {
        const w0 = wd[wBase + t], w1 = wd[wBase + t + 1], w2 = wd[wBase + t + 2], w3 = wd[wBase + t + 3];
        const w4 = wd[wBase + t + 4], w5 = wd[wBase + t + 5], w6 = wd[wBase + t + 6], w7 = wd[wBase + t + 7];
        const o0 = groupBase + tapOffset[t], o1 = groupBase + tapOffset[t + 1], o2 = groupBase + tapOffset[t + 2];
        const o3 = groupBase + tapOffset[t + 3], o4 = groupBase + tapOffset[t + 4], o5 = groupBase + tapOffset[t + 5];
        const o6 = groupBase + tapOffset[t + 6], o7 = groupBase + tapOffset[t + 7];
        for (let i = 0; i < runLength; i++) {
          acc[i] +=
            w0 * padded[o0 + i] + w1 * padded[o1 + i] + w2 * padded[o2 + i] + w3 * padded[o3 + i] +
            w4 * padded[o4 + i] + w5 * padded[o5 + i] + w6 * padded[o6 + i] + w7 * padded[o7 + i];
        }
      }
      for (; t < taps; t++) {
        const w0 = wd[wBase + t];
        const o0 = groupBase + tapOffset[t];
        for (let i = 0; i < runLength; i++) acc[i] += w0 * padded[o0 + i];
      }
      const outBase = (n * outChannels + m) * OH * OW;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) yd[outBase + oh * OW + ow] = acc[oh * phaseW + ow];
      }
    }
  }
  return y;
}

interface Geometry {
  x: number[];
  w: number[];
  attrs: Record<string, AttrValue>;
  bias: boolean;
}

/** Index of the first element whose bits differ (-1 if none); -0 and +0 differ. */
function firstBitDifference(a: Float32Array | Float64Array, b: Float32Array | Float64Array): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

let seed = 7;
function check(g: Geometry, dtype: DType): void {
  const ctx: NodeContext = {
    node: { name: 'conv', op: 'Conv', inputs: ['x', 'w', ...(g.bias ? ['b'] : [])], outputs: ['y'], attrs: g.attrs },
    opset: 13,
  };
  const size = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);
  const tensor = (dims: number[], lo = -1, hi = 1): Tensor => {
    const values = randomDoubles(size(dims), seed++, lo, hi);
    return makeTensor(dtype, dims, dtype === 'float64' ? values : Float32Array.from(values));
  };
  const x = tensor(g.x, -2, 2);
  // Exact zeros, as ReLU outputs have, so that signed-zero sums are exercised too.
  for (let i = 0; i < x.data.length; i += 3) x.data[i] = 0;
  const w = tensor(g.w);
  const b = g.bias ? tensor([g.w[0]]) : undefined;
  const [y] = convKernels.Conv(ctx, [x, w, b]);
  const ref = referenceConv(ctx, x, w, b);
  expect(y.dims).toEqual(ref.dims);
  expect(y.data.constructor).toBe(ref.data.constructor);
  const at = firstBitDifference(y.data, ref.data);
  expect(at, at < 0 ? '' : `first difference at ${at}: ${y.data[at]} vs ${ref.data[at]}`).toBe(-1);
}

const FIXED: Geometry[] = [
  { x: [2, 3, 7, 7], w: [4, 3, 3, 3], attrs: { pads: [1, 1, 1, 1] }, bias: true }, // 27 taps, odd run length
  { x: [1, 2, 6, 6], w: [3, 2, 2, 2], attrs: {}, bias: false }, // exactly 8 taps, run 5·6 = 30
  { x: [1, 1, 5, 5], w: [2, 1, 1, 1], attrs: {}, bias: true }, // one tap, run 25
  { x: [1, 1, 1, 1], w: [1, 1, 1, 1], attrs: {}, bias: false }, // run length 1
  { x: [2, 4, 9, 8], w: [6, 2, 3, 3], attrs: { group: 2, strides: [2, 1], dilations: [1, 2], pads: [1, 2, 0, 1] }, bias: true },
  { x: [1, 6, 8, 8], w: [6, 1, 3, 3], attrs: { group: 6, pads: [1, 1, 1, 1] }, bias: true }, // depthwise, 9 taps
  { x: [1, 3, 11, 10], w: [5, 3, 4, 2], attrs: { strides: [3, 2], dilations: [2, 1], auto_pad: 'SAME_UPPER' }, bias: false },
  { x: [3, 2, 17], w: [4, 2, 5], attrs: { strides: [2], pads: [2, 1] }, bias: true }, // 1-D
  { x: [1, 4, 13], w: [4, 1, 3], attrs: { group: 4, dilations: [3] }, bias: false }, // 1-D depthwise dilated
  { x: [1, 16, 14, 14], w: [32, 16, 3, 3], attrs: { pads: [1, 1, 1, 1] }, bias: true }, // 144 taps
];

/** Random valid geometries from a seed. */
function randomGeometries(count: number, seed0: number): Geometry[] {
  let s = seed0;
  const int = (lo: number, hi: number): number => lo + Math.floor(randomDoubles(1, s++, 0, 1)[0] * (hi - lo + 1));
  const out: Geometry[] = [];
  while (out.length < count) {
    const rank = int(1, 3) === 1 ? 1 : 2;
    const group = [1, 1, 2, 3][int(0, 3)];
    const channels = group * int(1, 4);
    const outChannels = group * int(1, 3);
    const spatial = Array.from({ length: rank }, () => int(1, 12));
    const kernel = Array.from({ length: rank }, () => int(1, 4));
    const strides = Array.from({ length: rank }, () => int(1, 3));
    const dilations = Array.from({ length: rank }, () => int(1, 2));
    const pads = Array.from({ length: 2 * rank }, () => int(0, 2));
    // Keep only geometries with at least one output along every axis.
    const ok = spatial.every((d, i) => d + pads[i] + pads[i + rank] - ((kernel[i] - 1) * dilations[i] + 1) >= 0);
    if (!ok) continue;
    out.push({
      x: [int(1, 2), channels, ...spatial],
      w: [outChannels, channels / group, ...kernel],
      attrs: { group, strides, dilations, pads },
      bias: int(0, 1) === 1,
    });
  }
  return out;
}

describe('Conv in WebAssembly is bit-identical to the plain JavaScript loop', () => {
  it.each(FIXED.map((g, i) => [i, g] as const))('fixed geometry %i', (_, g) => {
    check(g, 'float64');
    check(g, 'float32');
  });

  it('on 60 random geometries', () => {
    for (const g of randomGeometries(60, 1234)) check(g, 'float64');
  });

  it('across memory growth: small, much larger, then small again', () => {
    check({ x: [1, 2, 5, 5], w: [2, 2, 3, 3], attrs: {}, bias: true }, 'float64');
    check({ x: [1, 24, 64, 64], w: [3, 24, 3, 3], attrs: { pads: [1, 1, 1, 1] }, bias: true }, 'float64'); // > 64 KiB pages
    check({ x: [1, 3, 6, 5], w: [2, 3, 3, 2], attrs: { strides: [2, 2] }, bias: false }, 'float64');
  });
});
