/**
 * Configuring the virtual chip from a map: which core holds each neuron, the synapses each core stores
 * (checked against the spec's resource model and the map's own figures) and the route between every pair
 * of cores (the spec's router).
 */
import { SnncError } from '../../compiler/errors.ts';
import { refuseGradedSpikes } from './neurons.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { buildPlan, type NetworkPlan } from '../../runtime/snn/plan.ts';
import { capsOf, type ChipSpec, type HostProcessor, emptyUse, LIMITS, type LimitName, R, resourceModel, synapseWords, type Use } from '../chip-spec.ts';
import { type ChipPopulation, chipPopulations } from '../map/partition.ts';
import type { LoadedMap, MapDocument } from '../map/map-file.ts';
import { type HostOption, hostNodes, hostProcessor, type HostSplit, splitHost, withHostRoutes } from '../map/host.ts';
import { quantizePlan } from '../map/quantize.ts';
import { type SlotPosition, slotPosition, tileOf } from '../map/route.ts';
import { countMessageLists } from './messages.ts';
import { routerOf } from './routers.ts';

export interface ChipConfig {
  /** The map file it was configured from (absent for an in-memory map): refusals at run time name it. */
  file?: string;
  spec: ChipSpec;
  ir: SnnIr;
  /** The plan the chip runs (quantised weights when the map quantises), host nodes included. */
  plan: NetworkPlan;
  /** The part of `plan` its neuromorphic cores hold: `plan` itself, or without the host nodes and their operands (host.ts). */
  corePlan: NetworkPlan;
  /** Where the host nodes (transformer IRs) and the readout, when it is there, run, what it costs, and the split of the plan. */
  host: { placement: HostOption; processor: HostProcessor; split: HostSplit } | null;
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
  /** Core of each slice. */
  sliceCore: Int32Array;
  tilesInUse: number;
  quantized: MapDocument['quantization'];
}

function mismatch(message: string): never {
  throw new SnncError(`the map does not fit its IR (or was edited): ${message}`);
}

/** Rebuilds the chip's configuration (which core holds what, each core's resources recounted from the routes) from a map and the plan of its IR. */
export function configureChip(loaded: LoadedMap, onProgress?: (done: number, total: number) => void): ChipConfig {
  try {
    const cfg = configureFrom(loaded, onProgress);
    return loaded.file ? { ...cfg, file: loaded.file } : cfg;
  } catch (e) {
    throw e instanceof SnncError && loaded.file ? e.inFile(loaded.file) : e;
  }
}

function configureFrom(loaded: LoadedMap, onProgress?: (done: number, total: number) => void): ChipConfig {
  const { doc, ir } = loaded;
  const spec = doc.chip;
  let plan = buildPlan(ir);
  refuseGradedSpikes(plan, spec);
  const readoutOnHost = doc.host?.nodes.some((n) => n.kind === 'readout') ?? false;
  const split = splitHost(plan, readoutOnHost);
  const nodes = hostNodes(plan, readoutOnHost);
  if (split && !doc.host) mismatch(`the IR has host nodes (${plan.analog.map((a) => a.id).join(', ')}), the map places none`);
  if (!split && doc.host) mismatch('the map places host nodes, the IR has none');
  if (split && doc.host!.nodes.map((n) => n.id).join() !== nodes.map((n) => n.id).join()) mismatch(`host nodes ${doc.host!.nodes.map((n) => n.id).join(', ')} in the map, ${nodes.map((n) => n.id).join(', ')} in the IR`);
  const host = split ? { placement: doc.host!.placement, processor: hostProcessor(spec, doc.host!.placement, nodes), split } : null;
  let corePlan = split ? split.core : plan;
  const net = { pops: chipPopulations(ir, corePlan).pops };
  const layerIndex = new Map(net.pops.map((p, k) => [p.id, k]));
  if (doc.layers.length !== net.pops.length) mismatch(`${doc.layers.length} layers in the map, ${net.pops.length} in the IR`);
  doc.layers.forEach((l, k) => {
    if (l.id !== net.pops[k].id || l.neurons !== net.pops[k].size) mismatch(`layer ${k} is ${l.id} (${l.neurons} neurons) in the map, ${net.pops[k].id} (${net.pops[k].size}) in the IR`);
  });

  const cores = doc.cores.length;
  const sliceOf = new Int32Array(corePlan.currentSize).fill(-1);
  const coreOf = new Int32Array(corePlan.currentSize);
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
  for (let i = 0; i < corePlan.currentSize; i++) if (sliceOf[i] < 0) mismatch(`neuron ${i} of the current space is on no core`);

  if (doc.quantization) {
    const streamIndex = new Map(plan.streams.map((s, i) => [s.id, i]));
    const groups = doc.quantization.groups.map((g) => {
      const stream = g.stream === null ? null : streamIndex.get(g.stream);
      if (stream === undefined) mismatch(`weight exponent for unknown stream ${g.stream}`);
      return { core: g.core, stream, exponent: g.exponent, synapses: g.synapses, max_abs: g.max_abs };
    });
    // Only the cores' synapses are quantised; the routes into host operands carry spikes to the host as they are.
    corePlan = quantizePlan(corePlan, coreOf, groups, spec).plan;
    plan = split ? withHostRoutes(plan, split, corePlan) : corePlan;
  }

  // Synapse memory and axons, recounted from the routes' messages (nothing kept: O(neurons) memory);
  // every core must fit the spec's limits.
  const use = Array.from({ length: cores }, emptyUse);
  for (const [k, m] of layerNeuronsOnCore.entries()) for (const [c, n] of m) use[c][R.neurons] += n;
  const sliceCore = Int32Array.from(doc.slices, (s) => s.core);
  const words = synapseWordsTable(spec);
  corePlan.streams.forEach((st, si) => {
    const offset = net.pops[st.pop].offset;
    countMessageLists(
      st.fanout,
      sliceOf,
      doc.slices.length,
      (i, n) => (use[coreOf[offset + i]][R.output_axons] += n), // an output axon of the sender per message
      (slice, synapses, n, times) => {
        for (let g = 0; g < n; g++) {
          const u = use[sliceCore[slice[g]]];
          u[R.input_axons] += times; // an input axon of the receiver per message
          u[R.synapse_words] += times * words(synapses[g]);
        }
      },
    );
    onProgress?.(si + 1, corePlan.streams.length);
  });
  const caps = capsOf(spec);
  const model = resourceModel(spec);
  const population = doc.options.synapses === 'population';
  const sharedLimit = (l: LimitName) =>
    population && (l === 'input_axons' || l === 'synapse_words' || (l === 'output_axons' && doc.options.output_axons === 'population'));
  use.forEach((u, c) => {
    // Population synapses share axons and weight sets: the recount above is the discrete layout's, so such
    // a map is checked against its own (blocks.ts) figures. Neurons are the same; output axons too, unless the
    // map shares them as well (one routing entry per source position and destination block).
    const need = LIMITS.map((l) => (sharedLimit(l) ? doc.cores[c].use[l] : u[R[l]])) as Use;
    const over = model.overflow(need, caps, spec);
    if (over) throw new SnncError(`core ${c} ${over}`);
    LIMITS.forEach((l: LimitName) => {
      const recorded = doc.cores[c].use[l];
      if (!sharedLimit(l) && u[R[l]] !== recorded) mismatch(`core ${c} uses ${u[R[l]]} ${l.replace('_', ' ')}, the map says ${recorded}`);
    });
  });

  const positions = doc.cores.map((c) => slotPosition(spec, c.slot));
  routerOf(spec); // an unknown router is refused here, before the run
  const layerCores = layerNeuronsOnCore.map((m) => [...m.keys()].sort((a, b) => a - b));
  return {
    spec,
    ir,
    plan,
    corePlan,
    host,
    net,
    cores,
    positions,
    coreOf,
    sliceOf,
    sliceLayer,
    layerCores,
    layerNeuronsOnCore,
    sliceCore,
    tilesInUse: new Set(positions.map((p) => tileOf(spec, p))).size,
    quantized: doc.quantization,
  };
}

/** Reads nothing: builds the configuration of a freshly built map (tests, and `snnc chip` after `map`). */
export function configureFromMap(doc: MapDocument, ir: SnnIr): ChipConfig {
  return configureChip({ doc, ir, irFile: doc.ir.file });
}

/** synapseWords(n) for the spec, remembered for small n (called once per message). */
function synapseWordsTable(spec: ChipSpec): (n: number) => number {
  const known = new Int32Array(4096).fill(-1);
  return (n) => {
    if (n >= known.length) return synapseWords(n, spec);
    if (known[n] < 0) known[n] = synapseWords(n, spec);
    return known[n];
  };
}
