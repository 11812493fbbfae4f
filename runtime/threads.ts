/**
 * Worker threads for snnc's parallel runs (the simulator's, the virtual chip's). Node 20 ignores `--import tsx`
 * in a worker's execArgv for the entry module, so under tsx/vitest a .ts entry is loaded by a small bootstrap
 * that registers tsx's loader first; the compiled build (dist/) runs the .js entry directly.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { type TransferListItem, Worker } from 'node:worker_threads';

/**
 * A Worker running the module `name` next to the module at `from` (its import.meta.url): name.js, or name.ts
 * under tsx; `transferList` moves what workerData holds of it (message ports) instead of copying.
 */
export function startWorker(from: string, name: string, workerData: unknown, transferList: TransferListItem[] = []): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, from), { workerData, transferList });
  let api: string;
  try {
    api = import.meta.resolve('tsx/esm/api');
  } catch {
    api = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
  }
  const entry = new URL(`./${name}.ts`, from).href;
  const bootstrap = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData, transferList });
}

/**
 * Threads for a run of `samples` samples: `requested`, else up to 2 cores from 64 samples on (below that, starting
 * workers costs more than it saves), never more than the samples.
 */
export function threadCount(samples: number, requested?: number): number {
  return Math.max(1, Math.min(samples, requested ?? (samples < 64 ? 1 : Math.min(availableParallelism(), 2))));
}
