/**
 * `snnc demo`: the main job on the bundled example, end to end. Compiles the Fashion-MNIST QCFS CNN,
 * simulates test images, maps the IR onto loihi1 (rate-weighted placement from a profiling run), runs the
 * virtual chip, writes the IR, the map and `report.html` into the output folder, and prints a short summary.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SnncError } from '../../compiler/errors.ts';
import type { EnergyModel } from '../../report/types.ts';
import type { NetworkPlan } from '../../runtime/snn/plan.ts';
import { createProgress, formatTable, printJson, writeFileAtomic } from '../common.ts';
import { loadDataset } from '../data.ts';
import { packageVersion } from '../version.ts';
import { warnIfLimitExceeds } from './simulate.ts';

export interface DemoOptions {
  out: string;
  samples: number;
  steps: number;
  chipSamples: number;
  seed: number;
  json?: boolean;
}

const MODEL = 'fmnist_cnn_qcfs';

export async function demo(options: DemoOptions): Promise<void> {
  const started = performance.now();
  const [{ packageRoot }, { loadOnnx }, { lower }, { writeIr }, { loadChipSpec }, mapFile, { buildPlan }, { collectReport }, { renderReport }] =
    await Promise.all([
      import('../../compiler/schema.ts'),
      import('../../compiler/onnx/load.ts'),
      import('../../compiler/lower.ts'),
      import('../../compiler/ir/io.ts'),
      import('../../targets/chip-spec.ts'),
      import('../../targets/map/map-file.ts'),
      import('../../runtime/snn/plan.ts'),
      import('../report-data.ts'),
      import('../../report/render.ts'),
    ]);
  const fixtures = path.join(packageRoot(), 'test', 'fixtures');
  const modelFile = path.join(fixtures, `${MODEL}.onnx`);
  const xFile = path.join(fixtures, 'fmnist_test_x.npy');
  const yFile = path.join(fixtures, 'fmnist_test_y.npy');
  try {
    mkdirSync(options.out, { recursive: true });
  } catch (e) {
    throw new SnncError(`cannot create the output folder (${(e as Error).message})`, { file: options.out });
  }
  const irFile = path.join(options.out, `${MODEL}.snn.json`);
  const mapPath = path.join(options.out, `${MODEL}.map.json`);
  const reportFile = path.join(options.out, 'report.html');

  // 1. Compile: QCFS thresholds come from the model, no calibration set needed.
  const graph = loadOnnx(modelFile);
  const recorded = { input_divisor: 255, rsm: [], demo: true };
  const { ir } = lower(graph, { divisor: 255, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: packageVersion(), recorded });
  writeIr(ir, irFile);

  const data = loadDataset({ input: xFile, labels: yFile, limit: options.samples }, { name: ir.input.id, dims: [-1, ...ir.input.shape] });
  const x = data.x.data as Float32Array;
  warnIfLimitExceeds('--samples', options.samples, data.samples, xFile);

  // 2. Map onto loihi1, placement weighted by spike rates from a short profiling run.
  const spec = loadChipSpec('loihi1');
  const profileSamples = Math.min(64, data.samples);
  const rates = await profiledRates(buildPlan(ir), x.subarray(0, profileSamples * (x.length / data.samples)), options.steps, options.seed);
  const built = mapFile.buildMap(ir, path.basename(irFile), mapFile.sha256(readFileSync(irFile)), spec, {
    rates,
    profile: { file: xFile, samples: profileSamples, T: options.steps, seed: options.seed },
  });
  mapFile.writeMap(built.doc, mapPath);
  const loaded = mapFile.readMap(mapPath);

  // 3. ANN, SNN and virtual chip on the same samples, then the report.
  const { data: report, chip } = await collectReport({
    ir,
    irFile,
    ann: graph,
    x,
    labels: data.labels!,
    samples: data.samples,
    evaluation: { input: xFile, labels: yFile },
    T: options.steps,
    seed: options.seed,
    map: { file: mapPath, loaded },
    chipSamples: options.chipSamples,
    snncVersion: packageVersion(),
    progress: createProgress,
  });
  if (report.ann_baseline.note) process.stderr.write(`snnc: note: ${report.ann_baseline.note}\n`);
  writeFileAtomic(reportFile, renderReport(report));
  // The measured data behind the page, for scripts (the same object `snnc report --json` prints).
  writeFileAtomic(path.join(options.out, 'report.json'), `${JSON.stringify(report, null, 1)}\n`);

  const summary = {
    model: modelFile,
    samples: data.samples,
    T: options.steps,
    ann_accuracy: report.ann.accuracy,
    snn_accuracy: report.snn.accuracy_per_T[String(options.steps)],
    sops_per_inference: report.snn.sops_per_sample,
    ann_macs_per_inference: report.ann.macs_per_sample,
    energy_pj: Object.fromEntries(
      report.energy.map((m) => [m.name, { ann: m.ann_per_inference, snn: m.snn_per_inference, ...(typeof m.snn_input_once_per_inference === 'number' ? { snn_input_once: m.snn_input_once_per_inference } : {}) }]),
    ),
    cores: built.doc.totals.cores,
    cores_lower_bound: mapFile.layoutLowerBound(built.doc.totals.lower_bound, built.doc.options.synapses),
    chip_samples: chip?.samples ?? 0,
    chip_accuracy: chip?.accuracy?.[String(options.steps)] ?? null,
    step_latency_ns: chip?.latency.per_step_ns.mean ?? null,
    files: { ir: irFile, map: mapPath, report: reportFile, data: path.join(options.out, 'report.json') },
    seconds: (performance.now() - started) / 1000,
  };
  if (options.json) printJson(summary);
  else process.stdout.write(renderSummary({ ...summary, chip: spec.name, wrote: [reportFile, irFile, mapPath] }, report.energy));
}

/** pJ as µJ or nJ, as the summaries print energy. */
/** Per-neuron spike rates from a profiling run, with a progress line: they weight the placement of a map. */
export async function profiledRates(plan: NetworkPlan, x: Float32Array, T: number, seed: number): Promise<Float64Array[]> {
  const { profileRun } = await import('../../targets/map/map-file.ts');
  const progress = await createProgress('profile');
  try {
    return (await profileRun(plan, x, { T, seed, onProgress: (d, t) => progress.update(d, t) })).rates;
  } finally {
    progress.stop();
  }
}

export function energyText(pj: number): string {
  return pj >= 1e6 ? `${(pj / 1e6).toFixed(2)} µJ` : `${(pj / 1e3).toFixed(1)} nJ`;
}

/** What the end-to-end summary shows (`snnc demo`, `snnc run`). */
export interface SummaryFigures {
  samples: number;
  T: number;
  ann_accuracy: number | null;
  snn_accuracy: number | null | undefined;
  sops_per_inference: number;
  ann_macs_per_inference: number;
  /** The chip spec mapped onto. */
  chip: string;
  cores: number;
  cores_lower_bound: number;
  chip_samples: number;
  chip_accuracy: number | null;
  step_latency_ns: number | null;
  /** Output files, in the order the `wrote` line lists them. */
  wrote: string[];
  seconds: number;
}

type EnergyLine = Pick<EnergyModel, 'name' | 'ann_per_inference' | 'snn_per_inference' | 'snn_input_once_per_inference'>;

/** The summary table of an end-to-end run: accuracy, work, energy per model, cores, virtual chip, files, time. */
export function renderSummary(s: SummaryFigures, energy: readonly EnergyLine[], units = { evaluated: 'test images', chip: 'images' }, extra: string[][] = []): string {
  const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(100 * v).toFixed(2)} %`);
  const rows = [
    ['accuracy', `ANN ${pct(s.ann_accuracy)}  SNN ${pct(s.snn_accuracy)} at T = ${s.T} (${s.samples} ${units.evaluated})`],
    ['work / inference', `SNN ${(s.sops_per_inference / 1e6).toFixed(2)} M SOPs  ANN ${(s.ann_macs_per_inference / 1e6).toFixed(2)} M MACs`],
    ...energy.map((m) => [
      `energy (${m.name})`,
      `ANN ${energyText(m.ann_per_inference)}  SNN ${energyText(m.snn_per_inference)}  (${(m.snn_per_inference / m.ann_per_inference).toFixed(2)}× the ANN)` +
        (typeof m.snn_input_once_per_inference === 'number'
          ? `; input layer once per image: ${energyText(m.snn_input_once_per_inference)} (${(m.snn_input_once_per_inference / m.ann_per_inference).toFixed(2)}×)`
          : ''),
    ]),
    [`${s.chip} cores`, `${s.cores} (lower bound ${s.cores_lower_bound})`],
    ['virtual chip', `${pct(s.chip_accuracy)} on ${s.chip_samples} ${units.chip}, ${s.step_latency_ns === null ? '–' : `${(s.step_latency_ns / 1000).toFixed(2)} µs`} per time step`],
    ...extra,
    ['wrote', s.wrote.join(', ')],
    ['time', `${s.seconds.toFixed(1)} s`],
  ];
  return `${formatTable(rows)}\n`;
}
