/**
 * Layers → core-sized slices under all four per-core limits of a chip spec (neurons, input axons, output
 * axons, synapse-memory words), then slices → cores by vector bin packing.
 *
 * The synapses are the simulator's own composed fan-out tables (runtime/snn/plan.ts): a core holds the
 * rows of those tables that reach its neurons, so what is mapped is exactly what is simulated. The analog
 * input layer is not on the chip: the host evaluates it once per sample and writes the currents as
 * compartment biases (nengo-loihi runs a non-spiking first layer off-chip the same way).
 *
 * Resource model of a slice (a set of neurons of one population):
 *   neurons       = its size
 *   input axons   = distinct (stream, source neuron) pairs with a synapse into it
 *   synapse words = Σ over those pairs of synapseWords(synapses of the pair)   (chip-spec.ts)
 *   output axons  = Σ over its neurons and their streams of the distinct destination slices reached
 * Axons are per slice: two slices on one core do not share them (a simplification that costs axons, never
 * correctness), so a core's usage is the sum of its slices'.
 *
 * A population is cut by growing slices along a neuron ordering until the next neuron would break a limit
 * (that limit is recorded as the one that binds): `natural` (C order: conv layers by output channels, dense
 * by neurons) and, for [C, H, W] populations, `position-major` (spatial tiles with all channels of each
 * position together). Populations are cut from the readout backwards, so that a population's output axons
 * are counted against the slices its spikes actually go to.
 */
import { type ErrorPlace, SnncError } from '../../compiler/errors.ts';
import type { IfNode, IrNode, Shape, SnnIr } from '../../compiler/ir/types.ts';
import type { NetworkPlan } from '../../runtime/snn/plan.ts';
import { capsOf, type ChipSpec, emptyUse, LIMITS, type LimitName, memoryBits, R, RESOURCES, synapseWords, type Use } from '../chip-spec.ts';
import { tableOf } from '../../runtime/snn/routes.ts';
import { readoutOnCores } from './host.ts';

/** A neuron (or the smallest block) that no core can hold: the limit it breaks, for a caller that can change the layout. */
export class UnplaceableError extends SnncError {
  constructor(
    detail: string,
    where: ErrorPlace,
    readonly limit: LimitName,
  ) {
    super(detail, where);
  }
}

/** A population as the chip sees it: the IF populations of the plan, then the non-spiking readout. */
export interface ChipPopulation {
  id: string;
  kind: 'if' | 'readout';
  /** First neuron in the plan's current space. */
  offset: number;
  size: number;
  shape: Shape;
  /** Plan stream indices that carry this population's spikes (none for the readout). */
  streams: number[];
}

/** Incoming synapses of a population, per target neuron (local index): CSR over (stream, source row). */
export interface Incoming {
  ptr: Int32Array;
  stream: Int32Array;
  row: Int32Array;
}

export interface ChipNetwork {
  plan: NetworkPlan;
  pops: ChipPopulation[];
  /** Chip population of every neuron of the plan's current space. */
  popOf: Int32Array;
  incoming: Incoming[];
}

/** The populations the chip holds: the plan's IF populations, then the readout (unless it went to the host: host.ts); and which one each current belongs to. */
export function chipPopulations(ir: SnnIr, plan: NetworkPlan): { pops: ChipPopulation[]; popOf: Int32Array } {
  if (plan.analog.length) {
    const nodes = plan.analog.map((a) => `${a.id} (${a.kind})`).join(', ');
    throw new SnncError(`${nodes}: a product of two dynamic operands or a softmax has no fixed synapses, so no neuromorphic core can hold it; the cores take the plan without its host nodes (targets/map/host.ts splitHost)`);
  }
  const byId = new Map<string, IrNode>(ir.nodes.map((n) => [n.id, n]));
  const pops: ChipPopulation[] = plan.pops.map((p) => ({
    id: p.id,
    kind: 'if',
    offset: p.offset,
    size: p.size,
    shape: (byId.get(p.id) as IfNode).shape,
    streams: [...p.streams],
  }));
  const out = byId.get(plan.readout.id);
  if (readoutOnCores(plan)) pops.push({ id: plan.readout.id, kind: 'readout', offset: plan.readout.offset, size: plan.readout.size, shape: out ? out.shape : [plan.readout.size], streams: [] });
  const popOf = new Int32Array(plan.currentSize);
  pops.forEach((p, k) => popOf.fill(k, p.offset, p.offset + p.size));
  return { pops, popOf };
}

/** The chip populations with every neuron's incoming synapses listed: O(synapses), for the neuron-level greedy partitioner and the virtual chip. */
export function chipNetwork(ir: SnnIr, plan: NetworkPlan): ChipNetwork {
  const { pops, popOf } = chipPopulations(ir, plan);
  // Transpose every stream table into per-target lists, in (stream, row) order.
  const counts = pops.map((p) => new Int32Array(p.size + 1));
  plan.streams.forEach((s) => {
    for (const c of tableOf(s.fanout).col) counts[popOf[c]][c - pops[popOf[c]].offset + 1]++;
  });
  const incoming: Incoming[] = pops.map((p, k) => {
    const ptr = counts[k];
    for (let t = 0; t < p.size; t++) ptr[t + 1] += ptr[t];
    const n = ptr[p.size];
    return { ptr, stream: new Int32Array(n), row: new Int32Array(n) };
  });
  const fill = pops.map((p, k) => incoming[k].ptr.slice(0, p.size));
  plan.streams.forEach((s, si) => {
    const { rowPtr, col } = tableOf(s.fanout);
    for (let i = 0; i + 1 < rowPtr.length; i++) {
      for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
        const k = popOf[col[j]];
        const at = fill[k][col[j] - pops[k].offset]++;
        incoming[k].stream[at] = si;
        incoming[k].row[at] = i;
      }
    }
  });
  return { plan, pops, popOf, incoming };
}

/** Resource use in LIMITS order, read by name: `use[R.output_axons]` (targets/chip-spec.ts). */
export type { Use };
export { capsOf };

export interface Slice {
  index: number;
  pop: number;
  /** Local neuron indices within the population, ascending. */
  neurons: Int32Array;
  use: Use;
  /** The limit that stopped this slice from growing, or null when the population ended first. */
  closedBy: LimitName | null;
  /** Block maps with population synapses: the (stream, route of its fan-out) pairs whose synapses into this slice are population axons. */
  shared?: Array<[number, number]>;
}

export interface LayerPartition {
  pop: number;
  ordering: string;
  slices: number[];
  /** The limit that closed most slices; 'none' when the layer fits one slice. */
  binding: LimitName | 'none';
}

export interface Partition {
  slices: Slice[];
  layers: LayerPartition[];
  /** Slice of every neuron of the current space. */
  sliceOf: Int32Array;
  /** Core of every slice. */
  coreOf: Int32Array;
  /** Slices of every core, in the order they were placed there. */
  cores: number[][];
  /** Resource use of every core: the sum of its slices'. */
  use: Use[];
}

/** Orderings of a population's neurons to grow slices along. */
function orderings(shape: Shape, size: number): Array<{ name: string; order: Int32Array }> {
  const natural = new Int32Array(size);
  for (let i = 0; i < size; i++) natural[i] = i;
  const out = [{ name: 'natural', order: natural }];
  if (shape.length === 3 && shape[0] > 1 && shape[1] * shape[2] > 1) {
    const [C, H, W] = shape;
    const order = new Int32Array(size);
    let k = 0;
    for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) order[k++] = c * H * W + p;
    out.push({ name: 'position-major', order });
  }
  return out;
}

/** `act2[3, 4, 5]`: a neuron by its multi-index. */
export function neuronName(pop: ChipPopulation, local: number): string {
  const idx: number[] = [];
  let rest = local;
  for (let a = pop.shape.length - 1; a >= 0; a--) {
    idx.unshift(rest % pop.shape[a]);
    rest = Math.floor(rest / pop.shape[a]);
  }
  return `${pop.id}[${idx.join(', ')}]`;
}

/** Output axons of each neuron of population p: the distinct destination slices of its rows, summed over its streams. */
function outputAxons(net: ChipNetwork, p: number, sliceOf: Int32Array, slices: number): Int32Array {
  const pop = net.pops[p];
  const out = new Int32Array(pop.size);
  const stamp = new Int32Array(slices).fill(-1);
  let mark = 0;
  for (const si of pop.streams) {
    const { rowPtr, col } = tableOf(net.plan.streams[si].fanout);
    for (let i = 0; i < pop.size; i++, mark++) {
      let n = 0;
      for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
        const s = sliceOf[col[j]];
        if (stamp[s] !== mark) {
          stamp[s] = mark;
          n++;
        }
      }
      out[i] += n;
    }
  }
  return out;
}

interface Bin {
  /** An existing core, or -1 for a new one. */
  core: number;
  caps: Use;
  /** Bits left of a shared core memory (spec.memory), Infinity without one. */
  memory: number;
}

interface Grown {
  slices: Array<{ neurons: number[]; use: Use; closedBy: LimitName | null; core: number }>;
  /** New cores opened. */
  opened: number;
}

/**
 * Cuts population p along `order` into slices, filling the leftover capacity of `residual` cores first
 * (in that order) and then whole new cores. A slice in a leftover space must get at least `minNeurons`
 * neurons (or the rest of the population), else that space is skipped: slivers would cost axons and
 * messages for little. A neuron that alone breaks a limit of a whole core cannot be mapped at all: that is
 * an error naming the neuron, the limit and the excess.
 */
function grow(net: ChipNetwork, p: number, order: Int32Array, outAx: Int32Array, spec: ChipSpec, residual: Bin[], minNeurons: number): Grown {
  const pop = net.pops[p];
  const { ptr, stream, row } = net.incoming[p];
  const hard = capsOf(spec);
  const stamps = net.plan.streams.map((s) => new Int32Array(tableOf(s.fanout).rowPtr.length - 1).fill(-1));
  const counts = net.plan.streams.map((s) => new Int32Array(tableOf(s.fanout).rowPtr.length - 1));
  const mem = spec.memory;
  const neuronBits = mem ? mem.neuron_bits : 0;
  const wordBits = spec.synapse_encoding.word_bits;
  const wordStep = new Int32Array(hard[R.neurons] + 2);
  for (let n = 0; n < wordStep.length; n++) wordStep[n] = synapseWords(n + 1, spec) - synapseWords(n, spec);

  const slices: Grown['slices'] = [];
  let opened = 0;
  let id = 0;
  const delta: Use = emptyUse();
  // What adding neuron t to the open slice costs, resource by resource (RESOURCES[...].counts).
  const measure = (t: number) => {
    delta[R.neurons] = 1;
    delta[R.input_axons] = 0;
    delta[R.output_axons] = outAx[t];
    delta[R.synapse_words] = 0;
    for (let k = ptr[t]; k < ptr[t + 1]; k++) {
      const s = stream[k];
      const j = row[k];
      if (stamps[s][j] !== id) {
        delta[R.input_axons]++;
        delta[R.synapse_words] += wordStep[0];
      } else {
        delta[R.synapse_words] += wordStep[counts[s][j]];
      }
    }
  };
  let at = 0;
  let bin = 0;
  while (at < order.length) {
    const fresh = bin >= residual.length;
    const caps = fresh ? hard : residual[bin].caps;
    const memCap = fresh ? (mem ? mem.capacity_bits : Infinity) : residual[bin].memory;
    const use: Use = emptyUse();
    const neurons: number[] = [];
    let closedBy: LimitName | null = null;
    const start = at;
    while (at < order.length) {
      const t = order[at];
      measure(t);
      let worstRatio = 1;
      for (let r = 0; r < LIMITS.length; r++) {
        const ratio = (use[r] + delta[r]) / caps[r];
        if (ratio > worstRatio) {
          worstRatio = ratio;
          closedBy = LIMITS[r];
        }
      }
      // A shared core memory (Loihi 2): neuron state and synapse words against one capacity, charged to the larger part.
      let memBits = 0;
      if (mem) {
        const nBits = (use[R.neurons] + delta[R.neurons]) * neuronBits;
        const wBits = (use[R.synapse_words] + delta[R.synapse_words]) * wordBits;
        memBits = nBits + wBits;
        if (memBits / memCap > worstRatio) {
          worstRatio = memBits / memCap;
          closedBy = nBits >= wBits ? 'neurons' : 'synapse_words';
        }
      }
      if (closedBy !== null) {
        if (neurons.length === 0 && fresh && mem && memBits > mem.capacity_bits && delta.every((v, r) => v <= hard[r])) {
          throw new UnplaceableError(
            `neuron ${neuronName(pop, t)} has ${ptr[t + 1] - ptr[t]} incoming synapses that need ${delta[R.synapse_words]} synapse-memory words: with its state, ${memBits} bits, more than the ${mem.capacity_bits} bits of a ${spec.name} core's shared memory (by ${memBits - mem.capacity_bits}); no slicing can place it (splitting one neuron over partial-sum neurons is not implemented; reduce the fan-in in the model)`,
            { node: pop.id },
            closedBy,
          );
        }
        if (neurons.length === 0 && fresh) {
          const limit = closedBy;
          const r = R[limit];
          const what =
            limit === 'input_axons'
              ? `receives spikes from ${delta[r]} source neurons`
              : limit === 'synapse_words'
                ? `has ${ptr[t + 1] - ptr[t]} incoming synapses that need ${delta[r]} synapse-memory words`
                : `sends spikes to ${delta[r]} core slices`;
          const remedy =
            limit === 'output_axons'
              ? 'its targets are cut too finely'
              : pop.kind === 'readout'
                ? 'the readout can run on the host: --readout host'
                : 'splitting one neuron over partial-sum neurons is not implemented; reduce the fan-in in the model';
          throw new UnplaceableError(
            `neuron ${neuronName(pop, t)} ${what}: more than the ${hard[r]} ${RESOURCES[limit].text} of a ${spec.name} core (by ${delta[r] - hard[r]}); no slicing can place it (${remedy})`,
            { node: pop.id },
            limit,
          );
        }
        break;
      }
      for (let k = ptr[t]; k < ptr[t + 1]; k++) {
        const s = stream[k];
        const j = row[k];
        if (stamps[s][j] !== id) {
          stamps[s][j] = id;
          counts[s][j] = 1;
        } else {
          counts[s][j]++;
        }
      }
      for (let r = 0; r < LIMITS.length; r++) use[r] += delta[r];
      neurons.push(t);
      at++;
    }
    id++;
    if (!fresh && neurons.length < minNeurons && at < order.length) {
      at = start; // too small a leftover: skip it
    } else if (neurons.length > 0) {
      slices.push({ neurons, use, closedBy: at < order.length ? closedBy : null, core: fresh ? -1 - opened : residual[bin].core });
      if (fresh) opened++;
    }
    bin++;
  }
  return { slices, opened };
}

export interface PartitionOptions {
  /** Smallest slice worth putting in a core's leftover space (default 64 neurons). */
  minResidualNeurons?: number;
  /** Expected spikes per inference of every neuron, per population (from a profile); default 1 each. */
  rates?: Float64Array[];
}

/** Expected messages of population p's spikes that stay on their own core, for a candidate cut. */
function localTraffic(net: ChipNetwork, p: number, grown: Grown, coreOfSlice: number[], sliceOf: Int32Array, rates?: Float64Array[]): number {
  const pop = net.pops[p];
  const stamp = new Int32Array(coreOfSlice.length).fill(-1);
  let mark = 0;
  let local = 0;
  for (const s of grown.slices) {
    if (s.core < 0) continue; // a new core holds none of the destinations
    for (const si of pop.streams) {
      const { rowPtr, col } = tableOf(net.plan.streams[si].fanout);
      for (const t of s.neurons) {
        const w = rates ? rates[p][t] : 1;
        mark++;
        for (let j = rowPtr[t]; j < rowPtr[t + 1]; j++) {
          const d = sliceOf[col[j]];
          // One message per destination slice.
          if (stamp[d] !== mark) {
            stamp[d] = mark;
            if (coreOfSlice[d] === s.core) local += w;
          }
        }
      }
    }
  }
  return local;
}

/**
 * Cuts every population into slices and groups the slices into cores ("greedy fill"): from the readout
 * backwards, each population first fills the leftover space of the cores that already hold its
 * destinations (so that its spikes stay close), then of the other cores, then opens new ones. Per
 * population the ordering that opens the fewest new cores wins; ties go to the one that keeps the most
 * spike messages on their own core (rate-weighted with a profile), then to fewer slices.
 */
export function partition(net: ChipNetwork, spec: ChipSpec, options: PartitionOptions = {}): Partition {
  const hard = capsOf(spec);
  const minResidual = options.minResidualNeurons ?? 64;
  const sliceOf = new Int32Array(net.plan.currentSize).fill(-1);
  const slices: Slice[] = [];
  const layers: LayerPartition[] = new Array(net.pops.length);
  const cores: number[][] = [];
  const use: Use[] = [];
  const coreOfSlice: number[] = [];
  // Backwards: destinations are cut before their sources, which then count real output axons.
  for (let p = net.pops.length - 1; p >= 0; p--) {
    const pop = net.pops[p];
    const outAx = outputAxons(net, p, sliceOf, slices.length);
    // Leftover spaces: cores holding this population's destinations first (by their first such slice).
    const destRank = new Map<number, number>();
    const destPops = new Set<number>();
    for (const si of pop.streams) {
      const { col } = tableOf(net.plan.streams[si].fanout);
      for (let j = 0; j < col.length; j++) destPops.add(net.popOf[col[j]]);
    }
    for (const s of slices) {
      const c = coreOfSlice[s.index];
      if (destPops.has(s.pop) && !destRank.has(c)) destRank.set(c, destRank.size);
    }
    const residual: Bin[] = cores
      .map((_, c) => c)
      .sort((a, b) => (destRank.get(a) ?? Infinity) - (destRank.get(b) ?? Infinity) || a - b)
      .map((c) => ({ core: c, caps: hard.map((h, r) => h - use[c][r]) as Use, memory: spec.memory ? spec.memory.capacity_bits - memoryBits(use[c], spec) : Infinity }))
      .filter((b) => b.caps.every((x) => x > 0) && b.memory > 0);
    let best: { name: string; grown: Grown; local: number } | undefined;
    for (const { name, order } of orderings(pop.shape, pop.size)) {
      const grown = grow(net, p, order, outAx, spec, residual, Math.min(minResidual, pop.size));
      const local = localTraffic(net, p, grown, coreOfSlice, sliceOf, options.rates);
      const better =
        !best ||
        grown.opened < best.grown.opened ||
        (grown.opened === best.grown.opened && (local > best.local + 1e-9 || (Math.abs(local - best.local) <= 1e-9 && grown.slices.length < best.grown.slices.length)));
      if (better) best = { name, grown, local };
    }
    const indices: number[] = [];
    const closers = new Map<LimitName, number>();
    for (const s of best!.grown.slices) {
      const neurons = Int32Array.from(s.neurons).sort();
      const index = slices.length;
      for (const t of neurons) sliceOf[pop.offset + t] = index;
      let core = s.core;
      if (core < 0) {
        core = cores.length;
        cores.push([]);
        use.push(emptyUse());
      }
      cores[core].push(index);
      coreOfSlice[index] = core;
      for (let r = 0; r < LIMITS.length; r++) use[core][r] += s.use[r];
      slices.push({ index, pop: p, neurons, use: s.use, closedBy: s.closedBy });
      indices.push(index);
      if (s.closedBy) closers.set(s.closedBy, (closers.get(s.closedBy) ?? 0) + 1);
    }
    let binding: LimitName | 'none' = 'none';
    for (const l of LIMITS) if ((closers.get(l) ?? 0) > (binding === 'none' ? 0 : closers.get(binding)!)) binding = l;
    layers[p] = { pop: p, ordering: best!.name, slices: indices, binding };
  }
  return { slices, layers, sliceOf, coreOf: Int32Array.from(coreOfSlice), cores, use };
}

/** Expected spike messages between slices per inference: traffic[a→b], keyed a·n + b. */
export type SliceTraffic = Map<number, number>;

/**
 * One message per (spike, destination slice). `rates[p][i]` = expected spikes of neuron i of population p
 * per inference (from a profiling run), or 1 for every neuron without a profile.
 */
export function sliceTraffic(net: ChipNetwork, part: Partition, rates?: Float64Array[]): SliceTraffic {
  const n = part.slices.length;
  const traffic: SliceTraffic = new Map();
  const stamp = new Int32Array(n).fill(-1);
  let mark = 0;
  net.pops.forEach((pop, p) => {
    for (const si of pop.streams) {
      const { rowPtr, col } = tableOf(net.plan.streams[si].fanout);
      for (let i = 0; i < pop.size; i++, mark++) {
        const w = rates ? rates[p][i] : 1;
        if (w === 0) continue;
        const from = part.sliceOf[pop.offset + i];
        for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
          const to = part.sliceOf[col[j]];
          if (stamp[to] === mark) continue;
          stamp[to] = mark;
          const key = from * n + to;
          traffic.set(key, (traffic.get(key) ?? 0) + w);
        }
      }
    }
  });
  return traffic;
}

export interface LowerBound {
  cores: number;
  /** Cores each limit alone forces, whatever the slicing. */
  by_limit: Record<LimitName, number>;
  /** Demand behind each figure: neurons, source rows needing ≥ 1 input and output axon, minimum words. */
  demand: Record<LimitName, number>;
}

/**
 * A lower bound on cores valid for any slicing: every neuron needs a compartment; every source row with a
 * synapse needs at least one input axon and one output axon; its n synapses need at least ⌈n/g⌉ group
 * headers and n·(weight + index) bits, before rounding to words.
 */
export function lowerBound(plan: NetworkPlan, pops: ChipPopulation[], spec: ChipSpec): LowerBound {
  const caps = capsOf(spec);
  const enc = spec.synapse_encoding;
  const neurons = pops.reduce((a, p) => a + p.size, 0);
  let rows = 0;
  let bits = 0;
  for (const s of plan.streams) {
    for (const n of s.fanout.fanOut) {
      if (n === 0) continue;
      rows++;
      bits += n * (enc.weight_bits + enc.index_bits) + enc.group_header_bits * Math.ceil(n / enc.max_synapses_per_group);
    }
  }
  const demand: Record<LimitName, number> = { neurons, input_axons: rows, output_axons: rows, synapse_words: bits / enc.word_bits };
  const by_limit = Object.fromEntries(LIMITS.map((l) => [l, Math.ceil(demand[l] / caps[R[l]] - 1e-9)])) as Record<LimitName, number>;
  // A shared core memory (spec.memory) holds every neuron's state and at least the minimum words: a fifth
  // bound, folded into `cores` (the map file keeps its four resource names).
  const memory = spec.memory ? Math.ceil((neurons * spec.memory.neuron_bits + bits) / spec.memory.capacity_bits - 1e-9) : 0;
  return { cores: Math.max(1, memory, ...Object.values(by_limit)), by_limit, demand };
}
