/**
 * Runs of the virtual chip over contiguous ranges of samples (shards written by `snnc chip --shard`, or the
 * threads of one `snnc chip --workers n`) merged into the totals of one run: integer counts are added (exact in
 * any order), floating-point ones sample by sample in sample order from each part's per-sample subtotals, as
 * runChip adds them, so a merged run's report is bit for bit the one-run report.
 */
import { SnncError } from '../../compiler/errors.ts';
import { CATEGORIES } from '../../runtime/snn/modules.ts';
import type { EventCounts } from '../energy.ts';
import type { SampleSubtotals, Totals } from './account.ts';
import type { ChipConfig } from './configure.ts';
import { type HostCounts, hostNodeCount } from './host.ts';

/**
 * A chip part: its samples' predictions and labels, the integer event counts summed over them (exact in any
 * order), and each sample's non-integer subtotals (step times, busy times, route energies), which the merge
 * adds in sample order as one run does.
 */
export interface ChipPartialData {
  reset: 'subtract' | 'zero';
  mixed_reset: boolean;
  barrier_ns: number;
  checkpoints: number[];
  labels: number[] | null;
  predictions: number[];
  events: EventCounts;
  link_loads: Array<[number, number]>;
  layers: Record<'spike_out' | 'synaptic_op' | 'message_out' | 'neuron_active' | 'neuron_inactive', number[]>;
  cores: Record<'synaptic_op' | 'neuron_update' | 'message_out' | 'message_in', number[]>;
  masks: Array<{ dropped: number; synaptic_op: number; message: number }>;
  max_step_ns: number;
  /** Transformer maps: the host nodes' integer counts (their time is per sample, in per_sample.host_ns). */
  host: null | { ops: number[]; values_out: number[]; values_in: number; totals: Record<HostTotalsKey, number[]> };
  per_sample: Record<keyof SampleSubtotals, number[]>;
}

type HostTotalsKey = 'products' | 'analogSpike' | 'analogMacs' | 'operandSpikes' | 'softmaxOps' | 'analogOut';
const HOST_TOTALS: HostTotalsKey[] = ['products', 'analogSpike', 'analogMacs', 'operandSpikes', 'softmaxOps', 'analogOut'];

const LAYER_COUNTS = ['spike_out', 'synaptic_op', 'message_out', 'neuron_active', 'neuron_inactive'] as const;
const CORE_COUNTS = ['synaptic_op', 'neuron_update', 'message_out', 'message_in'] as const;
export const SUBTOTALS = ['ns', 'busy', 'hop_pj', 'mask_hop_pj', 'host_ns'] as const;

export function partialData(t: Totals, sub: SampleSubtotals): ChipPartialData {
  return {
    reset: t.reset,
    mixed_reset: t.mixedReset,
    barrier_ns: t.barrier,
    checkpoints: t.checkpoints,
    labels: t.opts.labels ? Array.from(t.opts.labels) : null,
    predictions: Array.from(t.allPredictions),
    events: t.events,
    link_loads: [...t.linkLoads].sort((a, b) => a[0] - b[0]),
    layers: Object.fromEntries(LAYER_COUNTS.map((k) => [k, Array.from(t.layerTotals[k])])) as ChipPartialData['layers'],
    cores: Object.fromEntries(CORE_COUNTS.map((k) => [k, Array.from(t.coreTotals[k])])) as ChipPartialData['cores'],
    masks: t.masks.map((m) => ({ dropped: m.dropped, synaptic_op: m.synaptic_op, message: m.message })),
    max_step_ns: t.maxStepNs,
    host: t.host
      ? {
          ops: Array.from(t.host.ops),
          values_out: Array.from(t.host.valuesOut),
          values_in: t.host.valuesIn,
          totals: Object.fromEntries(HOST_TOTALS.map((k) => [k, Array.from(t.host!.totals[k])])) as Record<HostTotalsKey, number[]>,
        }
      : null,
    per_sample: Object.fromEntries(SUBTOTALS.map((k) => [k, Array.from(sub[k])])) as ChipPartialData['per_sample'],
  };
}

/** One part to merge: its samples [from, to) of the whole run and its partial data (JSON as written, or in memory). */
export interface ChipPart {
  from: number;
  to: number;
  data: unknown;
  /** The part's file, named by a refusal. */
  file?: string;
}

/** What the merged run was run with: T, seed, whether it had labels, the reset override. */
export interface MergeKey {
  T: number;
  seed: number;
  labelled: boolean;
  reset: 'subtract' | 'zero' | null;
}

/**
 * The totals of one run over all the parts' samples (in order, contiguous from 0 to `samples`); a part whose
 * counts do not fit `cfg` (`mapName` in the refusal) is refused naming its file.
 */
export function mergeParts(cfg: ChipConfig, parts: ChipPart[], samples: number, key: MergeKey, mapName: string): Totals {
  const S = samples;
  const N = cfg.cores;
  const L = cfg.net.pops.length;
  const M = cfg.plan.masks.length;
  const H = hostNodeCount(cfg);
  const first = parts[0]!.data as ChipPartialData;
  const K = first.checkpoints?.length ?? 0;
  const events = chipSimEmpty(first.events);
  const linkLoads = new Map<number, number>();
  const layerTotals = Object.fromEntries([...LAYER_COUNTS, 'hop_pj'].map((k) => [k, new Float64Array(L)])) as Totals['layerTotals'];
  const coreTotals = Object.fromEntries(CORE_COUNTS.map((k) => [k, new Float64Array(N)])) as Totals['coreTotals'];
  const busy = new Float64Array(N);
  const masks = Array.from({ length: M }, () => ({ dropped: 0, synaptic_op: 0, message: 0, hop_pj: 0 }));
  const host: HostCounts | null = cfg.host
    ? { ops: new Float64Array(H), valuesOut: new Float64Array(H), ns: new Float64Array(H), valuesIn: 0, totals: Object.fromEntries(HOST_TOTALS.map((k) => [k, new Float64Array(k === 'analogOut' ? H * CATEGORIES : H)])) as HostCounts['totals'] }
    : null;
  const allPredictions = new Int32Array(S * K);
  const labels: number[] = [];
  let totalNs = 0;
  let maxStepNs = 0;
  for (const p of parts) {
    const d = p.data as ChipPartialData;
    const n = p.to - p.from;
    const sub = d?.per_sample;
    const sizes = { ns: n, busy: n * N, hop_pj: n * L, mask_hop_pj: n * M, host_ns: n * H };
    if (
      !sub ||
      !SUBTOTALS.every((k) => Array.isArray(sub[k]) && sub[k].length === sizes[k]) ||
      !Array.isArray(d.predictions) ||
      d.predictions.length !== n * K ||
      d.masks?.length !== M ||
      !LAYER_COUNTS.every((k) => d.layers?.[k]?.length === L) ||
      !CORE_COUNTS.every((k) => d.cores?.[k]?.length === N) ||
      (host !== null) !== (d.host != null) ||
      (host && !HOST_TOTALS.every((k) => d.host!.totals?.[k]?.length === host.totals[k].length))
    ) {
      throw new SnncError(`malformed chip partial (its counts do not fit ${mapName}: ${N} cores, ${L} layers, ${M} masks, ${n} samples)`, p.file ? { file: p.file } : {});
    }
    // Integer counts: exact in any order.
    for (const k of Object.keys(events) as Array<keyof EventCounts>) events[k] += d.events[k];
    for (const [id, x] of d.link_loads) linkLoads.set(id, (linkLoads.get(id) ?? 0) + x);
    for (const k of LAYER_COUNTS) d.layers[k].forEach((x, i) => (layerTotals[k][i] += x));
    for (const k of CORE_COUNTS) d.cores[k].forEach((x, i) => (coreTotals[k][i] += x));
    d.masks.forEach((m, i) => {
      masks[i]!.dropped += m.dropped;
      masks[i]!.synaptic_op += m.synaptic_op;
      masks[i]!.message += m.message;
    });
    if (host && d.host) {
      d.host.ops.forEach((x, i) => (host.ops[i] += x));
      d.host.values_out.forEach((x, i) => (host.valuesOut[i] += x));
      host.valuesIn += d.host.values_in;
      for (const k of HOST_TOTALS) d.host.totals[k].forEach((x, i) => (host.totals[k][i] += x));
    }
    allPredictions.set(d.predictions, p.from * K);
    if (d.labels) labels.push(...d.labels);
    if (d.max_step_ns > maxStepNs) maxStepNs = d.max_step_ns;
    // Non-integer sums: sample by sample, in sample order, as runChip adds them.
    for (let s = 0; s < n; s++) {
      totalNs += sub.ns[s]!;
      for (let c = 0; c < N; c++) busy[c] += sub.busy[s * N + c]!;
      for (let k = 0; k < L; k++) layerTotals.hop_pj[k] += sub.hop_pj[s * L + k]!;
      for (let k = 0; k < M; k++) masks[k]!.hop_pj += sub.mask_hop_pj[s * M + k]!;
      if (host) for (let k = 0; k < H; k++) host.ns[k] += sub.host_ns[s * H + k]!;
    }
  }
  const opts = { T: key.T, seed: key.seed, labels: key.labelled ? Int32Array.from(labels) : undefined, reset: key.reset ?? undefined };
  return {
    samples: S,
    T: key.T,
    seed: key.seed >>> 0,
    reset: first.reset,
    mixedReset: first.mixed_reset,
    opts,
    events,
    linkLoads,
    layerTotals,
    coreTotals,
    busy,
    masks,
    totalNs,
    maxStepNs,
    barrier: first.barrier_ns,
    allPredictions,
    checkpoints: first.checkpoints,
    host,
  };
}

/** Zeroed counts with the part's event names. */
function chipSimEmpty(like: EventCounts): EventCounts {
  if (!like || typeof like !== 'object') throw new SnncError('malformed chip partial (no event counts)');
  return Object.fromEntries(Object.keys(like).map((k) => [k, 0])) as unknown as EventCounts;
}

