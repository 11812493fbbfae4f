/**
 * Configuring the virtual chip from a map: which core holds each neuron, the synapses each core stores
 * (checked against the spec's resource model and the map's own figures) and the route between every pair
 * of cores (the spec's router).
 */
import { SnncError } from '../../compiler/errors.ts';
import { refuseGradedSpikes } from './neurons.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { buildPlan, type NetworkPlan } from '../../runtime/snn/plan.ts';
import type { ConvTable } from '../../runtime/snn/conv-table.ts';
import { tableOf } from '../../runtime/snn/routes.ts';
import { capsOf, type ChipSpec, emptyUse, LIMITS, type LimitName, R, resourceModel, synapseWords, type Use } from '../chip-spec.ts';
import { routeNs } from '../energy.ts';
import { type ChipNetwork, chipNetwork } from '../map/partition.ts';
import { synapseCount } from '../map/blocks.ts';
import type { LoadedMap, MapDocument } from '../map/map-file.ts';
import { quantizePlan } from '../map/quantize.ts';
import { type Route, type SlotPosition, slotPosition, tileOf } from '../map/route.ts';
import { routerOf } from './routers.ts';

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
  refuseGradedSpikes(plan, spec);
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
  const router = routerOf(spec);
  const routes: Route[] = new Array(cores * cores);
  const latency = new Float64Array(cores * cores);
  for (let a = 0; a < cores; a++) {
    for (let b = 0; b < cores; b++) {
      const r = router(spec, positions[a], positions[b]);
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

/** Reads nothing: builds the configuration of a freshly built map (tests, and `snnc chip` after `map`). */
export function configureFromMap(doc: MapDocument, ir: SnnIr): ChipConfig {
  return configureChip({ doc, ir, irFile: doc.ir.file });
}
