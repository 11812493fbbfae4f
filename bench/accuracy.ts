/**
 * Full-test-set accuracy of the converted fixtures (too slow for `npm test`): ANN accuracy, SNN accuracy at
 * T = 1, 2, 4, …, T_max, SOPs per sample. Writes docs/accuracy.json and the table in docs/accuracy.md.
 *
 *   npm run accuracy                       # every configuration, full test sets
 *   npm run accuracy -- --limit 1000       # a quick look
 *   npm run accuracy -- --only relu        # configurations whose name contains "relu"
 *
 * `--low-latency` rows compile as `snnc compile --low-latency` does (lowLatencyChoice); `sopsAt` names the
 * smaller T whose SOPs per sample the table shows (counted up to that T in the same causal run).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadOnnx } from '../compiler/onnx/load.ts';
import { lower, type LowerOptions } from '../compiler/lower.ts';
import { activationStats } from '../runtime/ann/calibrate.ts';
import { runBatched } from '../runtime/ann/execute.ts';
import { accuracyOf } from '../runtime/metrics.ts';
import { readNpy, toFloatTensor, toLabels } from '../runtime/npy.ts';
import { checkpointsFor, simulate } from '../runtime/snn/simulate.ts';
import { deficitMeasure, lowLatencyChoice } from '../cli/commands/compile.ts';
import { calibrateV0 } from '../compiler/passes/calibrate-v0.ts';

interface Config {
  name: string;
  model: string;
  data: 'digits' | 'fmnist' | 'digits8x8';
  divisor: number;
  T: number;
  options: Partial<LowerOptions>;
  rsm?: string;
  /** Compile as `snnc compile --low-latency`. */
  lowLatency?: boolean;
  /** `--v-init calibrated --calib-steps T`. */
  calibratedAt?: number;
  /** T (checkpoints of the run) whose SOPs per sample the table shows beside T_max's. */
  sopsAt?: number[];
}

const BASE: LowerOptions = {
  divisor: 1, percentile: 99.9, perChannel: false, vInit: 0, maxpool: 'error', rsm: [], snncVersion: 'bench', recorded: {},
};

const CONFIGS: Config[] = [
  { name: 'digits_mlp, p99.9, v0=0', model: 'digits_mlp', data: 'digits', divisor: 1, T: 128, options: {} },
  { name: 'digits_mlp, p99.9, v0=θ/2', model: 'digits_mlp', data: 'digits', divisor: 1, T: 128, options: { vInit: 0.5 } },
  { name: 'fmnist_cnn_qcfs, θ=λ, v0=θ/2', model: 'fmnist_cnn_qcfs', data: 'fmnist', divisor: 255, T: 64, options: {}, sopsAt: [8, 16] },
  { name: 'fmnist_cnn_qcfs, --low-latency (signed IF)', model: 'fmnist_cnn_qcfs', data: 'fmnist', divisor: 255, T: 64, options: {}, lowLatency: true, sopsAt: [8, 16] },
  { name: 'fmnist_cnn_qcfs, signed IF, bursts ≤ 8', model: 'fmnist_cnn_qcfs', data: 'fmnist', divisor: 255, T: 64, options: { neuron: { model: 'signed-if', reset: 'subtract', burst: 8 } }, sopsAt: [8, 16] },
  { name: 'fmnist_cnn_relu, p99.9, v0=0', model: 'fmnist_cnn_relu', data: 'fmnist', divisor: 255, T: 128, options: {}, sopsAt: [32, 64] },
  { name: 'fmnist_cnn_relu, --low-latency (signed IF, p99.9 per channel, v0=θ/2)', model: 'fmnist_cnn_relu', data: 'fmnist', divisor: 255, T: 64, options: {}, lowLatency: true, sopsAt: [32] },
  { name: 'fmnist_cnn_relu, p99.9 per channel, v0 calibrated at T=32', model: 'fmnist_cnn_relu', data: 'fmnist', divisor: 255, T: 64, options: { perChannel: true }, calibratedAt: 32, sopsAt: [32] },
  { name: 'fmnist_cnn_relu, p99.9, v0=θ/2', model: 'fmnist_cnn_relu', data: 'fmnist', divisor: 255, T: 128, options: { vInit: 0.5 } },
  { name: 'fmnist_cnn_relu, p99.9 per channel, v0=θ/2', model: 'fmnist_cnn_relu', data: 'fmnist', divisor: 255, T: 128, options: { vInit: 0.5, perChannel: true } },
  { name: 'digits_mst, θ=λ, v0=θ/2', model: 'digits_mst', data: 'digits8x8', divisor: 1, T: 64, options: { vInit: 0.5 }, sopsAt: [16] },
  { name: 'digits_mst, --low-latency (signed IF)', model: 'digits_mst', data: 'digits8x8', divisor: 1, T: 64, options: {}, lowLatency: true, sopsAt: [16] },
];

const FIX = 'test/fixtures';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { limit: { type: 'string' }, only: { type: 'string' } } });
  const limit = values.limit ? Number(values.limit) : Infinity;
  const results = [];
  for (const c of CONFIGS.filter((c) => !values.only || c.name.includes(values.only))) {
    const x = readNpy(`${FIX}/${c.data}_test_x.npy`);
    const n = Math.min(limit, x.shape[0]);
    const per = x.data.length / x.shape[0];
    const raw = Float32Array.from(x.data.subarray(0, n * per) as ArrayLike<number>);
    const labels = toLabels(readNpy(`${FIX}/${c.data}_test_y.npy`)).subarray(0, n);
    const graph = loadOnnx(`${FIX}/${c.model}.onnx`);
    const annLogits = runBatched(graph, { dtype: 'float32', dims: [n, ...x.shape.slice(1)], data: raw.map((v) => v / c.divisor) });
    const calib = toFloatTensor(readNpy(`${FIX}/${c.data}_calib_x.npy`), { divisor: c.divisor });
    const choice = c.lowLatency ? lowLatencyChoice({ output: 'x.json', percentile: 99.9, maxpool: 'error', rsm: [] }) : undefined;
    const chosen: Partial<LowerOptions> = choice ? { neuron: { model: choice.model, reset: 'subtract' }, vInit: 0.5, perChannel: choice.perChannel } : {};
    const opts = { ...BASE, divisor: c.divisor, ...c.options, ...chosen, ...(c.calibratedAt !== undefined && { vInit: 0.5 }) };
    let { ir } = lower(graph, opts, (requests) => activationStats(graph, calib, requests, { percentile: opts.percentile }));
    if (c.calibratedAt !== undefined) {
      const rawCalib = readNpy(`${FIX}/${c.data}_calib_x.npy`);
      ir = await calibrateV0(ir, deficitMeasure(Float32Array.from(rawCalib.data.subarray(0, 256 * per) as ArrayLike<number>)), c.calibratedAt);
    }
    const started = Date.now();
    const r = await simulate(ir, raw, {
      T: c.T,
      labels,
      onProgress: (done, total) => process.stderr.write(`\r${c.name}: ${done}/${total}   `),
    });
    process.stderr.write('\n');
    const checkpoints = checkpointsFor(c.T);
    const sopsAt = Object.fromEntries((c.sopsAt ?? []).map((T) => [String(T), r.checkpoint_sops![checkpoints.indexOf(T)]]));
    const row = {
      name: c.name,
      date: new Date().toISOString().slice(0, 10),
      samples: n,
      T: c.T,
      ann_accuracy: accuracyOf(annLogits.data, labels),
      snn_accuracy: r.accuracy,
      sops_per_sample: r.sops_per_sample,
      ...(c.sopsAt && { sops_at: sopsAt }),
      seconds: (Date.now() - started) / 1000,
    };
    console.log(JSON.stringify(row));
    results.push(row);
  }
  mkdirSync('docs', { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  // Rows of configurations not run this time are kept, so one slow configuration can be re-run alone.
  const merged = mergeResults(results, values.limit ?? null);
  writeFileSync('docs/accuracy.json', `${JSON.stringify({ node: process.version, results: merged }, null, 1)}\n`);
  writeMarkdown(merged, date);
}

type Row = { name: string; samples: number; T: number; ann_accuracy: number; snn_accuracy: Record<string, number> | null; sops_per_sample: number; sops_at?: Record<string, number> };

function mergeResults(fresh: Row[], limit: string | null): Row[] {
  let old: Row[] = [];
  try {
    old = (JSON.parse(readFileSync('docs/accuracy.json', 'utf8')) as { results: Row[] }).results;
  } catch {
    // no earlier results
  }
  // A quick --limit run never replaces a full-test-set row.
  if (limit !== null) return old.length ? old : fresh;
  const byName = new Map(old.map((r) => [r.name, r]));
  for (const r of fresh) byName.set(r.name, r);
  return CONFIGS.map((c) => byName.get(c.name)).filter((r): r is Row => r !== undefined);
}

function writeMarkdown(results: Row[], date: string): void {
  const pct = (v: number | undefined) => (v === undefined ? '' : (100 * v).toFixed(2));
  const ts = [...new Set(results.flatMap((r) => Object.keys(r.snn_accuracy ?? {}).map(Number)))].sort((a, b) => a - b);
  const header = `| configuration | samples | ANN | ${ts.map((t) => `T=${t}`).join(' | ')} | SOPs/sample at T_max | SOPs/sample at smaller T |`;
  const rule = `|---|---:|---:|${ts.map(() => '---:').join('|')}|---:|---:|`;
  const sops = (v: number) => Math.round(v).toLocaleString('en-US');
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.samples} | ${pct(r.ann_accuracy)} | ${ts.map((t) => pct(r.snn_accuracy?.[String(t)])).join(' | ')} | ${sops(r.sops_per_sample)} | ${Object.entries(r.sops_at ?? {})
        .map(([t, v]) => `T=${t}: ${sops(v)}`)
        .join('; ')} |`,
  );
  const table = [header, rule, ...rows].join('\n');
  const file = 'docs/accuracy.md';
  const begin = '<!-- accuracy:begin -->';
  const end = '<!-- accuracy:end -->';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = `# Accuracy of the converted fixtures\n\n${begin}\n${end}\n`;
  }
  const block = `${begin}\nMeasured ${date} with \`npm run accuracy\` (accuracy in %, SNN columns from one causal run per configuration).\n\n${table}\n${end}`;
  writeFileSync(file, text.replace(new RegExp(`${begin}[\\s\\S]*${end}`), block));
}

await main();
