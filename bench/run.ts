/**
 * Runs every benchmark and merges its results into bench/results.json (existing entries from other
 * benchmarks are kept). Usage: npm run bench
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../runtime/npy.ts';
import { benchChip } from './chip.ts';
import { benchExportOnnx } from './export-onnx.ts';
import { benchLoad } from './load.ts';
import { benchSimulate, benchSimulateFixture } from './simulate.ts';

type Bench = () => Record<string, unknown> | Promise<Record<string, unknown>>;
const BENCHMARKS: Array<[name: string, run: Bench]> = [
  ['load', benchLoad],
  ['simulate (synthetic CNN)', benchSimulate],
  ['simulate (fmnist_cnn_qcfs)', benchSimulateFixture],
  ['virtual chip (fmnist_cnn_qcfs)', benchChip],
  ['export-onnx vs simulate (fmnist_cnn_qcfs)', () => benchExportOnnx()],
];

const resultsFile = join(import.meta.dirname, 'results.json');
const results: Record<string, unknown> = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : {};

for (const [name, run] of BENCHMARKS) {
  process.stderr.write(`bench ${name} ...\n`);
  const entries = await run();
  for (const [key, value] of Object.entries(entries)) {
    results[key] = value;
    process.stdout.write(`${key}: ${JSON.stringify(value)}\n`);
  }
}
writeFileAtomic(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
process.stderr.write(`wrote ${resultsFile}\n`);
