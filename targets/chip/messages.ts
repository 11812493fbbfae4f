/**
 * The messages of a spike, from the routes: a spike of source element i of a stream sends one message to
 * every slice (a set of neurons of one layer on one core) holding at least one of its targets, and each
 * message costs one synaptic op per non-zero composed weight into that slice — the table's entries
 * (routes.ts `tableOf`), counted without listing them.
 *
 * A conv route's targets of one source element are a window of output positions × the output channels of
 * its group; at one output position the layer's channels fall into a few runs of one slice each (a block
 * partition cuts channels into ranges), so a message's synapses are, per tap, the non-zero weights over a
 * run of channels: a difference of prefix counts. A dense route's row likewise (runs over its outputs). The
 * cost per source element is O(taps × runs) instead of O(synapses), and memory O(weights + neurons).
 * A quantised route's synapses are the non-zeros of its unquantised weights (one rounded to 0 stays).
 */
import type { ConvRoute, DenseRoute, Fanout, Route } from '../../runtime/snn/routes.ts';

/** A route prepared for counting: per source element, adds its synapses per destination slice. */
type Counter = (i: number, add: (slice: number, synapses: number) => void) => void;

/**
 * Runs of equal slice along a line of targets: line l (an output position, a dense row) holds targets
 * base(l) + k·stride for k < length; runs ptr[l] .. ptr[l+1], each from k = from[r] with slice[r].
 */
function runsOf(lines: number, length: number, target: (line: number, k: number) => number, sliceOf: Int32Array) {
  const ptr = new Int32Array(lines + 1);
  const from: number[] = [];
  const slice: number[] = [];
  for (let l = 0; l < lines; l++) {
    let prev = -1;
    for (let k = 0; k < length; k++) {
      const d = sliceOf[target(l, k)];
      if (d !== prev) {
        from.push(k);
        slice.push(d);
        prev = d;
      }
    }
    ptr[l + 1] = from.length;
  }
  return { ptr, from: Int32Array.from(from), slice: Int32Array.from(slice) };
}

/** Per weight row (length `width`), prefix counts of its non-zero weights: width + 1 entries each. */
function nonZeroPrefix(weights: Float32Array, width: number): Int32Array {
  const rows = weights.length / width;
  const prefix = new Int32Array(rows * (width + 1));
  for (let r = 0; r < rows; r++) {
    const wb = r * width;
    const pb = r * (width + 1);
    for (let o = 0; o < width; o++) prefix[pb + o + 1] = prefix[pb + o] + (weights[wb + o] !== 0 ? 1 : 0);
  }
  return prefix;
}

function convCounter(r: ConvRoute, sliceOf: Int32Array): Counter {
  const t = r.twin;
  const { plane, outPlane, taps, cinPerGroup, coutPerGroup: cpg, cout, offset, posPtr, posOut, posTap } = t;
  const weights = r.unquantized ?? t.weights;
  const runs = runsOf(outPlane, cout, (p, o) => offset + o * outPlane + p, sliceOf);
  // Few output channels per group (depthwise) against many runs: visit the channels themselves.
  if (cpg <= 2 * (runs.from.length / outPlane)) {
    return (i, add) => {
      const m = r.remap ? r.remap[i] : i;
      if (m < 0) return;
      const c = Math.floor(m / plane);
      const s = m - c * plane;
      const first = offset + Math.floor(c / cinPerGroup) * cpg * outPlane;
      for (let q = posPtr[s]; q < posPtr[s + 1]; q++) {
        const wb = (c * taps + posTap[q]) * cpg;
        for (let o = 0; o < cpg; o++) if (weights[wb + o] !== 0) add(sliceOf[first + o * outPlane + posOut[q]], 1);
      }
    };
  }
  const prefix = nonZeroPrefix(weights, cpg);
  const { ptr, from, slice } = runs;
  return (i, add) => {
    const m = r.remap ? r.remap[i] : i;
    if (m < 0) return;
    const c = Math.floor(m / plane);
    const s = m - c * plane;
    const lo0 = Math.floor(c / cinPerGroup) * cpg;
    const hi0 = lo0 + cpg;
    for (let q = posPtr[s]; q < posPtr[s + 1]; q++) {
      const p = posOut[q];
      const pb = (c * taps + posTap[q]) * (cpg + 1) - lo0;
      const end = ptr[p + 1];
      for (let k = ptr[p]; k < end; k++) {
        const lo = Math.max(from[k], lo0);
        const hi = Math.min(k + 1 < end ? from[k + 1] : cout, hi0);
        if (lo >= hi) continue;
        const n = prefix[pb + hi] - prefix[pb + lo];
        if (n > 0) add(slice[k], n);
      }
    }
  };
}

function denseCounter(r: DenseRoute, sliceOf: Int32Array): Counter {
  const { inner, out, offset } = r;
  const weights = r.unquantized ?? r.weights;
  const { ptr, from, slice } = runsOf(r.targets / out, out, (row, o) => offset + row * out + o, sliceOf);
  const prefix = nonZeroPrefix(weights, out);
  return (i, add) => {
    const m = r.remap ? r.remap[i] : i;
    if (m < 0) return;
    const row = Math.floor(m / inner);
    const pb = (m - row * inner) * (out + 1);
    const end = ptr[row + 1];
    for (let k = ptr[row]; k < end; k++) {
      const n = prefix[pb + (k + 1 < end ? from[k + 1] : out)] - prefix[pb + from[k]];
      if (n > 0) add(slice[k], n);
    }
  };
}

/** `only`: the route is the whole fan-out, whose table is the route's own, every entry a synapse; otherwise tableOf drops zero weights. */
function counterOf(r: Route, sliceOf: Int32Array, only: boolean): Counter {
  if (r.kind === 'conv') return convCounter(r, sliceOf);
  if (r.kind === 'dense') return denseCounter(r, sliceOf);
  const { rowPtr, col } = r.csr;
  const val = r.unquantized ?? r.csr.val;
  return (i, add) => {
    for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) if (only || val[j] !== 0) add(sliceOf[col[j]], 1);
  };
}

/** Computes one source element's messages at a time: `of(i)` fills slice[0..n) (ascending) and synapses[0..n), returns n. */
export interface MessageCounter {
  of(i: number): number;
  readonly slice: Int32Array;
  readonly synapses: Int32Array;
}

export function messageCounter(f: Fanout, sliceOf: Int32Array, slices: number): MessageCounter {
  const counters = f.routes.map((r) => counterOf(r, sliceOf, f.routes.length === 1));
  const count = new Int32Array(slices);
  const touched = new Int32Array(slices);
  const synapses = new Int32Array(slices);
  let n = 0;
  const add = (d: number, k: number) => {
    if (count[d] === 0) touched[n++] = d;
    count[d] += k;
  };
  return {
    slice: touched,
    synapses,
    of(i) {
      n = 0;
      for (const c of counters) c(i, add);
      touched.subarray(0, n).sort();
      for (let g = 0; g < n; g++) {
        synapses[g] = count[touched[g]];
        count[touched[g]] = 0;
      }
      return n;
    },
  };
}

/**
 * Visits each source element's messages of a fan-out: `visit(i, slices, synapses, n)` with the n
 * destination slices ascending (the arrays are reused: copy what you keep).
 */
export function forEachMessageList(f: Fanout, sliceOf: Int32Array, slices: number, visit: (i: number, slice: Int32Array, synapses: Int32Array, n: number) => void): void {
  const m = messageCounter(f, sliceOf, slices);
  for (let i = 0; i < f.rows; i++) visit(i, m.slice, m.synapses, m.of(i));
}
