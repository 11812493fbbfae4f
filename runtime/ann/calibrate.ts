/**
 * Calibration statistics for threshold balancing: runs the ANN on a calibration set and measures,
 * for each requested activation, the p-th percentile of its non-zero values (over the whole layer and
 * per channel). p = 100 is max-norm. Percentiles interpolate linearly between order statistics, as numpy does.
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
  // Non-zero values per request and channel, gathered batch by batch.
  const values = new Map<string, number[][]>(requests.map((r) => [r.value, []]));
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
      collectNonZero(t, r.axis + 1, values.get(r.value)!);
    }
    opts.onProgress?.(start + count, n);
  }
  const result = new Map<string, LayerStats>();
  for (const r of requests) {
    const perChannel = values.get(r.value)!;
    const all = Float32Array.from(perChannel.flat());
    result.set(r.value, {
      layer: percentile(all, opts.percentile),
      channels: perChannel.map((c) => percentile(Float32Array.from(c), opts.percentile)),
    });
  }
  return result;
}

function collectNonZero(t: Tensor, axis: number, into: number[][]): void {
  const channels = t.dims[axis];
  const inner = t.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let c = into.length; c < channels; c++) into.push([]);
  const data = t.data;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v !== 0) into[Math.floor(i / inner) % channels].push(v);
  }
}

/** numpy.percentile (linear interpolation); 0 for an empty set. */
export function percentile(values: Float32Array, p: number): number {
  if (values.length === 0) return 0;
  const sorted = values.slice().sort();
  const pos = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
