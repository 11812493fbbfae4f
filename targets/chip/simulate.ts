/**
 * The virtual chip: runs a core map event by event on a chip described by its spec (never a hard-coded
 * Loihi). Per time step and per layer (a phase): each core holding the layer's neurons updates them
 * (active or inactive), fires, and sends one message per (spike, destination slice) through its output
 * axons; messages travel the mesh by XY routing (hops east-west, north-south, across chips); each receiving
 * core runs the synaptic ops of the message's synapse list. A barrier closes the step. Counts of every
 * event give the energy (chip event table, 45 nm model, ANN baseline) and the phase model of energy.ts
 * gives the latency, per step and per inference.
 *
 * Exactness. Without quantisation the chip must produce exactly the spikes of the functional simulator
 * (runtime/snn/engine.ts) for the same IR, inputs and seed. Membranes and currents are float64 and
 * floating-point addition is not associative, so a neuron whose input were summed in another order could
 * land on the other side of its threshold. The chip therefore accumulates every neuron's input in the
 * engine's order: the constant base (biases, then the input currents in input order), then the layers in
 * the plan's `order`, each layer's streams in order, each stream's spikes in ascending neuron index, and
 * reads the weights from the plan's own composed tables (regrouped per destination slice, which does not
 * change any neuron's order: a row reaches each neuron once). Spike masks come from the same counter-based
 * hash (rng.ts). On Loihi itself the accumulators are integers, where order does not matter.
 *
 * Speed. As in the engine, the compartments and synapses live in a WebAssembly memory and the IF update
 * and synaptic ops run in kernels.wat: a stream's surviving spikes are delivered in one call, through the
 * plan's conv twin when it has one (the engine's own kernel, exact: conv-table.ts) or the rows' synapse
 * lists otherwise, in the order above. Events are counted apart from the delivery, per row signature
 * (`StreamRun`); the counts, energies and latencies are the same numbers, added in an order that leaves
 * them bit-identical (integer counts; route energies in message order unless they are integers).
 *
 * Neurons. Each population runs the IR's rule (kernels.wat `integrateCores`, the simulator's `integrate`
 * counted per core): v ← λ·v + I, spike at v ≥ θ, reset by subtraction or to zero, λ = 1 for IF and the
 * node's leak for LIF (float64, not Loihi's 12-bit decay). Loihi 1's native neuron resets to zero; IF
 * neurons converted from an ANN reset by subtraction (Loihi 2 microcode). `reset` overrides every
 * population's reset (to run subtract-reset neurons as the chip's native ones) and the report says which.
 */
import { SnncError } from '../../compiler/errors.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { applyInput, type SpikeRecord } from '../../runtime/snn/engine.ts';
import { buildPlan, type Csr, type NetworkPlan } from '../../runtime/snn/plan.ts';
import type { ConvTable } from '../../runtime/snn/conv-table.ts';
import { draw32, dropBelow, maskKey } from '../../runtime/snn/rng.ts';
import { type ConvTwinAt, instantiateKernels, MemoryLayout, reserveConvTwin, writeConvTwin, writeEntries } from '../../runtime/snn/wasm/kernels.ts';
import { checkpointsFor } from '../../runtime/snn/simulate.ts';
import { barrierNs, capsOf, type ChipSpec, emptyUse, LIMITS, type LimitName, memoryBits, R, synapseWords } from '../chip-spec.ts';
import { ann45nm, chipEnergy, type EnergyBreakdown, emptyEvents, type EventCounts, linearWork, receiveNs, routeEnergyPj, routeNs, sendNs, snn45nm } from '../energy.ts';
import { type ChipNetwork, chipNetwork } from '../map/partition.ts';
import { synapseCount } from '../map/blocks.ts';
import type { LoadedMap, MapDocument } from '../map/map-file.ts';
import { quantizePlan } from '../map/quantize.ts';
import { linkEnds, type Route, type SlotPosition, slotPosition, tileOf, xyRoute } from '../map/route.ts';
import { tableOf } from '../../runtime/snn/routes.ts';

/** One stream's synapses as stored on the chip: per source row, its messages; per message, its synapses. */
interface MessageTable {
  /** Messages of row i: msgPtr[i] .. msgPtr[i+1]. */
  msgPtr: Int32Array;
  /** Destination slice and core of each message. */
  slice: Int32Array;
  core: Int32Array;
  /** Synapses of message m: col/val[entPtr[m] .. entPtr[m+1]). */
  entPtr: Int32Array;
  col: Int32Array;
  val: Float32Array;
}

export interface ChipConfig {
  spec: ChipSpec;
  ir: SnnIr;
  /** The plan the chip runs (quantised weights when the map quantises). */
  plan: NetworkPlan;
  net: ChipNetwork;
  cores: number;
  positions: SlotPosition[];
  /** Core of every neuron of the current space; slice likewise. */
  coreOf: Int32Array;
  sliceOf: Int32Array;
  /** Population of each slice. */
  sliceLayer: Int32Array;
  /** Per chip population: the cores holding its neurons, and its neurons per core. */
  layerCores: number[][];
  layerNeuronsOnCore: Array<Map<number, number>>;
  tables: MessageTable[];
  /** Per stream: the unquantised plan's conv twin (the quantised plan drops it; runChip rebuilds it per core). */
  twins: Array<ConvTable | null>;
  routes: Route[];
  /** Per (source core · cores + destination core): route latency and hop count. */
  routeNs: Float64Array;
  tilesInUse: number;
  quantized: MapDocument['quantization'];
}

function mismatch(message: string): never {
  throw new SnncError(`the map does not fit its IR (or was edited): ${message}`);
}

/** Beyond this many synapses the chip's per-core synapse lists (~16 bytes each) would not fit in memory. */
export const CHIP_MAX_SYNAPSES = 100_000_000;

/** Rebuilds the chip's configuration (synapse lists, routing) from a map and the plan of its IR. */
export function configureChip(loaded: LoadedMap): ChipConfig {
  try {
    return configureFrom(loaded);
  } catch (e) {
    throw e instanceof SnncError && loaded.file ? e.inFile(loaded.file) : e;
  }
}

function configureFrom(loaded: LoadedMap): ChipConfig {
  const { doc, ir } = loaded;
  const spec = doc.chip;
  let plan = buildPlan(ir);
  const synapses = synapseCount(plan);
  if (synapses > CHIP_MAX_SYNAPSES) {
    throw new SnncError(
      `the virtual chip lists every synapse per core, and this network has ${synapses.toExponential(2)} (more than ${CHIP_MAX_SYNAPSES.toExponential(0)}, about ${Math.round((synapses * 16) / 2 ** 30)} GB of tables): running it from the structured routes is not implemented yet; snnc simulate runs it`,
    );
  }
  const twins = plan.streams.map((s) => s.conv);
  const net = chipNetwork(ir, plan);
  const layerIndex = new Map(net.pops.map((p, k) => [p.id, k]));
  if (doc.layers.length !== net.pops.length) mismatch(`${doc.layers.length} layers in the map, ${net.pops.length} in the IR`);
  doc.layers.forEach((l, k) => {
    if (l.id !== net.pops[k].id || l.neurons !== net.pops[k].size) mismatch(`layer ${k} is ${l.id} (${l.neurons} neurons) in the map, ${net.pops[k].id} (${net.pops[k].size}) in the IR`);
  });

  const cores = doc.cores.length;
  const sliceOf = new Int32Array(plan.currentSize).fill(-1);
  const coreOf = new Int32Array(plan.currentSize);
  const sliceLayer = new Int32Array(doc.slices.length);
  const layerNeuronsOnCore = net.pops.map(() => new Map<number, number>());
  doc.slices.forEach((s, index) => {
    const k = layerIndex.get(s.layer);
    if (k === undefined) mismatch(`slice ${index} belongs to layer ${s.layer}, which the IR does not have`);
    const pop = net.pops[k];
    sliceLayer[index] = k;
    let n = 0;
    for (const [a, b] of s.ranges) {
      if (!(a < b && b <= pop.size)) mismatch(`slice ${index} covers [${a}, ${b}) outside layer ${pop.id} (${pop.size} neurons)`);
      for (let t = a; t < b; t++) {
        if (sliceOf[pop.offset + t] >= 0) mismatch(`neuron ${t} of ${pop.id} is in two slices`);
        sliceOf[pop.offset + t] = index;
        coreOf[pop.offset + t] = s.core;
      }
      n += b - a;
    }
    if (n !== s.neurons) mismatch(`slice ${index} lists ${s.neurons} neurons but its ranges cover ${n}`);
    layerNeuronsOnCore[k].set(s.core, (layerNeuronsOnCore[k].get(s.core) ?? 0) + n);
  });
  for (let i = 0; i < plan.currentSize; i++) if (sliceOf[i] < 0) mismatch(`neuron ${i} of the current space is on no core`);

  if (doc.quantization) {
    const streamIndex = new Map(plan.streams.map((s, i) => [s.id, i]));
    const groups = doc.quantization.groups.map((g) => {
      const stream = g.stream === null ? null : streamIndex.get(g.stream);
      if (stream === undefined) mismatch(`weight exponent for unknown stream ${g.stream}`);
      return { core: g.core, stream, exponent: g.exponent, synapses: g.synapses, max_abs: g.max_abs };
    });
    plan = quantizePlan(plan, coreOf, groups, spec).plan;
  }

  // Synapse memory and axons, rebuilt from the plan's tables; every core must fit the spec's limits.
  const use = Array.from({ length: cores }, emptyUse);
  for (const [k, m] of layerNeuronsOnCore.entries()) for (const [c, n] of m) use[c][R.neurons] += n;
  const stamp = new Int32Array(doc.slices.length).fill(-1);
  const counts = new Int32Array(doc.slices.length);
  let mark = 0;
  const tables: MessageTable[] = plan.streams.map((s) => {
    const { rowPtr, col, val } = tableOf(s.fanout);
    const rows = rowPtr.length - 1;
    const msgPtr = new Int32Array(rows + 1);
    const slices: number[] = [];
    const entPtr: number[] = [0];
    const outCol = new Int32Array(col.length);
    const outVal = new Float32Array(col.length);
    let at = 0;
    for (let i = 0; i < rows; i++, mark++) {
      const first = slices.length;
      for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
        const d = sliceOf[col[j]];
        if (stamp[d] !== mark) {
          stamp[d] = mark;
          counts[d] = 0;
          slices.push(d);
        }
        counts[d]++;
      }
      const group = slices.slice(first).sort((a, b) => a - b);
      slices.length = first;
      for (const d of group) {
        slices.push(d);
        for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
          if (sliceOf[col[j]] !== d) continue;
          outCol[at] = col[j];
          outVal[at++] = val[j];
        }
        entPtr.push(at);
        const c = doc.slices[d].core;
        use[coreOf[net.pops[s.pop].offset + i]][R.output_axons]++; // an output axon of the sender
        use[c][R.input_axons]++; // an input axon of the receiver
        use[c][R.synapse_words] += synapseWords(counts[d], spec);
      }
      msgPtr[i + 1] = slices.length;
    }
    const slice = Int32Array.from(slices);
    return { msgPtr, slice, core: slice.map((d) => doc.slices[d].core), entPtr: Int32Array.from(entPtr), col: outCol, val: outVal };
  });
  const caps = capsOf(spec);
  use.forEach((u, c) => {
    LIMITS.forEach((l: LimitName) => {
      const r = R[l];
      // Population synapses share axons and weight sets: the recount below is the discrete layout's, so
      // such a map is checked against its own (blocks.ts) figures. Neurons and output axons are the same.
      const shared = doc.options.synapses === 'population' && (l === 'input_axons' || l === 'synapse_words');
      const need = shared ? doc.cores[c].use[l] : u[r];
      if (need > caps[r]) throw new SnncError(`core ${c} needs ${need} ${l.replace('_', ' ')}, more than the ${caps[r]} of a ${spec.name} core (by ${need - caps[r]})`);
      const recorded = doc.cores[c].use[l];
      if (!shared && u[r] !== recorded) mismatch(`core ${c} uses ${u[r]} ${l.replace('_', ' ')}, the map says ${recorded}`);
    });
    if (spec.memory) {
      // A shared core memory (Loihi 2): neuron state and synapse words against one capacity.
      const bits = memoryBits(
        LIMITS.map((l) => (doc.options.synapses === 'population' ? doc.cores[c].use[l] : u[R[l]])),
        spec,
      );
      if (bits > spec.memory.capacity_bits) throw new SnncError(`core ${c} needs ${bits} bits of shared core memory, more than the ${spec.memory.capacity_bits} of a ${spec.name} core (by ${bits - spec.memory.capacity_bits})`);
    }
  });

  const positions = doc.cores.map((c) => slotPosition(spec, c.slot));
  const routes: Route[] = new Array(cores * cores);
  const latency = new Float64Array(cores * cores);
  for (let a = 0; a < cores; a++) {
    for (let b = 0; b < cores; b++) {
      const r = xyRoute(spec, positions[a], positions[b]);
      routes[a * cores + b] = r;
      latency[a * cores + b] = routeNs(r, spec);
    }
  }
  const layerCores = layerNeuronsOnCore.map((m) => [...m.keys()].sort((a, b) => a - b));
  return {
    spec,
    ir,
    plan,
    net,
    cores,
    positions,
    coreOf,
    sliceOf,
    sliceLayer,
    layerCores,
    layerNeuronsOnCore,
    tables,
    twins,
    routes,
    routeNs: latency,
    tilesInUse: new Set(positions.map((p) => tileOf(spec, p))).size,
    quantized: doc.quantization,
  };
}

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
  predictions: Int32Array;
  logits: Float32Array;
  spikes?: SpikeRecord[];
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

/** Scalars that `send` accumulates (indices into its `acc` array). */
const ROUTE_MAX = 0;
const MESSAGES = 1;
const HOP_PJ = 2;
const DROPPED = 3;
const SAVED_SOPS = 4;
const SAVED_MESSAGES = 5;
const SAVED_HOP_PJ = 6;

/**
 * A stream's messages as `send` counts them. Rows whose messages go from the same core to the same cores
 * (and layers) with the same numbers of synapses cost the same to send: such a set of rows is a signature,
 * with its messages' core pairs, route latencies and energies worked out once per run (fmnist_cnn_qcfs:
 * 12544 rows, 269 signatures). A spike then only counts one more send of its row's signature, and the
 * counts become per-core events once per phase (`tally`: at worst one pass over the rows, as the neuron
 * update is one over the neurons) instead of per message.
 */
interface StreamRun {
  /** Signature of each row. */
  sig: Int32Array;
  /** Per signature k: the sender's core, the longest route in ns (0 without messages), messages ptr[k] .. ptr[k+1]. */
  src: Int32Array;
  routeNs: Float64Array;
  ptr: Int32Array;
  /** Per message of a signature: destination core, core pair, destination layer, synapses, route energy. */
  core: Int32Array;
  pair: Int32Array;
  layer: Int32Array;
  synapses: Float64Array;
  hopPj: Float64Array;
  /** Per signature: sends in this phase, and over the run (for `settle`). */
  count: Float64Array;
  sent: Float64Array;
  /**
   * Where the synapses are in the kernels' memory: a conv twin (with `banks` − 1 or, for quantised
   * weights, the byte offset of its banks' offsets), or per-row synapse lists.
   */
  conv: (ConvTwinAt & { table: ConvTable; banks: number; banked: ReturnType<typeof bankedTwin> }) | null;
  rowPtr: number;
  entries: number;
}

function streamRun(cfg: ChipConfig, si: number, routePj: Float64Array): StreamRun {
  const { msgPtr, core, slice, entPtr } = cfg.tables[si];
  const N = cfg.cores;
  const srcOffset = cfg.net.pops[cfg.plan.streams[si].pop].offset;
  const rows = msgPtr.length - 1;
  const sig = new Int32Array(rows);
  const ids = new Map<string, number>();
  const src: number[] = [];
  const ptr = [0];
  const cores: number[] = [];
  const synapses: number[] = [];
  const layers: number[] = [];
  for (let i = 0; i < rows; i++) {
    const from = cfg.coreOf[srcOffset + i];
    let key = `${from}`;
    for (let g = msgPtr[i]; g < msgPtr[i + 1]; g++) key += ` ${core[g]}:${entPtr[g + 1] - entPtr[g]}:${cfg.sliceLayer[slice[g]]}`;
    let k = ids.get(key);
    if (k === undefined) {
      k = src.length;
      ids.set(key, k);
      src.push(from);
      for (let g = msgPtr[i]; g < msgPtr[i + 1]; g++) {
        cores.push(core[g]);
        synapses.push(entPtr[g + 1] - entPtr[g]);
        layers.push(cfg.sliceLayer[slice[g]]);
      }
      ptr.push(cores.length);
    }
    sig[i] = k;
  }
  const S = src.length;
  const run: StreamRun = {
    sig,
    src: Int32Array.from(src),
    routeNs: new Float64Array(S),
    ptr: Int32Array.from(ptr),
    core: Int32Array.from(cores),
    pair: new Int32Array(cores.length),
    layer: Int32Array.from(layers),
    synapses: Float64Array.from(synapses),
    hopPj: new Float64Array(cores.length),
    count: new Float64Array(S),
    sent: new Float64Array(S),
    conv: null,
    rowPtr: -1,
    entries: -1,
  };
  for (let k = 0; k < S; k++) {
    for (let g = ptr[k]; g < ptr[k + 1]; g++) {
      const pair = src[k] * N + cores[g];
      run.pair[g] = pair;
      run.hopPj[g] = routePj[pair];
      if (cfg.routeNs[pair] > run.routeNs[k]) run.routeNs[k] = cfg.routeNs[pair];
    }
  }
  return run;
}

/** Per-core counters of the phase that `send` adds to. */
interface Counters {
  mout: Float64Array;
  min: Float64Array;
  sops: Float64Array;
  acc: Float64Array;
  /**
   * True: route energies are summed message by message in spike order, as they arrive (needed unless they
   * are all integers: floating-point sums depend on their order). False: they are integers, whose sums are
   * exact in any order, and `tally` adds them per signature.
   */
  ordered: boolean;
  phasePairCount: Float64Array;
  phasePairs: number[] | null;
}

/**
 * Sends the listed spikes of one stream: a masked spike (draw below `below`) is dropped at its source;
 * otherwise one message per destination slice, counted per signature, then per core for the phase's
 * timing. The spikes that survive are copied to `kept`, whose synapses the caller then adds in one kernel
 * call: each neuron still receives its inputs in ascending spike order, the functional simulator's.
 * Returns how many survive.
 */
function send(run: StreamRun, list: Int32Array, ns: number, masked: boolean, key: number, below: number, kept: Int32Array, k: Counters): number {
  const { sig, ptr, hopPj, count } = run;
  const { acc, ordered } = k;
  let hop = acc[HOP_PJ];
  let n = 0;
  for (let s = 0; s < ns; s++) {
    const i = list[s];
    const q = sig[i];
    if (masked && draw32(key, i) < below) {
      acc[DROPPED]++;
      acc[SAVED_MESSAGES] += ptr[q + 1] - ptr[q];
      for (let g = ptr[q]; g < ptr[q + 1]; g++) {
        acc[SAVED_SOPS] += run.synapses[g];
        acc[SAVED_HOP_PJ] += hopPj[g];
      }
      continue;
    }
    kept[n++] = i;
    count[q]++;
    if (ordered) for (let g = ptr[q]; g < ptr[q + 1]; g++) hop += hopPj[g];
  }
  acc[HOP_PJ] = hop;
  tally(run, k);
  return n;
}

/** Turns a stream's sends per signature into the phase's per-core events, and clears them. */
function tally(run: StreamRun, k: Counters): void {
  const { src, routeNs, ptr, core, pair, synapses, hopPj, count, sent } = run;
  const { mout, min, sops, acc, ordered, phasePairCount, phasePairs } = k;
  let hop = acc[HOP_PJ];
  let routeMax = acc[ROUTE_MAX];
  let messages = 0;
  for (let q = 0; q < count.length; q++) {
    const n = count[q];
    if (n === 0) continue;
    count[q] = 0;
    sent[q] += n;
    const m = ptr[q + 1] - ptr[q];
    mout[src[q]] += n * m;
    messages += n * m;
    if (routeNs[q] > routeMax) routeMax = routeNs[q];
    for (let g = ptr[q]; g < ptr[q + 1]; g++) {
      min[core[g]] += n;
      sops[core[g]] += n * synapses[g];
      if (!ordered) hop += n * hopPj[g];
      if (phasePairs !== null) {
        if (phasePairCount[pair[g]] === 0) phasePairs.push(pair[g]);
        phasePairCount[pair[g]] += n;
      }
    }
  }
  acc[HOP_PJ] = hop;
  acc[ROUTE_MAX] = routeMax;
  acc[MESSAGES] += messages;
}

/**
 * A conv twin of a quantised stream: the same structure as the unquantised twin `t` (quantisation keeps
 * the table's entries and changes their weights), with one weight table per bank of output positions whose
 * channels lie on the same cores, i.e. in the same exponent groups. Read from the quantised table `csr`;
 * null unless every entry lands in a bank slot that holds exactly its weight (then it reproduces the table,
 * as conv-table.ts's twins do), or when the banks would outweigh the table.
 */
function bankedTwin(t: ConvTable, csr: Csr, coreOf: Int32Array): { banks: Int32Array; weights: Float64Array } | null {
  const { plane, outPlane, cout, taps, offset, cinPerGroup, coutPerGroup: cpg, posPtr, posOut, posTap } = t;
  const rows = csr.rowPtr.length - 1;
  const bankOf = new Int32Array(outPlane);
  const ids = new Map<string, number>();
  for (let p = 0; p < outPlane; p++) {
    const key = Array.from({ length: cout }, (_, o) => coreOf[offset + o * outPlane + p]).join(' ');
    if (!ids.has(key)) ids.set(key, ids.size);
    bankOf[p] = ids.get(key)!;
  }
  const size = (rows / plane) * taps * cpg;
  // Worth it only while the banks stay smaller than the synapse lists they replace.
  if (ids.size * size > csr.col.length) return null;
  const weights = new Float64Array(ids.size * size);
  const filled = new Uint8Array(ids.size * size);
  // The row's weights by target (stamped with the row), to look them up in the twin's order.
  const stamp = new Int32Array(cout * outPlane).fill(-1);
  const w = new Float64Array(cout * outPlane);
  for (let i = 0; i < rows; i++) {
    for (let j = csr.rowPtr[i]; j < csr.rowPtr[i + 1]; j++) {
      const target = csr.col[j] - offset;
      if (target < 0 || target >= cout * outPlane) return null;
      stamp[target] = i;
      w[target] = csr.val[j];
    }
    const c = Math.floor(i / plane);
    const s = i - c * plane;
    const first = Math.floor(c / cinPerGroup) * cpg * outPlane;
    for (let q = posPtr[s]; q < posPtr[s + 1]; q++) {
      for (let o = 0; o < cpg; o++) {
        const target = first + o * outPlane + posOut[q];
        const value = stamp[target] === i ? w[target] : 0;
        const slot = bankOf[posOut[q]] * size + (c * taps + posTap[q]) * cpg + o;
        if (filled[slot] && !Object.is(weights[slot], value)) return null;
        weights[slot] = value;
        filled[slot] = 1;
      }
    }
  }
  return { banks: Int32Array.from(bankOf, (b) => 8 * b * size), weights };
}

/** Messages per core pair and synaptic ops per layer over the run, from the signatures' send counts. */
function settle(runs: StreamRun[], pairCount: Float64Array, sopsIn: Float64Array): void {
  for (const run of runs) {
    for (let q = 0; q < run.sent.length; q++) {
      const n = run.sent[q];
      for (let g = run.ptr[q]; g < run.ptr[q + 1]; g++) {
        pairCount[run.pair[g]] += n;
        sopsIn[run.layer[g]] += n * run.synapses[g];
      }
    }
  }
}

/**
 * Lays out the chip's compartments and synapses in a fresh kernels memory and copies in what does not
 * change during a run (thresholds, cores, synapses); returns the kernels and the byte offsets.
 */
function loadChip(cfg: ChipConfig, runs: StreamRun[]) {
  const { plan, cores: N } = cfg;
  const n = plan.currentSize;
  const maxPop = Math.max(0, ...plan.pops.map((p) => p.size));
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
    stage: layout.reserve(8 * Math.max(0, ...cfg.twins.map((t) => (t ? t.cout * t.outPlane : 0)))),
  };
  // A stream with a conv twin is delivered through it, as the functional simulator does (quantised: one
  // weight table per bank of cores); the others (dense layers) through their synapse lists.
  plan.streams.forEach((st, si) => {
    const run = runs[si];
    const twin = st.conv ?? cfg.twins[si];
    const banked = !st.conv && twin ? bankedTwin(twin, tableOf(st.fanout), cfg.coreOf) : null;
    if (twin && (st.conv || banked)) {
      run.conv = {
        ...reserveConvTwin(layout, twin, banked ? banked.weights.length : twin.weights.length),
        table: twin,
        banks: banked ? layout.reserve(4 * banked.banks.length) : -1,
        banked,
      };
    } else {
      run.rowPtr = layout.reserve(4 * cfg.tables[si].msgPtr.length);
      run.entries = layout.reserve(8 * cfg.tables[si].col.length);
    }
  });
  const kernels = instantiateKernels(layout.size);
  const buffer = kernels.memory.buffer;
  new Float64Array(buffer, at.theta, n).set(plan.threshold);
  new Float64Array(buffer, at.leak, n).set(plan.leak);
  new Int32Array(buffer, at.coreOf, n).set(cfg.coreOf);
  runs.forEach((run, si) => {
    const c = run.conv;
    if (c) {
      writeConvTwin(buffer, c, c.table, c.banked ? c.banked.weights : c.table.weights);
      if (c.banked) new Int32Array(buffer, c.banks, c.banked.banks.length).set(c.banked.banks);
      return;
    }
    // Row i's synapses: the entries of its messages, which are consecutive; each entry is the byte address
    // of its target's current and its weight.
    const { msgPtr, entPtr, col, val } = cfg.tables[si];
    new Int32Array(buffer, run.rowPtr, msgPtr.length).set(Array.from(msgPtr, (g) => entPtr[g]));
    writeEntries(buffer, run.entries, at.cur, col, val);
  });
  return { kernels, at };
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
  const routePj = Float64Array.from(cfg.routes, (r) => routeEnergyPj(r, spec));
  const runs = plan.streams.map((_, si) => streamRun(cfg, si, routePj));
  const { kernels, at } = loadChip(cfg, runs);
  const buffer = kernels.memory.buffer;
  const n = plan.currentSize;
  const cur = new Float64Array(buffer, at.cur, n);
  const base = new Float64Array(buffer, at.base, n);
  const v = new Float64Array(buffer, at.v, n);
  const lists = plan.pops.map((p, i) => new Int32Array(buffer, at.lists[i], p.size));
  const kept = new Int32Array(buffer, at.kept, at.maxPop);

  // Per-phase per-core counters, and the totals.
  const act = new Float64Array(buffer, at.act, N);
  const spk = new Float64Array(buffer, at.spk, N);
  const mout = new Float64Array(N);
  const min = new Float64Array(N);
  const sops = new Float64Array(N);
  const busy = new Float64Array(N);
  const coreTotals = { sops: new Float64Array(N), updates: new Float64Array(N), mout: new Float64Array(N), min: new Float64Array(N) };
  const layerTotals = {
    spikes: new Float64Array(L),
    sopsIn: new Float64Array(L),
    mout: new Float64Array(L),
    active: new Float64Array(L),
    inactive: new Float64Array(L),
    hopPj: new Float64Array(L),
  };
  const onCore = cfg.layerNeuronsOnCore.map((m) => {
    const a = new Float64Array(N);
    for (const [c, n] of m) a[c] = n;
    return a;
  });
  const pairCount = new Float64Array(N * N);
  const masks = plan.masks.map(() => ({ dropped: 0, sops: 0, messages: 0, hopPj: 0 }));
  const events = emptyEvents();
  const acc = new Float64Array(7);
  const phasePairs: number[] | null = opts.trace ? [] : null;
  const phasePairCount = opts.trace ? new Float64Array(N * N) : new Float64Array(0);
  // Route energies that are all integers (loihi1's 3, 4 and 30 pJ per hop) sum exactly in any order.
  const counters: Counters = { mout, min, sops, acc, ordered: !routePj.every(Number.isInteger), phasePairCount, phasePairs };

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
        acc.fill(0);
        if (p < 0) {
          accumulate(cur, base, v, pop.offset, pop.offset + pop.size, cfg.coreOf, act);
        } else {
          const list = lists[p];
          const ns = kernels.integrateCores(at.cur, at.base, at.v, at.theta, at.leak, pop.offset, pop.offset + pop.size, at.lists[p], at.coreOf, at.act, at.spk, subtract[p]);
          layerTotals.spikes[layer] += ns;
          if (offsets) {
            for (let k = 0; k < ns; k++) recorded.push(list[k]);
            offsets[(t - 1) * P + p + 1] = recorded.length;
          }
          for (const si of plan.pops[p].streams) {
            const m = plan.streams[si].mask;
            const masked = m >= 0;
            if (masked) acc[DROPPED] = acc[SAVED_SOPS] = acc[SAVED_MESSAGES] = acc[SAVED_HOP_PJ] = 0;
            const run = runs[si];
            const kn = send(run, list, ns, masked, masked ? maskKey(seed, s, t, m) : 0, masked ? below[m] : 0, kept, counters);
            const c = run.conv;
            if (c && kn > 0) {
              const x = c.table;
              kernels.deliverConvBanked(at.kept, kn, at.cur + 8 * x.offset, at.stage, c.posPtr, c.posOut, c.posTap, c.weights, x.plane, x.outPlane, x.cinPerGroup, x.coutPerGroup, x.cout, x.taps, c.banks);
            } else if (kn > 0) {
              kernels.addEntries(at.kept, kn, run.rowPtr, run.entries);
            }
            if (masked) {
              masks[m].dropped += acc[DROPPED];
              masks[m].sops += acc[SAVED_SOPS];
              masks[m].messages += acc[SAVED_MESSAGES];
              masks[m].hopPj += acc[SAVED_HOP_PJ];
            }
          }
          layerTotals.mout[layer] += acc[MESSAGES];
          layerTotals.hopPj[layer] += acc[HOP_PJ];
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
          layerTotals.active[layer] += act[c];
          layerTotals.inactive[layer] += inactive;
          coreTotals.sops[c] += sops[c];
          coreTotals.updates[c] += act[c] + inactive;
          coreTotals.mout[c] += mout[c];
          coreTotals.min[c] += min[c];
          if (phasePairs) phaseCores.push([c, act[c], inactive, spk[c], mout[c], min[c], sops[c]]);
          act[c] = spk[c] = mout[c] = min[c] = sops[c] = 0;
        }
        const routeMax = acc[ROUTE_MAX];
        const phaseNs = sendMax + routeMax + recvMax;
        stepNs += phaseNs;
        if (phasePairs) {
          const routes = phasePairs.sort((a, b) => a - b).map((pair): [number, number, number] => [Math.floor(pair / N), pair % N, phasePairCount[pair]]);
          for (const pair of phasePairs) phasePairCount[pair] = 0;
          phasePairs.length = 0;
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

  settle(runs, pairCount, layerTotals.sopsIn);
  return {
    report: assemble(cfg, { samples, T, seed, reset, mixedReset, opts, events, pairCount, layerTotals, coreTotals, busy, masks, totalNs, maxStepNs, barrier, allPredictions, checkpoints }, start, opts.trace ? trace : undefined),
    predictions,
    logits,
    spikes: opts.recordSpikes ? records : undefined,
  };
}

interface Totals {
  samples: number;
  T: number;
  seed: number;
  reset: 'subtract' | 'zero';
  /** The populations reset in different ways (no override): the note says so. */
  mixedReset: boolean;
  opts: ChipOptions;
  events: EventCounts;
  pairCount: Float64Array;
  layerTotals: { spikes: Float64Array; sopsIn: Float64Array; mout: Float64Array; active: Float64Array; inactive: Float64Array; hopPj: Float64Array };
  coreTotals: { sops: Float64Array; updates: Float64Array; mout: Float64Array; min: Float64Array };
  busy: Float64Array;
  masks: Array<{ dropped: number; sops: number; messages: number; hopPj: number }>;
  totalNs: number;
  maxStepNs: number;
  barrier: number;
  allPredictions: Int32Array;
  checkpoints: number[];
}

function assemble(cfg: ChipConfig, r: Totals, start: number, trace?: TraceStep[][]): ChipReport {
  const { spec, plan, net, cores: N } = cfg;
  const S = r.samples;
  const ev = spec.events;

  // Hops and link loads from the message counts per core pair.
  const links = new Map<number, number>();
  for (let pair = 0; pair < N * N; pair++) {
    const count = r.pairCount[pair];
    if (count === 0) continue;
    const route = cfg.routes[pair];
    r.events.hop_ew += count * route.ew;
    r.events.hop_ns += count * route.ns;
    r.events.chip_hop += count * route.chip;
    for (const l of route.links) links.set(l, (links.get(l) ?? 0) + count);
  }
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
      (lt.sopsIn[k] * ev.synaptic_op.energy_pj +
        lt.active[k] * ev.neuron_active.energy_pj +
        lt.inactive[k] * ev.neuron_inactive.energy_pj +
        lt.spikes[k] * ev.spike_out.energy_pj +
        lt.mout[k] * (ev.message_out.energy_pj + ev.message_in.energy_pj) +
        lt.hopPj[k]) /
      S;
    return {
      id: pop.id,
      kind: pop.kind,
      neurons: pop.size,
      cores: cfg.layerCores[k].length,
      spikes: lt.spikes[k] / S,
      synaptic_ops_in: lt.sopsIn[k] / S,
      messages_out: lt.mout[k] / S,
      neuron_active: lt.active[k] / S,
      neuron_inactive: lt.inactive[k] / S,
      energy_pj: {
        chip: pj,
        nm45_snn: (lt.sopsIn[k] / S) * snn.terms[0].pj_each + layerHost * r.T * snn.terms[1].pj_each,
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
      synaptic_ops: r.coreTotals.sops[c] / S,
      neuron_updates: r.coreTotals.updates[c] / S,
      messages_out: r.coreTotals.mout[c] / S,
      messages_in: r.coreTotals.min[c] / S,
    };
  });
  const busiest = coreReports.reduce((a, b) => (b.busy_ns > a.busy_ns ? b : a));
  const loads = [...links]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .map(([id, n]) => ({ ...linkEnds(spec, id), messages: n / S }));
  const spikeHops = (r.events.hop_ew + r.events.hop_ns + r.events.chip_hop) / S;
  const clock = spec.clock_mhz.value;
  const perInferenceNs = r.totalNs / S;

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
        synaptic_ops_saved: mk.sops / S,
        messages_saved: mk.messages / S,
        energy_saved_pj: {
          chip: (mk.sops * ev.synaptic_op.energy_pj + mk.messages * (ev.message_out.energy_pj + ev.message_in.energy_pj) + mk.hopPj) / S,
          nm45_snn: (mk.sops / S) * snn.terms[0].pj_each,
        },
      };
    }),
    seconds: (performance.now() - start) / 1000,
    trace,
  };
}

/** Reads nothing: builds the configuration of a freshly built map (tests, and `snnc chip` after `map`). */
export function configureFromMap(doc: MapDocument, ir: SnnIr): ChipConfig {
  return configureChip({ doc, ir, irFile: doc.ir.file });
}
