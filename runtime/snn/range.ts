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

/** Samples simulated as one chunk, and the global index of the first. */
export interface ClaimedChunk {
  first: number;
  chunk: ChunkResult;
}

/**
 * Simulates blocks of `block` samples of [from, to), each claimed from the shared `counter` (block k is
 * samples from + k·block …): the threads of a run share the work as they become free, the main thread from
 * the start and each worker once it has started. A sample's result does not depend on the thread that ran
 * it (masks are keyed by its global index, counts are integers), so any claim order gives the same bytes.
 */
export async function runClaimed(
  plan: NetworkPlan,
  source: SampleSource,
  from: number,
  to: number,
  block: number,
  counter: Int32Array,
  opts: ChunkOptions,
  loaded: LoadedPlan,
  onSample?: (done: number) => void,
): Promise<ClaimedChunk[]> {
  const out: ClaimedChunk[] = [];
  let done = 0;
  for (;;) {
    const first = from + Atomics.add(counter, 0, 1) * block;
    if (first >= to) return out;
    const count = Math.min(block, to - first);
    try {
      const x = await source.read(first, count);
      const before = done;
      out.push({ first, chunk: runChunk(plan, x, first, opts, (d) => onSample?.((done = before + d)), loaded) });
    } catch (error) {
      throw new BlockError(first, error);
    }
  }
}

/**
 * An error met in the block of samples that starts at `first`. Threads fail in any order; the run reports
 * the failure of the lowest block, which is the one a single thread would have met first.
 */
export class BlockError extends Error {
  constructor(
    readonly first: number,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error));
  }
}
