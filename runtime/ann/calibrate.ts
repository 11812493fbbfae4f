/**
 * Calibration statistics for threshold balancing: runs the ANN on a calibration set and measures,
 * for each requested activation, the p-th percentile of its non-zero values (over the whole layer and
 * per channel). p = 100 is max-norm. Percentiles interpolate linearly between order statistics, as numpy does.
 *
 * Two engines feed the same ActivationCollector: `activationStats` runs the reference executor here, and
 * runtime/ann/calibrate-ort.ts runs onnxruntime. The collector keeps the non-zero values as float32 per
 * channel (what the activations are) and finds the two order statistics a percentile needs by selection,
 * which gives exactly what sorting gives (`percentile`) in linear time.
 */
import type { AnnGraph, Tensor } from '../../compiler/graph.ts';
import { executeGraph } from './execute.ts';

export interface StatsRequest {
  value: string;
  /** Channel axis within the sample (the batch axis excluded). */
  axis: number;
}

export interface LayerStats {
  layer: number;
  channels: number[];
}

export function activationStats(
  graph: AnnGraph,
  input: Tensor,
  requests: StatsRequest[],
  opts: { percentile: number; batchSize?: number; onProgress?: (done: number, total: number) => void },
): Map<string, LayerStats> {
  const batchSize = opts.batchSize ?? 64;
  const n = input.dims[0];
  const sampleSize = input.data.length / n;
  const wanted = new Set(requests.map((r) => r.value));
  const collector = new ActivationCollector(requests);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const batch: Tensor = {
      dtype: 'float32',
      dims: [count, ...input.dims.slice(1)],
      data: input.data.subarray(start * sampleSize, (start + count) * sampleSize) as Float32Array,
    };
    const out = executeGraph(graph, { [graph.inputs[0].name]: batch }, { keep: (name) => wanted.has(name) });
    for (const r of requests) {
      const t = out.get(r.value)!;
      collector.add(r.value, t.data, t.dims);
    }
    opts.onProgress?.(start + count, n);
  }
  return collector.finish(opts.percentile);
}

/** Growable float32 buffers of the non-zero values of one activation, one per channel. */
interface ChannelValues {
  axis: number;
  buffers: Float32Array[];
  lengths: number[];
}

/**
 * Gathers the non-zero values of each requested activation batch by batch (`add`), then computes the
 * layer and per-channel percentiles (`finish`). Values are kept as float32, so the statistics are
 * identical whatever the engine's batch size or order of batches.
 */
export class ActivationCollector {
  private readonly values = new Map<string, ChannelValues>();

  constructor(requests: readonly StatsRequest[]) {
    for (const r of requests) this.values.set(r.value, { axis: r.axis + 1, buffers: [], lengths: [] });
  }

  /** One batch of activation `value`: `dims` includes the batch axis. */
  add(value: string, data: Float32Array | Float64Array, dims: readonly number[]): void {
    const into = this.values.get(value);
    if (!into) throw new Error(`no statistics were requested for ${value}`);
    const channels = dims[into.axis];
    let inner = 1;
    for (let i = into.axis + 1; i < dims.length; i++) inner *= dims[i];
    const outer = data.length / (channels * inner);
    for (let c = into.buffers.length; c < channels; c++) {
      into.buffers.push(new Float32Array(Math.max(inner, 16)));
      into.lengths.push(0);
    }
    // Make room first: each channel gains at most outer * inner values.
    for (let c = 0; c < channels; c++) {
      const need = into.lengths[c] + outer * inner;
      if (need > into.buffers[c].length) {
        const grown = new Float32Array(Math.max(need, into.buffers[c].length * 2));
        grown.set(into.buffers[c].subarray(0, into.lengths[c]));
        into.buffers[c] = grown;
      }
    }
    let k = 0;
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        const buffer = into.buffers[c];
        let length = into.lengths[c];
        for (let end = k + inner; k < end; k++) {
          const v = data[k];
          if (v !== 0) buffer[length++] = v;
        }
        into.lengths[c] = length;
      }
    }
  }

  /** The statistics, one entry per request; the gathered values are released. */
  finish(p: number): Map<string, LayerStats> {
    const result = new Map<string, LayerStats>();
    for (const [value, v] of this.values) {
      const perChannel = v.buffers.map((b, c) => b.subarray(0, v.lengths[c]));
      const layer = percentileOfParts(perChannel, p);
      const channels = perChannel.map((c) => percentileOfParts([c], p));
      v.buffers = [];
      result.set(value, { layer, channels });
    }
    this.values.clear();
    return result;
  }
}

/** From this many values on, percentiles are found by radix selection (two passes, no copy). */
const RADIX_MIN = 1 << 16;

/** `percentile` of the union of `parts`, which may be reordered. */
export function percentileOfParts(parts: Float32Array[], p: number): number {
  let n = 0;
  for (const part of parts) n += part.length;
  if (n === 0) return 0;
  if (n < RADIX_MIN) {
    if (parts.length === 1) return percentileInPlace(parts[0], p);
    const all = new Float32Array(n);
    let offset = 0;
    for (const part of parts) {
      all.set(part, offset);
      offset += part.length;
    }
    return percentileInPlace(all, p);
  }
  const pos = ((n - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const [a, b] = radixSelect(parts, lo, hi);
  return a + (b - a) * (pos - lo);
}

/** numpy.percentile (linear interpolation); 0 for an empty set. The reference: `percentileInPlace` equals it. */
export function percentile(values: Float32Array, p: number): number {
  if (values.length === 0) return 0;
  const sorted = values.slice().sort();
  const pos = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * `percentile(values, p)` without sorting: selects the two order statistics it interpolates between
 * (quickselect, with a sort as the fallback for a pathological pivot sequence). Reorders `values`.
 */
export function percentileInPlace(values: Float32Array, p: number): number {
  const n = values.length;
  if (n === 0) return 0;
  // A typed-array sort puts NaNs last: move them there, and select among the rest.
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === v) values[m++] = v;
  }
  values.fill(NaN, m);
  const pos = ((n - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  if (lo >= m) return NaN;
  select(values, m, lo);
  const a = values[lo];
  let b = a;
  if (hi !== lo) {
    if (hi >= m) b = NaN;
    else {
      // After selection everything right of lo is ≥ a: the next order statistic is their minimum.
      b = values[hi];
      for (let i = hi + 1; i < m; i++) if (values[i] < b) b = values[i];
    }
  }
  return a + (b - a) * (pos - lo);
}

/** Rearranges values[0, m) so that values[k] is the k-th smallest, smaller ones before it, larger after. */
function select(values: Float32Array, m: number, k: number): void {
  let left = 0;
  let right = m - 1;
  let budget = 4 * Math.ceil(Math.log2(m + 1)) + 16;
  while (right > left) {
    if (--budget < 0) {
      values.subarray(left, right + 1).sort();
      return;
    }
    const mid = (left + right) >>> 1;
    // Median of three as the pivot.
    if (values[mid] < values[left]) swap(values, mid, left);
    if (values[right] < values[left]) swap(values, right, left);
    if (values[right] < values[mid]) swap(values, right, mid);
    const pivot = values[mid];
    let i = left;
    let j = right;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        swap(values, i, j);
        i++;
        j--;
      }
    }
    // [left, j] ≤ pivot, (j, i) = pivot, [i, right] ≥ pivot.
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return;
  }
}

/**
 * The lo-th and hi-th smallest values (lo ≤ hi ≤ lo + 1) of the union of `parts`, in the order a typed-array sort
 * gives (NaNs last): two counting passes over 16-bit digits of an order-preserving key of the float32 bits.
 */
function radixSelect(parts: Float32Array[], lo: number, hi: number): [number, number] {
  const words = parts.map((p) => new Uint32Array(p.buffer, p.byteOffset, p.length));
  const high = new Float64Array(65536);
  for (const w of words) for (let i = 0; i < w.length; i++) high[sortKey(w[i]) >>> 16]++;
  const [binLo, restLo] = findBin(high, lo);
  const [binHi, restHi] = findBin(high, hi);
  const lowLo = new Float64Array(65536);
  const lowHi = binHi === binLo ? lowLo : new Float64Array(65536);
  for (const w of words) {
    for (let i = 0; i < w.length; i++) {
      const k = sortKey(w[i]);
      const h = k >>> 16;
      if (h === binLo) lowLo[k & 0xffff]++;
      else if (h === binHi) lowHi[k & 0xffff]++;
    }
  }
  const keyLo = ((binLo << 16) | findBin(lowLo, restLo)[0]) >>> 0;
  const keyHi = ((binHi << 16) | findBin(lowHi, restHi)[0]) >>> 0;
  return [valueOfKey(keyLo), valueOfKey(keyHi)];
}

/** The bin holding the rank-th smallest entry, and that entry's rank within the bin. */
function findBin(counts: Float64Array, rank: number): [number, number] {
  let before = 0;
  for (let bin = 0; bin < counts.length; bin++) {
    if (rank < before + counts[bin]) return [bin, rank - before];
    before += counts[bin];
  }
  throw new Error('rank beyond the values counted');
}

/** float32 bits → a uint32 whose unsigned order is the numeric order (-0 before +0); every NaN maps to the top. */
function sortKey(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return 0xffffffff;
  return bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

const scratchWord = new Uint32Array(1);
const scratchFloat = new Float32Array(scratchWord.buffer);

function valueOfKey(key: number): number {
  if (key === 0xffffffff) return NaN;
  scratchWord[0] = key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
  return scratchFloat[0];
}

function swap(values: Float32Array, i: number, j: number): void {
  const t = values[i];
  values[i] = values[j];
  values[j] = t;
}
