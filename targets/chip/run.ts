/**
 * Running the configured virtual chip, step by step and layer by layer (see simulate.ts for the model and
 * why the order of every sum is the simulator's).
 */
import { SnncError } from '../../compiler/errors.ts';
import { applyInput, type SpikeRecord } from '../../runtime/snn/engine.ts';
import { draw32, dropBelow, maskKey } from '../../runtime/snn/rng.ts';
import { type ConvTwinAt, instantiateKernels, MemoryLayout, reserveConvTwin, writeConvTwin, writeEntries } from '../../runtime/snn/wasm/kernels.ts';
import { checkpointsFor } from '../../runtime/snn/simulate.ts';
import { deliverDense } from '../../runtime/snn/routes.ts';
import { barrierNs } from '../chip-spec.ts';
import { emptyEvents, receiveNs, sendNs } from '../energy.ts';
import { assemble, type ChipRun, type CoreTotals, type LayerTotals, type MaskTotals, type TracePhase, type TraceStep, type TraceCore } from './account.ts';
import type { ChipConfig } from './configure.ts';
import { type MessageCounter, messageCounter } from './messages.ts';
import { type PlacedRouter, routerOf } from './routers.ts';

export interface ChipOptions {
  T: number;
  seed?: number;
  labels?: Int32Array;
  /** Every population's reset: 'subtract' or 'zero' (Loihi 1's native reset). Default: each population's own, as the IR says. */
  reset?: 'subtract' | 'zero';
  /** Keep every phase's per-core counts and routes (small runs: it is large). */
  trace?: boolean;
  recordSpikes?: boolean;
  onProgress?(done: number, total: number): void;
}


/** The readout's compartments accumulate their current; those that received one count as active. */
function accumulate(cur: Float64Array, base: Float64Array, v: Float64Array, from: number, end: number, coreOf: Int32Array, act: Float64Array): void {
  for (let i = from; i < end; i++) {
    const c = cur[i];
    v[i] += c;
    cur[i] = base[i];
    if (c !== 0) act[coreOf[i]]++;
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

/**
 * Each source element's messages (destination slice and synapses, from the routes: messages.ts), worked
 * out on its first spike and kept in one store for the later ones while the store is below its budget
 * (beyond it, worked out again at each spike): memory O(neurons + budget), never O(synapses).
 */
class MessageCache {
  /** Per stream and source element: start in the store, −1 not yet worked out. */
  private readonly start: Int32Array[];
  private readonly length: Int32Array[];
  private readonly counters: MessageCounter[];
  private stored = 0;
  /** Where load() put the element's messages: slice[offset + g], synapses[offset + g], g < n. */
  slice: Int32Array;
  synapses: Int32Array;
  offset = 0;
  private storeSlice: Int32Array;
  private storeSynapses: Int32Array;

  constructor(cfg: ChipConfig, private readonly budget: number) {
    const { plan } = cfg;
    this.start = plan.streams.map((st) => new Int32Array(st.fanout.rows).fill(-1));
    this.length = plan.streams.map((st) => new Int32Array(st.fanout.rows));
    this.counters = plan.streams.map((st) => messageCounter(st.fanout, cfg.sliceOf, cfg.sliceLayer.length));
    this.storeSlice = new Int32Array(1024);
    this.storeSynapses = new Int32Array(1024);
    this.slice = this.storeSlice;
    this.synapses = this.storeSynapses;
  }

  /** Element i of stream si: its messages' count, and where they are (slice, synapses, offset). */
  load(si: number, i: number): number {
    const at = this.start[si][i];
    if (at >= 0) {
      this.slice = this.storeSlice;
      this.synapses = this.storeSynapses;
      this.offset = at;
      return this.length[si][i];
    }
    const c = this.counters[si];
    const n = c.of(i);
    if (this.stored + n > this.budget) {
      this.slice = c.slice;
      this.synapses = c.synapses;
      this.offset = 0;
      return n;
    }
    if (this.stored + n > this.storeSlice.length) this.grow(this.stored + n);
    this.storeSlice.set(c.slice.subarray(0, n), this.stored);
    this.storeSynapses.set(c.synapses.subarray(0, n), this.stored);
    this.start[si][i] = this.stored;
    this.length[si][i] = n;
    this.slice = this.storeSlice;
    this.synapses = this.storeSynapses;
    this.offset = this.stored;
    this.stored += n;
    return n;
  }

  private grow(need: number): void {
    const size = Math.min(this.budget, Math.max(need, 2 * this.storeSlice.length));
    const slice = new Int32Array(size);
    const synapses = new Int32Array(size);
    slice.set(this.storeSlice.subarray(0, this.stored));
    synapses.set(this.storeSynapses.subarray(0, this.stored));
    this.storeSlice = slice;
    this.storeSynapses = synapses;
  }
}

/** Messages kept per source element over a run: 2 × 4 bytes each, 256 MB at most. */
const MESSAGE_CACHE = 2 ** 25;

/** What `send` reads and adds to: the phase's per-core counters and tally, the run's totals. */
interface Counters {
  core: CoreCounters;
  tally: PhaseTally;
  cache: MessageCache;
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
  /** With --trace: this phase's messages per core pair (source · cores + destination). */
  phasePairs: Map<number, number> | null;
  cores: number;
}

/**
 * Sends the listed spikes of one stream: a masked spike (draw below `below`) is dropped at its source;
 * otherwise one message per destination slice, each counted on its cores, its route's hops, links, energy
 * and latency, in spike order (route energies that are not integers sum differently in another order).
 * The spikes that survive are copied to `kept`, whose synapses the caller then delivers: each neuron
 * still receives its inputs in ascending spike order, the functional simulator's. Returns how many survive.
 */
function send(si: number, srcOffset: number, list: Int32Array, ns: number, masked: boolean, key: number, below: number, kept: Int32Array, k: Counters): number {
  const { tally: acc, cache, router, coreOf, sliceCore, sliceLayer, sopsIn, hops, phasePairs } = k;
  const { message_out: mout, message_in: min, synaptic_op: sops } = k.core;
  const [pjEw, pjNs, pjChip] = k.hopPj;
  const [nsEw, nsNs, nsChip] = k.hopNs;
  const h = new Int32Array(3);
  let hop = acc.hop_pj;
  let routeMax = acc.route_ns;
  let messages = 0;
  let n = 0;
  for (let s = 0; s < ns; s++) {
    const i = list[s];
    const from = coreOf[srcOffset + i];
    const m = cache.load(si, i);
    const { slice, synapses, offset } = cache;
    if (masked && draw32(key, i) < below) {
      acc.dropped++;
      acc.saved_messages += m;
      for (let g = offset; g < offset + m; g++) {
        acc.saved_synaptic_ops += synapses[g];
        router.hops(from, sliceCore[slice[g]], h);
        acc.saved_hop_pj += h[0] * pjEw + h[1] * pjNs + h[2] * pjChip;
      }
      continue;
    }
    kept[n++] = i;
    mout[from] += m;
    messages += m;
    for (let g = offset; g < offset + m; g++) {
      const to = sliceCore[slice[g]];
      const syn = synapses[g];
      min[to]++;
      sops[to] += syn;
      sopsIn[sliceLayer[slice[g]]] += syn;
      router.hops(from, to, h);
      hops[0] += h[0];
      hops[1] += h[1];
      hops[2] += h[2];
      // routeEnergyPj and routeNs (energy.ts), term by term.
      hop += h[0] * pjEw + h[1] * pjNs + h[2] * pjChip;
      const t = h[0] * nsEw + h[1] * nsNs + h[2] * nsChip;
      if (t > routeMax) routeMax = t;
      router.addLinks(from, to, 1);
      if (phasePairs) {
        const pair = from * k.cores + to;
        phasePairs.set(pair, (phasePairs.get(pair) ?? 0) + 1);
      }
    }
  }
  acc.hop_pj = hop;
  acc.route_ns = routeMax;
  acc.messages += messages;
  return n;
}

/** Where the kernels find a route: a conv twin's tables, a table's row pointers and entries; null for dense routes (delivered in JavaScript). */
type RouteAt = ConvTwinAt | { rowPtr: number; entries: number } | null;

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
    stage: layout.reserve(8 * Math.max(0, ...routes.map((r) => (r.kind === 'conv' ? r.twin.cout * r.twin.outPlane : 0)))),
  };
  const routeAt: RouteAt[][] = plan.streams.map((st) =>
    st.fanout.routes.map((r) => {
      if (r.kind === 'conv') return reserveConvTwin(layout, r.twin);
      if (r.kind === 'table') return { rowPtr: layout.reserve(4 * r.csr.rowPtr.length), entries: layout.reserve(8 * r.csr.col.length) };
      return null;
    }),
  );
  if (layout.size > WASM_MAX_BYTES) {
    const gib = (b: number) => (b / 2 ** 30).toFixed(2);
    throw new SnncError(`the virtual chip's state and weights need ${gib(layout.size)} GiB of WebAssembly memory, more than the 4 GiB one memory can address (by ${gib(layout.size - WASM_MAX_BYTES)} GiB)`);
  }
  const kernels = instantiateKernels(layout.size);
  const buffer = kernels.memory.buffer;
  new Float64Array(buffer, at.theta, n).set(plan.threshold);
  new Float64Array(buffer, at.leak, n).set(plan.leak);
  new Int32Array(buffer, at.coreOf, n).set(cfg.coreOf);
  plan.streams.forEach((st, si) =>
    st.fanout.routes.forEach((r, ri) => {
      const where = routeAt[si][ri];
      if (r.kind === 'conv') writeConvTwin(buffer, where as ConvTwinAt, r.twin);
      if (r.kind === 'table') {
        const { rowPtr, entries } = where as { rowPtr: number; entries: number };
        new Int32Array(buffer, rowPtr, r.csr.rowPtr.length).set(r.csr.rowPtr);
        writeEntries(buffer, entries, at.cur, r.csr.col, r.csr.val);
      }
    }),
  );
  return { kernels, at, routeAt };
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
  // Per population: the override, or the IR's reset; every mode used must be one the chip has.
  const resets = plan.pops.map((p) => opts.reset ?? p.reset);
  for (const r of new Set(resets)) {
    if (!spec.neuron.reset_modes.includes(r)) throw new SnncError(`reset '${r}' is not a reset mode of ${spec.name} (${spec.neuron.reset_modes.join(', ')})`);
  }
  const subtract = resets.map((r) => (r === 'subtract' ? 1 : 0));
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
  const { kernels, at, routeAt } = loadChip(cfg);
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
    cache: new MessageCache(cfg, MESSAGE_CACHE),
    router,
    coreOf: cfg.coreOf,
    sliceCore: cfg.sliceCore,
    sliceLayer: cfg.sliceLayer,
    sopsIn: layerTotals.synaptic_op,
    hops: new Float64Array(3),
    hopPj: [e.hop_ew.energy_pj, e.hop_ns.energy_pj, e.chip_hop.energy_pj],
    hopNs: [e.hop_ew.latency_ns, e.hop_ns.latency_ns, e.chip_hop.latency_ns],
    phasePairs: opts.trace ? new Map() : null,
    cores: N,
  };
  const phasePairs = counters.phasePairs;

  const allPredictions = new Int32Array(samples * checkpoints.length);
  const predictions = new Int32Array(samples);
  const logits = new Float32Array(samples * classes);
  const records: SpikeRecord[] = [];
  const trace: TraceStep[][] = [];
  let totalNs = 0;
  let maxStepNs = 0;

  for (let s = 0; s < samples; s++) {
    // The host writes the analog input layer's currents as compartment biases, once per sample, summed in
    // the functional simulator's order: biases, then applyInput (inputs ascending, rows ascending).
    base.set(plan.bias);
    const x0 = s * plan.inputSize;
    applyInput(base, plan.input, input, x0, plan.inputSize, plan.divisor);
    cur.set(base);
    v.set(plan.v0);
    const offsets = opts.recordSpikes ? new Int32Array(T * P + 1) : undefined;
    const recorded: number[] = [];
    const sampleTrace: TraceStep[] = [];

    for (let t = 1; t <= T; t++) {
      let stepNs = 0;
      const stepTrace: TracePhase[] = [];
      for (const p of plan.order) {
        const layer = p < 0 ? readoutLayer : p;
        const pop = net.pops[layer];
        Object.assign(acc, emptyTally());
        if (p < 0) {
          accumulate(cur, base, v, pop.offset, pop.offset + pop.size, cfg.coreOf, act);
        } else {
          const list = lists[p];
          const ns = kernels.integrateCores(at.cur, at.base, at.v, at.theta, at.leak, pop.offset, pop.offset + pop.size, at.lists[p], at.coreOf, at.act, at.spk, subtract[p]);
          layerTotals.spike_out[layer] += ns;
          if (offsets) {
            for (let k = 0; k < ns; k++) recorded.push(list[k]);
            offsets[(t - 1) * P + p + 1] = recorded.length;
          }
          for (const si of plan.pops[p].streams) {
            const m = plan.streams[si].mask;
            const masked = m >= 0;
            if (masked) acc.dropped = acc.saved_synaptic_ops = acc.saved_messages = acc.saved_hop_pj = 0;
            const kn = send(si, pop.offset, list, ns, masked, masked ? maskKey(seed, s, t, m) : 0, masked ? below[m] : 0, kept, counters);
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
                  const c = where as ConvTwinAt;
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
                  if (count > 0) kernels.deliverConv(spikes, count, at.cur + 8 * x.offset, at.stage, c.posPtr, c.posOut, c.posTap, c.weights, x.plane, x.outPlane, x.cinPerGroup, x.coutPerGroup, x.cout, x.taps);
                }
              });
            }
            if (masked) {
              masks[m].dropped += acc.dropped;
              masks[m].synaptic_op += acc.saved_synaptic_ops;
              masks[m].message += acc.saved_messages;
              masks[m].hop_pj += acc.saved_hop_pj;
            }
          }
          layerTotals.message_out[layer] += acc.messages;
          layerTotals.hop_pj[layer] += acc.hop_pj;
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
          busy[c] += sending + receiving;
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
      totalNs += stepNs;
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
    if (offsets) records.push({ offsets, indices: Int32Array.from(recorded) });
    if (opts.trace) trace.push(sampleTrace);
    opts.onProgress?.(s + 1, samples);
  }

  events.hop_ew = counters.hops[0];
  events.hop_ns = counters.hops[1];
  events.chip_hop = counters.hops[2];
  return {
    report: assemble(cfg, { samples, T, seed, reset, mixedReset, opts, events, linkLoads: router.linkLoads(), layerTotals, coreTotals, busy, masks, totalNs, maxStepNs, barrier, allPredictions, checkpoints }, start, opts.trace ? trace : undefined),
    predictions,
    logits,
    spikes: opts.recordSpikes ? records : undefined,
  };
}
