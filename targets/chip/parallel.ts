/**
 * `snnc chip --workers n`: the samples cut into n contiguous ranges, the first run on this thread, each other
 * one by a worker thread on its own copy of the chip (configured from the same map file), then merged as
 * shards are (merge.ts): the report, predictions and logits are those of one run, bit for bit.
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { SnncError } from '../../compiler/errors.ts';
import { startWorker } from '../../runtime/threads.ts';
import { assemble, type ChipReport, type SampleSubtotals, type Totals } from './account.ts';
import type { ChipConfig } from './configure.ts';
import { type ChipPart, mergeParts, partialData, SUBTOTALS } from './merge.ts';
import { type ChipOptions, runChip } from './run.ts';
import type { ChipWorkerJob, ChipWorkerMessage } from './worker.ts';

export interface ThreadedRun {
  report: ChipReport;
  totals: Totals;
  /** Every sample's floating-point subtotals, in sample order (a shard's partial result is made of them). */
  subtotals: SampleSubtotals;
  predictions: Int32Array;
  logits: Float32Array;
}

type RangeResult = Extract<ChipWorkerMessage, { type: 'result' }>;

/** Runs `input` (every sample, flat) on `workers` threads; `cfg` is `mapPath` configured (this thread's copy). */
export async function runChipThreads(mapPath: string, cfg: ChipConfig, input: Float32Array, opts: ChipOptions, workers: number): Promise<ThreadedRun> {
  const start = performance.now();
  const size = cfg.plan.inputSize;
  const samples = input.length / size;
  const bounds = Array.from({ length: workers + 1 }, (_, k) => Math.round((k * samples) / workers));
  const rangeOpts = (k: number): ChipWorkerJob['opts'] => ({
    T: opts.T,
    seed: opts.seed,
    reset: opts.reset,
    attention: opts.attention,
    signatureMessages: opts.signatureMessages,
    labels: opts.labels?.subarray(bounds[k], bounds[k + 1]),
    sampleOffset: (opts.sampleOffset ?? 0) + bounds[k],
  });
  // Progress: this thread's samples, and the workers' as read from their ports between this thread's samples.
  const done = new Array<number>(workers).fill(0);
  const ports = Array.from({ length: workers - 1 }, () => new MessageChannel());
  const report = () => {
    ports.forEach(({ port1 }, i) => {
      for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) done[i + 1] = m.message as number;
    });
    opts.onProgress?.(done.reduce((a, b) => a + b, 0), samples);
  };
  const threads: Array<{ terminate(): Promise<number> }> = [];
  const jobs = ports.map(({ port1, port2 }, i) => {
    const k = i + 1;
    const job: ChipWorkerJob = { map: mapPath, input: input.slice(bounds[k] * size, bounds[k + 1] * size), opts: rangeOpts(k), progress: port2 };
    const worker = startWorker(import.meta.url, 'worker', job, [port2]);
    threads.push(worker);
    return new Promise<RangeResult>((resolve, reject) => {
      let finished = false;
      worker.on('message', (msg: ChipWorkerMessage) => {
        finished = true;
        if (msg.type === 'error') reject(new SnncError(msg.detail, msg.where));
        else resolve(msg);
      });
      worker.on('error', reject);
      worker.on('exit', (code) => {
        port1.close();
        if (!finished) reject(new Error(`chip worker ${k} exited with code ${code} before reporting`));
      });
    });
  });
  let first: RangeResult;
  try {
    const run = runChip(cfg, input.subarray(0, bounds[1] * size), {
      ...rangeOpts(0),
      keepSubtotals: true,
      onProgress: (n) => {
        done[0] = n;
        report();
      },
    });
    first = { type: 'result', data: partialData(run.totals, run.subtotals!), predictions: run.predictions, logits: run.logits };
  } catch (e) {
    // This thread's range comes first in sample order: its error is the one a single thread meets first.
    await Promise.all(threads.map((t) => t.terminate()));
    await Promise.allSettled(jobs);
    throw e;
  }
  // This thread is done: the workers' progress now arrives as messages.
  report();
  ports.forEach(({ port1 }, i) =>
    port1.on('message', (n: number) => {
      done[i + 1] = n;
      opts.onProgress?.(done.reduce((a, b) => a + b, 0), samples);
    }),
  );
  // The lowest range that failed is the error one thread would have met first.
  const settled = await Promise.allSettled(jobs);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const ranges = [first, ...settled.map((r) => (r as PromiseFulfilledResult<RangeResult>).value)];
  opts.onProgress?.(samples, samples);

  const parts: ChipPart[] = ranges.map((r, k) => ({ from: bounds[k], to: bounds[k + 1], data: r.data }));
  const totals = mergeParts(cfg, parts, samples, { T: opts.T, seed: opts.seed ?? 0, labelled: opts.labels !== undefined, reset: opts.reset ?? null }, mapPath);
  const subtotals = Object.fromEntries(SUBTOTALS.map((k) => [k, Float64Array.from(ranges.flatMap((r) => r.data.per_sample[k]))])) as unknown as SampleSubtotals;
  const predictions = new Int32Array(samples);
  const classes = cfg.plan.readout.size;
  const logits = new Float32Array(samples * classes);
  ranges.forEach((r, k) => {
    predictions.set(r.predictions, bounds[k]);
    logits.set(r.logits, bounds[k] * classes);
  });
  return { report: assemble(cfg, totals, start), totals, subtotals, predictions, logits };
}
