/**
 * A compact twin of a fan-out table that is exactly one conv2d (spikes of a [C, H, W] population feeding a
 * conv whose output is one population's current): the weights once per (channel, tap, output channel)
 * instead of once per synapse, and per source position the (output position, tap) pairs it reaches.
 * Delivering a spike then reads a few kilobytes of weights that stay in L1 instead of streaming its CSR
 * row (8 bytes per synapse) from memory: the simulator's hot loop.
 *
 * The twin is only kept when it reproduces the CSR exactly (same targets, same Float32 weights, zero
 * weights aside: the CSR drops them and adding 0 changes nothing), so the engine may use either; SOPs are
 * still counted from the CSR's row lengths.
 */
import type { Conv2dNode, IrTensor, Shape } from '../../compiler/ir/types.ts';
import type { Csr } from './plan.ts';

export interface ConvTable {
  /** Source positions per channel (H·W) and output positions per channel (OH·OW). */
  plane: number;
  outPlane: number;
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
 * The twin of `csr` (the table of a population with thresholds `theta` feeding `node` alone, read at
 * `offset`), or null when θ varies within a channel or the twin would differ from the table in any entry.
 */
export function convTable(node: Conv2dNode, inShape: Shape, weight: IrTensor, theta: Float64Array, offset: number, csr: Csr): ConvTable | null {
  const [cin, h, w] = inShape;
  const [, oh, ow] = node.shape;
  const [cout, cinPerGroup, kh, kw] = weight.dims;
  const plane = h * w;
  const outPlane = oh * ow;
  const taps = kh * kw;
  const coutPerGroup = cout / node.groups;
  for (let c = 0; c < cin; c++) for (let s = 1; s < plane; s++) if (theta[c * plane + s] !== theta[c * plane]) return null;

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
        weights[(c * taps + tap) * coutPerGroup + o] = Math.fround(theta[c * plane] * weight.data[(co * cinPerGroup + cl) * taps + tap]);
      }
    }
  }
  const table: ConvTable = {
    plane,
    outPlane,
    cinPerGroup,
    coutPerGroup,
    cout,
    taps,
    offset,
    posPtr,
    posOut: Int32Array.from(posOut),
    posTap: Int32Array.from(posTap),
    weights,
  };
  return reproduces(table, csr, cin) ? table : null;
}

/** Every row of the twin, zero weights left out, has exactly the CSR row's targets and weights. */
function reproduces(t: ConvTable, csr: Csr, cin: number): boolean {
  const { rowPtr, col, val } = csr;
  if (rowPtr.length !== cin * t.plane + 1) return false;
  // Per target (relative to the conv's first current): the row that last wrote it, and the weight.
  const size = t.cout * t.outPlane;
  const row = new Int32Array(size).fill(-1);
  const weight = new Float64Array(size);
  let duplicate = false;
  for (let i = 0; i < cin * t.plane; i++) {
    let count = 0;
    forEachEntry(t, i, (target, w) => {
      if (w === 0) return;
      const k = target - t.offset;
      if (row[k] === i) duplicate = true;
      row[k] = i;
      weight[k] = w;
      count++;
    });
    if (duplicate || count !== rowPtr[i + 1] - rowPtr[i]) return false;
    for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
      const k = col[j] - t.offset;
      if (!(k >= 0 && k < size && row[k] === i && weight[k] === val[j])) return false;
    }
  }
  return true;
}

/** The (target, weight) entries of source neuron i, as the engine delivers them. */
function forEachEntry(t: ConvTable, i: number, visit: (target: number, weight: number) => void): void {
  const c = Math.floor(i / t.plane);
  const s = i - c * t.plane;
  const g = Math.floor(c / t.cinPerGroup);
  const first = t.offset + g * t.coutPerGroup * t.outPlane;
  for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) {
    const wb = (c * t.taps + t.posTap[q]) * t.coutPerGroup;
    for (let o = 0; o < t.coutPerGroup; o++) visit(first + o * t.outPlane + t.posOut[q], t.weights[wb + o]);
  }
}
