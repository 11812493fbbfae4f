#!/usr/bin/env node
/**
 * The snnc command line. This file only declares commands and parses flags; each command lives in
 * commands/<name>.ts and is imported when it runs, so `snnc --help` loads nothing heavy.
 */
import { Command, InvalidArgumentError, Option, type ParseOptionsResult } from 'commander';
import type { AnnOptions } from './commands/ann.ts';
import type { ChipOptions as ChipCommandOptions } from './commands/chip.ts';
import type { CompileOptions } from './commands/compile.ts';
import type { DemoOptions } from './commands/demo.ts';
import type { DiagnoseOptions } from './commands/diagnose.ts';
import type { ReportOptions } from './commands/report.ts';
import type { RunOptions } from './commands/run.ts';
import type { ExportNirOptions } from './commands/export-nir.ts';
import type { ExportOnnxCommandOptions } from './commands/export-onnx.ts';
import type { ImportNirOptions } from './commands/import-nir.ts';
import type { InspectOptions } from './commands/inspect.ts';
import type { MapOptions as MapCommandOptions } from './commands/map.ts';
import type { MergeOptions } from './commands/merge.ts';
import type { RsmSearchOptions } from './commands/rsm-search.ts';
import type { SimulateOptions } from './commands/simulate.ts';
import { EXIT_USER_ERROR, runCommand } from './common.ts';
import { packageVersion } from './version.ts';

/** Commander's suggestion for an unknown command comes on a second line; snnc's errors are one line. */
function oneLineUsage(text: string): string {
  return `${text.replace(/^error: /, '').replace(/\n\(Did you mean (.*)\?\)\s*$/, ' (did you mean $1?)').trimEnd()}\n`;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive integer.');
  }
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!(value.trim() !== '' && Number.isFinite(n) && n >= 0)) throw new InvalidArgumentError(`expected a number ≥ 0, got ${value}`);
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

/** One default number of time steps for every command that runs the network (simulate, chip, report, demo). */
const DEFAULT_STEPS = 32;

/** Names users try for an option, mapped to the option's long name (other tools call T "timesteps"). */
const OPTION_SYNONYMS: Record<string, string> = { timesteps: 'steps', 'time-steps': 'steps', timestep: 'steps', time_steps: 'steps', t: 'steps' };

/** Damerau-Levenshtein distance (adjacent transpositions count once): how far a typo is from a flag. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The option a mistyped flag most likely meant, as the user would type it: a short flag in the other case
 * (-t → -T), a known synonym (--timesteps → -T), or the nearest long flag (--inputs → --input).
 */
function suggestOption(flag: string, options: readonly Option[]): string | undefined {
  const typed = flag.replace(/=.*$/, '');
  const name = typed.replace(/^-+/, '');
  const shown = (o: Option) => o.short ?? o.long;
  const byCase = options.find((o) => o.short && o.short.toLowerCase() === `-${name.toLowerCase()}` && !typed.startsWith('--'));
  if (byCase) return byCase.short;
  const synonym = OPTION_SYNONYMS[name.toLowerCase()];
  const bySynonym = synonym ? options.find((o) => o.long === `--${synonym}`) : undefined;
  if (bySynonym) return shown(bySynonym);
  let best: { flag: string; distance: number } | undefined;
  for (const o of options) {
    const long = o.long?.slice(2);
    if (!long) continue;
    const prefix = (long.startsWith(name) && name.length >= 3) || (name.startsWith(long) && long.length >= 4);
    const distance = prefix ? 0.5 : editDistance(name, long);
    const similar = distance <= 3 && (Math.max(name.length, long.length) - distance) / Math.max(name.length, long.length) > 0.4;
    if (similar && (!best || distance < best.distance)) best = { flag: o.long!, distance };
  }
  return best?.flag;
}

/**
 * Commander with one-line usage errors that name the typo: an unknown option is reported with its likely
 * meaning, and before a missing required option it probably stands for (`--inputs x.npy` means `--input`).
 */
class SnncCommand extends Command {
  private unknownFlag?: string;

  override createCommand(name?: string): Command {
    return new SnncCommand(name);
  }

  override parseOptions(args: string[]): ParseOptionsResult {
    const parsed = super.parseOptions(args);
    // A subcommand's own arguments reach the program's parse as unknown: only a leaf command's count.
    this.unknownFlag = this.commands.length ? undefined : parsed.unknown.find((a) => /^-[^\d]/.test(a));
    return parsed;
  }

  /** Called by commander before unknown options are checked; the unknown flag is the better error. */
  missingMandatoryOptionValue(option: Option): void {
    if (this.unknownFlag) this.unknownOption(this.unknownFlag);
    this.error(`error: required option '${option.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue' });
  }

  unknownOption(flag: string): void {
    const suggestion = suggestOption(flag, this.options);
    this.error(`error: unknown option ${flag.replace(/=.*$/, '')}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`, { code: 'commander.unknownOption' });
  }
}

const program = new SnncCommand('snnc')
  .description('ONNX to spiking neural network compiler: convert, simulate, map onto a neuromorphic chip, report')
  .version(packageVersion())
  // Usage errors look like every other user error: one `snnc: ...` line and exit 2.
  .configureOutput({ outputError: (text, write) => write(`snnc: ${oneLineUsage(text)}`) })
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USER_ERROR));

program
  .command('inspect')
  .description('show inputs, outputs, op histogram, parameter count and per-node shapes of a model')
  .argument('<file>', 'model file (.onnx)')
  .option('--json', 'print one JSON object instead of tables')
  .action((file: string, options: InspectOptions) =>
    runCommand(async () => (await import('./commands/inspect.ts')).inspect(file, options)),
  );

withDataOptions(program
  .command('ann')
  .description('run the model as an ordinary ANN on .npy data or an image folder and report accuracy')
  .argument('<model>', 'model file (.onnx)')
  .requiredOption('--input <x.npy|dir>', 'input samples: .npy, first dimension = samples (uint8 or float), read a window at a time; or a folder of PNG/JPEG images (flat, or one sub-folder per class)')
  .option('--labels <y.npy|y.csv>', 'integer class labels, one per sample (.npy; for an image folder also a CSV of file,label rows; class sub-folders need none)')
  .option('--input-divisor <d>', 'divide every input value by d (e.g. 255 for raw pixels)', positiveNumber)
  .option('--limit <n>', 'use only the first n samples', positiveInteger)
  .option('--batch-size <n>', 'samples per batch', positiveInteger, 64)
  .option('--logits <out.npy>', 'write the logits as float32 [samples, classes]')
  .option('--json', 'print one JSON object instead of text')
  .option('-o, --output <result.json>', 'write the result as JSON without timings (the same bytes as snnc merge of its shards); with --shard, the partial result')
  .action((model: string, options: AnnOptions) =>
    runCommand(async () => (await import('./commands/ann.ts')).ann(model, options)),
  ));

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function percentileValue(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n <= 100)) throw new InvalidArgumentError('expected a percentile in (0, 100].');
  return n;
}

function leakValue(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n <= 1)) throw new InvalidArgumentError('expected a number in (0, 1].');
  return n;
}

function numberList(value: string): number[] {
  const list = value.split(',').map((v) => Number(v.trim()));
  if (value.trim() === '' || list.some((v) => !Number.isFinite(v))) throw new InvalidArgumentError('expected comma-separated numbers, e.g. 0.485,0.456,0.406.');
  return list;
}

/**
 * Options of the commands that read a data set as a stream: image folders (torchvision's Resize,
 * CenterCrop, ToTensor + Normalize) and shards.
 */
function withDataOptions(command: Command): Command {
  return withImageOptions(command).option('--shard <i/n>', 'run only shard i of n (0-based, contiguous samples) and write a partial result to -o; combine the parts with snnc merge');
}

/** --input <dir>: a folder of PNG/JPEG images, decoded and transformed as torchvision does. */
function withImageOptions(command: Command): Command {
  return command
    .option('--resize <n>', 'image folders: resize the shorter side to n pixels, keeping the aspect ratio (torchvision Resize(n), bilinear)', positiveInteger)
    .option('--center-crop <n>', 'image folders: central n × n crop after --resize (torchvision CenterCrop(n))', positiveInteger)
    .option('--mean <m>', 'image folders: per-channel mean, e.g. 0.485,0.456,0.406: x = (pixel/255 − mean)/std (ToTensor + Normalize); without --mean/--std pixels stay 0…255 and the divisor applies', numberList)
    .option('--std <s>', 'image folders: per-channel standard deviation, e.g. 0.229,0.224,0.225 (with --mean)', numberList);
}

function seedValue(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n >= 2 ** 32) throw new InvalidArgumentError('expected an integer in [0, 2^32).');
  return n;
}

program
  .command('compile')
  .description('convert an ONNX model to a spiking IR (.snn.json + .snn.bin weights)')
  .argument('<model>', 'model file (.onnx)')
  .requiredOption('-o, --output <model.snn.json>', 'IR file to write; weights go next to it as <name>.bin')
  .option('--calib <x.npy>', 'calibration samples for ReLU/ReLU6 threshold balancing (not needed for QCFS models)')
  .option('--calib-limit <n>', 'use only the first n calibration samples', positiveInteger)
  .option('--input-divisor <d>', 'divide every input value by d (e.g. 255 for raw pixels); recorded in the IR', positiveNumber)
  .option('--percentile <p>', 'threshold = p-th percentile of non-zero calibration activations', percentileValue, 99.9)
  .option('--max-norm', 'threshold = maximum activation (same as --percentile 100)')
  .option('--per-channel', 'one threshold per channel instead of per layer')
  .addOption(new Option('--v-init <v>', 'initial membrane of balanced ReLU neurons: zero or half of θ, or calibrated on --calib at --calib-steps (QCFS always uses half; default zero, measured better for ReLU at T=128, docs/accuracy.md)').choices(['half', 'zero', 'calibrated']))
  .option('--calib-steps <T>', 'T at which --v-init calibrated measures each layer\'s missing output (default 32)', positiveInteger)
  .addOption(new Option('--maxpool <policy>', 'MaxPool has no exact spiking form: error, or convert to average pooling').choices(['error', 'avg']).default('error'))
  .option('--rsm <layer=ratio>', 'random spike masking on the spike inputs of matching layers (glob), repeatable', collect, [])
  .addOption(new Option('--neuron <model>', 'neuron model of every population: if (default), lif (leaky: v ← λ·v + I each step, needs --leak), or signed-if (also sends −1 spikes while its net count is positive; needs negative or graded spikes on a chip)').choices(['if', 'lif', 'signed-if']))
  .option('--burst <k>', 'up to k spikes per step, sent as one graded spike (needs graded spikes on a chip)', positiveInteger)
  .option('--low-latency', 'pick the neuron rule that keeps the ANN\'s accuracy at small T for this model, and say which (docs/conversion.md)')
  .option('--leak <λ>', 'LIF membrane factor per step, in (0, 1] (1 = IF); ONNX has no leak, so this is a choice, not the model’s', leakValue)
  .addOption(new Option('--reset <mode>', 'what a spike does to the membrane: subtract θ (exact rate coding) or zero').choices(['subtract', 'zero']).default('subtract'))
  .addOption(new Option('--calibration-engine <engine>', 'who runs the ANN on --calib: ort (onnxruntime, several times faster; float32 results that can move a percentile θ in its last digits), js (the reference executor), or auto: ort from 1e10 MACs x samples on (docs/conversion.md)').choices(['auto', 'ort', 'js']).default('auto'))
  .option('--json', 'print the summary as one JSON object on stdout')
  .action((model: string, options: CompileOptions) =>
    runCommand(async () => (await import('./commands/compile.ts')).compile(model, options)),
  );

withDataOptions(program
  .command('simulate')
  .description('run a spiking IR event by event: accuracy against T, SOPs, firing rates, mask statistics')
  .argument('<ir>', 'spiking IR (.snn.json)')
  .requiredOption('--input <x.npy|dir>', 'input samples: .npy, first dimension = samples (raw values; the IR records the divisor), read a window at a time; or a folder of PNG/JPEG images (flat, or one sub-folder per class)')
  .option('--labels <y.npy|y.csv>', 'integer class labels, one per sample (.npy; for an image folder also a CSV of file,label rows; class sub-folders need none)')
  .option('--input-divisor <d>', 'override the input divisor recorded in the IR', positiveNumber)
  .option('-T, --steps <T>', 'time steps', positiveInteger, DEFAULT_STEPS)
  .option('--limit <n>', 'use only the first n samples', positiveInteger)
  .option('--seed <s>', 'seed of the random spike masks', seedValue, 0)
  .option('--workers <n>', 'threads, the main one included (default: up to 2 cores)', positiveInteger)
  .addOption(new Option('--attention <mode>', 'matmul/softmax rule: per-step (MST) or accumulated (exact rate product)').choices(['per-step', 'accumulated']).default('accumulated'))
  .option('--logits <out.npy>', 'write the readout at T (accumulated / T), float32 [samples, classes], to compare with snnc ann --logits')
  .option('--predictions <out.npy>', 'write the predicted class at every T of the accuracy table (1, 2, 4, …, T), int32 [samples, Ts]')
  .option('--json', 'print one JSON object instead of tables')
  .option('-o, --output <result.json>', 'write the result as JSON without timings (the same bytes as snnc merge of its shards); with --shard, the partial result')
  .action((ir: string, options: SimulateOptions) =>
    runCommand(async () => (await import('./commands/simulate.ts')).simulate(ir, options)),
  ));

withImageOptions(program
  .command('diagnose')
  .description('where a conversion loses the ANN: per IF layer and T, ANN activation vs SNN rate × θ (correlation, relative error, silent and saturated neurons) and the first layer where the error jumps')
  .argument('<ir>', 'spiking IR (.snn.json)')
  .requiredOption('--input <x.npy|dir>', 'input samples, first dimension = samples (raw values; the IR records the divisor), or a folder of PNG/JPEG images')
  .option('--labels <y.npy>', 'integer class labels, one per sample: adds the ANN and SNN accuracy')
  .option('--input-divisor <d>', 'override the input divisor recorded in the IR', positiveNumber)
  .option('-T, --steps <T>', 'time steps; checked at 8, 16, 32, … below T and at T', positiveInteger, DEFAULT_STEPS)
  .option('--limit <n>', 'use only the first n samples (default: 1000)', positiveInteger)
  .option('--seed <s>', 'seed of the random spike masks', seedValue, 0)
  .option('--json', 'print one JSON object instead of the table')
  .addHelpText(
    'after',
    `
Per IF layer and checked T, over all (sample, neuron) pairs:
  ANN          the IR evaluated densely as an ANN: clip(input current, 0, θ), the activation the layer replaces
  SNN          spike count up to T / T × θ (the rate × θ)
  correlation  Pearson correlation of ANN and SNN ("—" when either is constant, e.g. a layer that never fires)
  rel. error   RMS(SNN − ANN) / RMS(ANN): 0 is exact, 1 is as far off as sending nothing
  silent       of the pairs with ANN > 0, the fraction with no spike up to T
  saturated    the fraction that spiked at every step (rate 1, the most an IF neuron sends); "ANN clipped" is
               the fraction whose ANN activation is at θ, for comparison
First error jump: the first layer whose relative error is above 0.1 and more than 2× the largest relative
error of the layers it reads (0 for a layer fed by the input): where the loss starts rather than is inherited.
See docs/accuracy.md, "Diagnostics".`,
  )
  .action((ir: string, options: DiagnoseOptions) =>
    runCommand(async () => (await import('./commands/diagnose.ts')).diagnose(ir, options)),
  ));

program
  .command('export-nir')
  .description('write a spiking IR as a NIR graph (HDF5) for other SNN tools')
  .argument('<ir>', 'spiking IR (.snn.json)')
  .requiredOption('-o, --output <model.nir>', 'NIR file to write')
  .option('--allow-unsupported', 'write RSM masks and softmax, which NIR cannot express, as the identity (with a warning) instead of refusing')
  .option('--json', 'print the summary as one JSON object')
  .action((ir: string, options: ExportNirOptions) =>
    runCommand(async () => (await import('./commands/export-nir.ts')).exportNirCommand(ir, options)),
  );

program
  .command('export-onnx')
  .description('write a spiking IR as a time-stepped ONNX model (a Loop over T, membranes as loop state) for ONNX runtimes: logits at every checked T, spike counts per neuron')
  .argument('<ir>', 'spiking IR (.snn.json)')
  .requiredOption('-o, --output <model.snn.onnx>', 'ONNX file to write')
  .option('-T, --steps <T>', 'time steps of the loop', positiveInteger, DEFAULT_STEPS)
  .addOption(new Option('--attention <mode>', 'matmul/softmax rule, as simulate’s: per-step (MST) or accumulated (exact rate product)').choices(['per-step', 'accumulated']).default('accumulated'))
  .option('--json', 'print the summary as one JSON object')
  .action((ir: string, options: ExportOnnxCommandOptions) =>
    runCommand(async () => (await import('./commands/export-onnx.ts')).exportOnnxCommand(ir, options)),
  );

program
  .command('import-nir')
  .description('read a NIR graph (HDF5; snnTorch, Sinabs, Norse, snnc export-nir) as a spiking IR: Input, Affine/Linear, Conv2d, Flatten, SumPool2d, Scale, IF, LIF, Output')
  .argument('<model.nir>', 'NIR file')
  .requiredOption('-o, --output <model.snn.json>', 'IR file to write; weights go next to it as <name>.bin')
  .option('--dt <s>', 'time step of the neurons (LIF λ = 1 − dt/τ); default: the dt the file records, else 1e-4 (snnTorch)', positiveNumber)
  .option('--json', 'print the summary as one JSON object')
  .action((file: string, options: ImportNirOptions) =>
    runCommand(async () => (await import('./commands/import-nir.ts')).importNirCommand(file, options)),
  );

program
  .command('map')
  .description('place a spiking IR on a neuromorphic chip: core-sized slices, cores on the mesh, routing; writes a core map')
  .argument('<ir>', 'spiking IR (.snn.json)')
  .requiredOption('-o, --output <model.map.json>', 'core map to write (it references the IR by a relative path)')
  .option('--chip <name|file>', 'chip preset (loihi1, loihi1-sanafe, loihi2) or a chip spec .json', 'loihi1')
  .addOption(new Option('--placement <strategy>', 'how cores are placed on the mesh').choices(['traffic', 'sequential']).default('traffic'))
  .option('--profile <x.npy>', 'samples for a profiling run: spike rates weight the placement')
  .option('--profile-labels <y.npy>', 'labels of the profile samples: with --quantize, measure the accuracy change')
  .option('--profile-limit <n>', 'profile on the first n samples', positiveInteger, 64)
  .option('--profile-steps <T>', 'time steps of the profiling run', positiveInteger, 32)
  .option('--seed <s>', 'seed of the random spike masks in the profiling run', seedValue, 0)
  .option('--quantize [mode]', 'quantise weights to the chip: 8-bit mantissa, exponent per-group (per incoming stream on a core; default) or per-core')
  .option('--min-residual <n>', 'smallest slice put in a core’s leftover space', positiveInteger, 64)
  .addOption(
    new Option('--partitioner <how>', 'greedy: neuron by neuron over every synapse (tightest; memory grows with synapses); blocks: equal channel × row × column blocks counted in closed form (networks of billions of synapses); auto: blocks from 20 M synapses on')
      .choices(['auto', 'greedy', 'blocks'])
      .default('auto'),
  )
  .addOption(
    new Option('--synapses <mode>', 'discrete: one input axon and one synapse list per source neuron; population: Loihi population axons, one per source position with shared weight sets (nengo-loihi’s conv layout; fewer axons and words for conv layers; blocks partitioner); auto: discrete unless a neuron hears more sources than a core has input axons')
      .choices(['auto', 'discrete', 'population'])
      .default('auto'),
  )
  .addOption(
    new Option('--output-axons <mode>', 'with population synapses: neuron: one routing entry per (neuron, destination block); population: one per (source position, destination block), shared by the position’s channels (Loihi population axons); auto: neuron unless that cannot fit a core or the board')
      .choices(['auto', 'neuron', 'population'])
      .default('auto'),
  )
  .option('--board <CxR>', 'a board of C x R chips instead of the smallest of the chip spec’s systems that holds the mapping (loihi1: Kapoho Bay 2 chips ... Pohoiki Springs 768)')
  .addOption(
    new Option('--host <where>', 'transformer IRs: where host nodes (spike-pair matmuls, softmax) run: the chip’s embedded processors (Loihi 1: three x86 cores per chip) or an off-chip host; default: embedded when the chip spec has them')
      .choices(['embedded', 'off-chip']),
  )
  .addOption(
    new Option('--readout <where>', 'the readout (class accumulators): on cores, or on the host (--host), which receives the spikes that reach it and adds their weights; auto: on cores unless no core can take one of its neurons (more inputs than a core has axons, as a transformer head that hears every token)')
      .choices(['auto', 'cores', 'host'])
      .default('auto'),
  )
  .option('--json', 'print the summary as one JSON object')
  .action((ir: string, options: MapCommandOptions) =>
    runCommand(async () => (await import('./commands/map.ts')).map(ir, options)),
  );

withDataOptions(program
  .command('chip')
  .description('run a core map on the virtual chip: accuracy, latency per step, energy per inference, cores and links')
  .argument('<map>', 'core map (.map.json from snnc map)')
  .requiredOption('--input <x.npy|dir>', 'input samples (raw values; the IR records the divisor): .npy, or a folder of PNG/JPEG images')
  .option('--labels <y.npy>', 'integer class labels, one per sample')
  .option('-T, --steps <T>', 'time steps', positiveInteger, DEFAULT_STEPS)
  .option('--limit <n>', 'use only the first n samples', positiveInteger)
  .option('--seed <s>', 'seed of the random spike masks', seedValue, 0)
  .addOption(new Option('--reset <mode>', 'reset every population by subtraction or to zero (Loihi 1’s native neuron); default: each population’s reset as the IR says').choices(['subtract', 'zero']))
  .addOption(new Option('--attention <mode>', 'transformer IRs: the host nodes’ matmul/softmax rule, as simulate’s: per-step (MST) or accumulated (exact rate product)').choices(['per-step', 'accumulated']).default('accumulated'))
  .option('--workers <n>', 'threads, the main one included, each with its own copy of the chip; the same report for any n (default: up to 2 cores from 64 samples on; 1 with --trace)', positiveInteger)
  .option('--trace', 'with --json: add every step’s per-core counts and routes')
  .option('--json', 'print one JSON object instead of tables')
  .option('-o, --output <result.json>', 'write the report as JSON without its wall time (the same bytes as snnc merge of its shards); with --shard, the partial result')
  .action((map: string, options: ChipCommandOptions) =>
    runCommand(async () => (await import('./commands/chip.ts')).chip(map, options)),
  ));

withDataOptions(program
  .command('report')
  .description('one self-contained HTML report: accuracy vs T, per-layer diagnostics, energy (ANN vs SNN vs SNN+RSM), chip view')
  .argument('<ir>', 'spiking IR (.snn.json)')
  .requiredOption('--input <x.npy|dir>', 'evaluation samples (raw values; the IR records the divisor): .npy, or a folder of PNG/JPEG images')
  .requiredOption('--labels <y.npy>', 'integer class labels, one per sample')
  .requiredOption('-o, --output <report.html>', 'HTML file to write; with --shard, the partial result (.json) that snnc merge turns into the page')
  .option('--map <model.map.json>', 'core map from snnc map: adds the virtual chip run and the chip view')
  .option('--ann <model.onnx>', 'the source ONNX model, if not at the path recorded in the IR')
  .option('-T, --steps <T>', 'time steps', positiveInteger, DEFAULT_STEPS)
  .option('--limit <n>', 'use only the first n samples', positiveInteger)
  .option('--chip-limit <n>', 'run the virtual chip on the first n samples', positiveInteger, 100)
  .option('--seed <s>', 'seed of the random spike masks', seedValue, 0)
  .option('--json', 'print the report data as one JSON object')
  .action((ir: string, options: ReportOptions) =>
    runCommand(async () => (await import('./commands/report.ts')).report(ir, options)),
  ));

program
  .command('rsm-search')
  .description('per-site random spike masking ratios that minimise spike-driven energy within an accuracy budget on validation data (MST masks, chosen per site)')
  .argument('<ir>', 'spiking IR compiled without --rsm (.snn.json)')
  .requiredOption('--input <x.npy>', 'validation samples (a split of the training data, not the test set)')
  .requiredOption('--labels <y.npy>', 'their integer class labels')
  .option('-T, --steps <T>', 'time steps', positiveInteger, 64)
  .option('--limit <n>', 'use only the first n samples', positiveInteger)
  .option('--seed <s>', 'seed of the random spike masks', seedValue, 0)
  .option('--workers <n>', 'threads, the main one included (default: up to 2 cores)', positiveInteger)
  .addOption(new Option('--attention <mode>', 'matmul/softmax rule: per-step (MST) or accumulated (exact rate product)').choices(['per-step', 'accumulated']).default('accumulated'))
  .option('--sites <glob>', 'nodes whose spike inputs may be masked (glob on node ids), repeatable; default: every maskable node of the attention module', collect, [])
  .option('--grid <ratios>', 'ratios to try per site, comma-separated', '0.25,0.5,0.75,0.9')
  .option('--budget <pp>', 'accuracy may fall at most this many percentage points below the unmasked SNN', nonNegativeNumber, 1)
  .option('--json', 'print one JSON object instead of the table')
  .action((ir: string, options: RsmSearchOptions) =>
    runCommand(async () => (await import('./commands/rsm-search.ts')).rsmSearch(ir, options)),
  );

program
  .command('merge')
  .description('combine the partial results of a sharded run (--shard i/n -o part.json of simulate, ann, chip or report) into the result one run writes with -o (report: the HTML page)')
  .argument('<parts...>', 'partial results (part-*.json), in any order')
  .requiredOption('-o, --output <result.json>', 'result file to write')
  .action((parts: string[], options: MergeOptions) => runCommand(async () => (await import('./commands/merge.ts')).merge(parts, options)));

program
  .command('demo')
  .description('the main job on the bundled Fashion-MNIST QCFS model: compile, simulate, map onto loihi1, virtual chip, HTML report')
  .option('--out <dir>', 'output folder', 'out')
  .option('--samples <n>', 'test images to simulate', positiveInteger, 1000)
  .option('-T, --steps <T>', 'time steps', positiveInteger, DEFAULT_STEPS)
  .option('--chip-samples <n>', 'test images to run on the virtual chip', positiveInteger, 100)
  .option('--seed <s>', 'seed', seedValue, 0)
  .option('--json', 'print the summary as one JSON object')
  .action((options: DemoOptions) => runCommand(async () => (await import('./commands/demo.ts')).demo(options)));

withImageOptions(program
  .command('run')
  .description('your own model end to end in one command: compile, simulate, map onto a chip, virtual chip, report (what demo does for the bundled model)')
  .argument('<model>', 'model file (.onnx)')
  .option('--calib <x.npy>', 'calibration samples for ReLU/ReLU6 threshold balancing (not needed for QCFS models)')
  .requiredOption('--input <x.npy|dir>', 'evaluation samples, first dimension = samples (raw values; see --input-divisor), or a folder of PNG/JPEG images')
  .option('--labels <y.npy>', 'integer class labels, one per sample: adds accuracy, the ANN baseline and report.html')
  .option('-T, --steps <T>', 'time steps', positiveInteger, DEFAULT_STEPS)
  .option('--chip <name|file>', 'chip preset (loihi1, loihi1-sanafe, loihi2) or a chip spec .json', 'loihi1')
  .option('-o, --out <dir>', 'output folder: <model>.snn.json (+ .bin), <model>.map.json, report.html, report.json, run.json', 'out')
  .option('--limit <n>', 'use only the first n samples of --input', positiveInteger)
  .option('--chip-limit <n>', 'run the virtual chip on the first n samples', positiveInteger, 100)
  .option('--input-divisor <d>', 'divide every input value by d (e.g. 255 for raw pixels); recorded in the IR', positiveNumber)
  .addOption(new Option('--maxpool <policy>', 'MaxPool has no exact spiking form: error, or convert to average pooling').choices(['error', 'avg']).default('error'))
  .option('--seed <s>', 'seed of the random spike masks', seedValue, 0)
  .option('--json', 'print the summary (also written to run.json) as one JSON object')
  .action((model: string, options: RunOptions) => runCommand(async () => (await import('./commands/run.ts')).run(model, options))));

await program.parseAsync();
