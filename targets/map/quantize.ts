/**
 * Weight quantisation to the chip's precision: every synapse weight becomes m·2^e with m a signed
 * integer mantissa of `weight_mantissa_bits` bits (8 on Loihi: −128 … 127) and e an exponent shared
 *   per-group  by the synapses of one incoming spike stream on one core (a "synapse group": Loihi keeps
 *              up to 16 synapse formats, each with its own weight exponent, per core), or
 *   per-core   by all synapses stored on one core: coarser, and costly when a core holds slices of layers
 *              whose weights differ in scale (the small ones lose their low bits, many round to zero).
 * e is the smallest integer with max|w|/2^e ≤ 2^(bits−1) − 1 over the group; m = round(w/2^e), halves
 * away from zero. Only the chip's synapses are quantised: thresholds, membranes and the host-computed
 * input currents stay as they are (the report says so). The result is a NetworkPlan with the quantised
 * tables, so the functional simulator and the virtual chip run the same quantised network.
 */
import { SnncError } from '../../compiler/errors.ts';
import type { NetworkPlan } from '../../runtime/snn/plan.ts';
import type { ChipSpec } from '../chip-spec.ts';
import { tableFanout, tableOf } from '../../runtime/snn/routes.ts';

export type QuantizeMode = 'per-core' | 'per-group';
export const QUANTIZE_MODES: QuantizeMode[] = ['per-core', 'per-group'];

export interface ExponentGroup {
  core: number;
  /** The plan stream of the group (per-group), or null (per-core: every stream into the core). */
  stream: number | null;
  exponent: number;
  synapses: number;
  max_abs: number;
}

export interface QuantizeStats {
  mode: QuantizeMode;
  mantissa_bits: number;
  groups: number;
  synapses: number;
  /** Synapses whose weight rounded to 0 (they stay in memory and still cost synaptic ops). */
  zeroed: number;
  /** max |w_q − w| / max |w| of the group, over groups. */
  max_relative_error: number;
  /** Root mean square of (w_q − w) / max |w of its group|. */
  rms_relative_error: number;
}

/** m·2^e, m = round(w/2^e) (halves away from zero) clamped to the signed mantissa range. */
export function quantizeWeight(w: number, exponent: number, bits: number): number {
  const hi = 2 ** (bits - 1) - 1;
  const lo = -(2 ** (bits - 1));
  const x = w / 2 ** exponent;
  const m = Math.min(hi, Math.max(lo, Math.sign(x) * Math.round(Math.abs(x))));
  return Math.fround(m * 2 ** exponent);
}

/** The smallest e with maxAbs / 2^e ≤ 2^(bits−1) − 1. */
export function exponentFor(maxAbs: number, bits: number): number {
  if (!(maxAbs > 0)) return 0;
  const hi = 2 ** (bits - 1) - 1;
  let e = Math.ceil(Math.log2(maxAbs / hi));
  while (maxAbs / 2 ** e > hi) e++;
  while (maxAbs / 2 ** (e - 1) <= hi) e--;
  return e;
}

/** Group of a synapse: its target's core (per-core) or (core, stream) (per-group). */
function groupKey(mode: QuantizeMode, core: number, stream: number, streams: number): number {
  return mode === 'per-core' ? core : core * streams + stream;
}

/** One exponent per group, from the largest |w| among the group's synapses. */
export function chooseExponents(plan: NetworkPlan, coreOfCurrent: Int32Array, mode: QuantizeMode, spec: ChipSpec): ExponentGroup[] {
  const bits = spec.precision.weight_mantissa_bits;
  const S = plan.streams.length;
  const groups = new Map<number, ExponentGroup>();
  plan.streams.forEach((s, si) => {
    const { col, val } = tableOf(s.fanout);
    for (let j = 0; j < col.length; j++) {
      const core = coreOfCurrent[col[j]];
      const key = groupKey(mode, core, si, S);
      let g = groups.get(key);
      if (!g) {
        g = { core, stream: mode === 'per-core' ? null : si, exponent: 0, synapses: 0, max_abs: 0 };
        groups.set(key, g);
      }
      g.synapses++;
      g.max_abs = Math.max(g.max_abs, Math.abs(val[j]));
    }
  });
  const list = [...groups.values()].sort((a, b) => a.core - b.core || (a.stream ?? -1) - (b.stream ?? -1));
  const perCore = new Map<number, number>();
  for (const g of list) {
    g.exponent = exponentFor(g.max_abs, bits);
    perCore.set(g.core, (perCore.get(g.core) ?? 0) + 1);
  }
  const limit = spec.precision.max_exponent_groups_per_core;
  for (const [core, n] of perCore) {
    if (n > limit) throw new SnncError(`core ${core} needs ${n} synapse groups (weight exponents), more than the ${limit} of a ${spec.name} core (by ${n - limit}): use --quantize per-core`);
  }
  return list;
}

/** The plan with every stream table quantised by its group's exponent (input table and biases unchanged). */
export function quantizePlan(plan: NetworkPlan, coreOfCurrent: Int32Array, groups: ExponentGroup[], spec: ChipSpec): { plan: NetworkPlan; stats: QuantizeStats } {
  const bits = spec.precision.weight_mantissa_bits;
  const mode: QuantizeMode = groups.some((g) => g.stream !== null) ? 'per-group' : 'per-core';
  const S = plan.streams.length;
  const byKey = new Map<number, ExponentGroup>();
  for (const g of groups) byKey.set(groupKey(mode, g.core, g.stream ?? 0, S), g);
  let synapses = 0;
  let zeroed = 0;
  let maxRel = 0;
  let sumSq = 0;
  const streams = plan.streams.map((s, si) => {
    const { col, val } = tableOf(s.fanout);
    const q = new Float32Array(val.length);
    for (let j = 0; j < col.length; j++) {
      const core = coreOfCurrent[col[j]];
      const g = byKey.get(groupKey(mode, core, si, S));
      if (!g) throw new SnncError(`no weight exponent for a synapse of stream ${s.id} on core ${core}: the map does not match the IR`);
      q[j] = quantizeWeight(val[j], g.exponent, bits);
      synapses++;
      if (q[j] === 0) zeroed++;
      if (g.max_abs > 0) {
        const rel = Math.abs(q[j] - val[j]) / g.max_abs;
        maxRel = Math.max(maxRel, rel);
        sumSq += rel * rel;
      }
    }
    // The conv twin holds the unquantised weights: the quantised table is delivered from its CSR.
    const table = tableOf(s.fanout);
    return { ...s, fanout: tableFanout({ rowPtr: table.rowPtr, col: table.col, val: q }, s.fanout.category), conv: null };
  });
  return {
    plan: { ...plan, streams },
    stats: {
      mode,
      mantissa_bits: bits,
      groups: groups.length,
      synapses,
      zeroed,
      max_relative_error: maxRel,
      rms_relative_error: synapses ? Math.sqrt(sumSq / synapses) : 0,
    },
  };
}
