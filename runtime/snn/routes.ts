/**
 * Routes: how the values of one source (a population's spikes, the analog input, an analog node's output)
 * reach one region of the flat current space, without a table of every synapse where the operator they
 * cross has structure. A source's fan-out is a list of routes to disjoint regions:
 *
 * - `conv`: through one conv2d (a compact twin, conv-table.ts: weights once per channel, tap and output
 *   channel), after an optional index-only prefix (avgpool with kernel = stride, reshape, concat, …) that
 *   maps each source element to at most one element of the conv's input with a value uniform per channel;
 * - `dense`: through one dense layer, after such a prefix, weights [in][out] scaled per input feature;
 * - `table`: an explicit CSR of composed synapses, for chains with no weighted op (their fan-out is a few
 *   entries per source) or shapes that fit no structured form.
 *
 * Every route holds exactly the composed Float32 weights the full table would (so SOP counts, spikes and
 * sums stay bit-identical), and `fanOut` counts the non-zero ones per source element: a zero composed
 * weight is no synapse. Memory is O(weights + neurons) for conv and dense routes.
 */
import type { ConvTable } from './conv-table.ts';

/** Compressed sparse rows: row i's entries are col/val[rowPtr[i] .. rowPtr[i+1]). */
export interface Csr {
  rowPtr: Int32Array;
  /** Index into the plan's flat current space. */
  col: Int32Array;
  /** Composed weight, times θ of the source neuron for spike streams. */
  val: Float32Array;
}

interface RouteBase {
  /** Work category (modules.ts) of every synapse of the route: the module and placement of its target. */
  category: number;
  /** Non-zero composed weights per source element. */
  fanOut: Int32Array;
  /**
   * A quantised copy of a route (targets/map/quantize.ts): the weights before quantisation, laid out as the
   * route's own (twin weights, dense weights, table values). Their non-zeros are the route's synapses: a
   * weight rounded to 0 stays in synapse memory and still costs its synaptic op.
   */
  unquantized?: Float32Array;
}

export interface ConvRoute extends RouteBase {
  kind: 'conv';
  twin: ConvTable;
  /** Source element → twin input element (c·plane + position), −1 when it reaches nothing; null: identity. */
  remap: Int32Array | null;
}

export interface DenseRoute extends RouteBase {
  kind: 'dense';
  /** First target in the flat current space. */
  offset: number;
  /** Input features and outputs per row; a source element m = row·inner + k reaches offset + row·out + o. */
  inner: number;
  out: number;
  /** Targets in the region: rows · out. */
  targets: number;
  /** Composed weight of feature k to output o at weights[k·out + o] (Float32 values). */
  weights: Float32Array;
  remap: Int32Array | null;
}

export interface TableRoute extends RouteBase {
  kind: 'table';
  csr: Csr;
}

export type Route = ConvRoute | DenseRoute | TableRoute;

/** A source's whole fan-out. */
export interface Fanout {
  /** Source elements. */
  rows: number;
  /** Ordered by first target: disjoint regions of the current space. */
  routes: Route[];
  /** Synapses per source element, over all routes. */
  fanOut: Int32Array;
  /** The one work category of all routes, or −1 when they differ. */
  category: number;
}

export function fanoutOf(rows: number, routes: Route[]): Fanout {
  const fanOut = new Int32Array(rows);
  for (const r of routes) for (let i = 0; i < rows; i++) fanOut[i] += r.fanOut[i];
  const cats = new Set(routes.map((r) => r.category));
  return { rows, routes, fanOut, category: cats.size === 0 ? 0 : cats.size === 1 ? routes[0].category : -1 };
}

/** A route that is an explicit table (its row lengths are its fan-out: every entry counts). */
export function tableRoute(csr: Csr, category: number): TableRoute {
  const rows = csr.rowPtr.length - 1;
  const fanOut = new Int32Array(rows);
  for (let i = 0; i < rows; i++) fanOut[i] = csr.rowPtr[i + 1] - csr.rowPtr[i];
  return { kind: 'table', csr, category, fanOut };
}

/** A fan-out that is one explicit table (e.g. a quantised copy of a stream's synapses). */
export function tableFanout(csr: Csr, category: number): Fanout {
  return fanoutOf(csr.rowPtr.length - 1, [tableRoute(csr, Math.max(0, category))]);
}

/** First target of a route (routes of one source reach disjoint regions). */
export function routeStart(r: Route): number {
  if (r.kind === 'conv') return r.twin.offset;
  if (r.kind === 'dense') return r.offset;
  let min = Infinity;
  for (const c of r.csr.col) if (c < min) min = c;
  return min;
}

/** Non-zero twin weights per (channel, tap), and per twin input element the synapses it feeds. */
export function convFanOut(t: ConvTable, channels: number): Int32Array {
  const nnz = new Int32Array(channels * t.taps);
  for (let ct = 0; ct < channels * t.taps; ct++) {
    for (let o = 0; o < t.coutPerGroup; o++) if (t.weights[ct * t.coutPerGroup + o] !== 0) nnz[ct]++;
  }
  const out = new Int32Array(channels * t.plane);
  for (let c = 0; c < channels; c++) {
    for (let s = 0; s < t.plane; s++) {
      let n = 0;
      for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) n += nnz[c * t.taps + t.posTap[q]];
      out[c * t.plane + s] = n;
    }
  }
  return out;
}

/** Per source element through a remap: the fan-out of the element it lands on (0 when none). */
export function remapFanOut(remap: Int32Array | null, perMid: Int32Array, rows: number): Int32Array {
  if (!remap) return perMid;
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) out[i] = remap[i] < 0 ? 0 : perMid[remap[i]];
  return out;
}

/**
 * Visits source element i's (target, weight) entries in one route, zero weights included; `index` is the
 * weight's place in the route's weights (twin, dense matrix or table values).
 */
export function forEachEntry(r: Route, i: number, visit: (target: number, weight: number, index: number) => void): void {
  if (r.kind === 'table') {
    const { rowPtr, col, val } = r.csr;
    for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) visit(col[j], val[j], j);
    return;
  }
  const m = r.remap ? r.remap[i] : i;
  if (m < 0) return;
  if (r.kind === 'dense') {
    const row = Math.floor(m / r.inner);
    const k = m - row * r.inner;
    const first = r.offset + row * r.out;
    for (let o = 0; o < r.out; o++) visit(first + o, r.weights[k * r.out + o], k * r.out + o);
    return;
  }
  const t = r.twin;
  const c = Math.floor(m / t.plane);
  const s = m - c * t.plane;
  const g = Math.floor(c / t.cinPerGroup);
  const first = t.offset + g * t.coutPerGroup * t.outPlane;
  for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) {
    const wb = (c * t.taps + t.posTap[q]) * t.coutPerGroup;
    for (let o = 0; o < t.coutPerGroup; o++) visit(first + o * t.outPlane + t.posOut[q], t.weights[wb + o], wb + o);
  }
}

const tables = new WeakMap<Fanout, Csr>();

/**
 * The explicit table of a fan-out: row i's synapses over all routes (its non-zero entries; of a quantised
 * route, those whose unquantised weight is non-zero), columns ascending — exactly the table the compiler
 * would compose synapse by synapse. O(synapses): for the greedy mapper on networks that fit, and for tests;
 * the simulator and the virtual chip never build it. Kept once per fan-out.
 */
export function tableOf(f: Fanout): Csr {
  const cached = tables.get(f);
  if (cached) return cached;
  if (f.routes.length === 1 && f.routes[0].kind === 'table') return f.routes[0].csr;
  let total = 0;
  for (const n of f.fanOut) total += n;
  const rowPtr = new Int32Array(f.rows + 1);
  const col = new Int32Array(total);
  const val = new Float32Array(total);
  const rowCol: number[] = [];
  const rowVal = new Map<number, number>();
  let at = 0;
  for (let i = 0; i < f.rows; i++) {
    rowCol.length = 0;
    rowVal.clear();
    for (const r of f.routes) {
      const synapse = r.unquantized;
      forEachEntry(r, i, (target, w, index) => {
        if ((synapse ? synapse[index] : w) === 0) return;
        rowCol.push(target);
        rowVal.set(target, w);
      });
    }
    rowCol.sort((a, b) => a - b);
    for (const c of rowCol) {
      col[at] = c;
      val[at++] = rowVal.get(c)!;
    }
    rowPtr[i + 1] = at;
  }
  const csr = { rowPtr, col, val };
  tables.set(f, csr);
  return csr;
}

/**
 * cur[target] += x[i]·scale·w over every route, for the non-zero x[x0 + i], i < rows: the analog input
 * (scale = 1/divisor applied to x first) and analog nodes' outputs. Per target, sources ascending, as the
 * table would add them; counts the entries delivered into cats[catBase + category].
 */
export function addValues(f: Fanout, x: ArrayLike<number>, x0: number, divisor: number, cur: Float64Array, cats?: Float64Array, catBase = 0): void {
  for (const r of f.routes) {
    let entries = 0;
    if (r.kind === 'table') {
      const { rowPtr, col, val } = r.csr;
      for (let i = 0; i < f.rows; i++) {
        const xi = x[x0 + i];
        if (xi === 0) continue;
        const a = divisor === 1 ? xi : xi / divisor;
        for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) cur[col[j]] += a * val[j];
        entries += rowPtr[i + 1] - rowPtr[i];
      }
    } else if (r.kind === 'dense') {
      const { inner, out, weights, remap, offset } = r;
      for (let i = 0; i < f.rows; i++) {
        const xi = x[x0 + i];
        if (xi === 0) continue;
        const m = remap ? remap[i] : i;
        if (m < 0) continue;
        const a = divisor === 1 ? xi : xi / divisor;
        const row = Math.floor(m / inner);
        const wb = (m - row * inner) * out;
        const tb = offset + row * out;
        for (let o = 0; o < out; o++) {
          const w = weights[wb + o];
          if (w !== 0) cur[tb + o] += a * w;
        }
        entries += r.fanOut[i];
      }
    } else {
      const t = r.twin;
      const { plane, taps, coutPerGroup: cpg, cinPerGroup, outPlane, posPtr, posOut, posTap, weights } = t;
      for (let i = 0; i < f.rows; i++) {
        const xi = x[x0 + i];
        if (xi === 0) continue;
        const m = r.remap ? r.remap[i] : i;
        if (m < 0) continue;
        const a = divisor === 1 ? xi : xi / divisor;
        const c = Math.floor(m / plane);
        const s = m - c * plane;
        const first = t.offset + Math.floor(c / cinPerGroup) * cpg * outPlane;
        for (let q = posPtr[s]; q < posPtr[s + 1]; q++) {
          const wb = (c * taps + posTap[q]) * cpg;
          const tb = first + posOut[q];
          for (let o = 0; o < cpg; o++) {
            const w = weights[wb + o];
            if (w !== 0) cur[tb + o * outPlane] += a * w;
          }
        }
        entries += r.fanOut[i];
      }
    }
    if (cats) cats[catBase + r.category] += entries;
  }
}

/**
 * A dense route's delivery of the n listed spikes (source elements): cur[offset + row·out + o] += w[k·out + o]
 * for each one's element m = row·inner + k (after the remap), spikes in list order, zero weights included
 * (adding 0 changes nothing) — the engine's own order, so the virtual chip's sums are the simulator's.
 */
export function deliverDense(list: Int32Array, n: number, r: DenseRoute, cur: Float64Array): void {
  const { remap, inner, out, weights, offset } = r;
  for (let k = 0; k < n; k++) {
    const m = remap ? remap[list[k]] : list[k];
    if (m < 0) continue;
    const row = Math.floor(m / inner);
    const wb = (m - row * inner) * out;
    const tb = offset + row * out;
    for (let o = 0; o < out; o++) cur[tb + o] += weights[wb + o];
  }
}
