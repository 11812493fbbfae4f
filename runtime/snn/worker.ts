/** Worker entry: simulates the blocks of samples it claims (range.ts runClaimed), reading them itself, and posts the chunks back. */
import { parentPort, workerData } from 'node:worker_threads';
import { type ErrorPlace, SnncError } from '../../compiler/errors.ts';
import { openSource } from '../data/open.ts';
import type { SourceSpec } from '../data/source.ts';
import type { ChunkOptions, LoadedPlan } from './engine.ts';
import type { NetworkPlan } from './plan.ts';
import { BlockError, type ClaimedChunk, runClaimed } from './range.ts';

export interface WorkerJob {
  plan: NetworkPlan;
  source: SourceSpec;
  /** Global sample indices [from, to). */
  from: number;
  to: number;
  opts: ChunkOptions;
  /** The shared memory that holds the plan's weights, and this worker's state block in it. */
  loaded: LoadedPlan;
  /** Blocks of `block` samples are claimed from this shared counter (range.ts runClaimed). */
  counter: Int32Array;
  block: number;
}

export type WorkerMessage =
  | { type: 'progress'; done: number }
  | { type: 'result'; chunks: ClaimedChunk[] }
  /** Bad data met while reading (a NaN, an undecodable image): an SnncError, sent as data so it stays one. */
  | { type: 'error'; detail: string; where: ErrorPlace; first: number };

const { plan, source: spec, from, to, opts, loaded, counter, block } = workerData as WorkerJob;
const port = parentPort!;
let chunks: ClaimedChunk[] | null = null;
try {
  const source = await openSource(spec);
  chunks = await runClaimed(plan, source, from, to, block, counter, opts, loaded, (done) => port.postMessage({ type: 'progress', done } satisfies WorkerMessage));
  source.close();
} catch (e) {
  const error = e instanceof BlockError ? e.error : e;
  if (!(error instanceof SnncError)) throw error;
  // Sent as a message and the thread left to end by itself: exiting at once could drop the message.
  port.postMessage({ type: 'error', detail: error.detail, where: error.where, first: e instanceof BlockError ? e.first : -1 } satisfies WorkerMessage);
}
if (chunks) {
  const transfer = chunks.map(({ chunk }) => chunk).flatMap((c) => [c.predictions, c.logits, ...(c.records ?? []).flatMap((r) => [r.offsets, r.indices, ...(r.payloads ? [r.payloads] : [])])]).map((a) => a.buffer as ArrayBuffer);
  port.postMessage({ type: 'result', chunks } satisfies WorkerMessage, transfer);
}
