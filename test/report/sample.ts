/**
 * A hand-built ReportData shaped like fmnist_cnn_qcfs on loihi1, for the report tests. Options switch the
 * optional parts on and off; `layerName` replaces the first layer's id everywhere (for escaping tests).
 */
import { chipView, type ChipViewInput } from '../../cli/report-data.ts';
import type { ChipView, ReportData, SnnRun } from '../../report/types.ts';

export interface SampleOptions {
  rsm?: boolean;
  /** The chip view: true or 'single' (one loihi1), 'multi' (5 small chips), or false. */
  chip?: boolean | 'single' | 'multi';
  energy?: boolean;
  warnings?: boolean;
  layerName?: string;
  /** Append this many extra conv layers with long ONNX-style names (layout stress). */
  extraLayers?: number;
}

export function sampleReport(opts: SampleOptions = {}): ReportData {
  const { rsm = true, chip = true, energy = true, warnings = true } = opts;
  const first = opts.layerName ?? 'act1';
  const ids = [first, 'act2', 'act3', 'fc'];

  const snn: SnnRun = {
    T: 64,
    samples: 1000,
    accuracy_per_T: { '1': 0.112, '2': 0.243, '4': 0.512, '8': 0.774, '16': 0.853, '32': 0.882, '64': 0.891 },
    layers: [
      { id: ids[0]!, kind: 'conv2d', neurons: 12544, threshold: { min: 1.2086, max: 1.2086 }, firing_rate: 0.1871, spikes_per_sample: 150213.4, sops_per_sample: 10384521.2 },
      { id: ids[1]!, kind: 'conv2d', neurons: 6272, threshold: { min: 0.91, max: 2.043 }, firing_rate: 0.1123, spikes_per_sample: 45080.1, sops_per_sample: 5752004.9 },
      { id: ids[2]!, kind: 'conv2d', neurons: 3136, threshold: { min: 6.9872, max: 6.9872 }, firing_rate: 0.0921, spikes_per_sample: 18485.8, sops_per_sample: 184858.0 },
      { id: ids[3]!, kind: 'dense', neurons: 10, threshold: null, firing_rate: 0, spikes_per_sample: 0, sops_per_sample: 0 },
    ],
    sops_per_sample: 16321384.1,
    macs_per_sample: 112896,
  };
  const scale = [0.62, 0.55, 0.7, 0];
  const snnRsm: SnnRun = {
    ...snn,
    accuracy_per_T: { '1': 0.101, '2': 0.221, '4': 0.47, '8': 0.741, '16': 0.838, '32': 0.874, '64': 0.885 },
    layers: snn.layers.map((l, i) => ({
      ...l,
      firing_rate: l.firing_rate * scale[i]!,
      spikes_per_sample: l.spikes_per_sample * scale[i]!,
      sops_per_sample: l.sops_per_sample * scale[i]!,
    })),
    sops_per_sample: snn.layers.reduce((s, l, i) => s + l.sops_per_sample * scale[i]!, 0),
  };

  const annLayers = [4.5e6, 5.2e6, 1.1e6, 6.3e4];
  const energyModels: ReportData['energy'] = [
    {
      name: '45 nm',
      source: '45 nm (Horowitz, ISSCC 2014): E(MAC) = 4.6 pJ, E(AC) = 0.9 pJ',
      unit: 'pJ',
      ann_per_inference: 4.6 * 14.8e6,
      snn_per_inference: 0.9 * snn.sops_per_sample + 4.6 * snn.macs_per_sample,
      snn_rsm_per_inference: rsm ? 0.9 * snnRsm.sops_per_sample + 4.6 * snn.macs_per_sample : null,
      per_layer: ids.map((id, i) => ({
        id,
        ann: 4.6 * annLayers[i]!,
        snn: 0.9 * snn.layers[i]!.sops_per_sample + (i === 0 ? 4.6 * snn.macs_per_sample : 0),
        snn_rsm: rsm ? 0.9 * snnRsm.layers[i]!.sops_per_sample + (i === 0 ? 4.6 * snn.macs_per_sample : 0) : null,
      })),
    },
    {
      name: 'Loihi',
      source: 'Loihi event model (Davies et al., IEEE Micro 2018)',
      unit: 'pJ',
      ann_per_inference: 4.6 * 14.8e6,
      snn_per_inference: 23.6 * snn.sops_per_sample + 81 * snn.layers.reduce((s, l) => s + l.neurons * 64, 0),
      snn_rsm_per_inference: rsm ? 23.6 * snnRsm.sops_per_sample + 81 * snn.layers.reduce((s, l) => s + l.neurons * 64, 0) : null,
      per_layer: ids.map((id, i) => ({
        id,
        ann: 4.6 * annLayers[i]!,
        snn: 23.6 * snn.layers[i]!.sops_per_sample + 81 * snn.layers[i]!.neurons * 64,
        snn_rsm: rsm ? 23.6 * snnRsm.layers[i]!.sops_per_sample + 81 * snn.layers[i]!.neurons * 64 : null,
      })),
    },
    {
      name: 'SANA-FE Loihi',
      source: 'SANA-FE Loihi (Boyle et al., TCAD 2025)',
      unit: 'pJ',
      ann_per_inference: 4.6 * 14.8e6,
      snn_per_inference: 11.8 * snn.sops_per_sample + 52 * snn.layers.reduce((s, l) => s + l.neurons * 64, 0),
      snn_rsm_per_inference: rsm ? 11.8 * snnRsm.sops_per_sample + 52 * snn.layers.reduce((s, l) => s + l.neurons * 64, 0) : null,
      per_layer: ids.map((id, i) => ({
        id,
        ann: 4.6 * annLayers[i]!,
        snn: 11.8 * snn.layers[i]!.sops_per_sample + 52 * snn.layers[i]!.neurons * 64,
        snn_rsm: rsm ? 11.8 * snnRsm.layers[i]!.sops_per_sample + 52 * snn.layers[i]!.neurons * 64 : null,
      })),
    },
  ];

  const chipView = chip ? sampleChip(opts.chip === 'multi' ? 'multi' : 'single', ids) : null;

  const data: ReportData = {
    provenance: {
      source: 'test/fixtures/fmnist_cnn_qcfs.onnx',
      sha256: '3f6c2a9e0b1d4c7f8a2e5b9d0c3f6a1e4b7d0a3c6f9e2b5d8a1c4f7e0b3d6a9c',
      snnc: '0.1.0',
      options: { percentile: 99.99, per_channel: false, v_init: 'half', maxpool: 'avg', rsm: rsm ? ['act2:0.5'] : [], calib_limit: null },
      calibration: { file: 'test/fixtures/fmnist_calib_x.npy', samples: 512 },
      ir: 'out/fmnist_cnn_qcfs.snn.json',
      evaluation: { input: 'test/fixtures/fmnist_test_x.npy', labels: 'test/fixtures/fmnist_test_y.npy', samples: 1000 },
      map: chip ? 'out/fmnist_cnn_qcfs.map.json' : null,
      report_snnc: '0.1.0',
      seed: 0,
    },
    ann: { accuracy: 0.902, macs_per_sample: 14.8e6 },
    snn,
    snn_rsm: rsm ? snnRsm : null,
    energy: energy ? energyModels : [],
    chip: chipView,
    warnings: warnings ? ['act3: 0.4 % of neurons saturate (rate 1) at T = 64', 'readout fc has no spiking neurons: counted as dense MACs'] : [],
  };
  for (let k = 0; k < (opts.extraLayers ?? 0); k++) {
    const id = `/features/features.${k + 4}/conv_block/Relu_output_0`;
    const f = 1 / (k + 2);
    const layer = { id, kind: 'conv2d', neurons: 2048 + 64 * k, threshold: { min: 0.5 + 0.1 * k, max: 0.9 + 0.2 * k }, firing_rate: 0.05 + 0.01 * (k % 7), spikes_per_sample: 9000 * f, sops_per_sample: 1.2e6 * f };
    data.snn.layers.push(layer);
    data.snn_rsm?.layers.push({ ...layer, firing_rate: layer.firing_rate * 0.6, spikes_per_sample: layer.spikes_per_sample * 0.6, sops_per_sample: layer.sops_per_sample * 0.6 });
    for (const e of data.energy) e.per_layer.push({ id, ann: 2e6 * f, snn: 3e5 * f, snn_rsm: data.snn_rsm ? 2e5 * f : null });
    if (data.chip) {
      // One more core of its own, a third filled (output axons bind).
      const index = data.chip.cores.length;
      const slot = index;
      const tile = Math.floor(slot / 4) % 32;
      data.chip.cores.push({
        index,
        chip: 0,
        tile_x: tile % 8,
        tile_y: Math.floor(tile / 8),
        core_in_tile: slot % 4,
        layers: [{ id, neurons: layer.neurons >> 3, slices: 1 }],
        use: { neurons: layer.neurons / 8 / 1024, 'input axons': 0.1, 'output axons': 0.3 + 0.02 * k, 'synapse words': 0.2 },
        utilisation: 0.3 + 0.02 * k,
        binding_limit: 'output axons',
      });
      data.chip.layers.push({ id, neurons: layer.neurons >> 3, slices: 1, cores: 1, shared_cores: 0, binding_limit: 'output axons', utilisation: 0.3 + 0.02 * k });
    }
  }
  return data;
}

/** A chip's geometry and per-core limits, as a map document embeds them. */
export interface SampleSpec {
  name: string;
  tiles_x: number;
  tiles_y: number;
  cores_per_tile: number;
  chips_x: number;
  chips_y: number;
}

export const LOIHI1: SampleSpec = { name: 'loihi1', tiles_x: 8, tiles_y: 4, cores_per_tile: 4, chips_x: 8, chips_y: 4 };
/** 2 × 2 tiles of 2 cores per chip, chips 3 to a row: 33+ cores need five chips on two rows. */
export const TINY: SampleSpec = { name: 'tiny', tiles_x: 2, tiles_y: 2, cores_per_tile: 2, chips_x: 3, chips_y: 2 };

const LIMITS = { neurons: 1024, input_axons: 4096, output_axons: 4096, synapse_words: 16384 } as const;
type Limit = keyof typeof LIMITS;

/** A layer to pack: its neurons, and what each neuron costs in synapse words and axons. */
export interface SampleLayer {
  id: string;
  neurons: number;
  words_per_neuron: number;
  axons_per_neuron: number;
  /** At most this many neurons per slice, one slice per core (a layer cut smaller than a core holds). */
  max_per_slice?: number;
}

/**
 * A map document in the shape `snnc map` writes (slices, cores with chip/tile/core_in_tile on the global mesh,
 * layers with totals), packed greedily as snnc's partitioner does: a core takes neurons of a layer until one of
 * its limits is full, and the next layer continues on the same core while there is room (so cores are shared).
 * Cores take the physical slots in order, chips row-major on the board.
 */
export function sampleMapDoc(spec: SampleSpec, layers: SampleLayer[]): ChipViewInput {
  const slices: ChipViewInput['slices'] = [];
  const cores: ChipViewInput['cores'] = [];
  const perChip = spec.tiles_x * spec.tiles_y * spec.cores_per_tile;
  const newCore = () => {
    const slot = cores.length;
    const chip = Math.floor(slot / perChip);
    const inChip = slot % perChip;
    const tile = Math.floor(inChip / spec.cores_per_tile);
    const x = (chip % spec.chips_x) * spec.tiles_x + (tile % spec.tiles_x);
    const y = Math.floor(chip / spec.chips_x) * spec.tiles_y + Math.floor(tile / spec.tiles_x);
    const core = { core: slot, chip, tile: [x, y] as [number, number], core_in_tile: inChip % spec.cores_per_tile, slices: [] as number[], use: { neurons: 0, input_axons: 0, output_axons: 0, synapse_words: 0 } };
    cores.push(core);
    return core;
  };
  let core = newCore();
  const docLayers: ChipViewInput['layers'] = [];
  for (const l of layers) {
    let left = l.neurons;
    const total = { neurons: 0, input_axons: 0, output_axons: 0, synapse_words: 0 };
    const maxFrac = { neurons: 0, input_axons: 0, output_axons: 0, synapse_words: 0 };
    let count = 0;
    let binding: Limit = 'neurons';
    while (left > 0) {
      const room = Math.min(
        LIMITS.neurons - core.use.neurons,
        Math.floor((LIMITS.synapse_words - core.use.synapse_words) / l.words_per_neuron),
        Math.floor((LIMITS.output_axons - core.use.output_axons) / l.axons_per_neuron),
        l.max_per_slice ?? Number.MAX_SAFE_INTEGER,
      );
      // A layer with a slice size takes one slice per core.
      if (room < 1 || (l.max_per_slice && core.slices.some((k) => slices[k]!.layer === l.id))) {
        core = newCore();
        continue;
      }
      const n = Math.min(room, left);
      const use = { neurons: n, input_axons: Math.min(LIMITS.input_axons - core.use.input_axons, 96 + (n >> 2)), output_axons: n * l.axons_per_neuron, synapse_words: n * l.words_per_neuron };
      for (const k of Object.keys(use) as Limit[]) {
        core.use[k] += use[k];
        total[k] += use[k];
        maxFrac[k] = Math.max(maxFrac[k], use[k] / LIMITS[k]);
      }
      if (n === room) binding = use.synapse_words / LIMITS.synapse_words > use.neurons / LIMITS.neurons ? 'synapse_words' : 'neurons';
      core.slices.push(slices.length);
      slices.push({ layer: l.id, core: core.core, neurons: n });
      count++;
      left -= n;
    }
    docLayers.push({ id: l.id, neurons: l.neurons, slices: count, binding: l.neurons < 64 ? 'none' : binding, use: total, max_slice_fraction: maxFrac });
  }
  return {
    chip: {
      name: spec.name,
      mesh: { tiles_x: spec.tiles_x, tiles_y: spec.tiles_y, cores_per_tile: spec.cores_per_tile },
      board: { chips_x: spec.chips_x, chips_y: spec.chips_y, source: 'sample' },
      limits: Object.fromEntries(Object.entries(LIMITS).map(([k, value]) => [k, { value, source: 'sample' }])) as unknown as ChipViewInput['chip']['limits'],
    },
    slices,
    cores,
    layers: docLayers,
    totals: { chips: Math.ceil(cores.length / perChip) },
  };
}

/**
 * Link loads as the virtual chip reports them (global mesh coordinates): every core of a layer sends to every
 * core of the next layer along the XY route, one message per neuron of the sender's slice.
 */
export function sampleLinks(doc: ChipViewInput): Array<{ from: [number, number]; to: [number, number]; messages: number }> {
  const loads = new Map<string, number>();
  const coresOf = (id: string) => doc.cores.filter((c) => c.slices.some((s) => doc.slices[s]!.layer === id));
  for (let i = 0; i + 1 < doc.layers.length; i++) {
    const from = coresOf(doc.layers[i]!.id);
    const to = coresOf(doc.layers[i + 1]!.id);
    for (const a of from) {
      const sent = a.slices.filter((s) => doc.slices[s]!.layer === doc.layers[i]!.id).reduce((n, s) => n + doc.slices[s]!.neurons, 0) / 8;
      for (const b of to) {
        let [x, y] = a.tile;
        const hop = (nx: number, ny: number) => {
          const key = `${x},${y}>${nx},${ny}`;
          loads.set(key, (loads.get(key) ?? 0) + sent);
          [x, y] = [nx, ny];
        };
        while (x !== b.tile[0]) hop(x + Math.sign(b.tile[0] - x), y);
        while (y !== b.tile[1]) hop(x, y + Math.sign(b.tile[1] - y));
      }
    }
  }
  return [...loads]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([key, messages]) => {
      const [f, t] = key.split('>') as [string, string];
      return { from: f.split(',').map(Number) as [number, number], to: t.split(',').map(Number) as [number, number], messages: Math.round(messages * 10) / 10 };
    });
}

/** The fmnist-like layers of the sample report: act1 neuron-bound, act2 and act3 synapse-bound, a tiny readout. */
export function sampleLayers(ids: string[]): SampleLayer[] {
  return [
    { id: ids[0]!, neurons: 12544, words_per_neuron: 9, axons_per_neuron: 2 },
    { id: ids[1]!, neurons: 6272, words_per_neuron: 24, axons_per_neuron: 2 },
    { id: ids[2]!, neurons: 3136, words_per_neuron: 64, axons_per_neuron: 1, max_per_slice: 200 },
    { id: ids[3]!, neurons: 10, words_per_neuron: 90, axons_per_neuron: 1 },
  ];
}

/** The chip view of the sample layers mapped onto one loihi1 ('single') or five tiny chips ('multi'). */
export function sampleChip(kind: 'single' | 'multi', ids: string[]): ChipView {
  const doc = sampleMapDoc(kind === 'multi' ? TINY : LOIHI1, sampleLayers(ids));
  return chipView(doc, { links: sampleLinks(doc), step_latency_ns: 4120.5, energy_per_inference_pj: 2.87e7 });
}

/** A block-partitioned ResNet-sized map: `layers` layers on about `cores` loihi1 cores (8 chips for ~976). */
export function sampleLargeChip(cores = 976, layers = 34): ChipView {
  const list: SampleLayer[] = Array.from({ length: layers }, (_, i) => ({
    id: `/layer${1 + Math.floor(i / 8)}/layer${1 + Math.floor(i / 8)}.${i % 8}/relu${i % 2 ? '_1' : ''}/Relu_output_0`,
    neurons: Math.round(((cores * 1024) / layers) * (0.5 + ((i * 7) % 10) / 10) * 0.285),
    words_per_neuron: 40 + ((i * 13) % 5) * 10,
    axons_per_neuron: 1,
  }));
  const doc = sampleMapDoc(LOIHI1, list);
  return chipView(doc, { links: sampleLinks(doc), step_latency_ns: 98000, energy_per_inference_pj: 4.1e9 });
}
