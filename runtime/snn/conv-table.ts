/**
 * A compact twin of a fan-out table that is exactly one conv2d (spikes of a [C, H, W] population feeding a
 * conv whose output is one population's current): the weights once per (channel, tap, output channel)
 * instead of once per synapse, and per source position the (output position, tap) pairs it reaches.
 * Delivering a spike then reads a few kilobytes of weights that stay in L1 instead of streaming its CSR
 * row (8 bytes per synapse) from memory: the simulator's hot loop.
 *
 * The twin holds exactly the composed table's Float32 weights (zero weights included: the table drops
 * them and adding 0 changes nothing); SOPs count the non-zero ones (routes.ts `convFanOut`).
 */
import type { Conv2dNode, IrTensor, Shape } from '../../compiler/ir/types.ts';

export interface ConvTable {
  /** Source positions per channel (H·W) and output positions per channel (OH·OW). */
  plane: number;
  outPlane: number;
  /** W and OW: positions are y·W + x and oy·OW + ox. */
  width: number;
  outWidth: number;
  /** Input channels per group and output channels per group. */
  cinPerGroup: number;
  coutPerGroup: number;
  /** Output channels in all. */
  cout: number;
  /** Kernel taps (KH·KW). */
  taps: number;
  /** First target in the flat current space. */
  offset: number;
  /** For source position s: pairs posPtr[s] .. posPtr[s+1] of (output position, tap). */
  posPtr: Int32Array;
  posOut: Int32Array;
  posTap: Int32Array;
  /** θ_c·W[co, c, tap] rounded to Float32, laid out [c][tap][co within the group]. */
  weights: Float32Array;
}

function axisPairs(size: number, outSize: number, kernel: number, stride: number, pad: number, dilation: number): Array<Array<[number, number]>> {
  return Array.from({ length: size }, (_, i) => {
    const pairs: Array<[number, number]> = [];
    for (let k = 0; k < kernel; k++) {
      const num = i + pad - k * dilation;
      if (num >= 0 && num % stride === 0 && num / stride < outSize) pairs.push([num / stride, k]);
    }
    return pairs;
  });
}

/**
 * The twin of a conv2d whose input element (c, h, w) carries the value `channelValue[c]` (θ_c for a
 * population's spikes, 1 for analog values, times any scale of an index-only prefix) and whose output is
 * multiplied by `postScales` in order (residual adds' scales) before it lands at `offset`. Each weight is
 * computed as the composed table computes it: ((value·W)·s₁)·s₂ … in doubles, rounded once to Float32.
 */
export function convTable(node: Conv2dNode, inShape: Shape, weight: IrTensor, channelValue: Float64Array, postScales: number[], offset: number): ConvTable {
  const [cin, h, w] = inShape;
  const [, oh, ow] = node.shape;
  const [cout, cinPerGroup, kh, kw] = weight.dims;
  const plane = h * w;
  const outPlane = oh * ow;
  const taps = kh * kw;
  const coutPerGroup = cout / node.groups;
  const rows = axisPairs(h, oh, kh, node.strides[0], node.pads[0], node.dilations[0]);
  const cols = axisPairs(w, ow, kw, node.strides[1], node.pads[1], node.dilations[1]);
  const posPtr = new Int32Array(plane + 1);
  const posOut: number[] = [];
  const posTap: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (const [oy, ky] of rows[y]) {
        for (const [ox, kx] of cols[x]) {
          posOut.push(oy * ow + ox);
          posTap.push(ky * kw + kx);
        }
      }
      posPtr[y * w + x + 1] = posOut.length;
    }
  }
  const weights = new Float32Array(cin * taps * coutPerGroup);
  for (let c = 0; c < cin; c++) {
    const g = Math.floor(c / cinPerGroup);
    const cl = c - g * cinPerGroup;
    for (let tap = 0; tap < taps; tap++) {
      for (let o = 0; o < coutPerGroup; o++) {
        const co = g * coutPerGroup + o;
        let v = channelValue[c] * weight.data[(co * cinPerGroup + cl) * taps + tap];
        for (const s of postScales) v = s * v;
        weights[(c * taps + tap) * coutPerGroup + o] = Math.fround(v);
      }
    }
  }
  return { plane, outPlane, width: w, outWidth: ow, cinPerGroup, coutPerGroup, cout, taps, offset, posPtr, posOut: Int32Array.from(posOut), posTap: Int32Array.from(posTap), weights };
}
