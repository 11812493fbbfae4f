/**
 * Simulates samples [from, to) of a source a window at a time (runtime/data/source.ts): the input in memory
 * is one window, whatever the data set's size. Each window is one chunk; chunks carry integer counts and
 * per-sample rows, so assembling them gives the same result as one chunk, and masks are keyed by each
 * sample's global index.
 */
import { forEachWindow, type SampleSource } from '../data/source.ts';
import { type ChunkOptions, type ChunkResult, type LoadedPlan, loadPlan, planImage, runChunk } from './engine.ts';
import type { NetworkPlan } from './plan.ts';

export async function runRange(
  plan: NetworkPlan,
  source: SampleSource,
  from: number,
  to: number,
  opts: ChunkOptions,
  onSample?: (done: number) => void,
  loaded?: LoadedPlan,
): Promise<ChunkResult[]> {
  // The plan goes into the kernels' memory once for all windows (or is there already, shared by workers).
  let where = loaded;
  if (!where) {
    const image = planImage(plan, 1);
    where = { image, memory: loadPlan(plan, image), slot: 0 };
  }
  const chunks: ChunkResult[] = [];
  let done = 0;
  await forEachWindow(source, from, to, (x, first) => {
    const before = done;
    chunks.push(runChunk(plan, x, first, opts, (d) => onSample?.((done = before + d)), where));
  });
  return chunks;
}
