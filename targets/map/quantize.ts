/**
 * Weight quantisation to the chip's precision: every synapse weight becomes m·2^e with m a signed
 * integer mantissa of `weight_mantissa_bits` bits (8 on Loihi: −128 … 127) and e an exponent shared
 *   per-group  by the synapses of one incoming spike stream on one core (a "synapse group": Loihi keeps
 *              up to 16 synapse formats, each with its own weight exponent, per core), or
 *   per-core   by all synapses stored on one core: coarser, and costly when a core holds slices of layers
 *              whose weights differ in scale (the small ones lose their low bits, many round to zero).
 * e is the smallest integer with max|w|/2^e ≤ 2^(bits−1) − 1 over the group; m = round(w/2^e), halves
 * away from zero. Only the chip's synapses are quantised: thresholds, membranes and the host-computed
 * input currents stay as they are (the report says so). The result is a NetworkPlan with quantised
 * routes, so the functional simulator and the virtual chip run the same quantised network.
 *
 * Nothing here lists synapses. A conv route's synapses into one core are, per output position, a run of
 * output channels on that core times the (input channel, tap) pairs that reach the position; output
 * positions with the same runs form a class, so a weight's synapses on a core are counted per class from
 * the operator: O(weights × classes + pairs × input channels), not O(synapses). Dense routes likewise, per
 * row of outputs. A quantised conv route keeps the twin's structure with a quantised weight copy per
 * *bank*: the output positions whose channels see the same exponents (one bank when the cores split a
 * layer by channels, or when their exponents agree); a position-split layer with different exponents
 * becomes one conv route per bank over that bank's positions (of a signed or burst population: one table,
 * see banksAsTable).
 */
import { SnncError } from '../../compiler/errors.ts';
import { isGraded } from '../../runtime/snn/engine.ts';
import type { NetworkPlan } from '../../runtime/snn/plan.ts';
import { type ConvRoute, convFanOut, type DenseRoute, type Fanout, fanoutOf, remapFanOut, type Route, type TableRoute, tableOf, tableRoute } from '../../runtime/snn/routes.ts';
import type { ChipSpec } from '../chip-spec.ts';

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

/** The weights a route delivers, in the layout its weight indices address. */
function weightsOf(r: Route): Float32Array {
  return r.kind === 'conv' ? r.twin.weights : r.kind === 'dense' ? r.weights : r.csr.val;
}

/**
 * A fan-out that is one explicit table is its own synapse table, zero entries included (routes.ts
 * `tableOf` hands it back as it is); in every other fan-out a zero weight is no synapse.
 */
function keepsZeros(f: Fanout): boolean {
  return f.routes.length === 1 && f.routes[0].kind === 'table';
}

/** The index in `values` of the value keyed `key`, appending `value` under a new index when the key is new. */
function idOf<T>(ids: Map<string, number>, values: T[], key: string, value: T): number {
  let id = ids.get(key);
  if (id === undefined) {
    id = values.length;
    ids.set(key, id);
    values.push(value);
  }
  return id;
}

/** Channel runs of one class of lines: [lo, hi) on `core`. */
type Runs = Array<[lo: number, hi: number, core: number]>;

/**
 * Lines of targets (a conv's output positions, a dense route's rows), each `length` long (channels,
 * outputs), cut into runs of equal core; lines with the same runs share a class.
 */
function lineClasses(lines: number, length: number, coreAt: (line: number, k: number) => number): { classOf: Int32Array; runs: Runs[] } {
  const classOf = new Int32Array(lines);
  const ids = new Map<string, number>();
  const runs: Runs[] = [];
  for (let l = 0; l < lines; l++) {
    const list: Runs = [];
    let key = '';
    let lo = 0;
    let core = coreAt(l, 0);
    for (let k = 1; k <= length; k++) {
      const c = k < length ? coreAt(l, k) : -1;
      if (c === core) continue;
      list.push([lo, k, core]);
      key += `${lo}:${core} `;
      lo = k;
      core = c;
    }
    classOf[l] = idOf(ids, runs, key, list);
  }
  return { classOf, runs };
}

/** Source elements a prefix maps onto each of `size` elements (each its own synapses); 1 each without a remap. */
function sourcesPer(remap: Int32Array | null, size: number): Float64Array {
  const n = new Float64Array(size);
  if (!remap) return n.fill(1);
  for (const m of remap) if (m >= 0) n[m]++;
  return n;
}

/**
 * Sums per (channels [lo, hi), core) cell the synapse counts of the classes whose runs include it:
 * cells in first-seen order, each with its counts per weight row.
 */
function cellsOf(runs: Runs[], counts: Float64Array[]): Array<{ lo: number; hi: number; core: number; count: Float64Array }> {
  const cells = new Map<string, { lo: number; hi: number; core: number; count: Float64Array }>();
  runs.forEach((list, k) => {
    for (const [lo, hi, core] of list) {
      const key = `${lo} ${hi} ${core}`;
      let cell = cells.get(key);
      if (!cell) {
        cell = { lo, hi, core, count: new Float64Array(counts[k].length) };
        cells.set(key, cell);
      }
      const from = counts[k];
      for (let j = 0; j < from.length; j++) cell.count[j] += from[j];
    }
  });
  return [...cells.values()];
}

/**
 * Visits a route's synapses as quantisation needs them, without listing them: `visit(core, index, count)`
 * once per non-zero weight (`index` into the route's weights) and core its targets are on, `count` the
 * synapses that weight makes into that core (the (source, target) pairs it joins there). `zeros`: zero
 * table entries count as synapses too (keepsZeros).
 */
function forEachWeightOnCores(r: Route, rows: number, coreOf: Int32Array, zeros: boolean, visit: (core: number, index: number, count: number) => void): void {
  if (r.kind === 'table') {
    const { rowPtr, col, val } = r.csr;
    for (let j = 0; j < rowPtr[rows]; j++) if (zeros || val[j] !== 0) visit(coreOf[col[j]], j, 1);
    return;
  }
  if (r.kind === 'dense') {
    const { inner, out, offset, weights } = r;
    const lines = r.targets / out;
    const mult = sourcesPer(r.remap, lines * inner);
    const { classOf, runs } = lineClasses(lines, out, (row, o) => coreOf[offset + row * out + o]);
    const counts = runs.map(() => new Float64Array(inner));
    for (let row = 0; row < lines; row++) {
      const n = counts[classOf[row]];
      for (let k = 0; k < inner; k++) n[k] += mult[row * inner + k];
    }
    for (const { lo, hi, core, count } of cellsOf(runs, counts)) {
      for (let k = 0; k < inner; k++) {
        const n = count[k];
        if (n === 0) continue;
        for (let o = lo; o < hi; o++) if (weights[k * out + o] !== 0) visit(core, k * out + o, n);
      }
    }
    return;
  }
  const t = r.twin;
  const { plane, outPlane, taps, cinPerGroup, coutPerGroup: cpg, cout, offset, posPtr, posOut, posTap, weights } = t;
  const cin = weights.length / (taps * cpg);
  const mult = sourcesPer(r.remap, cin * plane);
  const { classOf, runs } = lineClasses(outPlane, cout, (p, o) => coreOf[offset + o * outPlane + p]);
  // Per class of output positions: the synapses of each (input channel, tap) into one of its positions.
  const counts = runs.map(() => new Float64Array(cin * taps));
  for (let s = 0; s < plane; s++) {
    for (let q = posPtr[s]; q < posPtr[s + 1]; q++) {
      const n = counts[classOf[posOut[q]]];
      const tap = posTap[q];
      for (let c = 0; c < cin; c++) n[c * taps + tap] += mult[c * plane + s];
    }
  }
  for (const { lo, hi, core, count } of cellsOf(runs, counts)) {
    for (let c = 0; c < cin; c++) {
      // Channel c reaches only its group's output channels.
      const g0 = Math.floor(c / cinPerGroup) * cpg;
      const oLo = Math.max(lo, g0);
      const oHi = Math.min(hi, g0 + cpg);
      if (oLo >= oHi) continue;
      for (let tap = 0; tap < taps; tap++) {
        const n = count[c * taps + tap];
        if (n === 0) continue;
        const wb = (c * taps + tap) * cpg - g0;
        for (let o = oLo; o < oHi; o++) if (weights[wb + o] !== 0) visit(core, wb + o, n);
      }
    }
  }
}

/** One exponent per group, from the largest |w| among the group's synapses. */
export function chooseExponents(plan: NetworkPlan, coreOfCurrent: Int32Array, mode: QuantizeMode, spec: ChipSpec, onStream?: (done: number, total: number) => void): ExponentGroup[] {
  const bits = spec.precision.weight_mantissa_bits;
  const S = plan.streams.length;
  const groups = new Map<number, ExponentGroup>();
  plan.streams.forEach((s, si) => {
    onStream?.(si, S);
    const zeros = keepsZeros(s.fanout);
    let lastKey = -1;
    let g: ExponentGroup | undefined;
    for (const r of s.fanout.routes) {
      const w = weightsOf(r);
      forEachWeightOnCores(r, s.fanout.rows, coreOfCurrent, zeros, (core, index, count) => {
        const key = groupKey(mode, core, si, S);
        if (key !== lastKey) {
          g = groups.get(key);
          if (!g) {
            g = { core, stream: mode === 'per-core' ? null : si, exponent: 0, synapses: 0, max_abs: 0 };
            groups.set(key, g);
          }
          lastKey = key;
        }
        g!.synapses += count;
        g!.max_abs = Math.max(g!.max_abs, Math.abs(w[index]));
      });
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

/** An exponent of a core no synapse of the stream reaches: every weight delivered there is 0. */
const NONE = -Infinity;

/**
 * Banks of lines: lines whose channels see the same exponents share one. `bankOf[line]` and, per bank,
 * the exponent of each channel along the line (NONE where the core holds no group of the stream).
 */
function banksOf(classOf: Int32Array, runs: Runs[], length: number, exponentOn: (core: number) => number): { bankOf: Int32Array; exponents: Float64Array[] } {
  const ids = new Map<string, number>();
  const exponents: Float64Array[] = [];
  const bankOfClass = runs.map((list) => {
    const e = new Float64Array(length);
    let key = '';
    let last = NaN;
    for (const [lo, hi, core] of list) {
      const x = exponentOn(core);
      e.fill(x, lo, hi);
      if (x !== last) key += `${lo}:${x} `;
      last = x;
    }
    return idOf(ids, exponents, key, e);
  });
  return { bankOf: Int32Array.from(classOf, (k) => bankOfClass[k]), exponents };
}

/** A route's weights quantised with one exponent, each exponent's copy made once (a stream's cores share a few). */
function quantizedCopies(weights: Float32Array, bits: number): (exponent: number) => Float32Array {
  const copies = new Map<number, Float32Array>();
  return (e) => {
    let q = copies.get(e);
    if (!q) {
      q = new Float32Array(weights.length);
      if (e !== NONE) {
        // quantizeWeight, inlined: the same operations, so the same values.
        const hi = 2 ** (bits - 1) - 1;
        const lo = -(2 ** (bits - 1));
        const scale = 2 ** e;
        for (let j = 0; j < q.length; j++) {
          const x = weights[j] / scale;
          q[j] = Math.min(hi, Math.max(lo, Math.sign(x) * Math.round(Math.abs(x)))) * scale;
        }
      }
      copies.set(e, q);
    }
    return q;
  };
}

/**
 * A bank's quantised weights for exponents `e` (one per output channel): the copy of their one exponent, or a
 * mix in which output channel o takes its weights (the indices `forChannel(o, …)` visits) from e[o]'s copy.
 */
function mixedCopy(e: ArrayLike<number>, length: number, copy: (exponent: number) => Float32Array, forChannel: (o: number, visit: (j: number) => void) => void): Float32Array {
  const exps = Array.from(e);
  if (exps.every((x) => x === exps[0])) return copy(exps[0]);
  const q = new Float32Array(length);
  exps.forEach((exponent, o) => {
    const from = copy(exponent);
    forChannel(o, (j) => (q[j] = from[j]));
  });
  return q;
}

/** A conv route with quantised weights: one twin per bank of output positions (the positions' pairs only). */
function quantizeConv(r: ConvRoute, rows: number, coreOf: Int32Array, exponentOn: (core: number) => number, copy: (exponent: number) => Float32Array): ConvRoute[] {
  const t = r.twin;
  const { plane, outPlane, taps, cinPerGroup, coutPerGroup: cpg, cout, offset, posPtr, posOut, posTap, weights } = t;
  const cin = weights.length / (taps * cpg);
  const { classOf, runs } = lineClasses(outPlane, cout, (p, o) => coreOf[offset + o * outPlane + p]);
  const { bankOf, exponents } = banksOf(classOf, runs, cout, exponentOn);
  // Output channel o's weights: [c][tap][o within its group] over the input channels of its group.
  const quantized = exponents.map((e) =>
    mixedCopy(e, weights.length, copy, (o, visit) => {
      const g = Math.floor(o / cpg);
      for (let c = g * cinPerGroup; c < (g + 1) * cinPerGroup; c++) for (let tap = 0; tap < taps; tap++) visit((c * taps + tap) * cpg + o - g * cpg);
    }),
  );
  if (exponents.length === 1) return [{ ...r, twin: { ...t, weights: quantized[0] }, unquantized: weights }];
  return quantized.map((q, b) => {
    const ptr = new Int32Array(plane + 1);
    const out: number[] = [];
    const tap: number[] = [];
    for (let s = 0; s < plane; s++) {
      for (let k = posPtr[s]; k < posPtr[s + 1]; k++) {
        if (bankOf[posOut[k]] !== b) continue;
        out.push(posOut[k]);
        tap.push(posTap[k]);
      }
      ptr[s + 1] = out.length;
    }
    const twin = { ...t, posPtr: ptr, posOut: Int32Array.from(out), posTap: Int32Array.from(tap) };
    // Synapses counted from the unquantised weights: one rounded to 0 stays a synapse.
    const fanOut = remapFanOut(r.remap, convFanOut(twin, cin), rows);
    return { ...r, twin: { ...twin, weights: q }, fanOut, unquantized: weights };
  });
}

/** A dense route with quantised weights: one route per bank of rows (the others' source elements remapped to nothing). */
function quantizeDense(r: DenseRoute, rows: number, coreOf: Int32Array, exponentOn: (core: number) => number, copy: (exponent: number) => Float32Array): DenseRoute[] {
  const { inner, out, offset, weights } = r;
  const lines = r.targets / out;
  const { classOf, runs } = lineClasses(lines, out, (row, o) => coreOf[offset + row * out + o]);
  const { bankOf, exponents } = banksOf(classOf, runs, out, exponentOn);
  // Output o's weights: every out-th from o.
  const quantized = exponents.map((e) =>
    mixedCopy(e, weights.length, copy, (o, visit) => {
      for (let j = o; j < weights.length; j += out) visit(j);
    }),
  );
  if (exponents.length === 1) return [{ ...r, weights: quantized[0], unquantized: weights }];
  return quantized.map((q, b) => {
    const remap = new Int32Array(rows).fill(-1);
    const fanOut = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const m = r.remap ? r.remap[i] : i;
      if (m < 0 || bankOf[Math.floor(m / inner)] !== b) continue;
      remap[i] = m;
      fanOut[i] = r.fanOut[i];
    }
    return { ...r, weights: q, remap, fanOut, unquantized: weights };
  });
}

/** A table route with quantised values: its synapses only (zero entries too when `zeros`). */
function quantizeTable(r: TableRoute, rows: number, coreOf: Int32Array, exponentOn: (core: number) => number, bits: number, zeros: boolean): TableRoute {
  const quantizeTo = (w: number, e: number) => (e === NONE ? 0 : quantizeWeight(w, e, bits));
  const { rowPtr, col, val } = r.csr;
  const keep = (j: number) => zeros || val[j] !== 0;
  let n = 0;
  for (let j = 0; j < rowPtr[rows]; j++) if (keep(j)) n++;
  const ptr = new Int32Array(rows + 1);
  const c2 = new Int32Array(n);
  const q = new Float32Array(n);
  const unquantized = new Float32Array(n);
  let k = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
      if (!keep(j)) continue;
      c2[k] = col[j];
      q[k] = quantizeTo(val[j], exponentOn(coreOf[col[j]]));
      unquantized[k++] = val[j];
    }
    ptr[i + 1] = k;
  }
  return { ...tableRoute({ rowPtr: ptr, col: c2, val: q }, r.category), unquantized };
}

/**
 * Banks of one route as one table of its synapses (quantised weights, and the unquantised ones beside):
 * for signed and burst populations, whose negative spikes the simulator delivers into target regions it
 * negates once per route, so routes of one stream must not share a region. O(synapses) of that route.
 */
function banksAsTable(r: Route, banks: Route[], rows: number): TableRoute {
  const q = tableOf(fanoutOf(rows, banks));
  return { ...tableRoute(q, r.category), unquantized: tableOf(fanoutOf(rows, [r])).val };
}

/** The plan with every stream's routes quantised by their targets' group exponents (input routes and biases unchanged). */
export function quantizePlan(
  plan: NetworkPlan, coreOfCurrent: Int32Array, groups: ExponentGroup[], spec: ChipSpec, onStream?: (done: number, total: number) => void,
): { plan: NetworkPlan; stats: QuantizeStats } {
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
    onStream?.(si, S);
    const { rows } = s.fanout;
    const zeros = keepsZeros(s.fanout);
    const graded = isGraded(plan.pops[s.pop]);
    const groupOn = (core: number) => byKey.get(groupKey(mode, core, si, S));
    const exponentOn = (core: number) => groupOn(core)?.exponent ?? NONE;
    const routes = s.fanout.routes.flatMap((r): Route[] => {
      const w = weightsOf(r);
      const copy = quantizedCopies(w, bits);
      let lastCore = -1;
      let g: ExponentGroup | undefined;
      let qw = w;
      forEachWeightOnCores(r, rows, coreOfCurrent, zeros, (core, index, count) => {
        if (core !== lastCore) {
          g = groupOn(core);
          if (!g) throw new SnncError(`no weight exponent for a synapse of stream ${s.id} on core ${core}: the map does not match the IR`);
          // A table's entries go to many cores: quantised one by one.
          if (r.kind !== 'table') qw = copy(g.exponent);
          lastCore = core;
        }
        const q = r.kind === 'table' ? quantizeWeight(w[index], g!.exponent, bits) : qw[index];
        synapses += count;
        if (q === 0) zeroed += count;
        if (g!.max_abs > 0) {
          const rel = Math.abs(q - w[index]) / g!.max_abs;
          maxRel = Math.max(maxRel, rel);
          sumSq += count * rel * rel;
        }
      });
      if (r.kind === 'table') return [quantizeTable(r, rows, coreOfCurrent, exponentOn, bits, zeros)];
      const banks = r.kind === 'conv' ? quantizeConv(r, rows, coreOfCurrent, exponentOn, copy) : quantizeDense(r, rows, coreOfCurrent, exponentOn, copy);
      return banks.length > 1 && graded ? [banksAsTable(r, banks, rows)] : banks;
    });
    const fanout = fanoutOf(rows, routes);
    const only = routes.length === 1 ? routes[0] : null;
    return { ...s, fanout, conv: only?.kind === 'conv' && !only.remap ? only.twin : null };
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
