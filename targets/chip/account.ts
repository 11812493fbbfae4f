/**
 * Accounting: turns the virtual chip's event counts into its report: energy (the chip's event table, the
 * 45 nm model, the ANN baseline), latency, per layer, per core and per link, accuracy at each checkpoint.
 */
import type { SpikeRecord } from '../../runtime/snn/engine.ts';
import { ann45nm, chipEnergy, type EnergyBreakdown, type EventCounts, linearWork, snn45nm } from '../energy.ts';
import { linkEnds } from '../map/route.ts';
import { hostNodes } from '../map/host.ts';
import type { ChipConfig } from './configure.ts';
import type { HostCounts } from './host.ts';
import type { ChipOptions } from './run.ts';

/** [core, active, inactive, spikes, messages_out, messages_in, synaptic_ops] */
export type TraceCore = [number, number, number, number, number, number, number];

export interface TracePhase {
  layer: string;
  cores: TraceCore[];
  /** [source core, destination core, messages] */
  routes: Array<[number, number, number]>;
  send_ns: number;
  route_ns: number;
  receive_ns: number;
  ns: number;
}

export interface TraceStep {
  phases: TracePhase[];
  barrier_ns: number;
  ns: number;
}

export interface ChipLayerReport {
  id: string;
  kind: 'if' | 'readout';
  neurons: number;
  cores: number;
  /** Per inference. */
  spikes: number;
  synaptic_ops_in: number;
  messages_out: number;
  neuron_active: number;
  neuron_inactive: number;
  energy_pj: { chip: number; nm45_snn: number; nm45_ann: number };
  ann_macs: number;
  host_macs: number;
}

export interface ChipCoreReport {
  core: number;
  slot: number;
  chip: number;
  tile: [number, number];
  layers: string[];
  /** Per inference. */
  busy_ns: number;
  /** busy / total run time. */
  utilisation: number;
  synaptic_ops: number;
  neuron_updates: number;
  messages_out: number;
  messages_in: number;
}

export interface ChipReport {
  chip: { name: string; description: string; clock_mhz: number; clock_source: string };
  reset: 'subtract' | 'zero';
  reset_note: string;
  quantization: null | { mode: string; mantissa_bits: number; groups: number; max_relative_error: number };
  host: string;
  /** Transformer IRs: the host nodes' share (absent without host nodes). */
  host_nodes?: ChipHostReport;
  T: number;
  samples: number;
  seed: number;
  accuracy: Record<string, number> | null;
  /** Every chip event per inference, the inputs of the energy figures. */
  counts: EventCounts & { host_macs: number; host_macs_once: number; ann_macs: number };
  energy: {
    per_inference: { chip: EnergyBreakdown; nm45_snn: EnergyBreakdown; nm45_ann: EnergyBreakdown };
    per_step_pj: { chip: number; nm45_snn: number };
  };
  latency: {
    model: string;
    per_step_ns: { mean: number; max: number };
    per_inference_ns: number;
    per_step_cycles: number;
    per_inference_cycles: number;
    barrier_ns: number;
    tiles_in_use: number;
  };
  layers: ChipLayerReport[];
  cores: ChipCoreReport[];
  busiest_core: { core: number; busy_ns: number; utilisation: number };
  links: {
    /** Link traversals per inference = spike-hops. */
    spike_hops: number;
    used: number;
    max: { from: [number, number]; to: [number, number]; messages: number } | null;
    loads: Array<{ from: [number, number]; to: [number, number]; messages: number }>;
  };
  masks: Array<{ id: string; ratio: number; spikes_dropped: number; synaptic_ops_saved: number; messages_saved: number; energy_saved_pj: { chip: number; nm45_snn: number } }>;
  seconds: number;
  trace?: TraceStep[][];
}

export interface ChipRun {
  report: ChipReport;
  /** What the report is computed from (assemble). */
  totals: Totals;
  /** With keepSubtotals: each sample's floating-point subtotals. */
  subtotals?: SampleSubtotals;
  predictions: Int32Array;
  logits: Float32Array;
  spikes?: SpikeRecord[];
}



/** Per layer over the run, by event name: synaptic_op counts the ops of messages into the layer; hop_pj the route energy of messages out of it. */
export type LayerTotals = Record<'spike_out' | 'synaptic_op' | 'message_out' | 'neuron_active' | 'neuron_inactive' | 'hop_pj', Float64Array>;
/** Per core over the run, by event name (neuron_update: active and inactive). */
export type CoreTotals = Record<'synaptic_op' | 'neuron_update' | 'message_out' | 'message_in', Float64Array>;
/** Per mask over the run: spikes dropped, and the synaptic ops, messages and route energy they did not cost. */
export interface MaskTotals {
  dropped: number;
  synaptic_op: number;
  message: number;
  hop_pj: number;
}

/**
 * Each sample's non-integer sums, [sample] or [sample × cores | layers | masks | host nodes]: the step
 * times (ns), the cores' busy time (ns), the layers' and masks' route energies (pJ), the host nodes' time (ns). The run's totals are these added in
 * sample order, from zero, so shards that keep them merge into one run's totals bit for bit (floating-point
 * addition is not associative; the integer counts need no such care).
 */
export interface SampleSubtotals {
  ns: Float64Array;
  busy: Float64Array;
  hop_pj: Float64Array;
  mask_hop_pj: Float64Array;
  host_ns: Float64Array;
}

export interface Totals {
  samples: number;
  T: number;
  seed: number;
  reset: 'subtract' | 'zero';
  /** The populations reset in different ways (no override): the note says so. */
  mixedReset: boolean;
  opts: ChipOptions;
  events: EventCounts;
  /** Messages over the run per link (the router's link ids). */
  linkLoads: Map<number, number>;
  layerTotals: LayerTotals;
  coreTotals: CoreTotals;
  busy: Float64Array;
  masks: MaskTotals[];
  totalNs: number;
  maxStepNs: number;
  barrier: number;
  allPredictions: Int32Array;
  checkpoints: number[];
  /** Host nodes' work over the run (transformers), or null. */
  host: HostCounts | null;
}

/** One constant of the host processor as the report shows it: value and source (or ASSUMPTION). */
interface HostConstant {
  energy_pj: number;
  latency_ns: number;
  source: string;
}

/**
 * The host share of a transformer run, per inference: where the host nodes ran, the spec's constants with
 * their sources, the operations and the values moved, their energy and time, and their share of the chip's.
 */
export interface ChipHostReport {
  placement: 'embedded' | 'off-chip';
  processors: { value: number; source: string };
  op: HostConstant;
  transfer: HostConstant;
  ops: number;
  values_in: number;
  values_out: number;
  energy_pj: { ops: number; transfers: number; total: number };
  latency_ns: number;
  /** Of the chip's energy and latency per inference (cores + host). */
  energy_share: number;
  latency_share: number;
  /** The simulator's counts by class (docs/transformers.md): spike-pair products, analog × spike, analog × analog, softmax elements, output entries. */
  by_class: { spike_pair_products: number; analog_spike: number; analog_macs: number; softmax_ops: number; output_entries: number; readout_ops: number };
  nodes: Array<{ id: string; kind: 'matmul' | 'softmax' | 'readout'; ops: number; values_out: number; latency_ns: number }>;
}

export function assemble(cfg: ChipConfig, r: Totals, start: number, trace?: TraceStep[][]): ChipReport {
  const { spec, plan, net, cores: N } = cfg;
  const S = r.samples;
  const ev = spec.events;

  const links = r.linkLoads;
  const perInference = (x: number) => x / S;
  const counts = Object.fromEntries(Object.entries(r.events).map(([k, x]) => [k, perInference(x)])) as EventCounts;
  const work = linearWork(cfg.ir);
  const hostOnce = work.filter((w) => w.input).reduce((a, w) => a + w.macs, 0);
  const annMacs = work.reduce((a, w) => a + w.macs, 0);
  const hostMacs = plan.macsPerStep * r.T;
  const chip = chipEnergy(counts, spec);
  const snn = snn45nm(counts.synaptic_op, hostMacs);
  const ann = ann45nm(annMacs);

  let accuracy: Record<string, number> | null = null;
  const labels = r.opts.labels;
  if (labels) {
    accuracy = {};
    const K = r.checkpoints.length;
    r.checkpoints.forEach((t, k) => {
      let correct = 0;
      for (let s = 0; s < S; s++) if (r.allPredictions[s * K + k] === labels[s]) correct++;
      accuracy![String(t)] = correct / S;
    });
  }

  const lt = r.layerTotals;
  const layers: ChipLayerReport[] = net.pops.map((pop, k) => {
    const layerAnn = work.filter((w) => w.layer === pop.id).reduce((a, w) => a + w.macs, 0);
    const layerHost = work.filter((w) => w.layer === pop.id && w.input).reduce((a, w) => a + w.macs, 0);
    const pj =
      (lt.synaptic_op[k] * ev.synaptic_op.energy_pj +
        lt.neuron_active[k] * ev.neuron_active.energy_pj +
        lt.neuron_inactive[k] * ev.neuron_inactive.energy_pj +
        lt.spike_out[k] * ev.spike_out.energy_pj +
        lt.message_out[k] * (ev.message_out.energy_pj + ev.message_in.energy_pj) +
        lt.hop_pj[k]) /
      S;
    return {
      id: pop.id,
      kind: pop.kind,
      neurons: pop.size,
      cores: cfg.layerCores[k].length,
      spikes: lt.spike_out[k] / S,
      synaptic_ops_in: lt.synaptic_op[k] / S,
      messages_out: lt.message_out[k] / S,
      neuron_active: lt.neuron_active[k] / S,
      neuron_inactive: lt.neuron_inactive[k] / S,
      energy_pj: {
        chip: pj,
        nm45_snn: (lt.synaptic_op[k] / S) * snn.terms[0].pj_each + layerHost * r.T * snn.terms[1].pj_each,
        nm45_ann: layerAnn * ann.terms[0].pj_each,
      },
      ann_macs: layerAnn,
      host_macs: layerHost * r.T,
    };
  });

  const coreReports: ChipCoreReport[] = Array.from({ length: N }, (_, c) => {
    const p = cfg.positions[c];
    return {
      core: c,
      slot: p.slot,
      chip: p.chip,
      tile: [p.x, p.y],
      layers: net.pops.filter((_, k) => cfg.layerNeuronsOnCore[k].has(c)).map((q) => q.id),
      busy_ns: r.busy[c] / S,
      utilisation: r.totalNs > 0 ? r.busy[c] / r.totalNs : 0,
      synaptic_ops: r.coreTotals.synaptic_op[c] / S,
      neuron_updates: r.coreTotals.neuron_update[c] / S,
      messages_out: r.coreTotals.message_out[c] / S,
      messages_in: r.coreTotals.message_in[c] / S,
    };
  });
  const busiest = coreReports.reduce((a, b) => (b.busy_ns > a.busy_ns ? b : a));
  const loads = [...links]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .map(([id, n]) => ({ ...linkEnds(spec, id), messages: n / S }));
  const spikeHops = (r.events.hop_ew + r.events.hop_ns + r.events.chip_hop) / S;
  const clock = spec.clock_mhz.value;
  const perInferenceNs = r.totalNs / S;
  const hostNodes = r.host ? hostReport(cfg, r.host, S, chip.total_pj, perInferenceNs) : undefined;

  return {
    chip: { name: spec.name, description: spec.description, clock_mhz: clock, clock_source: spec.clock_mhz.source },
    reset: r.reset,
    reset_note: r.mixedReset
      ? `reset per population as the IR specifies (by subtraction or to zero); ${spec.name}'s native neuron resets ${spec.neuron.native_reset === 'zero' ? 'to zero' : 'by subtraction'} (${spec.neuron.source})`
      : r.reset === spec.neuron.native_reset
        ? `reset to ${r.reset === 'zero' ? 'zero' : 'v − θ'}: the chip's native neuron`
        : `reset by ${r.reset === 'subtract' ? `subtraction (v − θ)${r.opts.reset && cfg.plan.pops.some((p) => p.reset !== 'subtract') ? ', overriding the IR' : ', as the IR specifies'}` : 'zeroing'}; ${spec.name}'s native neuron resets ${spec.neuron.native_reset === 'zero' ? 'to zero' : 'by subtraction'} (${spec.neuron.source})`,
    quantization: cfg.quantized
      ? { mode: cfg.quantized.mode, mantissa_bits: cfg.quantized.mantissa_bits, groups: cfg.quantized.groups.length, max_relative_error: cfg.quantized.stats.max_relative_error }
      : null,
    host: `the analog input layer (${plan.macsPerStep} MACs) runs on the host once per sample; its currents enter as compartment biases. Membranes and thresholds are float64${cfg.quantized ? '; weights quantised' : ', weights float32 as in the IR'}`,
    ...(hostNodes ? { host_nodes: hostNodes } : {}),
    T: r.T,
    samples: S,
    seed: r.seed,
    accuracy,
    counts: { ...counts, host_macs: hostMacs, host_macs_once: hostOnce, ann_macs: annMacs },
    energy: {
      per_inference: { chip, nm45_snn: snn, nm45_ann: ann },
      per_step_pj: { chip: chip.total_pj / r.T, nm45_snn: snn.total_pj / r.T },
    },
    latency: {
      model: 'per step: Σ over layers (phases) of [max over the layer’s cores of send time + longest route + max over receiving cores of receive time] + barrier (targets/energy.ts)',
      per_step_ns: { mean: perInferenceNs / r.T, max: r.maxStepNs },
      per_inference_ns: perInferenceNs,
      per_step_cycles: ((perInferenceNs / r.T) * clock) / 1000,
      per_inference_cycles: (perInferenceNs * clock) / 1000,
      barrier_ns: r.barrier,
      tiles_in_use: cfg.tilesInUse,
    },
    layers,
    cores: coreReports,
    busiest_core: { core: busiest.core, busy_ns: busiest.busy_ns, utilisation: busiest.utilisation },
    links: { spike_hops: spikeHops, used: loads.length, max: loads[0] ?? null, loads },
    masks: plan.masks.map((m, k) => {
      const mk = r.masks[k];
      return {
        id: m.id,
        ratio: m.ratio,
        spikes_dropped: mk.dropped / S,
        synaptic_ops_saved: mk.synaptic_op / S,
        messages_saved: mk.message / S,
        energy_saved_pj: {
          chip: (mk.synaptic_op * ev.synaptic_op.energy_pj + mk.message * (ev.message_out.energy_pj + ev.message_in.energy_pj) + mk.hop_pj) / S,
          nm45_snn: (mk.synaptic_op / S) * snn.terms[0].pj_each,
        },
      };
    }),
    seconds: (performance.now() - start) / 1000,
    trace,
  };
}


function hostReport(cfg: ChipConfig, h: HostCounts, S: number, corePj: number, totalNs: number): ChipHostReport {
  const { placement, processor: p } = cfg.host!;
  const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
  const ops = sum(h.ops) / S;
  const valuesOut = sum(h.valuesOut) / S;
  const valuesIn = h.valuesIn / S;
  const opsPj = ops * p.op.energy_pj;
  const transfersPj = (valuesIn + valuesOut) * p.transfer.energy_pj;
  const latency = sum(h.ns) / S;
  const t = h.totals;
  return {
    placement,
    processors: { ...p.processors },
    op: { ...p.op },
    transfer: { ...p.transfer },
    ops,
    values_in: valuesIn,
    values_out: valuesOut,
    energy_pj: { ops: opsPj, transfers: transfersPj, total: opsPj + transfersPj },
    latency_ns: latency,
    energy_share: opsPj + transfersPj > 0 ? (opsPj + transfersPj) / (corePj + opsPj + transfersPj) : 0,
    latency_share: totalNs > 0 ? latency / totalNs : 0,
    by_class: {
      spike_pair_products: sum(t.products) / S,
      analog_spike: sum(t.analogSpike) / S,
      analog_macs: sum(t.analogMacs) / S,
      softmax_ops: sum(t.softmaxOps) / S,
      output_entries: sum(t.analogOut) / S,
      readout_ops: cfg.host!.split.readout ? h.ops[h.ops.length - 1] / S : 0,
    },
    nodes: hostNodes(cfg.plan, cfg.host!.split.readout).map((a, k) => ({ id: a.id, kind: a.kind, ops: h.ops[k] / S, values_out: h.valuesOut[k] / S, latency_ns: h.ns[k] / S })),
  };
}
