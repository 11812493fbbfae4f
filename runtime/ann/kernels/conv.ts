/**
 * Conv (1-D and 2-D; groups, depthwise, dilations, strides, pads, auto_pad, optional bias) as direct loops.
 *
 * Each image's input is copied once into a zero-padded, stride-phase-split buffer (float64): padded row r,
 * column c of a channel lands in phase (r mod sh, c mod sw) at (r div sh, c div sw). In that layout every
 * kernel tap of every output pixel of a channel is one constant offset from the pixel's index in a grid of
 * phase width, so an output channel is a sum of long contiguous runs, eight taps per pass. The few grid
 * columns past the output width are computed and dropped. No im2col matrix is built.
 */
import { convGeometry, required } from '../../../compiler/shapes.ts';
import type { Kernel } from './common.ts';
import { outputTensor, planar } from './common.ts';

const conv: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const w = required(ctx, inputs, 1);
  const bias = inputs[2];
  const geometry = convGeometry(ctx, x.dims, w.dims, bias?.dims);
  const p = planar(ctx, x.dims, geometry);
  const { batch, channels, H, W, OH, OW, strideH: sh, strideW: sw } = p;
  const group = geometry.group;
  const outChannels = w.dims[0];
  const groupChannels = channels / group;
  const groupOutChannels = outChannels / group;
  const y = outputTensor(ctx, x.dtype, geometry.outDims);

  // Phase grid: one spare zero row per phase, because the last output rows of a tap read past their phase.
  const phaseW = Math.ceil((W + p.padLeft + p.padRight) / sw);
  const phaseH = Math.ceil((H + p.padTop + p.padBottom) / sh);
  const phaseSize = (phaseH + 1) * phaseW;
  const channelSize = sh * sw * phaseSize;
  const padded = new Float64Array(channels * channelSize); // zero borders stay zero: only the interior is rewritten

  // Offset of each tap (group-local channel, kh, kw) in the padded buffer, in the weight's memory order.
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
    scatterPadded(xd, n * channels * H * W, channels, H, W, p.padTop, p.padLeft, sh, sw, phaseW, phaseSize, channelSize, padded);
    for (let m = 0; m < outChannels; m++) {
      const groupBase = Math.floor(m / groupOutChannels) * groupChannels * channelSize;
      acc.fill(bias ? bias.data[m] : 0);
      accumulateTaps(acc, runLength, padded, groupBase, tapOffset, wd, m * taps);
      const outBase = (n * outChannels + m) * OH * OW;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) yd[outBase + oh * OW + ow] = acc[oh * phaseW + ow];
      }
    }
  }
  return [y];
};

/** Copies one image's channels into the padded phase buffer. */
function scatterPadded(
  x: Float32Array | Float64Array, base: number, channels: number, H: number, W: number, padTop: number, padLeft: number,
  sh: number, sw: number, phaseW: number, phaseSize: number, channelSize: number, padded: Float64Array,
): void {
  for (let c = 0; c < channels; c++) {
    for (let ih = 0; ih < H; ih++) {
      const r = ih + padTop;
      const rowBase = c * channelSize + (r % sh) * sw * phaseSize + Math.floor(r / sh) * phaseW;
      const src = base + (c * H + ih) * W;
      for (let iw = 0; iw < W; iw++) {
        const col = iw + padLeft;
        padded[rowBase + (col % sw) * phaseSize + Math.floor(col / sw)] = x[src + iw];
      }
    }
  }
}

/** acc[i] += Σ_t w[t]·padded[base + offset[t] + i], eight taps per pass to cut loads and stores of acc. */
function accumulateTaps(
  acc: Float64Array, length: number, padded: Float64Array, base: number, offset: Int32Array,
  w: Float32Array | Float64Array, wBase: number,
): void {
  const taps = offset.length;
  let t = 0;
  for (; t + 8 <= taps; t += 8) {
    const w0 = w[wBase + t], w1 = w[wBase + t + 1], w2 = w[wBase + t + 2], w3 = w[wBase + t + 3];
    const w4 = w[wBase + t + 4], w5 = w[wBase + t + 5], w6 = w[wBase + t + 6], w7 = w[wBase + t + 7];
    const o0 = base + offset[t], o1 = base + offset[t + 1], o2 = base + offset[t + 2], o3 = base + offset[t + 3];
    const o4 = base + offset[t + 4], o5 = base + offset[t + 5], o6 = base + offset[t + 6], o7 = base + offset[t + 7];
    for (let i = 0; i < length; i++) {
      acc[i] +=
        w0 * padded[o0 + i] + w1 * padded[o1 + i] + w2 * padded[o2 + i] + w3 * padded[o3 + i] +
        w4 * padded[o4 + i] + w5 * padded[o5 + i] + w6 * padded[o6 + i] + w7 * padded[o7 + i];
    }
  }
  for (; t < taps; t++) {
    const w0 = w[wBase + t];
    const o0 = base + offset[t];
    for (let i = 0; i < length; i++) acc[i] += w0 * padded[o0 + i];
  }
}

export const convKernels: Record<string, Kernel> = { Conv: conv };
