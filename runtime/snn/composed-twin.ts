/**
 * The conv twin of a chain that is more than one conv: an average pool before it (ResNet's stem pool, also
 * with overlapping windows) and/or pointwise (1×1) convs and residual adds after it (MobileNet's linear
 * bottleneck feeding the next block's expansion). Such a chain is still a conv-shaped operator: the composed
 * weights from source (c, y, x) to target (co, oy, ox) depend on c, co and on (oy − oy₀, ox − ox₀) for a few
 * classes of source positions only (interior rows alike, border rows apart). The twin keeps one slot of
 * weights per class and relative target; the engine's conv kernel delivers it like any twin.
 *
 * The weights are composed by the chain's own scatter maps (linear.ts) from one representative source per
 * class and channel, in the same order the full table composes them, so every weight is bit-identical to
 * the composed table's. Classes are found from the geometry alone (per axis: the pool's windows and the
 * conv's taps a coordinate reaches, relative to the first output it reaches), never from weight values.
 */
import type { AvgPool2dNode, Conv2dNode, IrNode, IrTensor, Shape } from '../../compiler/ir/types.ts';
import type { ConvTable } from './conv-table.ts';
import type { SparseVec } from './linear.ts';

/** Per coordinate along one axis: the ordered (pooled coordinate, its window size) pairs and the conv's (output, tap) pairs. */
interface AxisPaths {
  /** Relative description of the coordinate's paths: equal keys compose equally. */
  key: string[];
  /** First output coordinate reached (−1: none). */
  base: Int32Array;
  /** Sorted distinct output coordinates reached, relative to base. */
  rel: number[][];
}

function pairs(size: number, outSize: number, kernel: number, stride: number, pad: number, dilation: number, i: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let k = 0; k < kernel; k++) {
    const num = i + pad - k * dilation;
    if (num >= 0 && num % stride === 0 && num / stride < outSize) out.push([num / stride, k]);
  }
  return out;
}

function axisPaths(size: number, pool: { out: number; kernel: number; stride: number; pad: number; counts: boolean } | null, conv: { out: number; kernel: number; stride: number; pad: number; dilation: number }, mid: number): AxisPaths {
  const key: string[] = [];
  const base = new Int32Array(size).fill(-1);
  const rel: number[][] = [];
  // In-bounds window size of a pooled coordinate: the divisor when padding does not count.
  const windowOf = (p: number) => (pool && !pool.counts ? Math.min(p * pool.stride - pool.pad + pool.kernel, size) - Math.max(p * pool.stride - pool.pad, 0) : 0);
  for (let i = 0; i < size; i++) {
    const pooled = pool ? pairs(size, pool.out, pool.kernel, pool.stride, pool.pad, 1, i).map(([p]) => p) : [i];
    const paths = pooled.map((p) => ({ w: windowOf(p), to: pairs(mid, conv.out, conv.kernel, conv.stride, conv.pad, conv.dilation, p) }));
    const outs = [...new Set(paths.flatMap((p) => p.to.map(([o]) => o)))].sort((a, b) => a - b);
    const b = outs.length ? outs[0] : -1;
    base[i] = b;
    rel.push(outs.map((o) => o - b));
    key.push(JSON.stringify(paths.map((p) => [p.w, p.to.map(([o, k]) => [o - b, k])])));
  }
  return { key, base, rel };
}

export interface ComposeContext {
  shapes: Map<string, Shape>;
  tensors: Map<string, IrTensor>;
  vec(id: string): SparseVec;
  /** Pushes the vectors set on the chain's first input through `nodes` (constants excluded). */
  propagate(nodes: IrNode[]): void;
}

/**
 * The twin of `chain` (avgpool? → conv → (1×1 conv | add | bias | same-shape reshape)*) from a [C, H, W]
 * source whose element (c, ·) carries `channelValue[c]`, landing at `offset` (the region of the chain's last
 * node, less `shift`); null when the chain has another form.
 */
export function composedTwin(source: string, chain: IrNode[], channelValue: Float64Array, offset: number, shift: number, ctx: ComposeContext): ConvTable | null {
  const inShape = ctx.shapes.get(source)!;
  if (inShape.length !== 3) return null;
  let at = 0;
  const pool = chain[0]?.kind === 'avgpool2d' ? (chain[at++] as AvgPool2dNode) : null;
  const conv = chain[at];
  if (conv?.kind !== 'conv2d') return null;
  let groups = conv.groups;
  let cout = conv.shape[0];
  for (const node of chain.slice(at + 1)) {
    if (node.kind === 'conv2d') {
      if (!isPointwise(node, ctx)) return null;
      groups = 1;
      cout = node.shape[0];
    } else if (node.kind === 'reshape') {
      if (node.shape.join() !== ctx.shapes.get(node.inputs[0])!.join()) return null;
    } else if (node.kind !== 'add' && node.kind !== 'bias' && node.kind !== 'concat') return null;
  }
  if (!pool && chain.length === at + 1) return null; // a plain conv: conv-table.ts builds it directly
  if (!pool && isPointwise(conv, ctx) && !chain.some((n) => n.kind === 'concat')) return pointwiseTwin(source, chain, channelValue, offset + shift, ctx);
  const [cin, h, w] = inShape;
  const midShape = ctx.shapes.get(conv.inputs[0])!;
  const [, oh, ow] = conv.shape;
  const outPlane = oh * ow;
  const [, , kh, kw] = ctx.tensors.get(conv.weight)!.dims;
  const poolAxis = (a: 0 | 1) => (pool ? { out: pool.shape[1 + a], kernel: pool.kernel[a], stride: pool.strides[a], pad: pool.pads[a], counts: pool.countIncludePad } : null);
  const rows = axisPaths(h, poolAxis(0), { out: oh, kernel: kh, stride: conv.strides[0], pad: conv.pads[0], dilation: conv.dilations[0] }, midShape[1]);
  const cols = axisPaths(w, poolAxis(1), { out: ow, kernel: kw, stride: conv.strides[1], pad: conv.pads[1], dilation: conv.dilations[1] }, midShape[2]);

  // Classes of source positions: (row key, column key); slots: per class, its relative targets.
  const plane = h * w;
  const classOf = new Map<string, number>();
  const reps: number[] = [];
  const slotBase: number[] = [];
  let slots = 0;
  const posClass = new Int32Array(plane);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const k = `${rows.key[y]}|${cols.key[x]}`;
      let cls = classOf.get(k);
      if (cls === undefined) {
        cls = reps.length;
        classOf.set(k, cls);
        reps.push(y * w + x);
        slotBase.push(slots);
        slots += rows.rel[y].length * cols.rel[x].length;
      }
      posClass[y * w + x] = cls;
    }
  }
  const cinPerGroup = cin / groups;
  const coutPerGroup = cout / groups;
  if (!Number.isInteger(cinPerGroup) || !Number.isInteger(coutPerGroup)) return null;
  // Composed weights per (channel, slot, output channel within the group), from one source per class.
  const weights = new Float32Array(cin * slots * coutPerGroup);
  const src = ctx.vec(source);
  const last = ctx.vec(chain[chain.length - 1].id);
  for (let cls = 0; cls < reps.length; cls++) {
    const s = reps[cls];
    const y = Math.floor(s / w);
    const x = s - y * w;
    const rRel = rows.rel[y];
    const cRel = cols.rel[x];
    for (let c = 0; c < cin; c++) {
      src.add(c * plane + s, channelValue[c]);
      ctx.propagate(chain);
      const g = Math.floor(c / cinPerGroup);
      for (let j = 0; j < last.count; j++) {
        const t = last.idx[j] - shift;
        const co = Math.floor(t / outPlane);
        const pos = t - co * outPlane;
        const oy = Math.floor(pos / ow);
        const ox = pos - oy * ow;
        const ri = rRel.indexOf(oy - rows.base[y]);
        const ci = cRel.indexOf(ox - cols.base[x]);
        const o = co - g * coutPerGroup;
        if (t < 0 || co >= cout || ri < 0 || ci < 0 || o < 0 || o >= coutPerGroup) return null;
        weights[(c * slots + slotBase[cls] + ri * cRel.length + ci) * coutPerGroup + o] = Math.fround(last.val[last.idx[j]]);
      }
      src.clear();
      for (const n of chain) ctx.vec(n.id).clear();
    }
  }
  // Per source position: its (absolute output position, slot) pairs.
  const posPtr = new Int32Array(plane + 1);
  let total = 0;
  for (let s = 0; s < plane; s++) {
    const y = Math.floor(s / w);
    total += rows.rel[y].length * cols.rel[s - y * w].length;
    posPtr[s + 1] = total;
  }
  const posOut = new Int32Array(total);
  const posTap = new Int32Array(total);
  for (let s = 0; s < plane; s++) {
    const y = Math.floor(s / w);
    const x = s - y * w;
    let q = posPtr[s];
    let slot = slotBase[posClass[s]];
    for (const ry of rows.rel[y]) {
      for (const rx of cols.rel[x]) {
        posOut[q] = (rows.base[y] + ry) * ow + cols.base[x] + rx;
        posTap[q++] = slot++;
      }
    }
  }
  return { plane, outPlane, width: w, outWidth: ow, cinPerGroup, coutPerGroup, cout, taps: slots, offset: offset + shift, posPtr, posOut, posTap, weights };
}

/**
 * A chain of 1×1 convs and adds (every position alike: one class, one slot): the composed weights of each
 * input channel by plain loops in the order the scatter maps add them (output channels ascending into each
 * intermediate, then each intermediate channel ascending into the next conv), so they are bit-identical to
 * the generic path's and take O(cin · Σ cout·cin') instead of one sparse propagation per channel.
 */
function pointwiseTwin(source: string, chain: IrNode[], channelValue: Float64Array, offset: number, ctx: ComposeContext): ConvTable {
  const [cin, h, w] = ctx.shapes.get(source)!;
  let prev = source;
  const steps = chain.map((node) => {
    const k = node.inputs.indexOf(prev);
    prev = node.id;
    return { node, k };
  });
  const cout = (chain.filter((n) => n.kind === 'conv2d').pop() as Conv2dNode).shape[0];
  const weights = new Float32Array(cin * cout);
  for (let c = 0; c < cin; c++) {
    let v = new Float64Array([channelValue[c]]);
    let first = true;
    for (const { node, k } of steps) {
      if (node.kind === 'conv2d') {
        const W = ctx.tensors.get(node.weight)!.data;
        const [co, ci] = ctx.tensors.get(node.weight)!.dims;
        const acc = new Float64Array(co);
        if (first) {
          for (let o = 0; o < co; o++) acc[o] += v[0] * W[o * ci + c];
          first = false;
        } else {
          // Each acc[o] sums its terms in i order, as the scatter does; o outside reads W's rows contiguously,
          // four rows at a time (four independent sums per read of v[i]).
          let o = 0;
          for (; o + 4 <= co; o += 4) {
            let a0 = 0;
            let a1 = 0;
            let a2 = 0;
            let a3 = 0;
            const r0 = o * ci;
            for (let i = 0; i < ci; i++) {
              const x = v[i];
              a0 += x * W[r0 + i];
              a1 += x * W[r0 + ci + i];
              a2 += x * W[r0 + 2 * ci + i];
              a3 += x * W[r0 + 3 * ci + i];
            }
            acc[o] = a0;
            acc[o + 1] = a1;
            acc[o + 2] = a2;
            acc[o + 3] = a3;
          }
          for (; o < co; o++) {
            let a = 0;
            const row = o * ci;
            for (let i = 0; i < ci; i++) a += v[i] * W[row + i];
            acc[o] = a;
          }
        }
        v = acc;
      } else {
        // add scales; bias and reshape copy. Each writes a fresh vector: 0 + x, as SparseVec.add does.
        const scale = node.kind === 'add' ? node.scales[k] : 1;
        for (let i = 0; i < v.length; i++) v[i] = 0 + (node.kind === 'add' ? scale * v[i] : v[i]);
      }
    }
    for (let o = 0; o < cout; o++) weights[c * cout + o] = Math.fround(v[o]);
  }
  const plane = h * w;
  const posPtr = Int32Array.from({ length: plane + 1 }, (_, s) => s);
  const posOut = Int32Array.from({ length: plane }, (_, s) => s);
  return { plane, outPlane: plane, width: w, outWidth: w, cinPerGroup: cin, coutPerGroup: cout, cout, taps: 1, offset, posPtr, posOut, posTap: new Int32Array(plane), weights };
}

/** A 1×1 conv with stride 1, no padding, no groups: it mixes channels at each position and moves nothing. */
function isPointwise(n: Conv2dNode, ctx: ComposeContext): boolean {
  const [, , kh, kw] = ctx.tensors.get(n.weight)!.dims;
  return kh === 1 && kw === 1 && n.groups === 1 && n.strides.every((s) => s === 1) && n.pads.every((p) => p === 0);
}
