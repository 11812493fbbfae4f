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
import { writeNpy } from '../../runtime/npy.ts';
import type { AttentionMode, SimulationResult } from '../../runtime/snn/simulate.ts';
import { checkOutputPath, createProgress, formatCount, formatTable, printJson } from '../common.ts';
import { loadDataset } from '../data.ts';

export interface SimulateOptions {
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
}

/** A warning on stderr: the run goes on, but not quite as asked. */
export function warn(message: string): void {
  process.stderr.write(`snnc: warning: ${message}\n`);
}

/** `--limit` beyond the data is not an error (all samples are used), but the user should know. */
export function warnIfLimitExceeds(flag: string, limit: number | undefined, samples: number, file: string): void {
  if (limit !== undefined && limit > samples) warn(`${flag} ${limit}: ${file} has only ${samples} samples; using all of them`);
}

export async function simulate(irPath: string, options: SimulateOptions): Promise<void> {
  const [{ readIr }, sim, diag] = await Promise.all([import('../../compiler/ir/io.ts'), import('../../runtime/snn/simulate.ts'), import('../../runtime/snn/diagnose.ts')]);
  for (const out of [options.logits, options.predictions]) if (out) checkOutputPath(out);
  const ir = readIr(irPath);
  if (options.inputDivisor !== undefined) ir.input = { ...ir.input, divisor: options.inputDivisor };
  // Raw values: the simulator divides by the IR's divisor itself.
  // Every label must be a class of the readout: a label ≥ the class count would quietly lower the accuracy.
  const classes = tensorSize(ir.output.shape);
  const data = loadDataset({ input: options.input, labels: options.labels, limit: options.limit, classes }, { name: ir.input.id, dims: [-1, ...ir.input.shape] });
  if (options.steps > 100_000) throw new SnncError(`-T ${options.steps}: at most 100000 time steps`);
  warnIfLimitExceeds('--limit', options.limit, data.samples, options.input);
  const cores = availableParallelism();
  if (options.workers !== undefined && options.workers > cores) warn(`--workers ${options.workers}: this machine has ${cores} cores; more threads than cores only add overhead`);
  // Warnings about what the numbers mean (stderr now, and `warnings` in --json): input scaled for another divisor, silent layers.
  const warnings: string[] = [];
  const scaleWarning = diag.inputScaleWarning(data.x.data as Float32Array, ir.input.divisor);
  if (scaleWarning) warnings.push(scaleWarning);
  warnings.forEach(warn);

  const planProgress = await createProgress('plan');
  const progress = await createProgress('simulate');
  let result: SimulationResult;
  try {
    result = await sim.simulate(ir, data.x.data as Float32Array, {
      T: options.steps,
      seed: options.seed,
      labels: data.labels,
      workers: options.workers,
      attention: options.attention,
      onPlanProgress: (done, total) => {
        planProgress.update(done, total);
        if (done === total) planProgress.stop();
      },
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    planProgress.stop();
    progress.stop();
  }
  checkFiniteLogits(result, irPath, options.input);
  const silent = diag.silentLayerWarnings(result.layers, result.T, result.samples);
  silent.forEach(warn);
  warnings.push(...silent);
  writePerSample(result, options);
  const report = {
    ir: irPath,
    input: options.input,
    labels: options.labels ?? null,
    logits: options.logits ?? null,
    predictions: options.predictions ?? null,
    checkpoints: sim.checkpointsFor(result.T),
    ...withoutArrays(result),
    images_per_second: result.samples / result.seconds,
    sops_per_second: (result.sops_per_sample * result.samples) / result.seconds,
    warnings,
  };
  if (options.json) printJson(report);
  else process.stdout.write(render(result));
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

function withoutArrays(r: SimulationResult): Omit<SimulationResult, 'predictions' | 'checkpoint_predictions' | 'logits' | 'spikes'> {
  const { predictions: _p, checkpoint_predictions: _c, logits: _l, spikes: _s, ...rest } = r;
  return rest;
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
        ['layer', 'kind', 'neurons', 'θ', 'firing rate', 'spikes/sample', 'SOPs/sample', ...(host ? ['placement', 'products/sample', 'MACs/sample', 'softmax ops/sample'] : [])],
        ...r.layers.map((l) => [
          l.id,
          l.kind,
          l.kind === 'if' || l.kind === 'output' ? formatCount(l.neurons) : '',
          l.threshold ? (l.threshold.min === l.threshold.max ? l.threshold.min.toPrecision(4) : `${l.threshold.min.toPrecision(3)}…${l.threshold.max.toPrecision(3)}`) : '',
          l.kind === 'if' ? l.firing_rate.toFixed(4) : '',
          l.kind === 'if' ? count(l.spikes_per_sample) : '',
          l.kind === 'if' ? count(l.sops_per_sample) : '',
          ...(host
            ? [l.placement, l.placement === 'host' ? count(l.products_per_sample) : '', l.placement === 'host' ? count(l.macs_per_sample) : '', l.kind === 'softmax' ? count(l.softmax_ops_per_sample) : '']
            : []),
        ]),
      ],
      new Set(host ? [2, 3, 4, 5, 6, 8, 9, 10] : [2, 3, 4, 5, 6]),
    ),
  );
  if (host) {
    out.push(
      '',
      `matmul/softmax rule: ${r.attention}; host nodes run off the neuromorphic cores`,
      formatTable(
        [
          ['module', 'spikes', 'SOPs', 'products', 'MACs', 'softmax ops', 'host inputs', 'energy 45 nm'],
          ...Object.entries(r.modules).map(([name, m]) => [
            name,
            count(m.spikes),
            count(m.sops),
            count(m.products),
            count(m.macs),
            count(m.softmax_ops),
            count(m.host_inputs),
            `${(m.energy_45nm_pj / 1e6).toFixed(3)} µJ`,
          ]),
        ],
        new Set([1, 2, 3, 4, 5, 6, 7]),
      ),
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
