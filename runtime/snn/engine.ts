/**
 * The time-stepped core: runs a contiguous range of samples through a NetworkPlan. Pure and
 * deterministic per sample (masks are keyed by the global sample index), so any split of the samples
 * over workers gives the same bytes. Synaptic work is event-driven: each step walks the spike lists
 * and adds their fan-out rows; only the threshold pass touches every neuron (the neuron updates). The state
 * lives in a WebAssembly memory (PlanImage: the plan's weights once, then one state block per engine): the
 * neuron update and the delivery of a stream's spikes (conv twin, conv-table.ts; dense route; table) are
 * kernels of wasm/kernels.wat; the analog input, the analog nodes and their outputs are delivered in JavaScript.
 *
 * Currents accumulate in Float64 in a fixed order: the constant base (biases, then the analog input), then
 * the sources in the plan's `order` (populations and analog nodes in topological order), each one's
 * spikes (or output elements) ascending, each row's table entries ascending. Analog nodes (transformers
 * only) are computed when their turn comes, from what their operand regions hold at that moment.
 */
import type { ConvTable } from './conv-table.ts';
import type { AnalogPlan, NetworkPlan } from './plan.ts';
import { addValues, type Route } from './routes.ts';
import { SnncError } from '../../compiler/errors.ts';
import { type ConvTwinAt, instantiateKernels, type Kernels, kernelsMemory, MemoryLayout, writeConvTwin, writeEntries } from './wasm/kernels.ts';
import { CATEGORIES } from './modules.ts';
import { draw32, dropBelow, maskKey } from './rng.ts';

/**
 * How an analog node (matmul, softmax) turns its inputs into an output every step:
 * - `per-step` (MST's rule): y(t) = f(x(t)) on the current step's values (biased for products of spike trains);
 * - `accumulated`: y(t) = t·f(S(t)/t) − (t−1)·f(S(t−1)/(t−1)) with S the running sums of the inputs, so the
 *   mean output up to any t is exactly f of the mean inputs up to t.
 */
export type AttentionMode = 'per-step' | 'accumulated';

export interface ChunkOptions {
  T: number;
  seed: number;
  /** Steps at which the prediction is recorded (ascending, within 1..T). */
  checkpoints: number[];
  recordSpikes: boolean;
  /** Analog nodes' rule (default accumulated); plans without analog nodes ignore it. */
  attention?: AttentionMode;
}

/**
 * The spikes of one sample: those of step t (1-based) and population p (plan order) are
 * indices[offsets[(t−1)·P + p] .. offsets[(t−1)·P + p + 1]), ascending neuron indices.
 */
export interface SpikeRecord {
  offsets: Int32Array;
  indices: Int32Array;
  /** Plans with signed or burst populations: each listed spike's payload (±n spikes; 1 for plain populations). */
  payloads?: Int32Array;
}

/** Totals over the chunk's samples (integers held in doubles: exact, and summable across chunks). */
export interface ChunkResult {
  /** count × checkpoints: argmax of the readout at each checkpoint. */
  predictions: Int32Array;
  /** count × readout size: accumulated readout / T. */
  logits: Float32Array;
  /** Per population. */
  spikes: Float64Array;
  /** Per stream: synaptic operations delivered. */
  sops: Float64Array;
  /** Per mask. */
  arriving: Float64Array;
  dropped: Float64Array;
  /** IF neuron updates that received a non-zero current or spiked. */
  active: number;
  records?: SpikeRecord[];
  /** Streams whose table spans several work categories: entries delivered per category (streams × CATEGORIES). */
  streamCategories: Float64Array;
  /** Per analog node: products whose two operands are spike-driven (spike-pair products). */
  products: Float64Array;
  /** Per analog node: products of an analog value and a spike (a spike-triggered accumulation). */
  analogSpike: Float64Array;
  /** Per analog node: analog × analog multiply-accumulates (accumulated-mode running sums × increments, rescaling). */
  analogMacs: Float64Array;
  /** Per matmul: non-zero elements its rate operand held, summed over steps (A if spike-driven, else B if spike-driven). */
  operandSpikes: Float64Array;
  /** Per analog node: softmax element evaluations. */
  softmaxOps: Float64Array;
  /** Per analog node: output table entries delivered per work category (analog nodes × CATEGORIES). */
  analogOut: Float64Array;
  /**
   * `sops` and `streamCategories` as they stood at each checkpoint, summed over the samples (checkpoints ×
   * streams, checkpoints × streams × CATEGORIES): the work up to each T of one causal run.
   */
  sopsAt?: Float64Array;
  categoriesAt?: Float64Array;
}

/**
 * The spikes of a stream that survive its mask (all of them when `below` is 0): copies them to `out`,
 * adds their SOPs (`fanOut` of each) to counts[0] and the dropped ones to counts[1]; returns how many survive.
 */
function survivors(spikes: Int32Array, n: number, fanOut: Int32Array, masked: boolean, key: number, below: number, out: Int32Array, counts: Float64Array): number {
  let kept = 0;
  let sops = 0;
  for (let k = 0; k < n; k++) {
    const i = spikes[k];
    if (masked && draw32(key, i) < below) continue;
    out[kept++] = i;
    sops += fanOut[i];
  }
  counts[0] = sops;
  counts[1] = n - kept;
  return kept;
}

/**
 * out += A·B for each batch ([m,k]·[k,n] blocks at A[aOff + aBatch[b]], B[bOff + bBatch[b]]), multiplying only
 * non-zero pairs: B's non-zero columns are listed per row, then every non-zero A element walks its row's list.
 * Returns the number of products (pairs of non-zero factors).
 */
function matmulAdd(
  A: Float64Array,
  aOff: number,
  aBatch: Int32Array,
  B: Float64Array,
  bOff: number,
  bBatch: Int32Array,
  m: number,
  k: number,
  n: number,
  out: Float64Array,
  list: Int32Array,
  ptr: Int32Array,
): number {
  let products = 0;
  for (let bt = 0; bt < aBatch.length; bt++) {
    const ao = aOff + aBatch[bt];
    const bo = bOff + bBatch[bt];
    const oo = bt * m * n;
    let c = 0;
    for (let r = 0; r < k; r++) {
      ptr[r] = c;
      const row = bo + r * n;
      for (let j = 0; j < n; j++) if (B[row + j] !== 0) list[c++] = j;
    }
    ptr[k] = c;
    for (let i = 0; i < m; i++) {
      const arow = ao + i * k;
      const orow = oo + i * n;
      for (let r = 0; r < k; r++) {
        const a = A[arow + r];
        if (a === 0) continue;
        const brow = bo + r * n;
        const end = ptr[r + 1];
        for (let p = ptr[r]; p < end; p++) {
          const j = list[p];
          out[orow + j] += a * B[brow + j];
        }
        products += end - ptr[r];
      }
    }
  }
  return products;
}

/** out = softmax(X[xOff ..]·scale) along `len` of [outer, len, inner] (max-subtracted). */
function softmaxInto(X: Float64Array, xOff: number, scale: number, outer: number, len: number, inner: number, out: Float64Array): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const start = o * len * inner + i;
      let max = -Infinity;
      for (let r = 0; r < len; r++) max = Math.max(max, X[xOff + start + r * inner] * scale);
      let sum = 0;
      for (let r = 0; r < len; r++) {
        const e = Math.exp(X[xOff + start + r * inner] * scale - max);
        out[start + r * inner] = e;
        sum += e;
      }
      for (let r = 0; r < len; r++) out[start + r * inner] /= sum;
    }
  }
}

/** cur[offset ..] = base[offset ..] over `size` elements. */
function resetRegion(cur: Float64Array, base: Float64Array, offset: number, size: number): void {
  for (let e = offset; e < offset + size; e++) cur[e] = base[e];
}

/** x[e] += y[yOff + e] for e < size. */
function addInto(x: Float64Array, y: Float64Array, yOff: number, size: number): void {
  for (let e = 0; e < size; e++) x[e] += y[yOff + e];
}

/** Where the analog input's conv routes live in a kernels' memory (their twins with f32 weights, for `addConvValues`); null for other routes (JavaScript). */
export type InputAt = Array<{ twin: ConvTwinAt; remap: number } | null>;

/** Reserves the analog input's conv twins (`reserve(what, bytes)`: the kind of content, for a memory error). */
export function reserveInput(plan: NetworkPlan, reserve: (what: string, bytes: number) => number): InputAt {
  return plan.input.routes.map((r) =>
    r.kind === 'conv'
      ? {
          twin: {
            posPtr: reserve('conv position tables', 4 * r.twin.posPtr.length),
            posOut: reserve('conv position tables', 4 * r.twin.posOut.length),
            posTap: reserve('conv position tables', 4 * r.twin.posTap.length),
            weights: reserve('conv weights', 4 * r.twin.weights.length),
          },
          remap: r.remap ? reserve('remaps', 4 * r.remap.length) : -1,
        }
      : null,
  );
}

/** Writes the analog input's conv twins where `input` says. */
export function writeInput(buffer: ArrayBufferLike, plan: NetworkPlan, input: InputAt): void {
  plan.input.routes.forEach((r, ri) => {
    const where = input[ri];
    if (r.kind !== 'conv' || !where) return;
    const t = r.twin;
    new Int32Array(buffer, where.twin.posPtr, t.posPtr.length).set(t.posPtr);
    new Int32Array(buffer, where.twin.posOut, t.posOut.length).set(t.posOut);
    new Int32Array(buffer, where.twin.posTap, t.posTap.length).set(t.posTap);
    new Float32Array(buffer, where.twin.weights, t.weights.length).set(t.weights);
    if (r.remap) new Int32Array(buffer, where.remap, r.remap.length).set(r.remap);
  });
}

/**
 * Adds sample x0's analog input into the base currents (`base`, at byte `at.base` of the kernels' memory), as
 * routes.ts addValues adds it (inputs ascending, each route's targets in order): conv routes by the kernels'
 * `addConvValues` (the sample copied to `at.x`, the target staged channel-last at `at.acc`), others in
 * JavaScript. The simulator and the virtual chip's host both apply it so.
 */
export function applyInput(kernels: Kernels, plan: NetworkPlan, input: InputAt, at: { x: number; acc: number; base: number }, base: Float64Array, samples: Float32Array, x0: number): void {
  const routes = plan.input.routes;
  const others = routes.filter((_, ri) => !input[ri]);
  if (others.length > 0) addValues({ ...plan.input, routes: others }, samples, x0, plan.divisor, base);
  if (others.length === routes.length) return;
  new Float32Array(kernels.memory.buffer, at.x, plan.input.rows).set(samples.subarray(x0, x0 + plan.input.rows));
  routes.forEach((r, ri) => {
    const where = input[ri];
    if (r.kind !== 'conv' || !where) return;
    const t = r.twin;
    const c = where.twin;
    const to = at.base + 8 * t.offset;
    kernels.stage(to, at.acc, t.cout, t.outPlane, 1);
    kernels.addConvValues(at.x, plan.input.rows, plan.divisor, where.remap, c.weights, c.posPtr, c.posOut, c.posTap, t.plane, t.cinPerGroup, t.coutPerGroup, t.cout, t.taps, at.acc);
    kernels.stage(to, at.acc, t.cout, t.outPlane, 0);
  });
}

/** Target region [start, end) of the flat current space that a route writes (a table's: first to last target). */
function routeRegion(r: Route): [number, number] {
  if (r.kind === 'conv') return [r.twin.offset, r.twin.offset + r.twin.cout * r.twin.outPlane];
  if (r.kind === 'dense') return [r.offset, r.offset + r.targets];
  let lo = Infinity;
  let hi = -1;
  for (const c of r.csr.col) {
    if (c < lo) lo = c;
    if (c > hi) hi = c;
  }
  return hi < 0 ? [0, 0] : [lo, hi + 1];
}

function negate(cur: Float64Array, [start, end]: [number, number]): void {
  for (let i = start; i < end; i++) cur[i] = -cur[i];
}

/** Growable Int32 list for spike records. */
class IntList {
  data = new Int32Array(1024);
  length = 0;
  append(src: Int32Array, n: number): void {
    if (this.length + n > this.data.length) {
      const next = new Int32Array(Math.max(this.data.length * 2, this.length + n));
      next.set(this.data.subarray(0, this.length));
      this.data = next;
    }
    this.data.set(src.subarray(0, n), this.length);
    this.length += n;
  }
}

/** Per-sample state and scratch of one analog node (the engine's, or the virtual chip's host). */
export class HostState {
  /** This step's output. */
  readonly y: Float64Array;
  /** Accumulated mode: running sums of each operand. */
  readonly sums: Float64Array[];
  /** Accumulated mode: matmul P(t) = S_A(t)·S_B(t); softmax G(t) = t·softmax(S(t)/t). */
  readonly prev: Float64Array;
  /** Matmul: this step's increment of P; softmax: this step's softmax. */
  readonly scratch: Float64Array;
  /** Matmul: non-zero column lists of B's rows. */
  readonly list: Int32Array;
  readonly ptr: Int32Array;

  constructor(a: AnalogPlan) {
    this.y = new Float64Array(a.size);
    this.sums = a.operands.map((o) => new Float64Array(o.size));
    this.prev = new Float64Array(a.size);
    this.scratch = new Float64Array(a.size);
    this.list = new Int32Array(a.kind === 'matmul' ? a.operands[1].size : 0);
    this.ptr = new Int32Array(a.k + 1);
  }

  reset(): void {
    for (const s of this.sums) s.fill(0);
    this.prev.fill(0);
  }
}

/**
 * Computes analog node `a` at step t from its operand regions (in `cur`), sends its output down its table
 * and resets the regions to their constant currents (`base`). The simulator's engine and the virtual
 * chip's host both call it, so a chip's host nodes compute exactly the simulator's values.
 */
export function hostStep(plan: AnalogPlan, state: HostState, a: number, t: number, cur: Float64Array, base: Float64Array, accumulated: boolean, totals: HostTotals): void {
  const { y, prev, scratch } = state;
  const ops = plan.operands;
  if (plan.kind === 'matmul') {
    const [A, B] = ops;
    const spikePairs = A.spiking && B.spiking;
    // Which factor of each product is this step's spike decides its class: spike × spike, analog × spike, analog × analog.
    let products: number;
    let products2 = 0;
    const rate = A.spiking ? A : B.spiking ? B : null;
    if (rate) {
      let nz = 0;
      for (let e = rate.offset; e < rate.offset + rate.size; e++) if (cur[e] !== 0) nz++;
      totals.operandSpikes[a] += nz;
    }
    if (!accumulated) {
      y.fill(0);
      products = matmulAdd(cur, A.offset, plan.aBatch, cur, B.offset, plan.bBatch, plan.m, plan.k, plan.n, y, state.list, state.ptr);
    } else {
      // P(t) − P(t−1) = a(t)·S_B(t) + S_A(t−1)·b(t): only products with this step's inputs.
      const [SA, SB] = state.sums;
      addInto(SB, cur, B.offset, B.size);
      scratch.fill(0);
      products = matmulAdd(cur, A.offset, plan.aBatch, SB, 0, plan.bBatch, plan.m, plan.k, plan.n, scratch, state.list, state.ptr);
      products2 = matmulAdd(SA, 0, plan.aBatch, cur, B.offset, plan.bBatch, plan.m, plan.k, plan.n, scratch, state.list, state.ptr);
      addInto(SA, cur, A.offset, A.size);
      // y(t) = P(t)/t − P(t−1)/(t−1): one multiply-add per element from t = 2 on.
      if (t === 1) {
        y.set(scratch);
      } else {
        for (let e = 0; e < plan.size; e++) y[e] = (prev[e] + scratch[e]) / t - prev[e] / (t - 1);
        totals.analogMacs[a] += plan.size;
      }
      addInto(prev, scratch, 0, plan.size);
    }
    // Per step: a(t)·b(t). Accumulated: a(t)·S_B(t) is triggered by A's spikes, S_A(t−1)·b(t) by B's.
    if (spikePairs) totals.products[a] += products + products2;
    else if (!accumulated) (A.spiking || B.spiking ? totals.analogSpike : totals.analogMacs)[a] += products;
    else {
      (A.spiking ? totals.analogSpike : totals.analogMacs)[a] += products;
      (B.spiking ? totals.analogSpike : totals.analogMacs)[a] += products2;
    }
  } else {
    const [X] = ops;
    if (!accumulated) {
      softmaxInto(cur, X.offset, 1, plan.outer, plan.len, plan.inner, y);
    } else {
      // y(t) = t·softmax(S(t)/t) − (t−1)·softmax(S(t−1)/(t−1)).
      const [S] = state.sums;
      addInto(S, cur, X.offset, X.size);
      softmaxInto(S, 0, 1 / t, plan.outer, plan.len, plan.inner, scratch);
      for (let e = 0; e < plan.size; e++) {
        const g = t * scratch[e];
        y[e] = g - prev[e];
        prev[e] = g;
      }
    }
    totals.softmaxOps[a] += plan.size;
  }
  for (const op of ops) resetRegion(cur, base, op.offset, op.size);
  addValues(plan.fanout, y, 0, 1, cur, totals.analogOut, a * CATEGORIES);
}

/** What a host step counts (the fields of ChunkResult it adds to). */
export type HostTotals = Pick<ChunkResult, 'products' | 'analogSpike' | 'analogMacs' | 'operandSpikes' | 'softmaxOps' | 'analogOut'>;

/** Fresh zero counts for `nodes` host nodes. */
export function hostTotals(nodes: number): HostTotals {
  return {
    products: new Float64Array(nodes),
    analogSpike: new Float64Array(nodes),
    analogMacs: new Float64Array(nodes),
    operandSpikes: new Float64Array(nodes),
    softmaxOps: new Float64Array(nodes),
    analogOut: new Float64Array(nodes * CATEGORIES),
  };
}

/** Where one route's read-only arrays are in the kernels' memory (byte offsets). */
export type RouteAt =
  | {
      kind: 'conv';
      /** The twin's tables, its pairs as byte offsets (posOut·cout·8, posTap·cpg·8: kernels.wat scatterConvB). */
      twin: ConvTwinAt;
      remap: number;
      /**
       * Index into the state's `staged` bases when the route alone fills one population's currents from a
       * plain (non-graded) population, else −1: those currents are the base current whenever a delivery
       * starts (the population's update resets them; nothing else adds), so the delivery stages that base,
       * transposed once per sample, instead of transposing the currents every step.
       */
      sole: number;
      /** Its gatherConv tables when it is delivered target-stationary (see Gather), else null: scatterConvB. */
      gather: GatherAt | null;
    }
  | { kind: 'table'; rowPtr: number; entries: number }
  | { kind: 'dense'; weights: number; remap: number };

/**
 * A plan laid out in one kernels' memory: its read-only arrays once (thresholds, leaks, per-stream fan-outs,
 * every route's tables and weights), then one block of state per engine. Engines on several threads share
 * the memory and so the weights: each one only writes its own block.
 */
export interface PlanImage {
  theta: number;
  leak: number;
  /** Per stream: its fan-out per source neuron (i32). */
  fanOut: number[];
  /** Per stream and route. */
  routes: RouteAt[][];
  /** Per route of the analog input: a conv route's twin (f32 weights) for `addConvValues`, else null (JavaScript). */
  input: InputAt;
  /** Byte offset of each engine's state block and its size; offsets within a block (laid out here, where the plan still has its kernel arrays: workers get it without). */
  states: number[];
  state: StateAt;
  stateBytes: number;
  /** Bytes in all. */
  bytes: number;
  /** Bytes per kind of content, largest first: what the error names when the memory cannot hold the plan. */
  parts: Array<[what: string, bytes: number]>;
}

/** Byte offsets of an engine's state, relative to its block. */
interface StateAt {
  cur: number;
  base: number;
  v: number;
  /** Graded populations (signed, bursts): the tracer (f64 per neuron) and each listed spike's payload. */
  tracer: number;
  out: number;
  lists: number[];
  payloads: number[];
  kept: number;
  remapped: number;
  acc: number;
  /** Per sole conv route (RouteAt `sole`): its target's base current, channel-last. */
  staged: number[];
  /** The sample being simulated (f32), read by `addConvValues`. */
  x: number;
  /** gatherConv's bucket ends (i32 per output position) and buckets. */
  ptrs: number;
  bucket: number;
}

/** The most bytes of buckets a gathered conv route may use per engine (GATHER_BUCKET_LIMIT): others scatter. */
export const GATHER_BUCKET_LIMIT = 64 * 2 ** 20;

/**
 * How a conv route is delivered target-stationary (kernels.wat gatherConv): each step's spikes are bucketed
 * per output position, then each position's currents are added to in registers. Taken when the twin has
 * one group and at least 16 output channels (depthwise and narrow convs scatter), and its buckets fit
 * GATHER_BUCKET_LIMIT.
 */
export interface Gather {
  /** Bytes of one output position's bucket: one entry per spike that can reach it (input channels × the most source positions any output position has × the most sources a remap sends to one twin element, as a pooling prefix does). */
  cap: number;
  /** Pairs per source position, padded to the most any has. */
  maxq: number;
}

export function gatherOf(r: Extract<Route, { kind: 'conv' }>): Gather | null {
  const t = r.twin;
  if (t.coutPerGroup !== t.cout || t.cout < 16) return null;
  const perOut = new Int32Array(t.outPlane);
  let most = 0;
  for (const o of t.posOut) most = Math.max(most, ++perOut[o]);
  let shared = 1;
  if (r.remap) {
    const perElement = new Int32Array(t.cinPerGroup * t.plane);
    for (const m of r.remap) if (m >= 0) shared = Math.max(shared, ++perElement[m]);
  }
  let maxq = 0;
  for (let s = 0; s < t.plane; s++) maxq = Math.max(maxq, t.posPtr[s + 1] - t.posPtr[s]);
  const cap = 4 * t.cinPerGroup * most * shared;
  return cap * t.outPlane <= GATHER_BUCKET_LIMIT && maxq > 0 ? { cap, maxq } : null;
}

/** gatherConv's scratch for the largest of `gathered`: bucket ends (with the padding pairs' dummies) and buckets (with the dummies' one entry). */
export function reserveBuckets(layout: MemoryLayout, gathered: Array<Gather & { outPlane: number }>): { ptrs: number; bucket: number } {
  return {
    ptrs: layout.reserve(4 * Math.max(0, ...gathered.map((g) => g.outPlane + g.maxq))),
    bucket: layout.reserve(Math.max(0, ...gathered.map((g) => g.cap * g.outPlane + 4))),
  };
}

/** A gathered route's padded pair tables (i32, plane · maxq each: kernels.wat gatherConv). */
export interface GatherAt extends Gather {
  posOut4: number;
  posTapB: number;
  posInc: number;
}

/** Reserves a gathered route's padded pair tables (3 × plane · maxq i32). */
export function reserveGather(g: Gather, plane: number, reserve: (bytes: number) => number): GatherAt {
  return { ...g, posOut4: reserve(4 * plane * g.maxq), posTapB: reserve(4 * plane * g.maxq), posInc: reserve(4 * plane * g.maxq) };
}

/** Writes twin t's padded pair tables (gatherTables) where `at` says. */
export function writeGatherTables(buffer: ArrayBufferLike, at: GatherAt, t: ConvTable): void {
  const [out4, tapB, inc] = gatherTables(t, at.maxq);
  new Int32Array(buffer, at.posOut4, out4.length).set(out4);
  new Int32Array(buffer, at.posTapB, tapB.length).set(tapB);
  new Int32Array(buffer, at.posInc, inc.length).set(inc);
}

/** gatherConv's padded pair tables of twin t: posOut·4, posTap·cout·8 and 4, or for padding pair j (outPlane + j)·4, 0, 0. */
export function gatherTables(t: ConvTable, maxq: number): [Int32Array, Int32Array, Int32Array] {
  const n = t.plane * maxq;
  const out4 = new Int32Array(n);
  const tapB = new Int32Array(n);
  const inc = new Int32Array(n);
  for (let s = 0; s < t.plane; s++) {
    for (let j = 0; j < maxq; j++) {
      const q = t.posPtr[s] + j;
      const real = q < t.posPtr[s + 1];
      out4[s * maxq + j] = 4 * (real ? t.posOut[q] : t.outPlane + j);
      tapB[s * maxq + j] = real ? t.posTap[q] * t.cout * 8 : 0;
      inc[s * maxq + j] = real ? 4 : 0;
    }
  }
  return [out4, tapB, inc];
}

/** One WebAssembly instance addresses at most 4 GiB (32-bit offsets). */
export const WASM_MEMORY_LIMIT = 2 ** 32;

/** Per stream and conv route: whether it is its target's only writer (see RouteAt `sole`). */
function soleWriters(plan: NetworkPlan): boolean[][] {
  const writers: Array<[number, number]> = [];
  for (const st of plan.streams) for (const r of st.fanout.routes) writers.push(routeRegion(r));
  for (const a of plan.analog) {
    for (const r of a.fanout.routes) writers.push(routeRegion(r));
    for (const op of a.operands) writers.push([op.offset, op.offset + op.size]);
  }
  const popAt = new Map(plan.pops.map((p) => [p.offset, p]));
  return plan.streams.map((st) =>
    st.fanout.routes.map((r) => {
      if (r.kind !== 'conv' || isGraded(plan.pops[st.pop])) return false;
      const [start, end] = routeRegion(r);
      const target = popAt.get(start);
      if (!target || target.offset + target.size !== end) return false;
      return writers.filter(([s, e]) => s < end && e > start).length === 1;
    }),
  );
}

function stateLayout(plan: NetworkPlan, sole: boolean[][], gathers: Map<Route, Gather>): { at: StateAt; bytes: number } {
  const layout = new MemoryLayout();
  const n = plan.currentSize;
  const largestPop = Math.max(0, ...plan.pops.map((p) => p.size));
  // Room to stage the largest scattered conv target channel-last (kernels.wat scatterConvB, addConvValues).
  const convTargets = [...plan.streams.flatMap((st) => st.fanout.routes.filter((r) => !gathers.has(r))), ...plan.input.routes];
  const staged = Math.max(0, ...convTargets.map((r) => (r.kind === 'conv' ? r.twin.cout * r.twin.outPlane : 0)));
  const gathered = [...gathers].map(([r, g]) => ({ ...g, outPlane: r.kind === 'conv' ? r.twin.outPlane : 0 }));
  const at: StateAt = {
    cur: layout.reserve(8 * n),
    base: layout.reserve(8 * n),
    v: layout.reserve(8 * n),
    tracer: layout.reserve(plan.pops.some(isGraded) ? 8 * n : 0),
    out: layout.reserve(8),
    lists: plan.pops.map((p) => layout.reserve(4 * p.size)),
    payloads: plan.pops.map((p) => layout.reserve(isGraded(p) ? 4 * p.size : 0)),
    kept: layout.reserve(4 * largestPop),
    remapped: layout.reserve(4 * largestPop),
    acc: layout.reserve(8 * staged),
    staged: plan.streams.flatMap((st, si) => st.fanout.routes.flatMap((r, ri) => (sole[si][ri] && r.kind === 'conv' ? [layout.reserve(8 * r.twin.cout * r.twin.outPlane)] : []))),
    x: layout.reserve(4 * plan.input.rows),
    ptrs: 0,
    bucket: 0,
  };
  Object.assign(at, reserveBuckets(layout, gathered));
  return { at, bytes: layout.size };
}

/** Lays out `plan` for `engines` engines (see PlanImage); refuses, in one line, a plan that one memory cannot hold. */
export function planImage(plan: NetworkPlan, engines: number): PlanImage {
  const layout = new MemoryLayout();
  const n = plan.currentSize;
  const parts = new Map<string, number>();
  const reserve = (what: string, bytes: number) => {
    parts.set(what, (parts.get(what) ?? 0) + bytes);
    return layout.reserve(bytes);
  };
  const theta = reserve('thresholds and leaks', 8 * n);
  const leak = reserve('thresholds and leaks', 8 * n);
  const fanOut = plan.streams.map((st) => reserve('fan-out counts', 4 * st.fanout.rows));
  const gathers = new Map<Route, Gather>();
  for (const st of plan.streams) {
    for (const r of st.fanout.routes) {
      const g = r.kind === 'conv' ? gatherOf(r) : null;
      if (g) gathers.set(r, g);
    }
  }
  // A gathered route reads and writes its target's currents in place: nothing staged.
  const sole = soleWriters(plan).map((row, si) => row.map((s, ri) => s && !gathers.has(plan.streams[si].fanout.routes[ri])));
  const input = reserveInput(plan, reserve);
  let soles = 0;
  const routes = plan.streams.map((st, si) =>
    st.fanout.routes.map((r, ri): RouteAt => {
      if (r.kind === 'conv') {
        const t = r.twin;
        const twin: ConvTwinAt = {
          posPtr: reserve('conv position tables', 4 * t.posPtr.length),
          posOut: reserve('conv position tables', 4 * t.posOut.length),
          posTap: reserve('conv position tables', 4 * t.posTap.length),
          weights: reserve('conv weights', 8 * t.weights.length),
        };
        const g = gathers.get(r);
        const gather = g ? reserveGather(g, t.plane, (bytes) => reserve('conv position tables', bytes)) : null;
        return { kind: 'conv', twin, remap: r.remap ? reserve('remaps', 4 * r.remap.length) : -1, sole: sole[si][ri] ? soles++ : -1, gather };
      }
      if (r.kind === 'dense') return { kind: 'dense', weights: reserve('dense weights', 4 * r.weights.length), remap: r.remap ? reserve('remaps', 4 * r.remap.length) : -1 };
      return { kind: 'table', rowPtr: reserve('synapse tables', 4 * r.csr.rowPtr.length), entries: reserve('synapse tables', 8 * r.csr.col.length) };
    }),
  );
  const { at: state, bytes: stateBytes } = stateLayout(plan, sole, gathers);
  const states = Array.from({ length: engines }, () => reserve(engines === 1 ? 'neuron state' : `neuron state of ${engines} threads`, stateBytes));
  const image: PlanImage = {
    theta, leak, fanOut, routes, input, states, state, stateBytes, bytes: layout.size,
    parts: [...parts].sort((a, b) => b[1] - a[1]),
  };
  if (image.bytes > WASM_MEMORY_LIMIT) {
    const gib = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);
    const what = image.parts.slice(0, 3).map(([w, b]) => `${w} ${gib(b)}`).join(', ');
    throw new SnncError(
      `the network needs ${gib(image.bytes)} of simulator memory (${what}), ${gib(image.bytes - WASM_MEMORY_LIMIT)} more than the 4 GiB one WebAssembly instance can address`,
    );
  }
  return image;
}

/** Creates the memory of `image` (exactly as large as it needs) and writes the plan's read-only arrays into it. */
export function loadPlan(plan: NetworkPlan, image: PlanImage): WebAssembly.Memory {
  const memory = kernelsMemory(image.bytes);
  const buffer = memory.buffer;
  new Float64Array(buffer, image.theta, plan.currentSize).set(plan.threshold);
  new Float64Array(buffer, image.leak, plan.currentSize).set(plan.leak);
  plan.streams.forEach((st, si) => {
    new Int32Array(buffer, image.fanOut[si], st.fanout.rows).set(st.fanout.fanOut);
    st.fanout.routes.forEach((r, ri) => {
      const where = image.routes[si][ri];
      if (r.kind === 'conv' && where.kind === 'conv') {
        // Pairs as byte offsets for scatterConvB: output position · cout · 8 and tap · cpg · 8.
        const t = r.twin;
        writeConvTwin(buffer, where.twin, { ...t, posOut: t.posOut.map((o) => o * t.cout * 8), posTap: t.posTap.map((tap) => tap * t.coutPerGroup * 8) });
        if (where.gather) writeGatherTables(buffer, where.gather, t);
        if (r.remap) new Int32Array(buffer, where.remap, r.remap.length).set(r.remap);
      } else if (r.kind === 'dense' && where.kind === 'dense') {
        new Float32Array(buffer, where.weights, r.weights.length).set(r.weights);
        if (r.remap) new Int32Array(buffer, where.remap, r.remap.length).set(r.remap);
      } else if (r.kind === 'table' && where.kind === 'table') {
        new Int32Array(buffer, where.rowPtr, r.csr.rowPtr.length).set(r.csr.rowPtr);
        writeEntries(buffer, where.entries, 0, r.csr.col, r.csr.val);
      }
    });
  });
  writeInput(buffer, plan, image.input);
  return memory;
}

/**
 * The state of one sample in flight. The hot loops are the leaf functions above, called every step:
 * V8 optimizes small, often-called functions fully, where one big loop nest ran about 2× slower.
 */
class Engine {
  private readonly cur: Float64Array;
  /** This sample's constant current: biases plus the analog input. */
  private readonly base: Float64Array;
  /** Membranes; on the readout, the accumulator. */
  readonly v: Float64Array;
  readonly spikeLists: Int32Array[];
  private readonly below: number[];
  private readonly maskOut = new Float64Array(2);
  /** IF neuron updates that received a non-zero current or spiked, this sample. */
  active = 0;
  private readonly analog: HostState[];
  /** The state above lives in the kernels' memory; byte offsets of what the kernels are handed. */
  private readonly kernels: Kernels;
  private readonly at: StateAt;
  /** Signed and burst populations: net spikes sent per neuron (the tracer) and each listed spike's payload. */
  private readonly tracer: Float64Array;
  readonly payloads: Int32Array[];
  /** Scratch of a graded population's surviving spikes and payloads, and each stream's route regions. */
  private readonly gradedKept: Int32Array;
  private readonly gradedPay: Int32Array;
  private readonly regions: Array<Array<[number, number]>>;
  private readonly counts: Float64Array;
  private readonly kept: Int32Array;
  private readonly remapped: Int32Array;
  /** Per population: 1 when every λ is 1 (IF), so the update need not read the leaks. */
  private readonly unit: number[];

  constructor(
    private readonly plan: NetworkPlan,
    private readonly image: PlanImage,
    memory: WebAssembly.Memory,
    slot: number,
    private readonly seed: number,
    private readonly totals: ChunkResult,
    private readonly accumulated: boolean,
  ) {
    const n = plan.currentSize;
    const largestPop = Math.max(0, ...plan.pops.map((p) => p.size));
    const graded = plan.pops.map(isGraded);
    const rel = image.state;
    const b0 = image.states[slot];
    const at: StateAt = {
      cur: b0 + rel.cur,
      base: b0 + rel.base,
      v: b0 + rel.v,
      tracer: b0 + rel.tracer,
      out: b0 + rel.out,
      lists: rel.lists.map((l) => b0 + l),
      payloads: rel.payloads.map((l) => b0 + l),
      kept: b0 + rel.kept,
      remapped: b0 + rel.remapped,
      acc: b0 + rel.acc,
      staged: rel.staged.map((o) => b0 + o),
      x: b0 + rel.x,
      ptrs: b0 + rel.ptrs,
      bucket: b0 + rel.bucket,
    };
    this.kernels = instantiateKernels(memory);
    const buffer = memory.buffer;
    this.cur = new Float64Array(buffer, at.cur, n);
    this.base = new Float64Array(buffer, at.base, n);
    this.v = new Float64Array(buffer, at.v, n);
    this.counts = new Float64Array(buffer, at.out, 1);
    this.tracer = new Float64Array(buffer, at.tracer, graded.some(Boolean) ? n : 0);
    this.payloads = plan.pops.map((p, i) => new Int32Array(buffer, at.payloads[i], graded[i] ? p.size : 0));
    this.gradedKept = new Int32Array(graded.some(Boolean) ? largestPop : 0);
    this.gradedPay = new Int32Array(this.gradedKept.length);
    this.regions = plan.streams.map((st) => (graded[st.pop] ? st.fanout.routes.map(routeRegion) : []));
    this.spikeLists = plan.pops.map((p, i) => new Int32Array(buffer, at.lists[i], p.size));
    this.kept = new Int32Array(buffer, at.kept, largestPop);
    this.remapped = new Int32Array(buffer, at.remapped, largestPop);
    this.at = at;
    this.below = plan.masks.map((m) => dropBelow(m.ratio));
    this.unit = plan.pops.map((p) => unitLeak(plan.leak, p.offset, p.size));
    this.analog = plan.analog.map((a) => new HostState(a));
  }

  /** Resets the state and evaluates the analog input once: raw x / divisor through the input table. */
  start(input: Float32Array, x0: number): void {
    const { base, plan } = this;
    base.set(plan.bias);
    applyInput(this.kernels, plan, this.image.input, this.at, base, input, x0);
    this.cur.set(base);
    this.image.routes.forEach((routes, si) =>
      routes.forEach((where, ri) => {
        const r = plan.streams[si].fanout.routes[ri];
        if (where.kind === 'conv' && where.sole >= 0 && r.kind === 'conv') {
          this.kernels.stage(this.at.base + 8 * r.twin.offset, this.at.staged[where.sole], r.twin.cout, r.twin.outPlane, 1);
        }
      }),
    );
    this.v.set(plan.v0);
    this.tracer.fill(0);
    this.active = 0;
    for (const a of this.analog) a.reset();
  }

  /**
   * Updates population p by its neuron rule (leak, integrate, fire, reset: kernels.wat `integrate`); returns
   * the number of spikes (listed in spikeLists[p]).
   */
  fire(p: number, t: number): number {
    const { offset, size, reset, burst, signed } = this.plan.pops[p];
    const { at, image } = this;
    const subtract = reset === 'zero' ? 0 : 1;
    const ns = this.kernels.integrate(
      at.cur, at.base, at.v, image.theta, image.leak, this.unit[p], subtract, offset, offset + size, at.lists[p], at.out, at.tracer, at.payloads[p], burst, signed ? 1 : 0, t,
    );
    this.active += this.counts[0] + ns;
    return ns;
  }

  /** Sends population p's spikes down each of its streams (masked ones through their mask). */
  send(p: number, ns: number, sample: number, t: number): void {
    if (isGraded(this.plan.pops[p])) {
      this.sendGraded(p, ns, sample, t);
      return;
    }
    const { plan, totals, at } = this;
    for (const si of plan.pops[p].streams) {
      const stream = plan.streams[si];
      const m = stream.mask;
      let list = at.lists[p];
      let kept = ns;
      if (m >= 0) {
        // The survivors of the mask (in this.kept), with their SOPs and the dropped count.
        kept = survivors(this.spikeLists[p], ns, stream.fanout.fanOut, true, maskKey(this.seed, sample, t, m), this.below[m], this.kept, this.maskOut);
        list = at.kept;
        totals.sops[si] += this.maskOut[0];
        totals.dropped[m] += this.maskOut[1];
        totals.arriving[m] += ns;
      } else {
        totals.sops[si] += this.kernels.sumAt(list, ns, this.image.fanOut[si]);
      }
      if (kept === 0) continue;
      // One delivery per route: the conv twin's SIMD scatter, a dense row, a table's entries.
      stream.fanout.routes.forEach((r, ri) => this.deliver(r, this.image.routes[si][ri], list, kept));
      if (stream.fanout.category < 0) {
        const spikes = m >= 0 ? this.kept : this.spikeLists[p];
        for (const r of stream.fanout.routes) {
          let entries = 0;
          for (let k = 0; k < kept; k++) entries += r.fanOut[spikes[k]];
          totals.streamCategories[si * CATEGORIES + r.category] += entries;
        }
      }
    }
  }

  /**
   * Sends a signed or burst population's spikes: one graded spike is one event (its SOPs count once, as one
   * message to each synapse) that adds payload × weight. The spikes of each payload q are delivered together,
   * |q| times through the same routes, for q < 0 into negated target currents (−(−c + w) is exactly c − w),
   * so the delivery kernels stay those of plain spikes.
   */
  private sendGraded(p: number, ns: number, sample: number, t: number): void {
    const { plan, totals, gradedKept, gradedPay, cur } = this;
    const list = this.spikeLists[p];
    const pay = this.payloads[p];
    for (const si of plan.pops[p].streams) {
      const stream = plan.streams[si];
      const m = stream.mask;
      const key = m < 0 ? 0 : maskKey(this.seed, sample, t, m);
      const below = m < 0 ? 0 : this.below[m];
      let kept = 0;
      let sops = 0;
      for (let k = 0; k < ns; k++) {
        const i = list[k];
        if (m >= 0 && draw32(key, i) < below) continue;
        gradedKept[kept] = i;
        gradedPay[kept++] = pay[k];
        sops += stream.fanout.fanOut[i];
      }
      const burst = plan.pops[p].burst;
      for (let q = plan.pops[p].signed ? -burst : 1; q <= burst; q++) {
        if (q === 0) continue;
        let n = 0;
        for (let k = 0; k < kept; k++) if (gradedPay[k] === q) this.kept[n++] = gradedKept[k];
        if (n === 0) continue;
        if (q < 0) for (const region of this.regions[si]) negate(cur, region);
        for (let rep = 0; rep < Math.abs(q); rep++) stream.fanout.routes.forEach((r, ri) => this.deliver(r, this.image.routes[si][ri], this.at.kept, n));
        if (q < 0) for (const region of this.regions[si]) negate(cur, region);
      }
      if (kept > 0 && stream.fanout.category < 0) {
        for (const r of stream.fanout.routes) {
          let entries = 0;
          for (let k = 0; k < kept; k++) entries += r.fanOut[gradedKept[k]];
          totals.streamCategories[si * CATEGORIES + r.category] += entries;
        }
      }
      totals.sops[si] += sops;
      if (m >= 0) {
        totals.dropped[m] += ns - kept;
        totals.arriving[m] += ns;
      }
    }
  }

  /** Delivers the n spikes listed at `list` through one route. */
  private deliver(r: Route, where: RouteAt, list: number, n: number): void {
    const { at, kernels } = this;
    if (r.kind === 'table' && where.kind === 'table') {
      kernels.addEntriesAt(list, n, where.rowPtr, where.entries, at.cur);
      return;
    }
    if (where.kind === 'table') return;
    if (where.remap >= 0) {
      n = kernels.remapList(list, n, where.remap, at.remapped);
      list = at.remapped;
      if (n === 0) return;
    }
    if (r.kind === 'dense' && where.kind === 'dense') {
      kernels.deliverDense(list, n, r.inner, r.out, where.weights, at.cur + 8 * r.offset);
    } else if (r.kind === 'conv' && where.kind === 'conv') {
      const t = r.twin;
      const c = where.twin;
      const cur = at.cur + 8 * t.offset;
      const g = where.gather;
      if (g) {
        kernels.gatherConv(list, n, cur, g.posOut4, g.posTapB, g.posInc, g.maxq, c.weights, t.plane, t.cout, t.taps, t.outPlane, at.ptrs, at.bucket, g.cap);
        return;
      }
      // Staged channel-last: from the transposed base when the route is its target's only writer.
      if (where.sole >= 0) kernels.copy(at.acc, at.staged[where.sole], 8 * t.cout * t.outPlane);
      else kernels.stage(cur, at.acc, t.cout, t.outPlane, 1);
      kernels.scatterConvB(list, n, at.acc, c.posPtr, c.posOut, c.posTap, c.weights, t.plane, t.cinPerGroup, t.coutPerGroup, t.taps);
      kernels.stage(cur, at.acc, t.cout, t.outPlane, 0);
    }
  }

  /**
   * Computes analog node `a` at step t from its operand regions, sends its output down its table and
   * resets the regions to their constant currents (hostStep: the virtual chip's host runs the same code).
   */
  analogStep(a: number, t: number): void {
    hostStep(this.plan.analog[a], this.analog[a], a, t, this.cur, this.base, this.accumulated, this.totals);
  }

  /** Adds this step's readout current to the accumulator. */
  accumulate(): void {
    const { cur, base, v } = this;
    const { offset, size } = this.plan.readout;
    for (let i = offset; i < offset + size; i++) {
      v[i] += cur[i];
      cur[i] = base[i];
    }
  }

  /** argmax of the accumulator (= of accumulated/t); ties go to the first class. */
  argmax(): number {
    const { offset, size } = this.plan.readout;
    let best = 0;
    for (let k = 1; k < size; k++) if (this.v[offset + k] > this.v[offset + best]) best = k;
    return best;
  }
}

/** 1 when every leak of neurons [offset, offset + size) is 1 (the kernels' IF path), else 0. */
export function unitLeak(leak: Float64Array, offset: number, size: number): number {
  for (let i = offset; i < offset + size; i++) if (leak[i] !== 1) return 0;
  return 1;
}

/** Whether a population sends graded spikes (signed or bursts): its payloads and tracer are kept. */
export function isGraded(p: { burst: number; signed: boolean }): boolean {
  return p.signed || p.burst > 1;
}

let onesCache = new Int32Array(0);
function ones(n: number): Int32Array {
  if (onesCache.length < n) onesCache = new Int32Array(Math.max(n, 2 * onesCache.length)).fill(1);
  return onesCache;
}

/**
 * Simulates samples `input[s·inputSize ..]` for s < count; `sampleOffset` is the index of the first one
 * in the whole run (it keys the masks). `onSample` is called after each sample.
 */
/** A plan already in a (shared) memory: the engine uses state block `slot`. */
export interface LoadedPlan {
  image: PlanImage;
  memory: WebAssembly.Memory;
  slot: number;
}

/**
 * Simulates samples `input[s·inputSize ..]` for s < count; `sampleOffset` is the index of the first one
 * in the whole run (it keys the masks). `onSample` is called after each sample. Without `loaded`, the plan
 * is laid out in a memory of its own.
 */
export function runChunk(plan: NetworkPlan, input: Float32Array, sampleOffset: number, opts: ChunkOptions, onSample?: (done: number) => void, loaded?: LoadedPlan): ChunkResult {
  const { T, checkpoints } = opts;
  const count = input.length / plan.inputSize;
  const P = plan.pops.length;
  const K = checkpoints.length;
  const classes = plan.readout.size;
  const checkpointAt = new Int32Array(T + 1).fill(-1);
  checkpoints.forEach((t, k) => (checkpointAt[t] = k));
  const result: ChunkResult = {
    predictions: new Int32Array(count * K),
    logits: new Float32Array(count * classes),
    spikes: new Float64Array(P),
    sops: new Float64Array(plan.streams.length),
    arriving: new Float64Array(plan.masks.length),
    dropped: new Float64Array(plan.masks.length),
    active: 0,
    records: opts.recordSpikes ? [] : undefined,
    streamCategories: new Float64Array(plan.streams.length * CATEGORIES),
    products: new Float64Array(plan.analog.length),
    analogSpike: new Float64Array(plan.analog.length),
    analogMacs: new Float64Array(plan.analog.length),
    operandSpikes: new Float64Array(plan.analog.length),
    softmaxOps: new Float64Array(plan.analog.length),
    analogOut: new Float64Array(plan.analog.length * CATEGORIES),
    sopsAt: new Float64Array(K * plan.streams.length),
    categoriesAt: new Float64Array(K * plan.streams.length * CATEGORIES),
  };
  const S = plan.streams.length;
  const sopsStart = new Float64Array(S);
  const categoriesStart = new Float64Array(S * CATEGORIES);
  let where = loaded;
  if (!where) {
    const image = planImage(plan, 1);
    where = { image, memory: loadPlan(plan, image), slot: 0 };
  }
  const engine = new Engine(plan, where.image, where.memory, where.slot, opts.seed >>> 0, result, (opts.attention ?? 'accumulated') === 'accumulated');

  for (let s = 0; s < count; s++) {
    const sample = sampleOffset + s;
    engine.start(input, s * plan.inputSize);
    sopsStart.set(result.sops);
    categoriesStart.set(result.streamCategories);
    const offsets = opts.recordSpikes ? new Int32Array(T * P + 1) : undefined;
    const recorded = opts.recordSpikes ? new IntList() : undefined;
    const payloads = opts.recordSpikes && plan.pops.some(isGraded) ? new IntList() : undefined;
    for (let t = 1; t <= T; t++) {
      for (const p of plan.order) {
        if (p < 0) {
          if (p === -1) engine.accumulate();
          else engine.analogStep(-2 - p, t);
          continue;
        }
        const ns = engine.fire(p, t);
        result.spikes[p] += ns;
        if (recorded) {
          recorded.append(engine.spikeLists[p], ns);
          if (payloads) payloads.append(isGraded(plan.pops[p]) ? engine.payloads[p] : ones(ns), ns);
          offsets![(t - 1) * P + p + 1] = recorded.length;
        }
        engine.send(p, ns, sample, t);
      }
      const k = checkpointAt[t];
      if (k >= 0) {
        result.predictions[s * K + k] = engine.argmax();
        for (let i = 0; i < S; i++) result.sopsAt![k * S + i] += result.sops[i] - sopsStart[i];
        for (let i = 0; i < S * CATEGORIES; i++) result.categoriesAt![k * S * CATEGORIES + i] += result.streamCategories[i] - categoriesStart[i];
      }
    }
    const ro = plan.readout.offset;
    for (let k = 0; k < classes; k++) result.logits[s * classes + k] = engine.v[ro + k] / T;
    result.active += engine.active;
    if (recorded) {
      const record: SpikeRecord = { offsets: offsets!, indices: recorded.data.slice(0, recorded.length) };
      if (payloads) record.payloads = payloads.data.slice(0, payloads.length);
      result.records!.push(record);
    }
    onSample?.(s + 1);
  }
  return result;
}
