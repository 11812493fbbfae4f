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
 *
 * Sharing. A block partition also cuts positions into spatial blocks: every position of a block has the
 * same runs (same channel ranges, same slices), so runs are kept once per distinct list and each output
 * position names its list. Source positions whose windows meet the same lists at the same taps (the inside
 * of a block, its edges) then have the same messages for a given input channel: a conv route keeps the
 * messages of the current channel per such pattern and copies them for the next element of that pattern
 * (elements come channel by channel, in index order). A channel without zero weights has a synapse for
 * every target, so all such channels of a group share their copies. Sums over all elements (configure.ts
 * recounting each core's axons and synapse words) take each copy once with the number of elements that
 * used it (`countMessageLists`): ResNet-18 at 224 has 105 M messages, in 1.6 M listed ones. Memory stays
 * O(weights + neurons): the runs are at most one list per output position, the patterns one per source
 * position, and the copies are capped.
 */
import type { ConvRoute, DenseRoute, Fanout, Route, TableRoute } from '../../runtime/snn/routes.ts';

/** One source element's messages so far: synapses per destination slice, and the slices touched in first-touch order. */
class Tally {
  readonly count: Int32Array;
  readonly touched: Int32Array;
  n = 0;
  constructor(slices: number) {
    this.count = new Int32Array(slices);
    this.touched = new Int32Array(slices);
  }
  /** k > 0 synapses into slice d. */
  add(d: number, k: number): void {
    if (this.count[d] === 0) this.touched[this.n++] = d;
    this.count[d] += k;
  }
}

/** An Int32Array that grows by doubling. */
class IntList {
  data = new Int32Array(64);
  length = 0;
  push(x: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(2 * this.data.length);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = x;
  }
  trimmed(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/**
 * Runs of equal slice along the lines of targets, shared by lines with the same runs: line l (an output
 * position, a dense row) holds targets base + l·lineStride + k·stride for k < length; its runs are list
 * listOf[l], runs ptr[list] .. ptr[list+1], each from k = from[r] with slice[r]. `runs`: runs over all
 * lines, as if each kept its own.
 */
export interface SharedRuns {
  listOf: Int32Array;
  ptr: Int32Array;
  from: Int32Array;
  slice: Int32Array;
  runs: number;
}

export function sharedRuns(lines: number, length: number, base: number, lineStride: number, stride: number, sliceOf: Int32Array): SharedRuns {
  const listOf = new Int32Array(lines);
  const ptr = new IntList();
  const from = new IntList();
  const slice = new IntList();
  ptr.push(0);
  const byHash = new Map<number, number[]>();
  const runFrom = new Int32Array(length);
  const runSlice = new Int32Array(length);
  let runs = 0;
  for (let l = 0; l < lines; l++) {
    let n = 0;
    let prev = -1;
    let hash = 0x811c9dc5;
    for (let k = 0, t = base + l * lineStride; k < length; k++, t += stride) {
      const d = sliceOf[t];
      if (d !== prev) {
        runFrom[n] = k;
        runSlice[n++] = d;
        prev = d;
        hash = Math.imul(hash ^ k, 0x01000193);
        hash = Math.imul(hash ^ d, 0x01000193);
      }
    }
    runs += n;
    const bucket = byHash.get(hash);
    let id = -1;
    if (bucket) {
      for (const b of bucket) {
        const a = ptr.data[b];
        if (ptr.data[b + 1] - a !== n) continue;
        let same = true;
        for (let r = 0; r < n && same; r++) same = from.data[a + r] === runFrom[r] && slice.data[a + r] === runSlice[r];
        if (same) {
          id = b;
          break;
        }
      }
    }
    if (id < 0) {
      id = ptr.length - 1;
      for (let r = 0; r < n; r++) {
        from.push(runFrom[r]);
        slice.push(runSlice[r]);
      }
      ptr.push(from.length);
      if (bucket) bucket.push(id);
      else byHash.set(hash, [id]);
    }
    listOf[l] = id;
  }
  return { listOf, ptr: ptr.trimmed(), from: from.trimmed(), slice: slice.trimmed(), runs };
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

/**
 * A route prepared for counting: writes source element i's messages through this route, slices ascending,
 * into slice/synapses from index `at`, and returns the index after them (`scratch`: an empty tally to use
 * and leave empty).
 */
interface RouteCounter {
  into(i: number, scratch: Tally, slice: Int32Array, synapses: Int32Array, at: number): number;
  /** The lowest and highest slice among the route's targets. */
  readonly lowest: number;
  readonly highest: number;
}

/** Lowest and highest of some slices. */
function rangeOf(slices: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < slices.length; k++) {
    if (slices[k] < lo) lo = slices[k];
    if (slices[k] > hi) hi = slices[k];
  }
  return [lo, hi];
}

/** Writes a tally's messages ascending from `at` and empties it; returns the index after them. */
function drain(t: Tally, slice: Int32Array, synapses: Int32Array, at: number): number {
  const n = t.n;
  sortTouched(t);
  for (let g = 0; g < n; g++) {
    const d = t.touched[g];
    slice[at + g] = d;
    synapses[at + g] = t.count[d];
    t.count[d] = 0;
  }
  t.n = 0;
  return at + n;
}

/** Sorts a tally's touched slices in place: by insertion when they are few (most table rows; no view made). */
function sortTouched(t: Tally): void {
  const a = t.touched;
  const n = t.n;
  if (n > 16) {
    a.subarray(0, n).sort();
    return;
  }
  for (let g = 1; g < n; g++) {
    const x = a[g];
    let k = g - 1;
    for (; k >= 0 && a[k] > x; k--) a[k + 1] = a[k];
    a[k + 1] = x;
  }
}

/**
 * Messages a conv route keeps copies of (8 bytes each, 512 KB; the route's copies of one channel or group
 * are far fewer on ResNet-18 at 224, 31 k at most): past this, its copies start over.
 */
export const COPIED_MESSAGES = 1 << 16;

/** No channel's copies kept yet (channels key their copies by c ≥ 0 or −1 − group). */
const NO_COPIES = -(2 ** 31);

class ConvCounter implements RouteCounter {
  readonly lowest: number;
  readonly highest: number;
  private readonly runs: SharedRuns;
  /** Per source position: its pattern (the run lists and taps its window meets, in order). */
  private readonly patternOf: Int32Array;
  /** Few output channels per group (depthwise) against many runs: visit the channels themselves. */
  private readonly byChannel: boolean;
  /** Runs: prefix counts of non-zero weights (nonZeroPrefix's rows) of the channels that have zeros; channel c's from prefixOf[c], −1 without zeros (a synapse per target). */
  private readonly prefix: Int32Array;
  private readonly prefixOf: Int32Array;
  private readonly weights: Float32Array;
  /** Per input channel: whose copies it uses, its own (c) or, without zero weights, its group's (−1 − group). */
  private readonly copiesOf: Int32Array;
  /** Whose messages are kept; per pattern, where its copy starts (−1: none) in slice/synapses, length in size. */
  private copies = NO_COPIES;
  private readonly copyAt: Int32Array;
  private readonly copySize: Int32Array;
  private readonly kept = new IntList();
  private readonly copySlice = new IntList();
  private readonly copySynapses = new IntList();

  constructor(
    private readonly r: ConvRoute,
    private readonly sliceOf: Int32Array,
    private readonly copied: number,
  ) {
    const t = r.twin;
    this.weights = r.unquantized ?? t.weights;
    this.runs = sharedRuns(t.outPlane, t.cout, t.offset, 1, t.outPlane, sliceOf);
    [this.lowest, this.highest] = rangeOf(this.runs.slice);
    this.byChannel = t.coutPerGroup < this.runs.runs / t.outPlane;
    const block = t.taps * t.coutPerGroup;
    const channels = this.weights.length / block;
    this.copiesOf = new Int32Array(channels);
    this.prefixOf = new Int32Array(channels).fill(-1);
    let zeros = 0;
    for (let c = 0; c < channels; c++) {
      this.copiesOf[c] = -1 - Math.floor(c / t.cinPerGroup);
      for (let w = c * block; w < (c + 1) * block; w++) {
        if (this.weights[w] === 0) {
          this.copiesOf[c] = c;
          if (!this.byChannel) this.prefixOf[c] = zeros++ * t.taps * (t.coutPerGroup + 1);
          break;
        }
      }
    }
    this.prefix = new Int32Array(zeros * t.taps * (t.coutPerGroup + 1));
    for (let c = 0; c < channels; c++) {
      if (this.prefixOf[c] >= 0) this.prefix.set(nonZeroPrefix(this.weights.subarray(c * block, (c + 1) * block), t.coutPerGroup), this.prefixOf[c]);
    }
    const ids = new Map<string, number>();
    this.patternOf = new Int32Array(t.plane);
    for (let s = 0; s < t.plane; s++) {
      let key = '';
      for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) key += `${this.runs.listOf[t.posOut[q]]}:${t.posTap[q]} `;
      let id = ids.get(key);
      if (id === undefined) ids.set(key, (id = ids.size));
      this.patternOf[s] = id;
    }
    this.copyAt = new Int32Array(ids.size).fill(-1);
    this.copySize = new Int32Array(ids.size);
    this.uses = new Int32Array(ids.size);
  }

  into(i: number, scratch: Tally, slice: Int32Array, synapses: Int32Array, at: number): number {
    const from = this.copyOf(i, scratch);
    if (from < 0) return at;
    const cs = this.copySlice.data;
    const cy = this.copySynapses.data;
    const n = this.size;
    for (let g = 0; g < n; g++) {
      slice[at + g] = cs[from + g];
      synapses[at + g] = cy[from + g];
    }
    return at + n;
  }

  /** Length of the last copy found. */
  private size = 0;
  /** Pattern of the last copy found. */
  private pattern = -1;

  /**
   * Counting lists instead of copying them (`lists` set): element i's number of messages, its copy's uses
   * counted and the copies handed to `lists` with their uses when they are dropped (`startOver`).
   */
  lists: ListVisitor | null = null;
  private readonly uses: Int32Array;

  countOnly(i: number, scratch: Tally): number {
    if (this.copyOf(i, scratch) < 0) return 0;
    this.uses[this.pattern]++;
    return this.size;
  }

  /** Drops the copies kept (handing them to `lists` with their uses when counting). */
  startOver(): void {
    const lists = this.lists;
    for (let k = 0; k < this.kept.length; k++) {
      const pattern = this.kept.data[k];
      const at = this.copyAt[pattern];
      if (lists && this.uses[pattern] > 0) {
        const n = this.copySize[pattern];
        lists(this.copySlice.data.subarray(at, at + n), this.copySynapses.data.subarray(at, at + n), n, this.uses[pattern]);
      }
      this.uses[pattern] = 0;
      this.copyAt[pattern] = -1;
    }
    this.kept.length = this.copySlice.length = this.copySynapses.length = 0;
  }

  /**
   * Where element i's messages (slices ascending) start in copySlice/copySynapses, `size` of them, worked
   * out and kept on the first element of its pattern in its channel (or group); −1: the element reaches nothing.
   */
  private copyOf(i: number, scratch: Tally): number {
    const r = this.r;
    const m = r.remap ? r.remap[i] : i;
    if (m < 0) return -1;
    const plane = r.twin.plane;
    const c = Math.floor(m / plane);
    const s = m - c * plane;
    if (this.copiesOf[c] !== this.copies) {
      this.startOver();
      this.copies = this.copiesOf[c];
    }
    const pattern = this.patternOf[s];
    const known = this.copyAt[pattern];
    this.pattern = pattern;
    if (known >= 0) {
      this.size = this.copySize[pattern];
      return known;
    }
    if (this.byChannel) this.visitChannels(c, s, scratch);
    else this.visitRuns(c, s, scratch);
    const n = scratch.n;
    // Past the cap the channel's copies start over (memory stays bounded).
    if (this.copySlice.length + n > this.copied) this.startOver();
    const at = this.copySlice.length;
    sortTouched(scratch);
    const touched = scratch.touched;
    for (let g = 0; g < n; g++) {
      const d = touched[g];
      this.copySlice.push(d);
      this.copySynapses.push(scratch.count[d]);
      scratch.count[d] = 0;
    }
    scratch.n = 0;
    this.copyAt[pattern] = at;
    this.copySize[pattern] = n;
    this.kept.push(pattern);
    this.size = n;
    return at;
  }

  private visitChannels(c: number, s: number, t: Tally): void {
    const { outPlane, taps, cinPerGroup, coutPerGroup: cpg, offset, posPtr, posOut, posTap } = this.r.twin;
    const { weights, sliceOf } = this;
    const first = offset + Math.floor(c / cinPerGroup) * cpg * outPlane;
    for (let q = posPtr[s]; q < posPtr[s + 1]; q++) {
      const wb = (c * taps + posTap[q]) * cpg;
      const at = first + posOut[q];
      for (let o = 0; o < cpg; o++) if (weights[wb + o] !== 0) t.add(sliceOf[at + o * outPlane], 1);
    }
  }

  private visitRuns(c: number, s: number, t: Tally): void {
    const { taps, cinPerGroup, coutPerGroup: cpg, cout, posPtr, posOut, posTap } = this.r.twin;
    const { listOf, ptr, from, slice } = this.runs;
    const prefix = this.prefix;
    const lo0 = Math.floor(c / cinPerGroup) * cpg;
    const hi0 = lo0 + cpg;
    const full = this.prefixOf[c] < 0;
    for (let q = posPtr[s]; q < posPtr[s + 1]; q++) {
      const list = listOf[posOut[q]];
      const pb = this.prefixOf[c] + posTap[q] * (cpg + 1) - lo0;
      const end = ptr[list + 1];
      for (let k = ptr[list]; k < end; k++) {
        const lo = Math.max(from[k], lo0);
        const hi = Math.min(k + 1 < end ? from[k + 1] : cout, hi0);
        if (lo >= hi) continue;
        const n = full ? hi - lo : prefix[pb + hi] - prefix[pb + lo];
        if (n > 0) t.add(slice[k], n);
      }
    }
  }
}

class DenseCounter implements RouteCounter {
  readonly lowest: number;
  readonly highest: number;
  private readonly runs: SharedRuns;
  private readonly prefix: Int32Array;
  constructor(private readonly r: DenseRoute, sliceOf: Int32Array) {
    this.runs = sharedRuns(r.targets / r.out, r.out, r.offset, r.out, 1, sliceOf);
    [this.lowest, this.highest] = rangeOf(this.runs.slice);
    this.prefix = nonZeroPrefix(r.unquantized ?? r.weights, r.out);
  }

  into(i: number, t: Tally, slice: Int32Array, synapses: Int32Array, at: number): number {
    const { inner, out, remap } = this.r;
    const m = remap ? remap[i] : i;
    if (m < 0) return at;
    const { listOf, ptr, from, slice: runSlice } = this.runs;
    const prefix = this.prefix;
    const row = Math.floor(m / inner);
    const pb = (m - row * inner) * (out + 1);
    const list = listOf[row];
    const end = ptr[list + 1];
    for (let k = ptr[list]; k < end; k++) {
      const n = prefix[pb + (k + 1 < end ? from[k + 1] : out)] - prefix[pb + from[k]];
      if (n > 0) t.add(runSlice[k], n);
    }
    return drain(t, slice, synapses, at);
  }
}

/** `only`: the route is the whole fan-out, whose table is the route's own, every entry a synapse; otherwise tableOf drops zero weights. */
class TableCounter implements RouteCounter {
  readonly lowest: number;
  readonly highest: number;
  constructor(
    private readonly r: TableRoute,
    private readonly sliceOf: Int32Array,
    private readonly only: boolean,
  ) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const t of r.csr.col) {
      lo = Math.min(lo, sliceOf[t]);
      hi = Math.max(hi, sliceOf[t]);
    }
    this.lowest = lo;
    this.highest = hi;
  }

  into(i: number, t: Tally, slice: Int32Array, synapses: Int32Array, at: number): number {
    const { rowPtr, col } = this.r.csr;
    const val = this.r.unquantized ?? this.r.csr.val;
    const { sliceOf, only } = this;
    for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) if (only || val[j] !== 0) t.add(sliceOf[col[j]], 1);
    return drain(t, slice, synapses, at);
  }
}

function counterOf(r: Route, sliceOf: Int32Array, only: boolean, copied: number): RouteCounter {
  if (r.kind === 'conv') return new ConvCounter(r, sliceOf, copied);
  if (r.kind === 'dense') return new DenseCounter(r, sliceOf);
  return new TableCounter(r, sliceOf, only);
}

/** Computes one source element's messages at a time: `of(i)` fills slice[0..n) (ascending) and synapses[0..n), returns n. */
export interface MessageCounter {
  of(i: number): number;
  readonly slice: Int32Array;
  readonly synapses: Int32Array;
}

/** A message list (slices ascending) and how many source elements send it. */
type ListVisitor = (slice: Int32Array, synapses: Int32Array, n: number, times: number) => void;

class FanoutCounter implements MessageCounter {
  readonly counters: RouteCounter[];
  readonly slice: Int32Array;
  readonly synapses: Int32Array;
  readonly scratch: Tally;
  /** Where two routes' messages are merged. */
  private readonly mergedSlice: Int32Array;
  private readonly mergedSynapses: Int32Array;
  /** The routes reach slices in disjoint ranges, counted in ascending order: their messages need no merging. */
  readonly disjoint: boolean;
  constructor(f: Fanout, sliceOf: Int32Array, slices: number, copied: number) {
    this.counters = f.routes.map((r) => counterOf(r, sliceOf, f.routes.length === 1, copied)).sort((a, b) => a.lowest - b.lowest);
    this.disjoint = this.counters.every((c, k) => k === 0 || this.counters[k - 1].highest < c.lowest);
    this.scratch = new Tally(slices);
    // Room for every route's messages before they merge: one per slice of its range at most.
    let room = 0;
    for (const c of this.counters) if (c.highest >= c.lowest) room += c.highest - c.lowest + 1;
    this.slice = new Int32Array(room);
    this.synapses = new Int32Array(room);
    this.mergedSlice = new Int32Array(this.disjoint ? 0 : room);
    this.mergedSynapses = new Int32Array(this.disjoint ? 0 : room);
  }

  of(i: number): number {
    const { slice, synapses, counters } = this;
    let n = 0;
    if (this.disjoint) {
      for (let r = 0; r < counters.length; r++) n = counters[r].into(i, this.scratch, slice, synapses, n);
      return n;
    }
    for (let r = 0; r < counters.length; r++) {
      const from = n;
      n = counters[r].into(i, this.scratch, slice, synapses, n);
      // Each route's messages are ascending; one that does not follow the ones before (a route into common slices) merges with them.
      if (from > 0 && n > from && slice[from] <= slice[from - 1]) n = this.merge(from, n);
    }
    return n;
  }

  /** Merges the ascending messages [0, mid) and [mid, end), adding the synapses of a common slice; returns their number. */
  private merge(mid: number, end: number): number {
    const { slice, synapses, mergedSlice: ms, mergedSynapses: my } = this;
    if (slice[end - 1] < slice[0]) {
      // All before the others (slices are numbered from the last layer on): a rotation.
      const b = end - mid;
      for (let g = 0; g < mid; g++) {
        ms[g] = slice[g];
        my[g] = synapses[g];
      }
      for (let g = 0; g < b; g++) {
        slice[g] = slice[mid + g];
        synapses[g] = synapses[mid + g];
      }
      for (let g = 0; g < mid; g++) {
        slice[b + g] = ms[g];
        synapses[b + g] = my[g];
      }
      return end;
    }
    let a = 0;
    let b = mid;
    let n = 0;
    while (a < mid && b < end) {
      if (slice[a] < slice[b]) {
        ms[n] = slice[a];
        my[n++] = synapses[a++];
      } else if (slice[b] < slice[a]) {
        ms[n] = slice[b];
        my[n++] = synapses[b++];
      } else {
        ms[n] = slice[a];
        my[n++] = synapses[a++] + synapses[b++];
      }
    }
    for (; a < mid; a++, n++) {
      ms[n] = slice[a];
      my[n] = synapses[a];
    }
    for (; b < end; b++, n++) {
      ms[n] = slice[b];
      my[n] = synapses[b];
    }
    for (let g = 0; g < n; g++) {
      slice[g] = ms[g];
      synapses[g] = my[g];
    }
    return n;
  }
}

/** `copied`: messages each conv route keeps copies of (tests make it small). */
export function messageCounter(f: Fanout, sliceOf: Int32Array, slices: number, copied = COPIED_MESSAGES): MessageCounter {
  return new FanoutCounter(f, sliceOf, slices, copied);
}

/**
 * The messages of a fan-out in total, for sums over its elements: `element(i, n)` with each source
 * element's number of messages, and `lists(slice, synapses, n, times)` with message lists and how many
 * elements send each (one call per list and element at worst; a conv route's copies once per channel or
 * group). Routes reaching slices in disjoint ranges are listed apart (a message goes to one slice, so
 * their lists are the element's messages).
 */
export function countMessageLists(
  f: Fanout,
  sliceOf: Int32Array,
  slices: number,
  element: (i: number, n: number) => void,
  lists: ListVisitor,
  copied = COPIED_MESSAGES,
): void {
  const m = new FanoutCounter(f, sliceOf, slices, copied);
  if (!m.disjoint) {
    for (let i = 0; i < f.rows; i++) {
      const n = m.of(i);
      element(i, n);
      if (n > 0) lists(m.slice, m.synapses, n, 1);
    }
    return;
  }
  const { counters, scratch, slice, synapses } = m;
  const convs = counters.filter((c): c is ConvCounter => c instanceof ConvCounter);
  for (const c of convs) c.lists = lists;
  for (let i = 0; i < f.rows; i++) {
    let n = 0;
    for (const c of counters) {
      if (c instanceof ConvCounter) {
        n += c.countOnly(i, scratch);
      } else {
        const k = c.into(i, scratch, slice, synapses, 0);
        if (k > 0) lists(slice, synapses, k, 1);
        n += k;
      }
    }
    element(i, n);
  }
  for (const c of convs) {
    c.startOver();
    c.lists = null;
  }
}
