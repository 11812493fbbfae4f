/**
 * `snnc simulate <model.snn.json> --input x.npy -T 32`: the event-driven IF simulator on a data set.
 * One causal run gives accuracy at T = 1, 2, 4, …, T; per layer firing rates and SOPs; per mask the
 * spikes arriving, dropped and the SOPs delivered; for transformers the host nodes' work (`--attention`
 * selects their rule) and the work per module (attention, mlp, other). `--logits` and `--predictions`
 * write per-sample results, to compare with `snnc ann --logits` sample by sample.
 */
import { availableParallelism } from 'node:os';
import { firstNonFinite, indexIn, SnncError } from '../../compiler/errors.ts';
import { tensorSize } from '../../compiler/graph.ts';
import type { ImageOptions } from '../../runtime/data/source.ts';
import { writeFileAtomic, writeNpy } from '../../runtime/npy.ts';
import type { ChunkOptions, ChunkResult } from '../../runtime/snn/engine.ts';
import type { buildPlan } from '../../runtime/snn/plan.ts';
import type { AttentionMode, SimulationResult } from '../../runtime/snn/simulate.ts';
import { checkOutputPath, createProgress, formatCount, formatTable, printJson } from '../common.ts';
import { type ImageFlags, imageOptions, openDataset, parseShard, scaleCheckSamples, type StreamDataset } from '../data.ts';
import { fileSha256, type Partial, toJsonArray, writePartial } from '../partial.ts';

export interface SimulateOptions extends ImageFlags {
  input: string;
  labels?: string;
  inputDivisor?: number;
  steps: number;
  limit?: number;
  seed: number;
  workers?: number;
  attention?: AttentionMode;
  logits?: string;
  predictions?: string;
  json?: boolean;
  /** `i/n`: simulate shard i of n and write its partial result to `output`. */
  shard?: string;
  /** The result (deterministic: no timings) as JSON; with --shard, the partial result. */
  output?: string;
}

/** A warning on stderr: the run goes on, but not quite as asked. */
export function warn(message: string): void {
  process.stderr.write(`snnc: warning: ${message}\n`);
}

/** `--limit` beyond the data is not an error (all samples are used), but the user should know. */
/** `--workers` beyond this machine's cores runs, with a warning. */
export function warnIfWorkersExceed(workers: number | undefined): void {
  const cores = availableParallelism();
  if (workers !== undefined && workers > cores) warn(`--workers ${workers}: this machine has ${cores} cores; more threads than cores only add overhead`);
}

export function warnIfLimitExceeds(flag: string, limit: number | undefined, samples: number, file: string): void {
  if (limit !== undefined && limit > samples) warn(`${flag} ${limit}: ${file} has only ${samples} samples; using all of them`);
}

export async function simulate(irPath: string, options: SimulateOptions): Promise<void> {
  const [{ readIr }, sim, diag, { buildPlan }] = await Promise.all([
    import('../../compiler/ir/io.ts'),
    import('../../runtime/snn/simulate.ts'),
    import('../../runtime/snn/diagnose.ts'),
    import('../../runtime/snn/plan.ts'),
  ]);
  const shard = options.shard !== undefined ? parseShard(options.shard) : undefined;
  if (shard && !options.output) throw new SnncError(`--shard ${options.shard} writes a partial result: give it a file with -o part-${shard.index}.json`);
  for (const out of [options.logits, options.predictions, options.output]) if (out) checkOutputPath(out);
  const ir = readIr(irPath);
  if (options.inputDivisor !== undefined) ir.input = { ...ir.input, divisor: options.inputDivisor };
  // Raw values: the simulator divides by the IR's divisor itself.
  // Every label must be a class of the readout: a label ≥ the class count would quietly lower the accuracy.
  const classes = tensorSize(ir.output.shape);
  const data = await openDataset(
    { input: options.input, labels: options.labels, limit: options.limit, classes, shard, images: imageOptions(options) },
    { name: ir.input.id, dims: [-1, ...ir.input.shape] },
  );
  if (options.steps > 100_000) throw new SnncError(`-T ${options.steps}: at most 100000 time steps`);
  warnIfLimitExceeds('--limit', options.limit, data.samples, options.input);
  warnIfWorkersExceed(options.workers);
  // Warnings about what the numbers mean (stderr now, and `warnings` in --json): input scaled for another divisor, silent layers.
  const warnings: string[] = [];
  const scaleWarning = diag.inputScaleWarning(await leadingSamples(data), ir.input.divisor);
  if (scaleWarning) warnings.push(scaleWarning);
  warnings.forEach(warn);

  const planProgress = await createProgress('plan');
  const progress = await createProgress('simulate');
  const start = performance.now();
  const startCpu = process.cpuUsage();
  let run: Awaited<ReturnType<typeof sim.simulateChunks>>;
  let plan: ReturnType<typeof buildPlan>;
  try {
    plan = buildPlan(ir, {
      onProgress: (done, total) => {
        planProgress.update(done, total);
        if (done === total) planProgress.stop();
      },
    });
    planProgress.stop();
    run = await sim.simulateChunks(plan, data.source, {
      T: options.steps,
      seed: options.seed,
      labels: data.labels?.subarray(data.from, data.to),
      workers: options.workers,
      attention: options.attention,
      range: { from: data.from, to: data.to },
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    planProgress.stop();
    progress.stop();
    data.source.close();
  }
  const result = sim.assemble(plan, run.chunks, run.samples, run.chunkOpts, data.labels?.subarray(data.from, data.to), (performance.now() - start) / 1000);
  checkFiniteLogits(result, irPath, options.input);
  writePerSample(result, options);
  if (shard) {
    const partial: SimulatePartialData = { chunks: run.chunks.map(serializeChunk), scale_warning: scaleWarning, labels: data.labels ? toJsonArray(data.labels.subarray(data.from, data.to)) : null };
    writePartial(options.output!, 'simulate', simulateKey(irPath, ir.input.divisor, options), shard, data, partial);
    process.stderr.write(`wrote ${options.output}: shard ${shard.index}/${shard.count}, samples ${data.from}…${data.to - 1} of ${data.samples}\n`);
  }
  const silent = diag.silentLayerWarnings(result.layers, result.T, result.samples);
  silent.forEach(warn);
  warnings.push(...silent);
  const report = {
    ...simulateDocument(result, irPath, options, sim.checkpointsFor(result.T), warnings),
    images_per_second: result.samples / result.seconds,
    sops_per_second: (result.sops_per_sample * result.samples) / result.seconds,
    // CPU time of every thread over the same span (plan building and simulation): SOPs per CPU-second do not depend on how many cores ran.
    ...cpuRate(process.cpuUsage(startCpu), result.sops_per_sample * result.samples),
  };
  if (options.output && !shard) writeFileAtomic(options.output, resultJson(report));
  if (options.json) printJson(report);
  else process.stdout.write(render(result));
}

/** `cpu_seconds` (user + system, all threads) and SOPs per CPU-second. */
function cpuRate(cpu: NodeJS.CpuUsage, sops: number): { cpu_seconds: number; sops_per_cpu_second: number } {
  const seconds = (cpu.user + cpu.system) / 1e6;
  return { cpu_seconds: seconds, sops_per_cpu_second: seconds > 0 ? sops / seconds : 0 };
}

/** The JSON document of a run (`--json` without the timings). */
function simulateDocument(result: SimulationResult, irPath: string, options: Pick<SimulateOptions, 'input' | 'labels' | 'logits' | 'predictions'>, checkpoints: number[], warnings: string[]) {
  return {
    ir: irPath,
    input: options.input,
    labels: options.labels ?? null,
    logits: options.logits ?? null,
    predictions: options.predictions ?? null,
    checkpoints,
    ...withoutArrays(result),
    warnings,
  };
}

/**
 * `-o result.json`: the run's document without what varies from run to run (wall time, rates) and without the
 * per-sample files (each shard writes its own rows), so that one run and merged shards give the same bytes.
 */
export function resultJson(doc: Record<string, unknown>): string {
  const { seconds: _s, images_per_second: _i, sops_per_second: _o, cpu_seconds: _c, sops_per_cpu_second: _r, logits: _l, predictions: _p, ...rest } = doc;
  return `${JSON.stringify(rest, null, 2)}\n`;
}

/** The first samples of the data (not of the shard), for the input-scale warning: every shard warns alike. */
async function leadingSamples(data: StreamDataset): Promise<Float32Array> {
  return data.source.read(0, scaleCheckSamples(data.samples, data.source.sampleSize));
}

/** What a simulate result depends on besides the samples: parts with different keys do not merge. */
type SimulateKey = {
  ir: string;
  ir_sha256: string;
  input: string;
  labels: string | null;
  limit: number | null;
  input_divisor: number;
  T: number;
  seed: number;
  attention: AttentionMode;
  image_options: ImageOptions;
};

function simulateKey(irPath: string, divisor: number, o: SimulateOptions): SimulateKey {
  return {
    ir: irPath,
    ir_sha256: fileSha256(irPath),
    input: o.input,
    labels: o.labels ?? null,
    limit: o.limit ?? null,
    input_divisor: divisor,
    T: o.steps,
    seed: o.seed,
    attention: o.attention ?? 'accumulated',
    image_options: imageOptions(o),
  };
}

interface SimulatePartialData {
  chunks: SerializedChunk[];
  scale_warning: string | null;
  labels: number[] | null;
}

export type SerializedChunk = { logit_values: number; predictions: number[]; active: number } & Record<(typeof SUMS)[number], number[]>;

const SUMS = ['spikes', 'sops', 'arriving', 'dropped', 'streamCategories', 'products', 'analogSpike', 'analogMacs', 'operandSpikes', 'softmaxOps', 'analogOut'] as const;

/** A chunk without its logits (a shard's rows are in --logits if asked for; the merged document does not use them). */
export function serializeChunk(c: ChunkResult): SerializedChunk {
  const out = { logit_values: c.logits.length, predictions: toJsonArray(c.predictions), active: c.active } as SerializedChunk;
  for (const k of SUMS) out[k] = toJsonArray(c[k]);
  return out;
}

export function deserializeChunk(c: SerializedChunk): ChunkResult {
  const out = { predictions: Int32Array.from(c.predictions), logits: new Float32Array(c.logit_values), active: c.active } as ChunkResult;
  for (const k of SUMS) out[k] = Float64Array.from(c[k]);
  return out;
}

/** `snnc merge` of simulate parts: the document one unsharded `simulate -o` writes. */
export async function mergeSimulate(parts: Array<Partial & { file: string }>): Promise<string> {
  const [{ readIr }, sim, diag, { buildPlan }] = await Promise.all([
    import('../../compiler/ir/io.ts'),
    import('../../runtime/snn/simulate.ts'),
    import('../../runtime/snn/diagnose.ts'),
    import('../../runtime/snn/plan.ts'),
  ]);
  const key = parts[0]!.key as SimulateKey;
  const irPath = key.ir;
  if (fileSha256(irPath) !== key.ir_sha256) throw new SnncError(`is not the IR the parts were simulated with (its sha256 differs from ${parts[0]!.file}'s)`, { file: irPath });
  const ir = readIr(irPath);
  ir.input = { ...ir.input, divisor: key.input_divisor };
  const plan = buildPlan(ir);
  const chunks: ChunkResult[] = [];
  const labels: number[] = [];
  for (const p of parts) {
    const d = p.data as SimulatePartialData;
    if (!Array.isArray(d?.chunks)) throw new SnncError('malformed simulate partial (no chunks)', { file: p.file });
    chunks.push(...d.chunks.map(deserializeChunk));
    if (d.labels) labels.push(...d.labels);
  }
  const samples = parts[0]!.samples;
  const T = key.T;
  const checkpoints = sim.checkpointsFor(T);
  const chunkOpts: ChunkOptions = { T, seed: key.seed >>> 0, checkpoints, recordSpikes: false, attention: key.attention };
  const result = sim.assemble(plan, chunks, samples, chunkOpts, key.labels ? Int32Array.from(labels) : undefined, 0);
  const scale = (parts[0]!.data as SimulatePartialData).scale_warning;
  const warnings = [...(scale ? [scale] : []), ...diag.silentLayerWarnings(result.layers, result.T, result.samples)];
  return resultJson(simulateDocument(result, irPath, { input: key.input, labels: key.labels ?? undefined }, checkpoints, warnings));
}

/**
 * Logits that overflowed (huge weights that are finite on their own, accumulated over T and stored as
 * float32) are not a result: argmax over Inf/NaN means nothing, so refuse them before anything is written.
 */
function checkFiniteLogits(r: SimulationResult, irPath: string, input: string): void {
  const i = firstNonFinite(r.logits);
  if (i < 0) return;
  throw new SnncError(
    `SNN output ${r.logits[i]} at ${indexIn([r.samples, r.classes], i)} on the samples of ${input}: the values overflow float32 inside the network`,
    { file: irPath },
  );
}

/**
 * --logits: float32 [samples, classes], the readout accumulated to T divided by T (the ANN's logits in the
 * rate limit). --predictions: int32 [samples, checkpoints], the argmax at every T the accuracy table shows.
 */
function writePerSample(r: SimulationResult, options: SimulateOptions): void {
  if (options.logits) {
    writeNpy(options.logits, { dtype: 'float32', shape: [r.samples, r.classes], data: r.logits });
    process.stderr.write(`wrote ${options.logits}: logits at T = ${r.T}, [${r.samples}, ${r.classes}]\n`);
  }
  if (options.predictions) {
    const checkpoints = r.checkpoint_predictions.length / r.samples;
    writeNpy(options.predictions, { dtype: 'int32', shape: [r.samples, checkpoints], data: r.checkpoint_predictions });
    process.stderr.write(`wrote ${options.predictions}: predictions at every T of the accuracy table, [${r.samples}, ${checkpoints}]\n`);
  }
}

function withoutArrays(r: SimulationResult): Omit<SimulationResult, 'predictions' | 'checkpoint_predictions' | 'checkpoint_sops' | 'logits' | 'spikes'> {
  const { predictions: _p, checkpoint_predictions: _c, checkpoint_sops: _k, logits: _l, spikes: _s, ...rest } = r;
  return rest;
}

function microjoules(pj: number): string {
  return `${(pj / 1e6).toFixed(3)} µJ`;
}

function percent(x: number): string {
  return `${(100 * x).toFixed(2)} %`;
}

function render(r: SimulationResult): string {
  const out: string[] = [];
  out.push(`${r.samples} samples, T = ${r.T}, seed ${r.seed}, ${r.seconds.toFixed(2)} s (${(r.samples / r.seconds).toFixed(1)} samples/s)`);
  if (r.accuracy) {
    out.push('', formatTable([['T', 'accuracy'], ...Object.entries(r.accuracy).map(([t, a]) => [t, percent(a)])], new Set([0, 1])));
  }
  const host = r.attention !== null;
  const count = (x: number) => formatCount(Math.round(x));
  out.push(
    '',
    formatTable(
      [
        ['layer', 'kind', 'neurons', 'θ', 'firing rate', 'spikes/sample', 'SOPs/sample', ...(host ? ['placement', 'spike pairs/sample', 'analog×spike/sample', 'MACs/sample', 'softmax ops/sample'] : [])],
        ...r.layers.map((l) => [
          l.id,
          l.kind,
          l.kind === 'if' || l.kind === 'output' ? formatCount(l.neurons) : '',
          l.threshold ? (l.threshold.min === l.threshold.max ? l.threshold.min.toPrecision(4) : `${l.threshold.min.toPrecision(3)}…${l.threshold.max.toPrecision(3)}`) : '',
          l.kind === 'if' ? l.firing_rate.toFixed(4) : '',
          l.kind === 'if' ? count(l.spikes_per_sample) : '',
          l.kind === 'if' ? count(l.sops_per_sample) : '',
          ...(host
            ? [
                l.placement,
                l.placement === 'host' ? count(l.products_per_sample) : '',
                l.placement === 'host' ? count(l.analog_spike_products_per_sample) : '',
                l.placement === 'host' ? count(l.macs_per_sample) : '',
                l.kind === 'softmax' ? count(l.softmax_ops_per_sample) : '',
              ]
            : []),
        ]),
      ],
      new Set(host ? [2, 3, 4, 5, 6, 8, 9, 10, 11] : [2, 3, 4, 5, 6]),
    ),
  );
  if (host) {
    out.push(
      '',
      `matmul/softmax rule: ${r.attention}; host nodes run off the neuromorphic cores`,
      'every spike-triggered operation is an accumulation (AC: SOPs, spike-pair products, analog × spike products); only analog × analog products are MACs',
      formatTable(
        [
          ['module', 'spikes', 'SOPs', 'spike pairs', 'analog×spike', 'spike-driven', 'MACs', 'softmax ops', 'host inputs', 'spike-driven 45 nm', 'energy 45 nm', 'literature 45 nm'],
          ...[...Object.entries(r.modules), ['total', r.work] as const].map(([name, m]) => [
            name,
            count(m.spikes),
            count(m.sops),
            count(m.products),
            count(m.analog_spike_products),
            count(m.spike_driven),
            count(m.macs),
            count(m.softmax_ops),
            count(m.host_inputs),
            microjoules(m.spike_driven_pj),
            microjoules(m.energy_45nm_pj),
            microjoules(m.literature_pj),
          ]),
        ],
        new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      ),
      'literature 45 nm: the convention of Spikformer and MST (E_AC × firing rate of a layer\'s spike input × T × its dense FLOPs, q·kᵀ and attn·v included; analog-fed layers at E_MAC); the other columns count events',
    );
  }
  if (r.masks.length) {
    out.push(
      '',
      formatTable(
        [
          ['mask', 'ratio', 'arriving/sample', 'dropped/sample', 'dropped', 'SOPs delivered/sample'],
          ...r.masks.map((m) => [
            `${m.from} → ${m.to}`,
            String(m.ratio),
            formatCount(Math.round(m.spikes_arriving)),
            formatCount(Math.round(m.spikes_dropped)),
            m.spikes_arriving ? percent(m.spikes_dropped / m.spikes_arriving) : '',
            formatCount(Math.round(m.sops_delivered)),
          ]),
        ],
        new Set([1, 2, 3, 4, 5]),
      ),
    );
  }
  out.push(
    '',
    `per sample: ${formatCount(Math.round(r.sops_per_sample))} SOPs, ${formatCount(Math.round(r.macs_per_sample))} MACs (analog input layer), ` +
      `${formatCount(Math.round(r.neuron_updates.active))} active + ${formatCount(Math.round(r.neuron_updates.inactive))} inactive neuron updates`,
  );
  return `${out.join('\n')}\n`;
}
