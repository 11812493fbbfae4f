/**
 * A hand-built ReportData shaped like fmnist_cnn_qcfs on loihi1, for the report tests. Options switch the
 * optional parts on and off; `layerName` replaces the first layer's id everywhere (for escaping tests).
 */
import type { ChipCore, ChipLink, ReportData, SnnRun } from '../../report/types.ts';

export interface SampleOptions {
  rsm?: boolean;
  chip?: boolean;
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

  // loihi1: 8 × 4 tiles of 4 cores. Layers take 13 + 7 + 4 + 1 cores, placed in a snake along the mesh.
  const perLayer: Array<[string, number, string, number]> = [
    [ids[0]!, 13, 'neurons', 0.94],
    [ids[1]!, 7, 'synapse memory', 0.87],
    [ids[2]!, 4, 'input axons', 0.78],
    [ids[3]!, 1, 'input axons', 0.77],
  ];
  const cores: ChipCore[] = [];
  let index = 0;
  perLayer.forEach(([layer, n, limit, util]) => {
    for (let k = 0; k < n; k++, index++) {
      const tile = Math.floor(index / 4);
      const ty = Math.floor(tile / 8);
      const tx = ty % 2 === 0 ? tile % 8 : 7 - (tile % 8);
      // The last core of a layer holds the remainder: lower utilisation.
      cores.push({ index, tile_x: tx, tile_y: ty, chip: 0, layer, utilisation: k === n - 1 ? util * 0.4 : util - 0.02 * (k % 3), binding_limit: limit });
    }
  });
  const links: ChipLink[] = [];
  for (let t = 0; t < 6; t++) {
    const a = [t % 8, 0] as [number, number];
    const b = t === 5 ? ([5, 1] as [number, number]) : ([(t + 1) % 8, 0] as [number, number]);
    links.push({ from: a, to: b, load: Math.round(150213 / (t + 1)) });
    if (t % 2 === 0) links.push({ from: b, to: a, load: Math.round(2000 * (t + 1)) });
  }
  links.push({ from: [5, 1], to: [4, 1], load: 18485 }, { from: [4, 1], to: [4, 2], load: 0 });

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
    chip: chip
      ? {
          name: 'loihi1',
          mesh: { tiles_x: 8, tiles_y: 4, cores_per_tile: 4, chips: 1 },
          cores,
          layers: perLayer.map(([id, n, limit, util]) => ({ id, cores: n, binding_limit: limit, utilisation: util * 0.95 })),
          links,
          step_latency_ns: 4120.5,
          energy_per_inference_pj: 2.87e7,
        }
      : null,
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
      const index = data.chip.cores.length;
      const tile = Math.floor(index / 4);
      data.chip.cores.push({ index, tile_x: tile % 8, tile_y: Math.floor(tile / 8) % 4, chip: 0, layer: id, utilisation: 0.3 + 0.02 * k, binding_limit: 'output axons' });
      data.chip.layers.push({ id, cores: 1, binding_limit: 'output axons', utilisation: 0.3 + 0.02 * k });
    }
  }
  return data;
}
