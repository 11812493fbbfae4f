/** Worker entry: simulates one contiguous range of samples and posts the totals back. */
import { parentPort, workerData } from 'node:worker_threads';
import { runChunk, type ChunkOptions } from './engine.ts';
import type { NetworkPlan } from './plan.ts';

export interface WorkerJob {
  plan: NetworkPlan;
  input: Float32Array;
  sampleOffset: number;
  opts: ChunkOptions;
}

export type WorkerMessage = { type: 'progress'; done: number } | { type: 'result'; result: ReturnType<typeof runChunk> };

const { plan, input, sampleOffset, opts } = workerData as WorkerJob;
const port = parentPort!;
const result = runChunk(plan, input, sampleOffset, opts, (done) => port.postMessage({ type: 'progress', done } satisfies WorkerMessage));
const transfer = [result.predictions, result.logits, ...(result.records ?? []).flatMap((r) => [r.offsets, r.indices])].map((a) => a.buffer as ArrayBuffer);
port.postMessage({ type: 'result', result } satisfies WorkerMessage, transfer);
