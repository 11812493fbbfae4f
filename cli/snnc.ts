#!/usr/bin/env node
/**
 * The snnc command line. This file only declares commands and parses flags; each command lives in
 * commands/<name>.ts and is imported when it runs, so `snnc --help` loads nothing heavy.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { AnnOptions } from './commands/ann.ts';
import type { InspectOptions } from './commands/inspect.ts';
import { EXIT_USER_ERROR, runCommand } from './common.ts';

/** The package version, from package.json: one folder up from cli/ (tsx) or two from dist/cli/ (compiled). */
function packageVersion(): string {
  for (let dir = import.meta.dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive integer.');
  }
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

const program = new Command('snnc')
  .description('ONNX to spiking neural network compiler: load, inspect and run models')
  .version(packageVersion())
  // Usage errors look like every other user error: one `snnc: ...` line and exit 2.
  .configureOutput({ outputError: (text, write) => write(`snnc: ${text.replace(/^error: /, '')}`) })
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USER_ERROR));

program
  .command('inspect')
  .description('show inputs, outputs, op histogram, parameter count and per-node shapes of a model')
  .argument('<file>', 'model file (.onnx)')
  .option('--json', 'print one JSON object instead of tables')
  .action((file: string, options: InspectOptions) =>
    runCommand(async () => (await import('./commands/inspect.ts')).inspect(file, options)),
  );

program
  .command('ann')
  .description('run the model as an ordinary ANN on .npy data and report accuracy')
  .argument('<model>', 'model file (.onnx)')
  .requiredOption('--input <x.npy>', 'input samples, first dimension = samples (uint8 or float)')
  .option('--labels <y.npy>', 'integer class labels, one per sample')
  .option('--input-divisor <d>', 'divide every input value by d (e.g. 255 for raw pixels)', positiveNumber)
  .option('--limit <n>', 'use only the first n samples', positiveInteger)
  .option('--batch-size <n>', 'samples per batch', positiveInteger, 64)
  .option('--logits <out.npy>', 'write the logits as float32 [samples, classes]')
  .option('--json', 'print one JSON object instead of text')
  .action((model: string, options: AnnOptions) =>
    runCommand(async () => (await import('./commands/ann.ts')).ann(model, options)),
  );

await program.parseAsync();
