/**
 * Energy and time models (45 nm arithmetic after Horowitz, ISSCC 2014; event tables after Davies et al. 2018 and SANA-FE). Every figure is a count times a constant, and every constant carries
 * its source, so a report can be checked by hand.
 *
 *   45 nm arithmetic (Horowitz, ISSCC 2014): E_SNN = SOPs·E_AC + MACs·E_MAC;  E_ANN = MACs·E_MAC.
 *     It ignores memory and routing, so it flatters SNNs; it is the model SNN papers (MST) report.
 *   Chip event table (chip spec `events`): Σ events · energy per event, plus the barrier per step.
 *
 * Time (the virtual chip's model; the chip runs the IR's semantics: a spike reaches the next layer in the
 * same time step, so within a step the layers run one after another, each a phase):
 *   phase  = max over the layer's cores of send time + the longest route of the phase + max over the
 *            receiving cores of receive time
 *   send   = active·t(neuron_active) + inactive·t(neuron_inactive) + spikes·t(spike_out) + messages·t(message_out)
 *   route  = hops_ew·t(hop_ew) + hops_ns·t(hop_ns) + chip crossings·t(chip_hop)
 *   receive = messages·t(message_in) + synaptic ops·t(synaptic_op)
 *   step   = Σ phases + barrier(tiles in use)
 */
import type { IfNode, IrNode, Shape, SnnIr } from '../compiler/ir/types.ts';
import { linearOp, LINEAR_KINDS } from '../runtime/snn/linear.ts';
import type { ChipSpec, EventName } from './chip-spec.ts';

export interface Constant {
  value: number;
  unit: string;
  source: string;
}

export const NM45: { E_AC: Constant; E_MAC: Constant } = {
  E_AC: { value: 0.9, unit: 'pJ', source: 'Horowitz, ISSCC 2014, 45 nm at 0.9 V: 32-bit floating-point add (one synaptic operation)' },
  E_MAC: { value: 4.6, unit: 'pJ', source: 'Horowitz, ISSCC 2014, 45 nm at 0.9 V: 32-bit floating-point multiply 3.7 pJ + add 0.9 pJ' },
};

export interface EnergyTerm {
  what: string;
  count: number;
  pj_each: number;
  pj: number;
  source: string;
}

export interface EnergyBreakdown {
  model: string;
  total_pj: number;
  terms: EnergyTerm[];
}

function breakdown(model: string, terms: Array<Omit<EnergyTerm, 'pj'>>): EnergyBreakdown {
  const full = terms.map((t) => ({ ...t, pj: t.count * t.pj_each }));
  return { model, total_pj: full.reduce((a, t) => a + t.pj, 0), terms: full };
}

/** E_SNN = SOPs·E_AC + MACs·E_MAC (45 nm). */
export function snn45nm(sops: number, macs: number): EnergyBreakdown {
  return breakdown('45 nm arithmetic, SNN (Horowitz 2014)', [
    { what: 'synaptic operations × E_AC', count: sops, pj_each: NM45.E_AC.value, source: NM45.E_AC.source },
    { what: 'analog input-layer MACs × E_MAC (recomputed every step, as snnc simulate counts them)', count: macs, pj_each: NM45.E_MAC.value, source: NM45.E_MAC.source },
  ]);
}

/**
 * The counting rule's classes (docs/transformers.md): every spike-triggered operation is an accumulation
 * (SOPs, spike-pair products, analog × spike products); only analog × analog products are MACs.
 */
export interface SpikeDrivenWork {
  sops: number;
  products: number;
  analog_spike_products: number;
  /** Analog × analog work, input layers included. */
  macs: number;
  softmax_ops: number;
}

/**
 * E_SNN with every class of the counting rule: (SOPs + spike-pair products + analog × spike products)·E_AC
 * + (MACs + softmax elements)·E_MAC. Terms a CNN does not have are left out, so its breakdown is snn45nm's.
 */
export function snn45nmWork(w: SpikeDrivenWork): EnergyBreakdown {
  const terms: Array<Omit<EnergyTerm, 'pj'>> = [
    { what: 'synaptic operations × E_AC', count: w.sops, pj_each: NM45.E_AC.value, source: NM45.E_AC.source },
  ];
  if (w.products) terms.push({ what: 'spike-pair products (spike × spike, e.g. q·kᵀ) × E_AC', count: w.products, pj_each: NM45.E_AC.value, source: NM45.E_AC.source });
  if (w.analog_spike_products) terms.push({ what: 'analog × spike products (e.g. softmax · v spikes) × E_AC', count: w.analog_spike_products, pj_each: NM45.E_AC.value, source: NM45.E_AC.source });
  terms.push({ what: 'analog × analog MACs (input layers every step, host nodes) × E_MAC', count: w.macs, pj_each: NM45.E_MAC.value, source: NM45.E_MAC.source });
  if (w.softmax_ops) terms.push({ what: 'softmax elements × E_MAC (a lower bound: an exp costs more)', count: w.softmax_ops, pj_each: NM45.E_MAC.value, source: NM45.E_MAC.source });
  return breakdown('45 nm arithmetic, SNN (Horowitz 2014)', terms);
}

/**
 * The literature's convention (Spikformer, Zhou et al., ICLR 2023; MST, Wang et al., ICCV 2023), labelled as
 * such: each layer fed by spikes costs E_AC × (firing rate of its spike input) × T × (its dense FLOPs), the
 * matmuls q·kᵀ and attn·v included; layers fed by analog values cost E_MAC per dense FLOP.
 */
export function literature45nm(ac: number, macs: number): EnergyBreakdown {
  return breakdown('45 nm, literature convention (Spikformer/MST: E_AC × input firing rate × dense FLOPs)', [
    { what: 'spike-fed layers: firing rate × T × dense FLOPs × E_AC', count: ac, pj_each: NM45.E_AC.value, source: NM45.E_AC.source },
    { what: 'analog-fed layers: dense FLOPs × E_MAC', count: macs, pj_each: NM45.E_MAC.value, source: NM45.E_MAC.source },
  ]);
}

/** E_ANN = MACs·E_MAC (45 nm): the same network run as an ANN. */
export function ann45nm(macs: number): EnergyBreakdown {
  return breakdown('45 nm arithmetic, ANN baseline (Horowitz 2014)', [{ what: 'MACs × E_MAC', count: macs, pj_each: NM45.E_MAC.value, source: NM45.E_MAC.source }]);
}

/** Counts of every chip event, plus barriers (one per time step). */
export type EventCounts = Record<EventName, number> & { barrier: number };

export function emptyEvents(): EventCounts {
  return { synaptic_op: 0, neuron_active: 0, neuron_inactive: 0, spike_out: 0, message_out: 0, message_in: 0, hop_ew: 0, hop_ns: 0, chip_hop: 0, barrier: 0 };
}

/** Σ events · energy per event from the chip spec's table. */
export function chipEnergy(counts: EventCounts, spec: ChipSpec): EnergyBreakdown {
  const events = Object.keys(spec.events) as EventName[];
  return breakdown(`${spec.name} event table`, [
    ...events.map((e) => ({ what: e, count: counts[e], pj_each: spec.events[e].energy_pj, source: spec.events[e].source })),
    { what: 'barrier', count: counts.barrier, pj_each: spec.barrier.energy_pj, source: spec.barrier.source },
  ]);
}

/** Serial time of a core's sending side in one phase: neuron updates, spikes fired, messages sent. */
export function sendNs(spec: ChipSpec, active: number, inactive: number, spikes: number, messagesOut: number): number {
  const e = spec.events;
  return active * e.neuron_active.latency_ns + inactive * e.neuron_inactive.latency_ns + spikes * e.spike_out.latency_ns + messagesOut * e.message_out.latency_ns;
}

/** Serial time of a core's receiving side in one phase: messages taken in, synaptic ops run. */
export function receiveNs(spec: ChipSpec, messagesIn: number, synapticOps: number): number {
  const e = spec.events;
  return messagesIn * e.message_in.latency_ns + synapticOps * e.synaptic_op.latency_ns;
}

export function routeNs(route: { ew: number; ns: number; chip: number }, spec: ChipSpec): number {
  const e = spec.events;
  return route.ew * e.hop_ew.latency_ns + route.ns * e.hop_ns.latency_ns + route.chip * e.chip_hop.latency_ns;
}

export function routeEnergyPj(route: { ew: number; ns: number; chip: number }, spec: ChipSpec): number {
  const e = spec.events;
  return route.ew * e.hop_ew.energy_pj + route.ns * e.hop_ns.energy_pj + route.chip * e.chip_hop.energy_pj;
}

export interface LinearWork {
  node: string;
  /** The IF population (or the readout) that reads the node's result. */
  layer: string;
  /** Dense MACs of one evaluation. */
  macs: number;
  /** Fed (through linear nodes only) by the analog input: the host evaluates it, not the chip. */
  input: boolean;
}

/**
 * Dense MACs of every linear node of the IR, charged to the layer that reads its result: the first IF
 * population (or the readout) reached by following its consumers.
 */
export function linearWork(ir: SnnIr): LinearWork[] {
  const shapes = new Map<string, Shape>([[ir.input.id, ir.input.shape]]);
  for (const n of ir.nodes) shapes.set(n.id, n.shape);
  const consumers = new Map<string, IrNode[]>();
  for (const n of ir.nodes) for (const x of n.inputs) consumers.set(x, [...(consumers.get(x) ?? []), n]);
  const readerOf = (id: string): string | undefined => {
    if (id === ir.output.id) return id;
    for (const c of consumers.get(id) ?? []) {
      if (c.kind === 'if') return (c as IfNode).id;
      if (LINEAR_KINDS.has(c.kind)) {
        const r = readerOf(c.id);
        if (r) return r;
      }
    }
    return undefined;
  };
  const fromInput = new Set<string>();
  const stack = [ir.input.id];
  while (stack.length) {
    for (const c of consumers.get(stack.pop()!) ?? []) {
      if (LINEAR_KINDS.has(c.kind) && !fromInput.has(c.id)) {
        fromInput.add(c.id);
        stack.push(c.id);
      }
    }
  }
  const out: LinearWork[] = [];
  for (const n of ir.nodes) {
    if (!LINEAR_KINDS.has(n.kind)) continue;
    const macs = linearOp(n, n.inputs.map((x) => shapes.get(x)!), ir.tensors).macs;
    out.push({ node: n.id, layer: readerOf(n.id) ?? ir.output.id, macs, input: fromInput.has(n.id) });
  }
  return out;
}
