/**
 * Everything the HTML report shows, as plain JSON-able data: `snnc report --json` prints it, `renderReport`
 * draws it, and a test can build one by hand. No Maps, no typed arrays, no Dates, no functions.
 *
 * Units and conventions:
 * - accuracies are fractions in [0, 1] (0.891 = 89.1 %);
 * - "per sample" and "per inference" both mean one input sample run for the whole T time steps;
 * - a firing rate is spikes per neuron per time step (in [0, 1] for IF neurons that spike at most once a step);
 * - energies are in picojoules per inference.
 */
import type { ModuleStats } from '../runtime/snn/simulate.ts';

/** Where the numbers come from: the IR's provenance block plus the data the report was measured on. */
export interface ReportProvenance {
  /** The ONNX model the IR was compiled from (path as given to `snnc compile`). */
  source: string;
  /** sha256 of the ONNX file, hex. */
  sha256: string;
  /** The snnc version that compiled the IR. */
  snnc: string;
  /** The compile options, as recorded in the IR (`provenance.options`). */
  options: Record<string, unknown>;
  /** The calibration set used for thresholds, if any. */
  calibration?: { file: string; samples: number } | null;
  /** The IR file the report was made from. */
  ir?: string;
  /** The evaluation data: inputs, labels, and how many samples were run. */
  evaluation?: { input: string; labels?: string | null; samples: number } | null;
  /** The core map (from `snnc map`) the chip view was made from. */
  map?: string | null;
  /** The snnc version that made the report (may differ from the one that compiled). */
  report_snnc?: string;
  /** Simulation seed, when the simulation is stochastic (Poisson input, random v(0)). */
  seed?: number | null;
}

/** The ANN reference, run on the same samples as the SNN. */
export interface AnnStats {
  accuracy: number;
  /** Multiply-accumulates per inference (one sample). */
  macs_per_sample: number;
}

/** One spiking population (an IF node of the IR). */
export interface SnnLayerStats {
  /** The IR node id (user-controlled text: comes from the ONNX model's names). */
  id: string;
  /** Optional short kind of the layer the population follows ("conv2d", "dense", …), for display. */
  kind?: string;
  neurons: number;
  /** Firing thresholds θ over the layer's neurons (equal when the threshold is per layer); null for a readout. */
  threshold: { min: number; max: number } | null;
  /** Spikes per neuron per time step, averaged over neurons, steps and samples. */
  firing_rate: number;
  /** Spikes the layer emits per sample over the T steps. */
  spikes_per_sample: number;
  /** Synaptic operations its spikes cause downstream, per sample. */
  sops_per_sample: number;
}

/** One SNN simulation over the evaluation samples. */
export interface SnnRun {
  /** The headline number of time steps: per-layer figures are at this T. */
  T: number;
  samples: number;
  /** Accuracy after t steps, keyed by t as a decimal string ("1", "2", "4", …, String(T)). */
  accuracy_per_T: Record<string, number>;
  layers: SnnLayerStats[];
  /** Total synaptic operations per sample (sum over layers, plus input-layer events if counted). */
  sops_per_sample: number;
  /** Dense MACs that remain in the SNN per sample (analog input layer, readout): not spike-driven. */
  macs_per_sample: number;
  /** Transformers: work per sample by module under the counting rule (docs/transformers.md); absent otherwise. */
  modules?: Record<string, ModuleWork>;
}

/**
 * Work of one module (attention, mlp, other, or the total) per sample, as the simulator counts it (the fields'
 * meanings are on `ModuleStats`): the three classes of spike-triggered accumulations, their sum, analog × analog
 * MACs, softmax elements, and the energies (45 nm; the literature's convention of Spikformer/MST beside it).
 */
export type ModuleWork = Pick<
  ModuleStats,
  'sops' | 'products' | 'analog_spike_products' | 'spike_driven' | 'macs' | 'softmax_ops' | 'spike_driven_pj' | 'energy_45nm_pj' | 'literature_pj'
>;

/** Energy of one layer in one energy model, pJ per inference. */
export interface EnergyLayer {
  id: string;
  ann: number;
  snn: number;
  snn_rsm?: number | null;
}

/** One energy model (a cost table with its citation) applied to the ANN and the SNN runs. */
export interface EnergyModel {
  /** Short name, e.g. "45 nm", "Loihi", "SANA-FE Loihi". */
  name: string;
  /** Where the constants come from, e.g. "45 nm (Horowitz, ISSCC 2014)". */
  source: string;
  unit: 'pJ';
  ann_per_inference: number;
  snn_per_inference: number;
  snn_rsm_per_inference?: number | null;
  /**
   * 45 nm only: the SNN with its analog input layer evaluated once per inference instead of every step (the
   * input is constant, so a host can compute it once and hold it as a bias current, as snnc simulate does).
   */
  snn_input_once_per_inference?: number | null;
  per_layer: EnergyLayer[];
}

/** One layer's part of a core: the neurons of its slices there. */
export interface ChipCoreLayer {
  id: string;
  neurons: number;
  /** Slices of the layer on this core (usually 1). */
  slices: number;
}

/** One neuromorphic core used by the mapping. Tile coordinates are local to the core's chip. */
export interface ChipCore {
  index: number;
  chip: number;
  /** Tile on its chip: 0 ≤ tile_x < mesh.tiles_x, 0 ≤ tile_y < mesh.tiles_y. */
  tile_x: number;
  tile_y: number;
  /** Core within its tile, 0 … cores_per_tile − 1. */
  core_in_tile: number;
  /** Every layer with a slice on this core, most neurons first (cores are shared: leftover space is packed). */
  layers: ChipCoreLayer[];
  /** Fraction of each per-core limit in use, keyed by limit name ("neurons", "input axons", …). */
  use: Record<string, number>;
  /** Fraction of the binding limit used (the largest entry of `use`), in [0, 1]. */
  utilisation: number;
  /** The per-core limit that binds: the one with the largest fraction in `use`. */
  binding_limit: string;
}

export interface ChipLayer {
  id: string;
  /** Neurons of the layer on the chip. */
  neurons: number;
  /** Slices the layer was cut into. */
  slices: number;
  /** Distinct cores holding at least one slice of the layer. A core shared by several layers counts for each. */
  cores: number;
  /** Of those cores, how many also hold slices of other layers. */
  shared_cores: number;
  binding_limit: string;
  /** The layer's use of its binding limit over the cores it is on (their capacity, shared or not), in [0, 1]. */
  utilisation: number;
}

/** Spike traffic over one mesh link between neighbouring tiles. Tile coordinates are local to their chip. */
export interface ChipLink {
  /** Tile coordinates [x, y] of the two ends, each on its own chip. */
  from: [number, number];
  to: [number, number];
  /** Spikes (packets) per inference crossing the link. */
  load: number;
  /** The chip the `from` tile is on (default 0). */
  chip?: number;
  /** The chip the `to` tile is on, for a chip-to-chip link (default: `chip`). */
  to_chip?: number;
}

/** The mapped configuration on the virtual chip (present when a core map was given). */
export interface ChipView {
  /** The chip spec's name, e.g. "loihi1". */
  name: string;
  /** One chip's mesh, and the chips the map uses. */
  mesh: { tiles_x: number; tiles_y: number; cores_per_tile: number; chips: number };
  /** How chips sit on the board: chip k at column k mod chips_x, row ⌊k / chips_x⌋ (default: one row). */
  board?: { chips_x: number; chips_y: number };
  /** The per-core limits, by name, that `ChipCore.use` is a fraction of. */
  limits?: Record<string, number>;
  cores: ChipCore[];
  layers: ChipLayer[];
  links: ChipLink[];
  /** Wall time of one time step (slowest core plus barrier), ns. */
  step_latency_ns: number;
  /** Energy per inference from the chip's event table, pJ (the neuromorphic cores'). */
  energy_per_inference_pj: number;
  /** Transformers: the host nodes' share, apart from the cores' (where they ran, energy and time per inference). */
  host?: { placement: string; nodes: number; energy_pj: number; energy_share: number; latency_ns: number; latency_share: number };
}

export interface ReportData {
  /** Optional heading; defaults to the source model's file name. */
  title?: string;
  provenance: ReportProvenance;
  ann: AnnStats;
  /** The SNN run. When masks exist, this is the same IR run without them. */
  snn: SnnRun;
  /** The SNN run with the RSM masks, when the IR has masks (same samples, same T). */
  snn_rsm?: SnnRun | null;
  energy: EnergyModel[];
  chip?: ChipView | null;
  warnings: string[];
}

/** Accuracy of a run at its headline T (undefined when the run did not record it). */
export function accuracyAtT(run: SnnRun): number | undefined {
  return run.accuracy_per_T[String(run.T)];
}
