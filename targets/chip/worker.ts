/** Worker entry of `snnc chip --workers n` (threads.ts): runs one range of samples on its own copy of the chip and posts its partial result. */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { type ErrorPlace, SnncError } from '../../compiler/errors.ts';
import { readMap } from '../map/map-file.ts';
import { configureChip } from './configure.ts';
import { type ChipPartialData, partialData } from './merge.ts';
import { type ChipOptions, runChip } from './run.ts';

export interface ChipWorkerJob {
  map: string;
  /** This range's samples, flat. */
  input: Float32Array;
  opts: Omit<ChipOptions, 'onProgress' | 'trace' | 'recordSpikes' | 'keepSubtotals'>;
  /** Samples done, posted as they finish (the main thread reads them between its own samples). */
  progress: MessagePort;
}

export type ChipWorkerMessage =
  | { type: 'result'; data: ChipPartialData; predictions: Int32Array; logits: Float32Array }
  /** A user error met here (an SnncError), sent as data so that it stays one. */
  | { type: 'error'; detail: string; where: ErrorPlace };

const job = workerData as ChipWorkerJob;
const port = parentPort!;
try {
  const cfg = configureChip(readMap(job.map));
  const run = runChip(cfg, job.input, { ...job.opts, keepSubtotals: true, onProgress: (done) => job.progress.postMessage(done) });
  const message: ChipWorkerMessage = { type: 'result', data: partialData(run.totals, run.subtotals!), predictions: run.predictions, logits: run.logits };
  port.postMessage(message, [run.predictions.buffer as ArrayBuffer, run.logits.buffer as ArrayBuffer]);
} catch (e) {
  if (!(e instanceof SnncError)) throw e;
  port.postMessage({ type: 'error', detail: e.detail, where: e.where } satisfies ChipWorkerMessage);
}
job.progress.close();
