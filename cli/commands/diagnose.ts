/**
 * `snnc diagnose <model.snn.json> --input x.npy [--labels y.npy] [-T 32] [--limit n] [--json]`: where a
 * conversion loses the ANN. Per IF population and per checked T (8, 16, 32, … and T), the ANN activation the
 * population replaces (the IR evaluated as an ANN) against the SNN's rate × θ: correlation, RMS error relative
 * to the layer's RMS activation, silent and saturated neurons, and the first layer where the error jumps
 * (runtime/snn/diagnose.ts defines each; docs/accuracy.md, "Diagnostics", shows how to read them).
 */
import { SnncError } from '../../compiler/errors.ts';
import { tensorSize } from '../../compiler/graph.ts';
import type { DiagnoseResult, LayerMetrics } from '../../runtime/snn/diagnose.ts';
import { createProgress, formatCount, formatTable, printJson } from '../common.ts';
import { type ImageFlags, imageOptions, loadDatasetStreamed } from '../data.ts';
import { warn, warnIfLimitExceeds } from './simulate.ts';

export interface DiagnoseOptions extends ImageFlags {
  input: string;
  labels?: string;
  inputDivisor?: number;
  steps: number;
  limit?: number;
  seed: number;
  json?: boolean;
}

/** Samples used without --limit: the metrics are means over samples × neurons and settle long before. */
export const DEFAULT_LIMIT = 1000;

export async function diagnose(irPath: string, options: DiagnoseOptions): Promise<void> {
  const [{ readIr }, diag] = await Promise.all([import('../../compiler/ir/io.ts'), import('../../runtime/snn/diagnose.ts')]);
  if (options.steps > 100_000) throw new SnncError(`-T ${options.steps}: at most 100000 time steps`);
  const ir = readIr(irPath);
  if (options.inputDivisor !== undefined) ir.input = { ...ir.input, divisor: options.inputDivisor };
  const classes = tensorSize(ir.output.shape);
  const limit = options.limit ?? DEFAULT_LIMIT;
  const data = await loadDatasetStreamed({ input: options.input, labels: options.labels, limit, classes, images: imageOptions(options) }, { name: ir.input.id, dims: [-1, ...ir.input.shape] });
  warnIfLimitExceeds('--limit', options.limit, data.samples, options.input);
  const warnings: string[] = [];
  const scale = diag.inputScaleWarning(data.x.data as Float32Array, ir.input.divisor);
  if (scale) warnings.push(scale);
  for (const w of warnings) warn(w);

  const progress = await createProgress('diagnose');
  let result: DiagnoseResult;
  try {
    result = await diag.diagnose(ir, data.x.data as Float32Array, {
      T: options.steps,
      seed: options.seed,
      labels: data.labels,
      onProgress: (done, total) => progress.update(Math.floor(done), total),
    });
  } finally {
    progress.stop();
  }
  const doc = {
    ir: irPath,
    input: options.input,
    labels: options.labels ?? null,
    divisor: ir.input.divisor,
    rule: {
      ann: 'the IR evaluated densely as an ANN: each IF node gives clip(input current, 0, θ)',
      snn: 'spike count up to t / t × θ',
      relative_error: 'RMS(SNN − ANN) / RMS(ANN) over samples × neurons',
      silent: 'of the neuron-sample pairs with ANN > 0, the fraction with no spike up to t',
      saturated: 'fraction of neuron-sample pairs that spiked at every step up to t (rate 1)',
      first_jump: `first layer whose relative error is above ${diag.JUMP_MIN_ERROR} and more than ${diag.JUMP_FACTOR}× the largest of the layers it reads (0 for a layer fed by the input)`,
    },
    ...result,
    warnings,
  };
  if (options.json) printJson(doc);
  else process.stdout.write(render(result, irPath, diag.JUMP_MIN_ERROR, diag.JUMP_FACTOR));
}

const dash = '—';

function fixed(x: number | null, digits: number): string {
  return x === null ? dash : x.toFixed(digits);
}

function pct(x: number | null): string {
  return x === null ? dash : `${(100 * x).toFixed(1)} %`;
}

function render(r: DiagnoseResult, irPath: string, minError: number, factor: number): string {
  const out: string[] = [];
  out.push(`${irPath}: ${r.samples} samples, T = ${r.T}, checked at T = ${r.checks.join(', ')} (${r.seconds.toFixed(1)} s)`);
  if (r.accuracy) {
    out.push(`accuracy: ANN (the IR's rate limit) ${pct(r.accuracy.ann)}; SNN ${r.checks.map((t) => `T=${t} ${pct(r.accuracy!.snn[String(t)])}`).join(', ')}`);
  }
  const last = r.checks.length - 1;
  const headlineJump = r.first_jump[String(r.T)];
  const rows: string[][] = [['layer', 'neurons', 'θ', 'T', 'correlation', 'rel. error', 'silent', 'saturated', 'ANN clipped', 'firing rate', '']];
  for (const l of r.layers) {
    const theta = l.threshold.min === l.threshold.max ? l.threshold.min.toPrecision(4) : `${l.threshold.min.toPrecision(3)}…${l.threshold.max.toPrecision(3)}`;
    l.at.forEach((m: LayerMetrics, c) => {
      const jump = r.first_jump[String(m.T)]?.layer === l.id;
      rows.push([
        c === 0 ? l.id : '',
        c === 0 ? formatCount(l.neurons) : '',
        c === 0 ? theta : '',
        String(m.T),
        fixed(m.correlation, 3),
        fixed(m.relative_error, 3),
        pct(m.silent),
        pct(m.saturated),
        pct(m.clipped),
        m.firing_rate.toFixed(4),
        jump ? (c === last ? '◀ first jump' : '◀ first jump at this T') : '',
      ]);
    });
  }
  out.push('', formatTable(rows, new Set([1, 2, 3, 4, 5, 6, 7, 8, 9])));
  out.push(
    '',
    `readout at T = ${r.T}: correlation ${fixed(r.readout.correlation, 3)}, relative error ${fixed(r.readout.relative_error, 3)}, ` +
      `SNN and ANN pick the same class on ${pct(r.readout.agreement)} of samples`,
  );
  out.push(
    headlineJump
      ? `first error jump at T = ${r.T}: ${headlineJump.layer} (relative error ${headlineJump.relative_error.toFixed(3)}, ` +
          `${headlineJump.upstream_error > 0 ? `the layers it reads ${headlineJump.upstream_error.toFixed(3)}` : 'fed by the input'})`
      : `no error jump at T = ${r.T}`,
  );
  out.push(
    `rule: the first layer whose relative error is above ${minError} and more than ${factor}× the largest of the layers it reads; ` +
      'relative error = RMS(rate × θ − ANN) / RMS(ANN); silent: of the neurons with ANN > 0, those with no spike; saturated: spiking every step',
  );
  return `${out.join('\n')}\n`;
}
