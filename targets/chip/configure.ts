/**
 * Configuring the virtual chip from a map: which core holds each neuron, the synapses each core stores
 * (checked against the spec's resource model and the map's own figures) and the route between every pair
 * of cores (the spec's router).
 */
import { SnncError } from '../../compiler/errors.ts';
import { refuseGradedSpikes } from './neurons.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { buildPlan, type NetworkPlan } from '../../runtime/snn/plan.ts';
import type { Fanout } from '../../runtime/snn/routes.ts';
import { capsOf, type ChipSpec, emptyUse, LIMITS, type LimitName, R, resourceModel, synapseWords, type Use } from '../chip-spec.ts';
import { routeEnergyPj, routeNs } from '../energy.ts';
import { type ChipPopulation, chipPopulations } from '../map/partition.ts';
import type { LoadedMap, MapDocument } from '../map/map-file.ts';
import { quantizePlan } from '../map/quantize.ts';
import { type Route, type SlotPosition, slotPosition, tileOf } from '../map/route.ts';
import { forEachMessageList } from './messages.ts';
import { routerOf } from './routers.ts';

/**
 * One stream's messages, grouped by signature: source elements whose spikes send the same messages (from
 * the same core, to the same cores and layers, with the same synapse counts) cost the same, so the events
 * are counted per signature (fmnist_cnn_qcfs: 12,544 elements, 269 signatures). Messages of an element
 * are ordered by destination slice.
 */
export interface StreamMessages {
  /** Signature of each source element. */
  sig: Int32Array;
  /** Per signature k: the sender's core; its messages ptr[k] .. ptr[k+1]; how many elements have it. */
  src: Int32Array;
  ptr: Int32Array;
  rows: Int32Array;
  /** Per message of a signature: destination core, its layer, synapses, and its core pair (index into ChipConfig.pairs). */
  core: Int32Array;
  layer: Int32Array;
  synapses: Int32Array;
  pair: Int32Array;
}

/** The core pairs that exchange messages, ascending by (source, destination): their routes, latencies and energies. */
export interface CorePairs {
  src: Int32Array;
  dst: Int32Array;
  routes: Route[];
  ns: Float64Array;
  pj: Float64Array;
}

export interface ChipConfig {
  spec: ChipSpec;
  ir: SnnIr;
  /** The plan the chip runs (quantised weights when the map quantises). */
  plan: NetworkPlan;
  /** The chip's populations: the plan's IF populations, then the readout. */
  net: { pops: ChipPopulation[] };
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
  /** Per plan stream. */
  messages: StreamMessages[];
  pairs: CorePairs;
  tilesInUse: number;
  quantized: MapDocument['quantization'];
}

function mismatch(message: string): never {
  throw new SnncError(`the map does not fit its IR (or was edited): ${message}`);
}

/** Rebuilds the chip's configuration (which core holds what, the messages of every spike, routes) from a map and the plan of its IR. */
export function configureChip(loaded: LoadedMap, onProgress?: (done: number, total: number) => void): ChipConfig {
  try {
    return configureFrom(loaded, onProgress);
  } catch (e) {
    throw e instanceof SnncError && loaded.file ? e.inFile(loaded.file) : e;
  }
}

function configureFrom(loaded: LoadedMap, onProgress?: (done: number, total: number) => void): ChipConfig {
  const { doc, ir } = loaded;
  const spec = doc.chip;
  let plan = buildPlan(ir);
  refuseGradedSpikes(plan, spec);
  const net = { pops: chipPopulations(ir, plan).pops };
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

  // Synapse memory and axons, recounted from the routes' messages; every core must fit the spec's limits.
  const use = Array.from({ length: cores }, emptyUse);
  for (const [k, m] of layerNeuronsOnCore.entries()) for (const [c, n] of m) use[c][R.neurons] += n;
  const sliceCore = Int32Array.from(doc.slices, (s) => s.core);
  const messages = plan.streams.map((st, si) => {
    const m = streamMessages(st.fanout, coreOf, net.pops[st.pop].offset, sliceOf, sliceCore, sliceLayer);
    onProgress?.(si + 1, plan.streams.length);
    return m;
  });
  for (const m of messages) {
    for (let k = 0; k < m.src.length; k++) {
      const rows = m.rows[k];
      use[m.src[k]][R.output_axons] += rows * (m.ptr[k + 1] - m.ptr[k]); // an output axon of the sender per message
      for (let g = m.ptr[k]; g < m.ptr[k + 1]; g++) {
        use[m.core[g]][R.input_axons] += rows; // an input axon of the receiver
        use[m.core[g]][R.synapse_words] += rows * synapseWords(m.synapses[g], spec);
      }
    }
  }
  const caps = capsOf(spec);
  const model = resourceModel(spec);
  use.forEach((u, c) => {
    // Population synapses share axons and weight sets: the recount above is the discrete layout's, so such
    // a map is checked against its own (blocks.ts) figures. Neurons and output axons are the same.
    const population = doc.options.synapses === 'population';
    const need = LIMITS.map((l) => (population && (l === 'input_axons' || l === 'synapse_words') ? doc.cores[c].use[l] : u[R[l]])) as Use;
    const over = model.overflow(need, caps, spec);
    if (over) throw new SnncError(`core ${c} ${over}`);
    LIMITS.forEach((l: LimitName) => {
      const shared = population && (l === 'input_axons' || l === 'synapse_words');
      const recorded = doc.cores[c].use[l];
      if (!shared && u[R[l]] !== recorded) mismatch(`core ${c} uses ${u[R[l]]} ${l.replace('_', ' ')}, the map says ${recorded}`);
    });
  });

  const positions = doc.cores.map((c) => slotPosition(spec, c.slot));
  const pairs = corePairs(messages, cores, positions, spec);
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
    messages,
    pairs,
    tilesInUse: new Set(positions.map((p) => tileOf(spec, p))).size,
    quantized: doc.quantization,
  };
}

/** Reads nothing: builds the configuration of a freshly built map (tests, and `snnc chip` after `map`). */
export function configureFromMap(doc: MapDocument, ir: SnnIr): ChipConfig {
  return configureChip({ doc, ir, irFile: doc.ir.file });
}

/** Groups a stream's source elements by their messages (see StreamMessages); pair holds the key src·cores + dst until corePairs. */
function streamMessages(f: Fanout, coreOf: Int32Array, srcOffset: number, sliceOf: Int32Array, sliceCore: Int32Array, sliceLayer: Int32Array): StreamMessages {
  const sig = new Int32Array(f.rows);
  const ids = new Map<string, number>();
  const src: number[] = [];
  const ptr = [0];
  const rows: number[] = [];
  const core: number[] = [];
  const layer: number[] = [];
  const synapses: number[] = [];
  // Neighbouring elements mostly share a signature: compare with the previous one before building a key.
  let last = -1;
  let lastFrom = -1;
  let lastN = -1;
  const lastSlice = new Int32Array(sliceLayer.length);
  const lastSyn = new Int32Array(sliceLayer.length);
  forEachMessageList(f, sliceOf, sliceLayer.length, (i, slice, syn, n) => {
    const from = coreOf[srcOffset + i];
    let same = last >= 0 && from === lastFrom && n === lastN;
    for (let g = 0; same && g < n; g++) same = slice[g] === lastSlice[g] && syn[g] === lastSyn[g];
    if (!same) {
      let key = `${from}`;
      for (let g = 0; g < n; g++) key += ` ${sliceCore[slice[g]]}:${syn[g]}:${sliceLayer[slice[g]]}`;
      let k = ids.get(key);
      if (k === undefined) {
        k = src.length;
        ids.set(key, k);
        src.push(from);
        rows.push(0);
        for (let g = 0; g < n; g++) {
          core.push(sliceCore[slice[g]]);
          layer.push(sliceLayer[slice[g]]);
          synapses.push(syn[g]);
        }
        ptr.push(core.length);
      }
      last = k;
      lastFrom = from;
      lastN = n;
      lastSlice.set(slice.subarray(0, n));
      lastSyn.set(syn.subarray(0, n));
    }
    sig[i] = last;
    rows[last]++;
  });
  return { sig, src: Int32Array.from(src), ptr: Int32Array.from(ptr), rows: Int32Array.from(rows), core: Int32Array.from(core), layer: Int32Array.from(layer), synapses: Int32Array.from(synapses), pair: new Int32Array(core.length) };
}

/** The routes of the core pairs that messages use (not all cores² of them), and each message's pair. */
function corePairs(messages: StreamMessages[], cores: number, positions: SlotPosition[], spec: ChipSpec): CorePairs {
  const keys = new Set<number>();
  for (const m of messages) for (let k = 0; k < m.src.length; k++) for (let g = m.ptr[k]; g < m.ptr[k + 1]; g++) keys.add(m.src[k] * cores + m.core[g]);
  const sorted = Float64Array.from(keys).sort();
  const index = new Map<number, number>();
  sorted.forEach((key, j) => index.set(key, j));
  for (const m of messages) for (let k = 0; k < m.src.length; k++) for (let g = m.ptr[k]; g < m.ptr[k + 1]; g++) m.pair[g] = index.get(m.src[k] * cores + m.core[g])!;
  const router = routerOf(spec);
  const src = Int32Array.from(sorted, (key) => Math.floor(key / cores));
  const dst = Int32Array.from(sorted, (key) => key % cores);
  const routes = Array.from(src, (a, j) => router(spec, positions[a], positions[dst[j]]));
  return { src, dst, routes, ns: Float64Array.from(routes, (r) => routeNs(r, spec)), pj: Float64Array.from(routes, (r) => routeEnergyPj(r, spec)) };
}

