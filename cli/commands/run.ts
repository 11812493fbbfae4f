/**
 * `snnc run <model.onnx> --calib c.npy --input x.npy [--labels y.npy] [--chip loihi1] [--out dir]`: what `snnc demo`
 * does for the bundled model, on the user's own. Compiles the ONNX model (the `compile` command), maps the IR onto
 * the chip (rate-weighted placement from a short profiling run; population synapses where a neuron hears more
 * sources than a core has input axons), runs the ANN, the simulator and the virtual chip on the same samples, checks
 * that the chip's spikes are the simulator's, and writes the IR, the map, `report.html` / `report.json` (with
 * labels) and `run.json` (the summary) into the output folder.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { SnncError } from '../../compiler/errors.ts';
import type { SimulationResult } from '../../runtime/snn/simulate.ts';
import type { ChipReport } from '../../targets/chip/simulate.ts';
import { createProgress, printJson, writeFileAtomic } from '../common.ts';
import { type ImageFlags, imageOptions, loadDatasetStreamed } from '../data.ts';
import { packageVersion } from '../version.ts';
import { compile } from './compile.ts';
import { profiledRates, renderSummary } from './demo.ts';
import { warnIfLimitExceeds } from './simulate.ts';

export interface RunOptions extends ImageFlags {
  calib?: string;
  input: string;
  labels?: string;
  steps: number;
  chip: string;
  out: string;
  limit?: number;
  chipLimit: number;
  inputDivisor?: number;
  maxpool: 'error' | 'avg';
  seed: number;
  json?: boolean;
}

/** Samples of the profiling run that weights the placement (as `snnc demo` and `snnc map --profile`). */
const PROFILE_SAMPLES = 64;

/** A file the run needs, checked before any work: a missing one is a one-line error, not a failure half-way. */
function requireFile(file: string, what: string): void {
  if (!existsSync(file)) throw new SnncError(`no such file (${what})`, { file });
  if (statSync(file).isDirectory()) throw new SnncError(`is a directory, expected a file (${what})`, { file });
}

function stage(n: number, text: string): void {
  process.stderr.write(`run [${n}/4] ${text}\n`);
}

/**
 * Whether the virtual chip reproduced the simulator on the samples it ran: accuracy at every T, spikes per
 * layer and synaptic operations per inference. Unquantised, the chip's spikes are the simulator's exactly.
 */
export interface ChipAgreement {
  samples: number;
  equal: boolean;
  accuracy: { simulator: Record<string, number> | null; chip: Record<string, number> | null };
  sops_per_inference: { simulator: number; chip: number };
  /** IF layers whose spikes per inference differ (empty when equal). */
  spike_mismatches: Array<{ id: string; simulator: number; chip: number }>;
}

export function chipAgreement(sim: SimulationResult, chip: ChipReport): ChipAgreement {
  // Both sides are integer counts divided by the same sample count; allow only for summation order.
  const same = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  const simSpikes = new Map(sim.layers.map((l) => [l.id, l.spikes_per_sample]));
  const spikeMismatches = chip.layers
    .filter((l) => l.kind === 'if')
    .map((l) => ({ id: l.id, simulator: simSpikes.get(l.id) ?? Number.NaN, chip: l.spikes }))
    .filter((l) => !same(l.simulator, l.chip));
  const accuracyEqual = JSON.stringify(sim.accuracy) === JSON.stringify(chip.accuracy);
  const sopsEqual = same(sim.sops_per_sample, chip.counts.synaptic_op);
  return {
    samples: chip.samples,
    equal: accuracyEqual && sopsEqual && spikeMismatches.length === 0,
    accuracy: { simulator: sim.accuracy, chip: chip.accuracy },
    sops_per_inference: { simulator: sim.sops_per_sample, chip: chip.counts.synaptic_op },
    spike_mismatches: spikeMismatches,
  };
}

export async function run(modelPath: string, options: RunOptions): Promise<void> {
  const started = performance.now();
  requireFile(modelPath, 'the ONNX model');
  if (options.calib) requireFile(options.calib, '--calib');
  requireFile(options.input, '--input');
  if (options.labels) requireFile(options.labels, '--labels');
  if (options.steps > 100_000) throw new SnncError(`-T ${options.steps}: at most 100000 time steps`);
  if (existsSync(options.out) && !statSync(options.out).isDirectory()) throw new SnncError('--out must be a folder', { file: options.out });
  const [{ loadOnnx }, { readIr, weightsFileFor }, { loadChipSpec }, mapFile, { buildPlan }, sim, chipSim, { collectReport }, { renderReport }] = await Promise.all([
    import('../../compiler/onnx/load.ts'),
    import('../../compiler/ir/io.ts'),
    import('../../targets/chip-spec.ts'),
    import('../../targets/map/map-file.ts'),
    import('../../runtime/snn/plan.ts'),
    import('../../runtime/snn/simulate.ts'),
    import('../../targets/chip/simulate.ts'),
    import('../report-data.ts'),
    import('../../report/render.ts'),
  ]);
  const spec = loadChipSpec(options.chip);

  // The data before any work: a shape or label mismatch stops the run before calibration.
  const graph = loadOnnx(modelPath);
  const outDims = graph.outputs[0]?.dims ?? [];
  const classes = outDims.length && outDims[outDims.length - 1]! > 0 ? outDims[outDims.length - 1] : undefined;
  const data = await loadDatasetStreamed({ input: options.input, labels: options.labels, limit: options.limit, classes, images: imageOptions(options) }, graph.inputs[0]!);
  warnIfLimitExceeds('--limit', options.limit, data.samples, options.input);
  const x = data.x.data as Float32Array; // raw values: the IR records the divisor
  const perSample = x.length / data.samples;

  try {
    mkdirSync(options.out, { recursive: true });
  } catch (e) {
    throw new SnncError(`cannot create the output folder (${(e as Error).message})`, { file: options.out });
  }
  const name = path.basename(modelPath).replace(/\.onnx$/i, '');
  const irFile = path.join(options.out, `${name}.snn.json`);
  const mapPath = path.join(options.out, `${name}.map.json`);
  const reportFile = path.join(options.out, 'report.html');
  const dataFile = path.join(options.out, 'report.json');
  const summaryFile = path.join(options.out, 'run.json');

  // 1. Compile, exactly as `snnc compile` with its defaults (its layer table goes to stderr).
  stage(1, `compile ${modelPath} → ${irFile}${options.calib ? ` (thresholds from ${options.calib})` : ''}`);
  await compile(modelPath, { output: irFile, calib: options.calib, inputDivisor: options.inputDivisor, percentile: 99.9, vInit: 'zero', maxpool: options.maxpool, rsm: [] });
  const ir = readIr(irFile);

  // 2. Map, placement weighted by spike rates from a short profiling run (as `snnc demo`).
  const profileSamples = Math.min(PROFILE_SAMPLES, data.samples);
  stage(2, `map onto ${spec.name} (placement profiled on ${profileSamples} samples) → ${mapPath}`);
  const rates = await profiledRates(buildPlan(ir), x.subarray(0, profileSamples * perSample), options.steps, options.seed);
  const mapProgress = await createProgress('map');
  let built: ReturnType<typeof mapFile.buildMap>;
  try {
    built = mapFile.buildMap(ir, path.basename(irFile), mapFile.sha256(readFileSync(irFile)), spec, {
      rates,
      profile: { file: options.input, samples: profileSamples, T: options.steps, seed: options.seed },
      onProgress: (_stage, d, t) => mapProgress.update(d, t),
    });
  } finally {
    mapProgress.stop();
  }
  for (const note of built.notes) process.stderr.write(`snnc: note: ${note}\n`);
  mapFile.writeMap(built.doc, mapPath);
  const loaded = mapFile.readMap(mapPath);

  // 3. ANN, simulator and virtual chip on the same samples (with labels: the report's measurements).
  const chipSamples = Math.min(options.chipLimit, data.samples);
  stage(3, `measure: ${options.labels ? 'ANN, ' : ''}simulator on ${data.samples} samples, virtual chip on ${chipSamples}, T = ${options.steps}`);
  let snn: SimulationResult;
  let chip: ChipReport;
  let report: Awaited<ReturnType<typeof collectReport>>['data'] | null = null;
  if (data.labels) {
    const measured = await collectReport({
      ir,
      irFile,
      ann: graph,
      x,
      labels: data.labels,
      samples: data.samples,
      evaluation: { input: options.input, labels: options.labels! },
      T: options.steps,
      seed: options.seed,
      map: { file: mapPath, loaded },
      chipSamples,
      snncVersion: packageVersion(),
      progress: createProgress,
    });
    report = measured.data;
    snn = measured.snn;
    chip = measured.chip!;
    if (report.ann_baseline.note) process.stderr.write(`snnc: note: ${report.ann_baseline.note}\n`);
  } else {
    const simProgress = await createProgress('simulate');
    try {
      snn = await sim.simulate(ir, x, { T: options.steps, seed: options.seed, onProgress: (d, t) => simProgress.update(d, t) });
    } finally {
      simProgress.stop();
    }
    const chipProgress = await createProgress('virtual chip');
    try {
      chip = chipSim.runChip(chipSim.configureChip(loaded), x.subarray(0, chipSamples * perSample), { T: options.steps, seed: options.seed, onProgress: (d, t) => chipProgress.update(d, t) }).report;
    } finally {
      chipProgress.stop();
    }
  }

  // 4. The chip against the simulator on the chip's samples, then the files.
  let onChipSamples = snn;
  if (chip.samples !== snn.samples) {
    const p = await createProgress('simulate (chip samples)');
    try {
      onChipSamples = await sim.simulate(ir, x.subarray(0, chip.samples * perSample), {
        T: options.steps,
        seed: options.seed,
        labels: data.labels?.subarray(0, chip.samples),
        onProgress: (d, t) => p.update(d, t),
      });
    } finally {
      p.stop();
    }
  }
  const agreement = chipAgreement(onChipSamples, chip);
  if (!agreement.equal) {
    process.stderr.write(`snnc: warning: the virtual chip's spikes differ from the simulator's on ${agreement.samples} samples (see chip_vs_simulator in ${summaryFile})\n`);
  }
  stage(4, `write ${report ? `${reportFile}, ${dataFile}, ` : ''}${summaryFile}`);
  if (report) {
    writeFileAtomic(reportFile, renderReport(report));
    writeFileAtomic(dataFile, `${JSON.stringify(report, null, 1)}\n`);
  }

  const e = chip.energy.per_inference;
  const energy = report
    ? report.energy
    : [
        { name: '45 nm', ann_per_inference: e.nm45_ann.total_pj, snn_per_inference: e.nm45_snn.total_pj },
        { name: spec.name, ann_per_inference: e.nm45_ann.total_pj, snn_per_inference: e.chip.total_pj },
      ];
  const T = String(options.steps);
  const files = {
    ir: irFile,
    weights: weightsFileFor(irFile),
    map: mapPath,
    report: report ? reportFile : null,
    data: report ? dataFile : null,
    summary: summaryFile,
  };
  const summary = {
    model: modelPath,
    input: options.input,
    labels: options.labels ?? null,
    samples: data.samples,
    T: options.steps,
    seed: options.seed,
    ann_accuracy: report ? report.ann.accuracy : null,
    ann_baseline: report ? report.ann_baseline : null,
    snn_accuracy: snn.accuracy?.[T] ?? null,
    snn_accuracy_per_T: snn.accuracy,
    sops_per_inference: snn.sops_per_sample,
    ann_macs_per_inference: report ? report.ann.macs_per_sample : chip.counts.ann_macs,
    energy_pj: Object.fromEntries(
      energy.map((m) => [m.name, { ann: m.ann_per_inference, snn: m.snn_per_inference, ...('snn_input_once_per_inference' in m && typeof m.snn_input_once_per_inference === 'number' ? { snn_input_once: m.snn_input_once_per_inference } : {}) }]),
    ),
    chip: spec.name,
    synapses: built.doc.options.synapses ?? 'discrete',
    map_notes: built.notes,
    cores: built.doc.totals.cores,
    cores_lower_bound: mapFile.layoutLowerBound(built.doc.totals.lower_bound, built.doc.options.synapses),
    chips: built.doc.totals.chips,
    chip_samples: chip.samples,
    chip_accuracy: chip.accuracy?.[T] ?? null,
    chip_accuracy_per_T: chip.accuracy,
    step_latency_ns: chip.latency.per_step_ns.mean,
    chip_energy_per_inference_pj: e.chip.total_pj,
    chip_vs_simulator: agreement,
    files,
    seconds: (performance.now() - started) / 1000,
  };
  writeFileAtomic(summaryFile, `${JSON.stringify(summary, null, 1)}\n`);
  if (options.json) printJson(summary);
  else {
    // The map's notes: why population synapses, and anything else (a readout on the host).
    const synapseNotes = built.notes.filter((n) => n.startsWith('population'));
    const otherNotes = built.notes.filter((n) => !n.startsWith('population'));
    const agreed = `${agreement.equal ? 'the same spikes, SOPs and accuracy as the simulator' : 'spikes DIFFERENT from the simulator (see run.json)'} on ${agreement.samples} samples`;
    process.stdout.write(
      renderSummary(
        { ...summary, wrote: [files.report, irFile, mapPath, files.data, summaryFile].filter((f): f is string => f !== null) },
        energy,
        { evaluated: 'samples', chip: 'samples' },
        [
          ['chip vs simulator', agreed],
          ['synapses', `${summary.synapses}${synapseNotes.length ? ` (${synapseNotes.map((n) => n.replace(/^population synapses: /, '')).join('; ')})` : ''}`],
          ...otherNotes.map((n): [string, string] => ['map', n]),
        ],
      ),
    );
  }
}
