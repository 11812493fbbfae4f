/**
 * Running the configured virtual chip, step by step and layer by layer (see simulate.ts for the model and
 * why the order of every sum is the simulator's).
 */
import { SnncError } from '../../compiler/errors.ts';
import { applyInput, type AttentionMode, type Gather, type GatherAt, gatherOf, reserveBuckets, reserveGather, reserveInput, type SpikeRecord, unitLeak, writeGatherTables, writeInput } from '../../runtime/snn/engine.ts';
import { draw32, dropBelow, maskKey } from '../../runtime/snn/rng.ts';
import { type ConvTwinAt, instantiateKernels, MemoryLayout, reserveConvTwin, writeConvTwin, writeEntries } from '../../runtime/snn/wasm/kernels.ts';
import { checkpointsFor } from '../../runtime/snn/simulate.ts';
import { deliverDense, type Route } from '../../runtime/snn/routes.ts';
import { barrierNs } from '../chip-spec.ts';
import { emptyEvents, receiveNs, sendNs } from '../energy.ts';
import { assemble, type ChipRun, type CoreTotals, type LayerTotals, type MaskTotals, type SampleSubtotals, type Totals, type TracePhase, type TraceStep, type TraceCore } from './account.ts';
import type { ChipConfig } from './configure.ts';
import { ChipHost, hostNodeCount } from './host.ts';
import { type MessageCounter, messageCounter } from './messages.ts';
import { type PlacedRouter, routerOf } from './routers.ts';

export interface ChipOptions {
  T: number;
  seed?: number;
  labels?: Int32Array;
  /** Every population's reset: 'subtract' or 'zero' (Loihi 1's native reset). Default: each population's own, as the IR says. */
  reset?: 'subtract' | 'zero';
  /** Host nodes' rule (matmul, softmax), as `snnc simulate --attention`; default accumulated, the simulator's. */
  attention?: AttentionMode;
  /** Keep every phase's per-core counts and routes (small runs: it is large). */
  trace?: boolean;
  recordSpikes?: boolean;
  onProgress?(done: number, total: number): void;
  /** Messages kept in signatures (default 2²³, 256 MB); elements past it are counted message by message. Same report either way. */
  signatureMessages?: number;
  /** Index of the first sample in the whole run (a shard's start): masks are keyed by it, so a shard draws one run's masks. */
  sampleOffset?: number;
  /** Keep each sample's floating-point subtotals (ChipRun.subtotals), for a shard's partial result. */
  keepSubtotals?: boolean;
}


/** The readout's compartments accumulate their current; on cores (coreOf), those that received one count as active. */
function accumulate(cur: Float64Array, base: Float64Array, v: Float64Array, from: number, end: number, coreOf: Int32Array | null, act: Float64Array): void {
  for (let i = from; i < end; i++) {
    const c = cur[i];
    v[i] += c;
    cur[i] = base[i];
    if (c !== 0 && coreOf) act[coreOf[i]]++;
  }
}

/** What `send` and `tally` add up over one phase (one layer's turn in a step), by name. */
interface PhaseTally {
  /** The longest route taken by a message, ns. */
  route_ns: number;
  messages: number;
  hop_pj: number;
  /** Of the stream being sent, through its mask: spikes dropped, and what they would have cost. */
  dropped: number;
  saved_synaptic_ops: number;
  saved_messages: number;
  saved_hop_pj: number;
}

function emptyTally(): PhaseTally {
  return { route_ns: 0, messages: 0, hop_pj: 0, dropped: 0, saved_synaptic_ops: 0, saved_messages: 0, saved_hop_pj: 0 };
}

/** The events each core counts in a phase, by the chip spec's event names. */
export type CoreEvent = 'neuron_active' | 'spike_out' | 'message_out' | 'message_in' | 'synaptic_op';
export type CoreCounters = Record<CoreEvent, Float64Array>;

/** An Int32Array or Float64Array that grows by doubling. */
class Grow<A extends Int32Array | Float64Array> {
  length = 0;
  constructor(public data: A) {}
  push(x: number): void {
    if (this.length === this.data.length) {
      const next = new (this.data.constructor as new (n: number) => A)(2 * this.data.length);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = x;
  }
}

/**
 * Source elements whose spikes send the same messages (from the same core, to the same cores and layers with
 * the same synapse counts: everything a message is counted by) cost the same: such a set is a signature
 * (fmnist_cnn_qcfs, 100 images: 459 signatures; ResNet-18 at 224 on an 8x8 board, one image at T = 8:
 * 43,370 signatures of 2.1 M messages in all). An element's messages are worked out from the routes on its
 * first spike (messages.ts) and its signature found by a hash of them or added, with each message's route
 * (hops, energy, latency) worked out once. A spike then adds one to its signature's count, which becomes
 * per-core events once per stream (`tally`) and hops and link loads once per run (`settle`). Signatures keep at most `budget` messages; an element seen
 * after that is counted message by message at each spike (`send`). Memory: O(neurons + budget).
 */
class Signatures {
  /** Per stream and source element: its signature, −1 not yet seen, −2 not kept. */
  readonly sig: Int32Array[];
  readonly counters: MessageCounter[];
  /** Per hash of its messages, the last signature added; per signature, the one added before it with the same hash (−1: none). */
  private readonly byHash = new Map<number, number>();
  private readonly sameHash = new Grow(new Int32Array(256));
  private readonly h = new Int32Array(3);
  /** Per signature: sender core, longest route (ns), messages ptr[k] .. ptr[k+1], sends this stream, sends over the run. */
  readonly src = new Grow(new Int32Array(256));
  readonly routeNs = new Grow(new Float64Array(256));
  readonly ptr = new Grow(new Int32Array(256));
  count = new Float64Array(256);
  sent = new Float64Array(256);
  /** Signatures counted since the last tally. */
  readonly touched = new Grow(new Int32Array(256));
  /** Per message: destination core and layer, synapses, route energy (pJ) and hops (east-west, north-south, chip). */
  readonly core = new Grow(new Int32Array(1024));
  readonly layer = new Grow(new Int32Array(1024));
  readonly synapses = new Grow(new Int32Array(1024));
  readonly pj = new Grow(new Float64Array(1024));
  readonly hops = new Grow(new Int32Array(3 * 1024));

  constructor(
    private readonly cfg: ChipConfig,
    private readonly router: PlacedRouter,
    private readonly budget: number,
  ) {
    // Messages go to the cores' slices: the streams as the cores hold them (routes into host operands removed).
    this.sig = cfg.corePlan.streams.map((st) => new Int32Array(st.fanout.rows).fill(-1));
    this.counters = cfg.corePlan.streams.map((st) => messageCounter(st.fanout, cfg.sliceOf, cfg.sliceLayer.length));
    this.ptr.push(0);
  }

  /** Signature of element i of stream si (from core `from`), working it out on first use; −2: not kept (messages in counters[si]). */
  of(si: number, i: number, from: number): number {
    const known = this.sig[si][i];
    if (known !== -1) return known;
    const c = this.counters[si];
    const n = c.of(i);
    const { sliceCore, sliceLayer } = this.cfg;
    // Signatures are equal when everything they are counted by is: sender, and each message's core, layer and synapses.
    let hash = Math.imul(0x811c9dc5 ^ from, 0x01000193);
    for (let g = 0; g < n; g++) {
      hash = Math.imul(hash ^ sliceCore[c.slice[g]], 0x01000193);
      hash = Math.imul(hash ^ sliceLayer[c.slice[g]], 0x01000193);
      hash = Math.imul(hash ^ c.synapses[g], 0x01000193);
    }
    let q = this.byHash.get(hash) ?? -1;
    while (q >= 0 && !this.equals(q, from, c, n)) q = this.sameHash.data[q];
    if (q < 0) {
      if (this.core.length + n > this.budget) {
        this.sig[si][i] = -2;
        return -2;
      }
      q = this.src.length;
      this.sameHash.push(this.byHash.get(hash) ?? -1);
      this.byHash.set(hash, q);
      this.src.push(from);
      const e = this.cfg.spec.events;
      const h = this.h;
      let longest = 0;
      for (let g = 0; g < n; g++) {
        const to = sliceCore[c.slice[g]];
        this.router.hops(from, to, h);
        this.core.push(to);
        this.layer.push(sliceLayer[c.slice[g]]);
        this.synapses.push(c.synapses[g]);
        // routeEnergyPj and routeNs (energy.ts), term by term.
        this.pj.push(h[0] * e.hop_ew.energy_pj + h[1] * e.hop_ns.energy_pj + h[2] * e.chip_hop.energy_pj);
        const t = h[0] * e.hop_ew.latency_ns + h[1] * e.hop_ns.latency_ns + h[2] * e.chip_hop.latency_ns;
        if (t > longest) longest = t;
        for (let k = 0; k < 3; k++) this.hops.push(h[k]);
      }
      this.routeNs.push(longest);
      this.ptr.push(this.core.length);
      if (q >= this.count.length) {
        const count = new Float64Array(2 * this.count.length);
        const sent = new Float64Array(2 * this.count.length);
        count.set(this.count);
        sent.set(this.sent);
        this.count = count;
        this.sent = sent;
      }
    }
    this.sig[si][i] = q;
    return q;
  }

  /** Whether signature q is the counter's n messages sent from core `from`. */
  private equals(q: number, from: number, c: MessageCounter, n: number): boolean {
    const a = this.ptr.data[q];
    if (this.src.data[q] !== from || this.ptr.data[q + 1] - a !== n) return false;
    const { sliceCore, sliceLayer } = this.cfg;
    const core = this.core.data;
    const layer = this.layer.data;
    const synapses = this.synapses.data;
    for (let g = 0; g < n; g++) {
      const d = c.slice[g];
      if (core[a + g] !== sliceCore[d] || layer[a + g] !== sliceLayer[d] || synapses[a + g] !== c.synapses[g]) return false;
    }
    return true;
  }
}

/** Messages kept in signatures over a run: 32 bytes each, 256 MB at most. */
const SIGNATURE_MESSAGES = 2 ** 23;

/** What `send` reads and adds to: the phase's per-core counters and tally, the run's totals. */
interface Counters {
  core: CoreCounters;
  tally: PhaseTally;
  sigs: Signatures;
  router: PlacedRouter;
  coreOf: Int32Array;
  sliceCore: Int32Array;
  sliceLayer: Int32Array;
  /** Per layer over the run: synaptic ops of the messages into it. */
  sopsIn: Float64Array;
  /** Over the run: hops east-west, north-south, across chips. */
  hops: Float64Array;
  /** Per hop kind (east-west, north-south, chip): energy (pJ) and latency (ns) of one hop. */
  hopPj: [number, number, number];
  hopNs: [number, number, number];
  /**
   * True: route energies are summed message by message in spike order, as they arrive (needed unless they
   * are all integers: floating-point sums depend on their order). False: they are integers, whose sums are
   * exact in any order, and `tally` adds them per signature.
   */
  ordered: boolean;
  /** With --trace: this phase's messages per core pair (source · cores + destination). */
  phasePairs: Map<number, number> | null;
  cores: number;
}

/**
 * Sends the listed spikes of one stream: a masked spike (draw below `below`) is dropped at its source;
 * otherwise one message per destination slice, counted per signature (or message by message for an
 * element without one), then per core for the phase's timing. The spikes that survive are copied to
 * `kept`, whose synapses the caller then delivers: each neuron still receives its inputs in ascending
 * spike order, the functional simulator's. Returns how many survive.
 */
function send(si: number, srcOffset: number, list: Int32Array, ns: number, masked: boolean, key: number, below: number, kept: Int32Array, k: Counters): number {
  const { tally: acc, sigs, ordered, coreOf } = k;
  const counter = sigs.counters[si];
  const h = new Int32Array(3);
  let hop = acc.hop_pj;
  let n = 0;
  for (let s = 0; s < ns; s++) {
    const i = list[s];
    const from = coreOf[srcOffset + i];
    const q = sigs.of(si, i, from);
    const dropped = masked && draw32(key, i) < below;
    if (q >= 0) {
      const a = sigs.ptr.data[q];
      const b = sigs.ptr.data[q + 1];
      if (dropped) {
        acc.dropped++;
        acc.saved_messages += b - a;
        for (let g = a; g < b; g++) {
          acc.saved_synaptic_ops += sigs.synapses.data[g];
          acc.saved_hop_pj += sigs.pj.data[g];
        }
        continue;
      }
      kept[n++] = i;
      if (sigs.count[q]++ === 0) sigs.touched.push(q);
      if (ordered) for (let g = a; g < b; g++) hop += sigs.pj.data[g];
      continue;
    }
    // No signature kept: the element's messages are in the counter, counted one by one.
    const m = counter.of(i);
    const { slice, synapses } = counter;
    const [pjEw, pjNs, pjChip] = k.hopPj;
    if (dropped) {
      acc.dropped++;
      acc.saved_messages += m;
      for (let g = 0; g < m; g++) {
        acc.saved_synaptic_ops += synapses[g];
        k.router.hops(from, k.sliceCore[slice[g]], h);
        acc.saved_hop_pj += h[0] * pjEw + h[1] * pjNs + h[2] * pjChip;
      }
      continue;
    }
    kept[n++] = i;
    acc.hop_pj = hop;
    sendOne(from, m, slice, synapses, h, k);
    hop = acc.hop_pj;
  }
  acc.hop_pj = hop;
  tally(k);
  return n;
}

/** One spike's messages counted one by one (an element without a signature). */
function sendOne(from: number, m: number, slice: Int32Array, synapses: Int32Array, h: Int32Array, k: Counters): void {
  const { tally: acc, router, sliceCore, sliceLayer, sopsIn, hops, phasePairs } = k;
  const { message_out: mout, message_in: min, synaptic_op: sops } = k.core;
  const [pjEw, pjNs, pjChip] = k.hopPj;
  const [nsEw, nsNs, nsChip] = k.hopNs;
  mout[from] += m;
  acc.messages += m;
  for (let g = 0; g < m; g++) {
    const to = sliceCore[slice[g]];
    const syn = synapses[g];
    min[to]++;
    sops[to] += syn;
    sopsIn[sliceLayer[slice[g]]] += syn;
    router.hops(from, to, h);
    hops[0] += h[0];
    hops[1] += h[1];
    hops[2] += h[2];
    acc.hop_pj += h[0] * pjEw + h[1] * pjNs + h[2] * pjChip;
    const t = h[0] * nsEw + h[1] * nsNs + h[2] * nsChip;
    if (t > acc.route_ns) acc.route_ns = t;
    router.addLinks(from, to, 1);
    if (phasePairs) {
      const pair = from * k.cores + to;
      phasePairs.set(pair, (phasePairs.get(pair) ?? 0) + 1);
    }
  }
}

/** Turns the sends per signature since the last tally into the phase's per-core events, and clears them. */
function tally(k: Counters): void {
  const { sigs, tally: acc, ordered, sopsIn, phasePairs } = k;
  const { message_out: mout, message_in: min, synaptic_op: sops } = k.core;
  const { count, sent } = sigs;
  const ptr = sigs.ptr.data;
  const src = sigs.src.data;
  const routeNs = sigs.routeNs.data;
  const core = sigs.core.data;
  const layer = sigs.layer.data;
  const synapses = sigs.synapses.data;
  const pj = sigs.pj.data;
  let hop = acc.hop_pj;
  let routeMax = acc.route_ns;
  let messages = 0;
  const touched = sigs.touched.data;
  for (let j = 0; j < sigs.touched.length; j++) {
    const q = touched[j];
    const n = count[q];
    count[q] = 0;
    sent[q] += n;
    const m = ptr[q + 1] - ptr[q];
    mout[src[q]] += n * m;
    messages += n * m;
    if (routeNs[q] > routeMax) routeMax = routeNs[q];
    for (let g = ptr[q]; g < ptr[q + 1]; g++) {
      min[core[g]] += n;
      sops[core[g]] += n * synapses[g];
      sopsIn[layer[g]] += n * synapses[g];
      if (!ordered) hop += n * pj[g];
      if (phasePairs) {
        const pair = src[q] * k.cores + core[g];
        phasePairs.set(pair, (phasePairs.get(pair) ?? 0) + n);
      }
    }
  }
  sigs.touched.length = 0;
  acc.hop_pj = hop;
  acc.route_ns = routeMax;
  acc.messages += messages;
}

/** Hops and link loads over the run, from the signatures' send counts. */
function settle(k: Counters): void {
  const { sigs, hops, router } = k;
  for (let q = 0; q < sigs.src.length; q++) {
    const n = sigs.sent[q];
    if (n === 0) continue;
    for (let g = sigs.ptr.data[q]; g < sigs.ptr.data[q + 1]; g++) {
      for (let d = 0; d < 3; d++) hops[d] += n * sigs.hops.data[3 * g + d];
      router.addLinks(sigs.src.data[q], sigs.core.data[g], n);
    }
  }
}

/**
 * Where the kernels find a route: a conv twin's tables (and its gatherConv tables when it is delivered
 * target-stationary, as the simulator delivers it), a table's row pointers and entries; null for dense
 * routes (delivered in JavaScript).
 */
type RouteAt = (ConvTwinAt & { gather: GatherAt | null }) | { rowPtr: number; entries: number } | null;

/** A WebAssembly memory addresses at most 4 GiB (65,536 pages of 64 KiB). */
const WASM_MAX_BYTES = 65536 * 65536;

/**
 * Lays out the chip's compartments and synapses in a fresh kernels memory and copies in what does not
 * change during a run (thresholds, cores, each route's weights: a conv twin, a dense matrix, a small
 * table), as the functional simulator's engine does; returns the kernels and the byte offsets.
 */
function loadChip(cfg: ChipConfig) {
  const { plan, cores: N } = cfg;
  const n = plan.currentSize;
  const maxPop = Math.max(0, ...plan.pops.map((p) => p.size));
  const routes = plan.streams.flatMap((st) => st.fanout.routes);
  // Conv routes the simulator delivers target-stationary, delivered so here too.
  const gathers = new Map<Route, Gather | null>(routes.map((r) => [r, r.kind === 'conv' ? gatherOf(r) : null]));
  const layout = new MemoryLayout();
  const at = {
    maxPop,
    cur: layout.reserve(8 * n),
    base: layout.reserve(8 * n),
    v: layout.reserve(8 * n),
    theta: layout.reserve(8 * n),
    leak: layout.reserve(8 * n),
    coreOf: layout.reserve(4 * n),
    act: layout.reserve(8 * N),
    spk: layout.reserve(8 * N),
    lists: plan.pops.map((p) => layout.reserve(4 * p.size)),
    kept: layout.reserve(4 * maxPop),
    remapped: layout.reserve(4 * maxPop),
    // Room to stage a conv target channel-last: the scattered routes' and the analog input's.
    stage: layout.reserve(8 * Math.max(0, ...[...routes.filter((r) => !gathers.get(r)), ...plan.input.routes].map((r) => (r.kind === 'conv' ? r.twin.cout * r.twin.outPlane : 0)))),
    // The sample, for the analog input's conv routes (the host applies them as the simulator does).
    x: layout.reserve(4 * plan.input.rows),
  };
  const input = reserveInput(plan, (_, bytes) => layout.reserve(bytes));
  const gathered: Array<GatherAt & { outPlane: number }> = [];
  const routeAt: RouteAt[][] = plan.streams.map((st) =>
    st.fanout.routes.map((r) => {
      if (r.kind === 'conv') {
        const g = gathers.get(r);
        const gather = g ? reserveGather(g, r.twin.plane, (bytes) => layout.reserve(bytes)) : null;
        if (gather) gathered.push({ ...gather, outPlane: r.twin.outPlane });
        return { ...reserveConvTwin(layout, r.twin), gather };
      }
      if (r.kind === 'table') return { rowPtr: layout.reserve(4 * r.csr.rowPtr.length), entries: layout.reserve(8 * r.csr.col.length) };
      return null;
    }),
  );
  const buckets = reserveBuckets(layout, gathered);
  if (layout.size > WASM_MAX_BYTES) {
    const gib = (b: number) => (b / 2 ** 30).toFixed(2);
    throw new SnncError(`the virtual chip's state and weights need ${gib(layout.size)} GiB of WebAssembly memory, more than the 4 GiB one memory can address (by ${gib(layout.size - WASM_MAX_BYTES)} GiB)`);
  }
  const kernels = instantiateKernels(layout.size);
  const buffer = kernels.memory.buffer;
  writeInput(buffer, plan, input);
  new Float64Array(buffer, at.theta, n).set(plan.threshold);
  new Float64Array(buffer, at.leak, n).set(plan.leak);
  new Int32Array(buffer, at.coreOf, n).set(cfg.coreOf);
  plan.streams.forEach((st, si) =>
    st.fanout.routes.forEach((r, ri) => {
      const where = routeAt[si][ri];
      if (r.kind === 'conv') {
        const c = where as ConvTwinAt & { gather: GatherAt | null };
        writeConvTwin(buffer, c, r.twin);
        if (c.gather) writeGatherTables(buffer, c.gather, r.twin);
      }
      if (r.kind === 'table') {
        const { rowPtr, entries } = where as { rowPtr: number; entries: number };
        new Int32Array(buffer, rowPtr, r.csr.rowPtr.length).set(r.csr.rowPtr);
        writeEntries(buffer, entries, at.cur, r.csr.col, r.csr.val);
      }
    }),
  );
  return { kernels, at: { ...at, ...buckets }, routeAt, input };
}

/** Runs `input` (raw samples, divided by the IR's divisor as the simulator does) on the configured chip. */
export function runChip(cfg: ChipConfig, input: Float32Array, opts: ChipOptions): ChipRun {
  const start = performance.now();
  const { spec, plan, net, cores: N } = cfg;
  const { T } = opts;
  if (!(Number.isInteger(T) && T >= 1)) throw new SnncError(`T must be a positive integer, got ${T}`);
  if (input.length === 0 || input.length % plan.inputSize !== 0) throw new SnncError(`input has ${input.length} values: not a whole number of samples of ${plan.inputSize}`);
  const samples = input.length / plan.inputSize;
  if (opts.labels && opts.labels.length !== samples) throw new SnncError(`${opts.labels.length} labels for ${samples} samples`);
  const seed = (opts.seed ?? 0) >>> 0;
  const sampleOffset = opts.sampleOffset ?? 0;
  if (!(Number.isInteger(sampleOffset) && sampleOffset >= 0)) throw new SnncError(`sampleOffset must be a non-negative integer, got ${sampleOffset}`);
  // Per population: the override, or the IR's reset; every mode used must be one the chip has.
  const resets = plan.pops.map((p) => opts.reset ?? p.reset);
  for (const r of new Set(resets)) {
    // About the map (its chip spec against its IR's neurons), so it names the map file when there is one.
    if (!spec.neuron.reset_modes.includes(r)) throw new SnncError(`reset '${r}' is not a reset mode of ${spec.name} (${spec.neuron.reset_modes.join(', ')})`, cfg.file ? { file: cfg.file } : {});
  }
  const subtract = resets.map((r) => (r === 'subtract' ? 1 : 0));
  const unit = plan.pops.map((p) => unitLeak(plan.leak, p.offset, p.size));
  // What the report names: the override, or the IR's reset when all populations share it (mixed: noted per population).
  const reset = opts.reset ?? (resets.every((r) => r === resets[0]) ? (resets[0] ?? 'subtract') : 'subtract');
  const mixedReset = !opts.reset && resets.some((r) => r !== reset);
  const P = plan.pops.length;
  const L = net.pops.length; // plan populations, then the readout
  const readoutLayer = L - 1;
  const checkpoints = checkpointsFor(T);
  const checkpointAt = new Int32Array(T + 1).fill(-1);
  checkpoints.forEach((t, k) => (checkpointAt[t] = k));
  const classes = plan.readout.size;
  const below = plan.masks.map((m) => dropBelow(m.ratio));
  const barrier = barrierNs(spec, cfg.tilesInUse);

  // State (the chip's compartments; kept in the plan's current-space layout, each core owning its neurons)
  // and synapses, in the kernels' memory: the IF update and the synaptic ops run in WebAssembly.
  const { kernels, at, routeAt, input: inputAt } = loadChip(cfg);
  const buffer = kernels.memory.buffer;
  const remapped = new Int32Array(buffer, at.remapped, at.maxPop);
  const n = plan.currentSize;
  const cur = new Float64Array(buffer, at.cur, n);
  const base = new Float64Array(buffer, at.base, n);
  const v = new Float64Array(buffer, at.v, n);
  const lists = plan.pops.map((p, i) => new Int32Array(buffer, at.lists[i], p.size));
  const kept = new Int32Array(buffer, at.kept, at.maxPop);

  // Per-phase per-core counters, and the totals.
  // The IF update counts neuron_active and spike_out per core in the kernels' memory.
  const core: CoreCounters = {
    neuron_active: new Float64Array(buffer, at.act, N),
    spike_out: new Float64Array(buffer, at.spk, N),
    message_out: new Float64Array(N),
    message_in: new Float64Array(N),
    synaptic_op: new Float64Array(N),
  };
  const { neuron_active: act, spike_out: spk, message_out: mout, message_in: min, synaptic_op: sops } = core;
  const busy = new Float64Array(N);
  const coreTotals: CoreTotals = { synaptic_op: new Float64Array(N), neuron_update: new Float64Array(N), message_out: new Float64Array(N), message_in: new Float64Array(N) };
  const layerTotals: LayerTotals = {
    spike_out: new Float64Array(L),
    synaptic_op: new Float64Array(L),
    message_out: new Float64Array(L),
    neuron_active: new Float64Array(L),
    neuron_inactive: new Float64Array(L),
    hop_pj: new Float64Array(L),
  };
  const onCore = cfg.layerNeuronsOnCore.map((m) => {
    const a = new Float64Array(N);
    for (const [c, n] of m) a[c] = n;
    return a;
  });
  const masks: MaskTotals[] = plan.masks.map(() => ({ dropped: 0, synaptic_op: 0, message: 0, hop_pj: 0 }));
  const events = emptyEvents();
  const acc = emptyTally();
  const router = routerOf(spec).place(spec, cfg.positions);
  const e = spec.events;
  const counters: Counters = {
    core,
    tally: acc,
    sigs: new Signatures(cfg, router, opts.signatureMessages ?? SIGNATURE_MESSAGES),
    router,
    coreOf: cfg.coreOf,
    sliceCore: cfg.sliceCore,
    sliceLayer: cfg.sliceLayer,
    sopsIn: layerTotals.synaptic_op,
    hops: new Float64Array(3),
    hopPj: [e.hop_ew.energy_pj, e.hop_ns.energy_pj, e.chip_hop.energy_pj],
    hopNs: [e.hop_ew.latency_ns, e.hop_ns.latency_ns, e.chip_hop.latency_ns],
    // Route energies that are all integers (loihi1's 3, 4 and 30 pJ per hop) sum exactly in any order.
    ordered: ![e.hop_ew.energy_pj, e.hop_ns.energy_pj, e.chip_hop.energy_pj].every(Number.isInteger),
    phasePairs: opts.trace ? new Map() : null,
    cores: N,
  };
  const phasePairs = counters.phasePairs;
  // Host nodes (transformers): the simulator's own step, on the host processor of the map (host.ts).
  const host = cfg.host ? new ChipHost(cfg, (opts.attention ?? 'accumulated') === 'accumulated') : null;

  const allPredictions = new Int32Array(samples * checkpoints.length);
  const predictions = new Int32Array(samples);
  const logits = new Float32Array(samples * classes);
  const records: SpikeRecord[] = [];
  const trace: TraceStep[][] = [];
  let totalNs = 0;
  let maxStepNs = 0;
  // Non-integer sums (ns, pJ) are summed within a sample, then the samples' subtotals in sample order: a
  // shard keeps its samples' subtotals and the merge adds them in the same order, giving one run's bits.
  const M = plan.masks.length;
  const sampleBusy = new Float64Array(N);
  const sampleHop = new Float64Array(L);
  const sampleMaskHop = new Float64Array(M);
  const H = hostNodeCount(cfg);
  const subtotals: SampleSubtotals | undefined = opts.keepSubtotals
    ? { ns: new Float64Array(samples), busy: new Float64Array(samples * N), hop_pj: new Float64Array(samples * L), mask_hop_pj: new Float64Array(samples * M), host_ns: new Float64Array(samples * H) }
    : undefined;

  for (let s = 0; s < samples; s++) {
    // The host writes the analog input layer's currents as compartment biases, once per sample, summed in
    // the functional simulator's order: biases, then applyInput (inputs ascending, rows ascending).
    base.set(plan.bias);
    const x0 = s * plan.inputSize;
    applyInput(kernels, plan, inputAt, { x: at.x, acc: at.stage, base: at.base }, base, input, x0);
    cur.set(base);
    v.set(plan.v0);
    host?.startSample();
    const offsets = opts.recordSpikes ? new Int32Array(T * P + 1) : undefined;
    const recorded: number[] = [];
    const sampleTrace: TraceStep[] = [];
    let sampleNs = 0;

    for (let t = 1; t <= T; t++) {
      let stepNs = 0;
      const stepTrace: TracePhase[] = [];
      for (const p of plan.order) {
        if (p <= -2) {
          // A host node's turn: no core sends or receives; its time is the host processor's.
          const ns = host!.step(-2 - p, t, cur, base);
          stepNs += ns;
          if (opts.trace) stepTrace.push({ layer: plan.analog[-2 - p].id, cores: [], routes: [], send_ns: 0, route_ns: 0, receive_ns: 0, ns });
          continue;
        }
        if (p === -1 && host && cfg.host!.split.readout) {
          // The readout on the host: its accumulators take this step's currents; its time is the host's.
          accumulate(cur, base, v, plan.readout.offset, plan.readout.offset + plan.readout.size, null, act);
          const ns = host.readoutStep();
          stepNs += ns;
          if (opts.trace) stepTrace.push({ layer: plan.readout.id, cores: [], routes: [], send_ns: 0, route_ns: 0, receive_ns: 0, ns });
          continue;
        }
        const layer = p < 0 ? readoutLayer : p;
        const pop = net.pops[layer];
        Object.assign(acc, emptyTally());
        if (p < 0) {
          accumulate(cur, base, v, pop.offset, pop.offset + pop.size, cfg.coreOf, act);
        } else {
          const list = lists[p];
          const ns = kernels.integrateCores(at.cur, at.base, at.v, at.theta, at.leak, pop.offset, pop.offset + pop.size, at.lists[p], at.coreOf, at.act, at.spk, subtract[p], unit[p]);
          layerTotals.spike_out[layer] += ns;
          if (offsets) {
            for (let k = 0; k < ns; k++) recorded.push(list[k]);
            offsets[(t - 1) * P + p + 1] = recorded.length;
          }
          for (const si of plan.pops[p].streams) {
            const m = plan.streams[si].mask;
            const masked = m >= 0;
            if (masked) acc.dropped = acc.saved_synaptic_ops = acc.saved_messages = acc.saved_hop_pj = 0;
            const kn = send(si, pop.offset, list, ns, masked, masked ? maskKey(seed, sampleOffset + s, t, m) : 0, masked ? below[m] : 0, kept, counters);
            if (host) host.received(si, kept, kn);
            // The survivors' synapses, route by route as the functional simulator delivers them (same sums, same order).
            if (kn > 0) {
              plan.streams[si].fanout.routes.forEach((r, ri) => {
                const where = routeAt[si][ri];
                if (r.kind === 'dense') {
                  deliverDense(kept, kn, r, cur);
                } else if (r.kind === 'table') {
                  const table = where as { rowPtr: number; entries: number };
                  kernels.addEntries(at.kept, kn, table.rowPtr, table.entries);
                } else {
                  const c = where as ConvTwinAt & { gather: GatherAt | null };
                  const x = r.twin;
                  let spikes = at.kept;
                  let count = kn;
                  if (r.remap) {
                    count = 0;
                    for (let k = 0; k < kn; k++) {
                      const e = r.remap[kept[k]];
                      if (e >= 0) remapped[count++] = e;
                    }
                    spikes = at.remapped;
                  }
                  const g = c.gather;
                  if (count === 0) return;
                  if (g) kernels.gatherConv(spikes, count, at.cur + 8 * x.offset, g.posOut4, g.posTapB, g.posInc, g.maxq, c.weights, x.plane, x.cout, x.taps, x.outPlane, at.ptrs, at.bucket, g.cap);
                  else kernels.deliverConv(spikes, count, at.cur + 8 * x.offset, at.stage, c.posPtr, c.posOut, c.posTap, c.weights, x.plane, x.outPlane, x.cinPerGroup, x.coutPerGroup, x.cout, x.taps);
                }
              });
            }
            if (masked) {
              masks[m].dropped += acc.dropped;
              masks[m].synaptic_op += acc.saved_synaptic_ops;
              masks[m].message += acc.saved_messages;
              sampleMaskHop[m] += acc.saved_hop_pj;
            }
          }
          layerTotals.message_out[layer] += acc.messages;
          sampleHop[layer] += acc.hop_pj;
        }
        // Phase time: the slowest sender, the longest route, the slowest receiver.
        let sendMax = 0;
        let recvMax = 0;
        const here = onCore[layer];
        const phaseCores: TraceCore[] = [];
        for (let c = 0; c < N; c++) {
          if (here[c] === 0 && min[c] === 0) continue;
          const inactive = here[c] - act[c];
          const sending = sendNs(spec, act[c], inactive, spk[c], mout[c]);
          const receiving = receiveNs(spec, min[c], sops[c]);
          if (sending > sendMax) sendMax = sending;
          if (receiving > recvMax) recvMax = receiving;
          sampleBusy[c] += sending + receiving;
          events.neuron_active += act[c];
          events.neuron_inactive += inactive;
          events.spike_out += spk[c];
          events.message_out += mout[c];
          events.message_in += min[c];
          events.synaptic_op += sops[c];
          layerTotals.neuron_active[layer] += act[c];
          layerTotals.neuron_inactive[layer] += inactive;
          coreTotals.synaptic_op[c] += sops[c];
          coreTotals.neuron_update[c] += act[c] + inactive;
          coreTotals.message_out[c] += mout[c];
          coreTotals.message_in[c] += min[c];
          if (phasePairs) phaseCores.push([c, act[c], inactive, spk[c], mout[c], min[c], sops[c]]);
          act[c] = spk[c] = mout[c] = min[c] = sops[c] = 0;
        }
        const routeMax = acc.route_ns;
        const phaseNs = sendMax + routeMax + recvMax;
        stepNs += phaseNs;
        if (phasePairs) {
          const routes = [...phasePairs.keys()].sort((a, b) => a - b).map((pair): [number, number, number] => [Math.floor(pair / N), pair % N, phasePairs.get(pair)!]);
          phasePairs.clear();
          stepTrace.push({ layer: pop.id, cores: phaseCores, routes, send_ns: sendMax, route_ns: routeMax, receive_ns: recvMax, ns: phaseNs });
        }
      }
      stepNs += barrier;
      events.barrier++;
      sampleNs += stepNs;
      if (stepNs > maxStepNs) maxStepNs = stepNs;
      if (opts.trace) sampleTrace.push({ phases: stepTrace, barrier_ns: barrier, ns: stepNs });
      if (checkpointAt[t] >= 0) {
        const { offset } = plan.readout;
        let best = 0;
        for (let k = 1; k < classes; k++) if (v[offset + k] > v[offset + best]) best = k;
        allPredictions[s * checkpoints.length + checkpointAt[t]] = best;
      }
    }
    predictions[s] = allPredictions[s * checkpoints.length + checkpoints.length - 1];
    for (let k = 0; k < classes; k++) logits[s * classes + k] = v[plan.readout.offset + k] / T;
    totalNs += sampleNs;
    for (let c = 0; c < N; c++) busy[c] += sampleBusy[c];
    for (let k = 0; k < L; k++) layerTotals.hop_pj[k] += sampleHop[k];
    for (let k = 0; k < M; k++) masks[k].hop_pj += sampleMaskHop[k];
    if (subtotals) {
      subtotals.ns[s] = sampleNs;
      subtotals.busy.set(sampleBusy, s * N);
      subtotals.hop_pj.set(sampleHop, s * L);
      subtotals.mask_hop_pj.set(sampleMaskHop, s * M);
      if (host) subtotals.host_ns.set(host.sampleNs, s * H);
    }
    host?.endSample();
    sampleBusy.fill(0);
    sampleHop.fill(0);
    sampleMaskHop.fill(0);
    if (offsets) records.push({ offsets, indices: Int32Array.from(recorded) });
    if (opts.trace) trace.push(sampleTrace);
    opts.onProgress?.(s + 1, samples);
  }

  settle(counters);
  events.hop_ew = counters.hops[0];
  events.hop_ns = counters.hops[1];
  events.chip_hop = counters.hops[2];
  const totals: Totals = { samples, T, seed, reset, mixedReset, opts, events, linkLoads: router.linkLoads(), layerTotals, coreTotals, busy, masks, totalNs, maxStepNs, barrier, allPredictions, checkpoints, host: host?.counts ?? null };
  return {
    report: assemble(cfg, totals, start, opts.trace ? trace : undefined),
    totals,
    subtotals,
    predictions,
    logits,
    spikes: opts.recordSpikes ? records : undefined,
  };
}
