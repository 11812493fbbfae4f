/**
 * Measures everything the HTML report shows (report/types.ts): the ANN on the same samples, the SNN with
 * and without its masks, the energy models, and — given a core map — the virtual chip. Shared by
 * `snnc report` and `snnc demo`, so both report the same numbers the same way.
 */
import type { AnnGraph } from '../compiler/graph.ts';
import { withoutMasks } from '../compiler/ir/edit.ts';
import type { SnnIr } from '../compiler/ir/types.ts';
import { runBatched } from '../runtime/ann/execute.ts';
import { evaluateIr } from '../runtime/ir/evaluate.ts';
import { ArraySource, forEachWindow, type SampleSource } from '../runtime/data/source.ts';
import { argmaxRows, countCorrect } from '../runtime/metrics.ts';
import type { ChunkResult } from '../runtime/snn/engine.ts';
import { buildPlan } from '../runtime/snn/plan.ts';
import { assemble, checkpointsFor, simulateChunks, type SimulationResult } from '../runtime/snn/simulate.ts';
import { loadChipSpec, type ChipSpec } from '../targets/chip-spec.ts';
import { configureChip, runChip, type ChipReport } from '../targets/chip/simulate.ts';
import { ann45nm, chipEnergy, linearWork, literature45nm, NM45, snn45nmWork } from '../targets/energy.ts';
import type { LoadedMap, MapCore, MapLayer, MapSlice } from '../targets/map/map-file.ts';
import type { ChipView, EnergyModel, ModuleWork, ReportData, SnnRun } from '../report/types.ts';
import type { Progress } from './common.ts';
import { scaleCheckSamples } from './data.ts';
import { inputScaleWarning, silentLayerWarnings } from '../runtime/snn/diagnose.ts';

export interface ReportInputs {
  ir: SnnIr;
  irFile: string;
  /** The ONNX model the IR came from: the ANN baseline runs on it. */
  ann: AnnGraph;
  /** Raw samples (the IR records the divisor), with labels. */
  x: Float32Array;
  labels: Int32Array;
  samples: number;
  evaluation: { input: string; labels: string };
  T: number;
  seed: number;
  map?: { file: string; loaded: LoadedMap };
  /** The virtual chip runs on the first `chipSamples` samples (it is slower than the functional simulator). */
  chipSamples: number;
  snncVersion: string;
  progress: (label: string) => Promise<Progress>;
}

/** Which network the report's ANN accuracy and MACs come from, and why (JSON field `ann_baseline`). */
export interface AnnBaseline {
  /** `onnx`: the source model as given; `converted`: the IR evaluated in floating point (see annBaseline). */
  network: 'onnx' | 'converted';
  /** Accuracy of the source ONNX model on the same samples. */
  onnx_accuracy: number;
  note: string | null;
}

export interface ReportOutputs {
  data: ReportData & { ann_baseline: AnnBaseline };
  snn: SimulationResult;
  chip: ChipReport | null;
}

async function withProgress<T>(inputs: Pick<ReportInputs, 'progress'>, label: string, run: (onProgress: (d: number, t: number) => void) => Promise<T> | T): Promise<T> {
  const p = await inputs.progress(label);
  try {
    return await run((d, t) => p.update(d, t));
  } finally {
    p.stop();
  }
}

function snnRun(r: SimulationResult, ir: SnnIr): SnnRun {
  const kindOf = new Map(ir.nodes.map((n) => [n.id, n.kind]));
  return {
    T: r.T,
    samples: r.samples,
    accuracy_per_T: r.accuracy ?? {},
    layers: r.layers.map((l) => ({
      id: l.id,
      kind: l.kind === 'output' ? (kindOf.get(l.id) ?? 'readout') : 'if',
      neurons: l.neurons,
      threshold: l.threshold ? { min: l.threshold.min, max: l.threshold.max } : null,
      firing_rate: l.firing_rate,
      spikes_per_sample: l.spikes_per_sample,
      sops_per_sample: l.sops_per_sample,
    })),
    sops_per_sample: r.sops_per_sample,
    macs_per_sample: r.macs_per_sample,
    ...(r.attention !== null ? { modules: Object.fromEntries([...Object.entries(r.modules), ['total', r.work] as const].map(([name, m]) => [name, moduleWork(m)])) } : {}),
  };
}

function moduleWork(m: SimulationResult['work']): ModuleWork {
  const { sops, products, analog_spike_products, spike_driven, macs, softmax_ops, spike_driven_pj, energy_45nm_pj, literature_pj } = m;
  return { sops, products, analog_spike_products, spike_driven, macs, softmax_ops, spike_driven_pj, energy_45nm_pj, literature_pj };
}

export async function collectReport(inputs: ReportInputs): Promise<ReportOutputs> {
  const perSample = inputs.x.length / inputs.samples;
  const chipSamples = Math.min(inputs.chipSamples, inputs.samples);
  const leading = inputs.x.subarray(0, scaleCheckSamples(inputs.samples, perSample) * perSample);
  const source = new ArraySource({ kind: 'array', name: inputs.evaluation.input, data: inputs.x, sampleShape: inputs.ir.input.shape, first: 0 });
  const measured = await measureReport(inputs, { source, from: 0, to: inputs.samples }, inputs.map ? inputs.x.subarray(0, chipSamples * perSample) : null);
  return finishReport(inputs, measured, inputScaleWarning(leading, inputs.ir.input.divisor));
}

/**
 * What the report measures on a run of samples, before anything is averaged: per-sample predictions and the
 * simulator's chunks. A shard of `snnc report` keeps these in its partial result; `finishReport` turns them
 * into the page's numbers, for one run or for merged shards alike.
 */
export interface ReportMeasurements {
  /** Argmax of the ONNX model per sample. */
  ann: Int32Array;
  /** Argmax of the converted network per sample (IR compiled with --maxpool avg), else null. */
  converted: Int32Array | null;
  snn: ChunkResult[];
  snnRsm: ChunkResult[] | null;
  /** The virtual chip on the first `chipSamples` samples of the whole run (null without a map). */
  chip: ChipReport | null;
}

/**
 * `part`: samples [from, to) of `source` (global indices), read a window at a time, so memory does not grow
 * with the run; `chipX`: the chip's samples (the run's first ones, raw), or null.
 */
export async function measureReport(
  inputs: Omit<ReportInputs, 'x' | 'labels' | 'samples'> & { labels: Int32Array },
  part: { source: SampleSource; from: number; to: number },
  chipX: Float32Array | null,
): Promise<ReportMeasurements> {
  const { ir, T, seed } = inputs;
  const masked = ir.nodes.some((n) => n.kind === 'rsm');
  const plain = masked ? withoutMasks(ir) : ir;
  const divisor = ir.input.divisor;
  const { source, from, to } = part;
  const perSample = ir.input.shape.reduce((a, b) => a * b, 1);
  const count = to - from;
  const annDims = inputs.ann.inputs[0].dims.slice(1).map((d, i) => (d > 0 ? d : ir.input.shape[i]));

  // The ANN, and for --maxpool avg the converted network, window by window: per-sample argmax.
  const ann = new Int32Array(count);
  const converted = convertedNetwork(inputs.ann, plain) ? new Int32Array(count) : null;
  await withProgress(inputs, 'ann', (onProgress) =>
    forEachWindow(source, from, to, (x, first, n) => {
      const logits = runBatched(inputs.ann, { dtype: 'float32', dims: [n, ...annDims], data: x.map((v) => v / divisor) }, { onProgress: (d) => onProgress(first - from + d, count) });
      ann.set(argmaxRows(logits.data, logits.data.length / n), first - from);
    }),
  );
  if (converted) {
    await withProgress(inputs, 'converted ANN', (onProgress) =>
      forEachWindow(source, from, to, (x, first, n) => {
        for (let s = 0; s < n; s++) {
          const out = evaluateIr(plain, x.subarray(s * perSample, (s + 1) * perSample)).get(plain.output.id)!;
          converted[first - from + s] = argmaxRows(out, out.length)[0]!;
          onProgress(first - from + s + 1, count);
        }
      }),
    );
  }

  // Masks are keyed by the global sample index (the range is in the source's indices).
  const range = { from, to };
  const run = (net: SnnIr, label: string) => withProgress(inputs, label, async (onProgress) => (await simulateChunks(buildPlan(net), source, { T, seed, range, onProgress })).chunks);
  const snn = await run(plain, 'simulate');
  const snnRsm = masked ? await run(ir, 'simulate with masks') : null;

  let chip: ChipReport | null = null;
  if (inputs.map && chipX) {
    const { loaded } = inputs.map;
    const n = chipX.length / perSample;
    chip = await withProgress(inputs, 'virtual chip', (onProgress) => runChip(configureChip(loaded), chipX, { T, seed, labels: inputs.labels.subarray(0, n), onProgress }).report);
  }
  return { ann, converted, snn, snnRsm, chip };
}

/** The page's numbers from the measurements of all `inputs.samples` samples, in sample order. */
export function finishReport(inputs: Omit<ReportInputs, 'x'>, m: ReportMeasurements, scaleWarning: string | null): ReportOutputs {
  const { ir, labels, T, seed } = inputs;
  const masked = ir.nodes.some((n) => n.kind === 'rsm');
  const plain = masked ? withoutMasks(ir) : ir;
  const accuracy = (predictions: Int32Array) => countCorrect(predictions, labels) / inputs.samples;
  const baseline = annBaseline(accuracy(m.ann), m.converted ? accuracy(m.converted) : null);
  const annAccuracy = baseline.accuracy;
  const work = linearWork(plain);
  const annMacs = work.reduce((n, w) => n + w.macs, 0);

  const checkpoints = checkpointsFor(T);
  const finish = (net: SnnIr, chunks: ChunkResult[]) =>
    assemble(buildPlan(net), chunks, inputs.samples, { T, seed: seed >>> 0, checkpoints, recordSpikes: false }, labels, 0);
  const snn = finish(plain, m.snn);
  const snnRsm = m.snnRsm ? finish(ir, m.snnRsm) : null;

  const chipReport = m.chip;
  const chipView = inputs.map && chipReport ? chipViewOf(inputs.map.loaded, chipReport) : null;
  const spec: ChipSpec | null = inputs.map && chipReport ? inputs.map.loaded.doc.chip : null;

  const energy = energyModels(plain, work, annMacs, snn, snnRsm, chipReport, spec);
  const warnings: string[] = baseline.info.note ? [baseline.info.note] : [];
  if (chipReport && chipReport.samples < inputs.samples) {
    warnings.push(`the virtual chip ran the first ${chipReport.samples} of the ${inputs.samples} samples; chip energy and latency are per inference over those`);
  }
  for (const l of snn.layers) {
    if (l.kind === 'if' && l.firing_rate > 0.5) warnings.push(`${l.id} fires at ${(100 * l.firing_rate).toFixed(0)} % of steps: its threshold may be too low`);
  }
  // The same warnings as `snnc simulate`: silent layers (energy figures that mean nothing), mis-scaled input.
  if (scaleWarning) warnings.push(scaleWarning);
  warnings.push(...silentLayerWarnings(snn.layers, T, inputs.samples));
  const data: ReportData & { ann_baseline: AnnBaseline } = {
    provenance: {
      ...ir.provenance,
      calibration: ir.provenance.calibration ?? null,
      ir: inputs.irFile,
      evaluation: { input: inputs.evaluation.input, labels: inputs.evaluation.labels, samples: inputs.samples },
      map: inputs.map?.file ?? null,
      report_snnc: inputs.snncVersion,
      seed: masked ? seed : null,
    },
    ann: { accuracy: annAccuracy, macs_per_sample: annMacs },
    snn: snnRun(snn, plain),
    snn_rsm: snnRsm ? snnRun(snnRsm, ir) : null,
    energy,
    chip: chipView,
    warnings,
    ann_baseline: baseline.info,
  };
  return { data, snn: snnRsm ?? snn, chip: chipReport };
}

/**
 * The ANN the SNN is measured against. Compiled with `--maxpool avg`, the SNN approximates a different network
 * from the ONNX model (average pooling where the model has MaxPool), so the baseline is the converted network
 * itself: the IR evaluated in floating point (runtime/ir/evaluate.ts: IF neurons as clip(x, 0, θ), the rate
 * they converge to). Otherwise it is the ONNX model. Either way the ONNX model's accuracy is kept.
 */
function annBaseline(onnxAccuracy: number, convertedAccuracy: number | null): { accuracy: number; info: AnnBaseline } {
  if (convertedAccuracy === null) return { accuracy: onnxAccuracy, info: { network: 'onnx', onnx_accuracy: onnxAccuracy, note: null } };
  const accuracy = convertedAccuracy;
  const pct = (a: number) => `${(100 * a).toFixed(2)} %`;
  const note =
    `ANN baseline ${pct(accuracy)} is the converted network (compiled with --maxpool avg: MaxPool replaced by average pooling, activations clipped at θ), ` +
    `evaluated in floating point; the ONNX model with MaxPool scores ${pct(onnxAccuracy)} on the same samples`;
  return { accuracy, info: { network: 'converted', onnx_accuracy: onnxAccuracy, note } };
}

/** Whether the baseline is the converted network: the IR was compiled with --maxpool avg from a model with MaxPool. */
function convertedNetwork(ann: AnnGraph, ir: SnnIr): boolean {
  return ir.provenance.options.maxpool === 'avg' && ann.nodes.some((n) => n.op === 'MaxPool');
}

/**
 * Energy per inference in each model. The ANN baseline is always the 45 nm MAC count (an ANN does not run on
 * a spiking chip); per layer, work is charged to the layer that receives it (the synapses belong to it).
 */
function energyModels(
  ir: SnnIr,
  work: ReturnType<typeof linearWork>,
  annMacs: number,
  snn: SimulationResult,
  snnRsm: SimulationResult | null,
  chip: ChipReport | null,
  spec: ChipSpec | null,
): EnergyModel[] {
  const annPj = ann45nm(annMacs).total_pj;
  // Which layer receives each population's spikes: the reader of the linear node that consumes it.
  const readerOfSource = new Map<string, string>();
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  for (const w of work) {
    for (const input of byId.get(w.node)?.inputs ?? []) if (!readerOfSource.has(input)) readerOfSource.set(input, w.layer);
  }
  const layers = [...new Set(work.map((w) => w.layer))];
  const perLayer45 = (r: SimulationResult | null) => {
    const pj = new Map<string, number>(layers.map((l) => [l, 0]));
    if (!r) return pj;
    for (const l of r.layers) {
      const reader = readerOfSource.get(l.id);
      if (reader) pj.set(reader, pj.get(reader)! + l.sops_per_sample * NM45.E_AC.value);
    }
    // The analog input layers: their MACs every step.
    const inputMacs = work.filter((w) => w.input);
    const total = inputMacs.reduce((n, w) => n + w.macs, 0);
    for (const w of inputMacs) pj.set(w.layer, pj.get(w.layer)! + (total ? (r.macs_per_sample * w.macs) / total : 0) * NM45.E_MAC.value);
    return pj;
  };
  const annPerLayer = new Map<string, number>(layers.map((l) => [l, 0]));
  for (const w of work) annPerLayer.set(w.layer, annPerLayer.get(w.layer)! + w.macs * NM45.E_MAC.value);
  const snnLayers = perLayer45(snn);
  const rsmLayers = perLayer45(snnRsm);
  const models: EnergyModel[] = [
    {
      name: '45 nm',
      source: `Horowitz, ISSCC 2014 (45 nm, 0.9 V): E_AC = ${NM45.E_AC.value} pJ per SOP, E_MAC = ${NM45.E_MAC.value} pJ`,
      unit: 'pJ',
      ann_per_inference: annPj,
      snn_per_inference: snn45nmWork(snn.work).total_pj,
      snn_rsm_per_inference: snnRsm ? snn45nmWork(snnRsm.work).total_pj : null,
      snn_input_once_per_inference: snn45nmWork({ ...snn.work, macs: snn.work.macs - snn.macs_per_sample + snn.macs_per_sample / snn.T }).total_pj,
      per_layer: layers.map((id) => ({ id, ann: annPerLayer.get(id)!, snn: snnLayers.get(id)!, snn_rsm: snnRsm ? rsmLayers.get(id)! : null })),
    },
  ];
  if (snn.attention !== null) {
    // Transformers: the figure papers report, next to the event count (docs/transformers.md says why they differ).
    models.push({
      name: '45 nm, literature convention',
      source: `Spikformer (Zhou et al., ICLR 2023) and MST (Wang et al., ICCV 2023): E_AC × firing rate of each layer's spike input × T × its dense FLOPs, q·kᵀ and attn·v included; E_AC = ${NM45.E_AC.value} pJ, E_MAC = ${NM45.E_MAC.value} pJ (Horowitz, ISSCC 2014)`,
      unit: 'pJ',
      ann_per_inference: annPj,
      snn_per_inference: literature45nm(snn.work.literature_ac, snn.work.literature_macs).total_pj,
      snn_rsm_per_inference: snnRsm ? literature45nm(snnRsm.work.literature_ac, snnRsm.work.literature_macs).total_pj : null,
      per_layer: [],
    });
  }
  if (chip && spec) {
    const specs: ChipSpec[] = [spec, ...otherPresets(spec)];
    for (const s of specs) {
      const total = chipEnergy(chip.counts, s).total_pj;
      const scale = total / Math.max(chip.energy.per_inference.chip.total_pj, 1e-30);
      // Transformers: the host nodes' operations and moved values, in this spec's host costs (targets/chip/host.ts).
      const h = chip.host_nodes;
      const proc = h ? s.host?.[h.placement === 'off-chip' ? 'off_chip' : 'embedded'] : undefined;
      const hostPj = h && proc ? h.ops * proc.op.energy_pj + (h.values_in + h.values_out) * proc.transfer.energy_pj : 0;
      models.push({
        name: s.name,
        source:
          `${s.description} — chip events counted by the virtual chip; the ANN column is the 45 nm MAC baseline` +
          (h && proc ? `; plus the host nodes on ${h.placement === 'off-chip' ? 'an off-chip host' : 'the embedded processors'} (${h.placement} costs of the spec, partly ASSUMPTIONS: ${proc.op.source}), not in the per-layer figures` : ''),
        unit: 'pJ',
        ann_per_inference: annPj,
        snn_per_inference: total + hostPj,
        snn_rsm_per_inference: null,
        // Per-layer chip energy is reported in the mapped spec's costs; other presets scale it.
        per_layer: chip.layers.map((l) => ({ id: l.id, ann: annPerLayer.get(l.id) ?? 0, snn: l.energy_pj.chip * scale })),
      });
    }
  }
  return models;
}

/** The other chip presets, so one virtual-chip run is costed in every event table we ship. */
function otherPresets(spec: ChipSpec): ChipSpec[] {
  const names = spec.name === 'loihi1' ? ['loihi1-sanafe'] : spec.name === 'loihi1-sanafe' ? ['loihi1'] : [];
  return names.map((n) => loadChipSpec(n));
}

/** What the chip view reads from a map document (a MapDocument is one). */
export interface ChipViewInput {
  chip: Pick<ChipSpec, 'name' | 'limits'> & { board: NonNullable<ChipSpec['board']>; mesh: Pick<ChipSpec['mesh'], 'tiles_x' | 'tiles_y' | 'cores_per_tile'> };
  slices: Array<Pick<MapSlice, 'layer' | 'core' | 'neurons'>>;
  cores: Array<Pick<MapCore, 'core' | 'chip' | 'tile' | 'core_in_tile' | 'slices' | 'use'>>;
  layers: Array<Pick<MapLayer, 'id' | 'neurons' | 'slices' | 'binding' | 'use' | 'max_slice_fraction'>>;
  totals: { chips: number };
}

/** What the chip view takes from a virtual-chip run: link loads (global mesh coordinates), latency, energy. */
export interface ChipRunFigures {
  links: Array<{ from: [number, number]; to: [number, number]; messages: number }>;
  step_latency_ns: number;
  energy_per_inference_pj: number;
  host?: ChipView['host'];
}

function chipViewOf(loaded: LoadedMap, chip: ChipReport): ChipView {
  const h = chip.host_nodes;
  const host = h ? { placement: h.placement, nodes: h.nodes.length, energy_pj: h.energy_pj.total, energy_share: h.energy_share, latency_ns: h.latency_ns, latency_share: h.latency_share } : undefined;
  return chipView(loaded.doc, { links: chip.links.loads, step_latency_ns: chip.latency.per_step_ns.mean, energy_per_inference_pj: chip.energy.per_inference.chip.total_pj, host });
}

/**
 * The chip view, read from the map document as it is (no mapping is recomputed): every core with the layers of
 * its slices and its use of each per-core limit; per layer its slices, the distinct cores holding it and how
 * many of those it shares; links with each end on its own chip in that chip's tile coordinates.
 */
export function chipView(doc: ChipViewInput, run: ChipRunFigures): ChipView {
  const spec = doc.chip;
  const limitNames = Object.keys(spec.limits) as (keyof typeof spec.limits)[];
  const label = (l: string) => l.replaceAll('_', ' ');
  const fraction = (use: Record<string, number>, limit: keyof typeof spec.limits, cores = 1) => use[limit] / (cores * spec.limits[limit].value);
  const { tiles_x, tiles_y } = spec.mesh;
  const chipsX = spec.board.chips_x;
  /** A tile on the global mesh → its chip and the tile's coordinates on that chip. */
  const local = (x: number, y: number) => ({ chip: Math.floor(y / tiles_y) * chipsX + Math.floor(x / tiles_x), x: x % tiles_x, y: y % tiles_y });

  const layersOfCore = new Map<number, Set<string>>();
  const cores = doc.cores.map((c) => {
    const byLayer = new Map<string, { neurons: number; slices: number }>();
    for (const i of c.slices) {
      const s = doc.slices[i];
      const e = byLayer.get(s.layer) ?? { neurons: 0, slices: 0 };
      e.neurons += s.neurons;
      e.slices += 1;
      byLayer.set(s.layer, e);
    }
    layersOfCore.set(c.core, new Set(byLayer.keys()));
    const binding = limitNames.reduce((best, l) => (fraction(c.use, l) > fraction(c.use, best) ? l : best), limitNames[0]);
    const t = local(c.tile[0], c.tile[1]);
    return {
      index: c.core,
      chip: c.chip,
      tile_x: t.x,
      tile_y: t.y,
      core_in_tile: c.core_in_tile,
      layers: [...byLayer].map(([id, e]) => ({ id, ...e })).sort((a, b) => b.neurons - a.neurons || (a.id < b.id ? -1 : 1)),
      use: Object.fromEntries(limitNames.map((l) => [label(l), fraction(c.use, l)])),
      utilisation: fraction(c.use, binding),
      binding_limit: label(binding),
    };
  });
  const coresOfLayer = new Map<string, Set<number>>();
  for (const s of doc.slices) {
    const set = coresOfLayer.get(s.layer) ?? new Set<number>();
    set.add(s.core);
    coresOfLayer.set(s.layer, set);
  }
  return {
    name: spec.name,
    mesh: { tiles_x, tiles_y, cores_per_tile: spec.mesh.cores_per_tile, chips: doc.totals.chips },
    board: { chips_x: spec.board.chips_x, chips_y: spec.board.chips_y },
    limits: Object.fromEntries(limitNames.map((l) => [label(l), spec.limits[l].value])),
    cores,
    layers: doc.layers.map((l) => {
      const held = coresOfLayer.get(l.id) ?? new Set<number>();
      return {
        id: l.id,
        neurons: l.neurons,
        slices: l.slices,
        cores: held.size,
        shared_cores: [...held].filter((c) => (layersOfCore.get(c)?.size ?? 0) > 1).length,
        binding_limit: label(l.binding),
        // The layer's use of its binding resource over the cores it is on (their whole capacity, shared or not).
        utilisation: l.binding === 'none' ? Math.max(...limitNames.map((n) => l.max_slice_fraction[n])) : fraction(l.use, l.binding, Math.max(1, held.size)),
      };
    }),
    links: run.links.map((k) => {
      const a = local(k.from[0], k.from[1]);
      const b = local(k.to[0], k.to[1]);
      return { from: [a.x, a.y] as [number, number], to: [b.x, b.y] as [number, number], load: k.messages, chip: a.chip, to_chip: b.chip };
    }),
    step_latency_ns: run.step_latency_ns,
    energy_per_inference_pj: run.energy_per_inference_pj,
    ...(run.host ? { host: run.host } : {}),
  };
}
