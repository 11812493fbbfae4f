/**
 * The core map (`model.map.json`): which neurons of which layer sit on which core of which chip, where
 * that core is on the mesh, the routing totals, the lower bound on cores, the traffic figures and, with
 * quantisation, the weight exponents. It references its IR by a path relative to itself plus the IR's
 * sha256, embeds the chip spec it was made for, and is validated (schemas/map.schema.json) on write and read.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { SnncError } from '../../compiler/errors.ts';
import { readIr } from '../../compiler/ir/io.ts';
import type { Shape, SnnIr } from '../../compiler/ir/types.ts';
import { readDocument, validateDocument } from '../../compiler/schema.ts';
import { writeFileAtomic } from '../../runtime/npy.ts';
import { buildPlan, type NetworkPlan } from '../../runtime/snn/plan.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { type Board, boardChips, boardsOf, boardText, capsOf, type ChipSpec, checkChipSpec, coresPerChip, emptyUse, LIMITS, type LimitName, R, useRecord } from '../chip-spec.ts';
import { blockPartition, type OutputAxonMode, synapseCount, type SynapseMode } from './blocks.ts';
import { type ChipNetwork, chipNetwork, chipPopulations, type LowerBound, lowerBound, partition, type Partition, sliceTraffic, UnplaceableError, type Use } from './partition.ts';
import { BoardError, boardCores, checkBoard, chooseBoard, type CoreEdge, PLACERS, spikeHops } from './place.ts';
import { defaultHost, hostKey, hostNodes, type HostOption, hostProcessor, splitHost, withHostRoutes } from './host.ts';
import { chooseExponents, type QuantizeMode, quantizePlan, type QuantizeStats } from './quantize.ts';
import { chipsFor, linkEnds, slotPosition, tileOf, xyRoute } from './route.ts';

export const MAP_FORMAT = 'snnc-map';
export const MAP_VERSION = 1;

type Usage = Record<LimitName, number>;

export interface MapLayer {
  id: string;
  kind: 'if' | 'readout';
  shape: Shape;
  neurons: number;
  slices: number;
  cores: number;
  ordering: string;
  binding: LimitName | 'none';
  /** Totals over the layer's slices. */
  use: Usage;
  /** The largest fraction of each limit one of its slices uses. */
  max_slice_fraction: Usage;
  /** Population maps: the layer's cores when mapped with discrete synapses. */
  cores_discrete?: number;
}

export interface MapSlice {
  layer: string;
  core: number;
  neurons: number;
  /** Local neuron indices of the layer as half-open runs [start, end). */
  ranges: Array<[number, number]>;
  use: Usage;
  closed_by: LimitName | null;
  /** With population synapses: the routes (stream id, index in its fan-out) whose synapses into this slice are population axons; absent: none. */
  population?: Array<{ stream: string; route: number }>;
}

export interface MapCore {
  core: number;
  /** Physical core: chips, then tiles, then cores in order. */
  slot: number;
  chip: number;
  /** Tile on the global mesh. */
  tile: [number, number];
  core_in_tile: number;
  slices: number[];
  use: Usage;
}

export interface MapDocument {
  format: typeof MAP_FORMAT;
  version: typeof MAP_VERSION;
  ir: { file: string; sha256: string };
  /** The spec it was made for, with `board` the system it was placed on (the smallest that holds it, or --board's). */
  chip: ChipSpec & { board: Board };
  options: {
    placement: string;
    profile: { file: string; samples: number; T: number; seed: number } | null;
    quantize: QuantizeMode | null;
    min_residual_neurons: number;
    /** Absent in maps written before these options existed (greedy, discrete). */
    partitioner?: 'greedy' | 'blocks';
    synapses?: SynapseMode;
    /** Present when output axons are shared per source position (blocks.ts OutputAxonMode); absent: one per neuron. */
    output_axons?: 'population';
  };
  layers: MapLayer[];
  slices: MapSlice[];
  cores: MapCore[];
  /**
   * Where the host nodes (a transformer's matmul of two dynamic operands, softmax) run, off the
   * neuromorphic cores, and the readout when it is there (host.ts); absent when nothing runs on the host.
   */
  host?: { placement: HostOption; nodes: Array<{ id: string; kind: 'matmul' | 'softmax' | 'readout'; size: number; operands: number[] }> };
  /** Population maps: the same network with discrete synapses (cores and chips, or why it cannot be mapped). */
  discrete?: { cores?: number; chips?: number; refused?: string };
  quantization: {
    mode: QuantizeMode;
    mantissa_bits: number;
    groups: Array<{ core: number; stream: string | null; exponent: number; synapses: number; max_abs: number }>;
    stats: QuantizeStats;
    /** Accuracy of the functional simulator before and after quantisation (`snnc map --profile-labels`). */
    accuracy?: { samples: number; T: number; float: number; quantized: number } | null;
  } | null;
  totals: {
    cores: number;
    chips: number;
    tiles: number;
    neurons: number;
    synapses: number;
    /** Output-axon entries: one per (neuron, stream, destination slice). */
    routing_entries: number;
    lower_bound: LowerBound;
    cores_over_lower_bound: number;
    /** Mesh links (directed, between neighbouring tiles) that carry traffic in the chosen placement, and those of them that cross from one chip to another. */
    links?: { used: number; inter_chip: number };
  };
  traffic: {
    /** 'profile': expected spikes from a profiling run; 'uniform': one per connection. */
    weighting: 'profile' | 'uniform';
    messages_per_inference: number;
    /** Σ messages × hops per inference, for the chosen placement and for the sequential baseline. */
    spike_hops: { placed: number; sequential: number; reduction: number };
    /** Of the placed spike-hops: those that cross a chip boundary (messages × chip crossings per inference). */
    chip_hops?: number;
  };
}

function usage(u: Use): Usage {
  return useRecord(u);
}

function runs(neurons: Int32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const t of neurons) {
    const last = out[out.length - 1];
    if (last && last[1] === t) last[1] = t + 1;
    else out.push([t, t + 1]);
  }
  return out;
}

export interface MapOptions {
  placement?: string;
  /** Expected spikes per inference per neuron, per chip population (plan populations, then readout). */
  rates?: Float64Array[];
  profile?: MapDocument['options']['profile'];
  quantize?: QuantizeMode | null;
  minResidualNeurons?: number;
  /**
   * greedy: neuron by neuron over every synapse (partition.ts; O(synapses), the tightest packing);
   * blocks: equal blocks in closed form from the routes (blocks.ts; O(weights + neurons));
   * auto (default): blocks from BLOCKS_FROM_SYNAPSES synapses on.
   */
  partitioner?: 'greedy' | 'blocks' | 'auto';
  /**
   * How conv synapses are stored (blocks.ts SynapseMode); population needs the block partitioner. auto
   * (default): discrete, or population when some neuron's fan-in is beyond a core's input axons (a global
   * pool before a classifier gathers every position of the last conv).
   */
  synapses?: SynapseMode | 'auto';
  /**
   * Output axons with population synapses (blocks.ts OutputAxonMode). auto (default): one per neuron, or
   * shared per source position when one per neuron cannot fit a core or the board.
   */
  outputAxons?: OutputAxonMode | 'auto';
  onProgress?: (stage: string, done: number, total: number) => void;
  /** Where host nodes run (transformer IRs); default: the chip's embedded processors when its spec has them. */
  host?: HostOption;
  /**
   * Where the readout (the class accumulators) goes: on cores; on the host (host.ts), which receives the
   * spikes that reach it; auto (default): on cores, or on the host when no core can take one of its neurons
   * (more inputs than a core's axons) and the spec has a host processor.
   */
  readout?: ReadoutOption;
}

export type ReadoutOption = 'cores' | 'host' | 'auto';
export const READOUT_OPTIONS: readonly ReadoutOption[] = ['cores', 'host', 'auto'];

/** Above this many synapses `auto` maps with blocks: the greedy's per-synapse lists take ~16 bytes each. */
export const BLOCKS_FROM_SYNAPSES = 20_000_000;
/** The most synapses `--partitioner greedy` takes: about 2.6 GB of per-synapse lists (ResNet-34 at 32: 48 M synapses, 1.2 GB). */
export const GREEDY_MAX_SYNAPSES = 100_000_000;

export interface MapResult {
  doc: MapDocument;
  net: ChipNetwork;
  partition: Partition;
  /** The plan the chip runs: quantised when the map quantises. */
  plan: NetworkPlan;
  /** What the map chose on its own (for stderr). */
  notes: string[];
}

/** Core of every neuron of the plan's current space. */
export function coreOfCurrent(part: Partition): Int32Array {
  const out = new Int32Array(part.sliceOf.length);
  for (let i = 0; i < out.length; i++) out[i] = part.coreOf[part.sliceOf[i]];
  return out;
}

/** Spike messages per inference between cores, from slice traffic. */
function coreEdges(part: Partition, sliceTrafficMap: Map<number, number>): CoreEdge[] {
  const n = part.slices.length;
  const byPair = new Map<number, number>();
  const cores = part.cores.length;
  for (const [key, w] of sliceTrafficMap) {
    const a = part.coreOf[Math.floor(key / n)];
    const b = part.coreOf[key % n];
    if (a === b) continue;
    byPair.set(a * cores + b, (byPair.get(a * cores + b) ?? 0) + w);
  }
  return [...byPair].sort((x, y) => x[0] - y[0]).map(([k, messages]) => ({ from: Math.floor(k / cores), to: k % cores, messages }));
}

type Layout = { synapses: SynapseMode; outputAxons: OutputAxonMode };

/**
 * Partition, pack, place, (quantise) and describe: everything `snnc map` writes. The `auto` layouts, in
 * order of cheapest to run: discrete synapses; population synapses with one output axon per neuron (what
 * the virtual chip recounts today); population output axons. The map is the first of them that fits the
 * smallest of the spec's systems (boardsOf) that holds any, placed on that system (buildMapLayouts).
 */
export function buildMap(ir: SnnIr, irFile: string, irSha256: string, spec: ChipSpec, options: MapOptions = {}): MapResult {
  const full = buildPlan(ir);
  const readout = options.readout ?? 'auto';
  if (readout === 'host') return buildMapSplit(ir, full, irFile, irSha256, spec, options, true);
  try {
    return buildMapSplit(ir, full, irFile, irSha256, spec, options, false);
  } catch (e) {
    // auto: a readout neuron no core can take (a head that hears every element of the last layers) goes to the host.
    const processor = spec.host?.[hostKey(options.host ?? defaultHost(spec))];
    if (readout !== 'auto' || !(e instanceof UnplaceableError) || e.where.node !== full.readout.id || !processor) throw e;
    const result = buildMapSplit(ir, full, irFile, irSha256, spec, options, true);
    result.notes.push(`readout ${full.readout.id} on the host: on cores, ${e.detail.replace(/^layer [^:]*: /, '').replace(/ \(the readout can run on the host: --readout host\)$/, '')}`);
    return result;
  }
}

/** The map with host nodes (and the readout, when `readoutOnHost`) on a host processor and the rest of the plan on cores (host.ts). */
function buildMapSplit(ir: SnnIr, full: NetworkPlan, irFile: string, irSha256: string, spec: ChipSpec, options: MapOptions, readoutOnHost: boolean): MapResult {
  const split = splitHost(full, readoutOnHost);
  const host = split ? options.host ?? defaultHost(spec) : null;
  const nodes = hostNodes(full, readoutOnHost);
  if (split) {
    hostProcessor(spec, host!, nodes);
  } else if (options.host) throw new SnncError(`--host ${options.host}: the IR has no host nodes (matmul of two dynamic operands, softmax), and its readout is on cores`);
  const plan = split ? split.core : full;
  const result = buildMapLayouts(ir, plan, irFile, irSha256, spec, options);
  if (!split) return result;
  result.doc.host = { placement: host!, nodes };
  // The chip runs the whole plan: its cores the mapped (perhaps quantised) part, its host the rest.
  return { ...result, plan: result.plan === plan ? full : withHostRoutes(full, split, result.plan) };
}

/** What trying a layout told: a map (on the smallest system that holds it), a refusal no system fixes, or at least how many cores it needs (at first: the lower bound). */
type Outcome = { result?: MapResult; error?: unknown; least?: number };

/**
 * The smallest system first, then the layouts in order: the first layout that fits the first system that
 * can hold one is kept. On each system a block-partitioned layout stops as soon as the blocks cut so far
 * cannot fit it, and a layout known to need more cores than a system has is not tried on it. A layout
 * whose partition finishes (the greedy partitioner cannot stop early) is placed on the smallest system that
 * holds it and waits there. The last layout is counted to the end on the largest system, so a refusal says
 * by how much.
 */
function buildMapLayouts(ir: SnnIr, plan: NetworkPlan, irFile: string, irSha256: string, spec: ChipSpec, options: MapOptions): MapResult {
  const synapses = options.synapses ?? 'auto';
  const outputAxons = options.outputAxons ?? 'auto';
  const population: Layout[] = outputAxons === 'auto' ? [{ synapses: 'population', outputAxons: 'neuron' }, { synapses: 'population', outputAxons: 'population' }] : [{ synapses: 'population', outputAxons }];
  const layouts: Layout[] = synapses === 'discrete' ? [{ synapses, outputAxons: 'neuron' }] : synapses === 'population' ? population : [{ synapses: 'discrete', outputAxons: 'neuron' }, ...population];
  // Only the block partitioner lays out population synapses.
  const last = options.partitioner === 'greedy' ? 0 : layouts.length - 1;
  const systems = boardsOf(spec);
  const capacity = (s: number) => boardChips(systems[s]) * coresPerChip(spec);
  // No layout takes fewer cores than its neurons fill, and discrete synapses no fewer than their axons and words fill: systems below
  // that are not tried. Discrete synapses are still tried on the first system: a layer no core can take is found at once, and said.
  const lb = lowerBound(plan, chipPopulations(ir, plan).pops, spec);
  const floor = layouts.map((l) => (l.synapses === 'discrete' ? lb.cores : lb.by_limit.neurons));
  const outcomes: Outcome[] = layouts.slice(0, last + 1).map((l, k) => ({ least: l.synapses === 'discrete' ? undefined : floor[k] }));
  let fewest: BoardError | undefined;
  for (let s = 0; s < systems.length; s++) {
    const largest = s === systems.length - 1;
    for (let k = 0; k <= last; k++) {
      const o = outcomes[k];
      if (o.error) continue;
      if (o.result) {
        if (o.result.doc.chip.board === systems[s]) return kept(k, s);
        continue;
      }
      const countToEnd = largest && k === last;
      if (o.least !== undefined && o.least > capacity(s) && !countToEnd) continue;
      try {
        o.result = buildMapWith(ir, plan, irFile, irSha256, spec, { ...options, ...layouts[k], stopAt: countToEnd ? undefined : systems.slice(0, s + 1) });
        if (o.result.doc.chip.board === systems[s]) return kept(k, s);
      } catch (e) {
        // Stopped: more cores than this system has (a larger one may hold them); else a refusal that no system fixes.
        if (e instanceof BoardError && !e.complete) o.least = Math.max(e.cores, floor[k]);
        else [o.error, o.least] = [e, undefined];
        if (e instanceof BoardError && e.complete && (!fewest || e.cores < fewest.cores)) fewest = e;
        // What a later layout can fix: too many input axons (population synapses), too many output axons (shared ones), or too many cores.
        const fixable = e instanceof BoardError || (e instanceof UnplaceableError && (e.limit === 'input_axons' || e.limit === 'output_axons'));
        if (!fixable) throw e instanceof UnplaceableError && outcomes[0].error instanceof UnplaceableError ? outcomes[0].error : e;
      }
    }
  }
  // No layout fits the largest system: the layout counted to the end with the fewest cores says by how much.
  const refusal = outcomes[last].error;
  if (refusal instanceof BoardError) throw fewest ?? refusal;
  // A later layout that cannot place a layer at all (e.g. a flat source has no positions): the first refusal says why.
  throw refusal instanceof UnplaceableError && outcomes[0].error instanceof UnplaceableError ? outcomes[0].error : refusal;

  /** Layout k fits system s: its map, with why the layouts before it were not kept (stderr) and, for population synapses, what discrete ones give. */
  function kept(k: number, s: number): MapResult {
    const result = outcomes[k].result!;
    for (let j = 0; j < k; j++) {
      const { result: other, error, least } = outcomes[j];
      const why = other
        ? `the mapping takes ${other.doc.totals.cores} cores on ${other.doc.totals.chips} chips, which needs ${boardText(other.doc.chip.board)}; ${boardText(systems[s])} holds this one`
        : least !== undefined
          ? `the mapping needs at least ${chipsFor(spec, least)} chips, more than ${boardText(systems[s])} holds`
          : (error as SnncError).detail.replace(/ \(.*\)$/, '').replace(/; --board .*$/, '');
      const next = layouts[j + 1];
      result.notes.push(next.synapses !== layouts[j].synapses ? `population synapses: with discrete ones, ${why}` : `population output axons (one per source position and destination block): with one per neuron, ${why}`);
    }
    if (layouts[k].synapses === 'population') {
      const discrete = layouts[0].synapses === 'discrete' ? outcomes[0] : undefined;
      compareDiscrete(result, discrete, systems[s], spec, () => buildMapWith(ir, plan, irFile, irSha256, spec, { ...options, synapses: 'discrete', outputAxons: 'neuron', stopAt: systems, quantize: null }));
    }
    return result;
  }
}

/**
 * Records on a population map what discrete synapses give: per layer cores, or the refusal (`known`, or a
 * discrete mapping run now); when they were only found to need more than the map's `board`, that.
 */
function compareDiscrete(result: MapResult, known: Outcome | undefined, board: Board, spec: ChipSpec, discrete: () => MapResult): void {
  const doc = result.doc;
  if (known?.least !== undefined && !known.result) {
    doc.discrete = { refused: `the mapping needs at least ${chipsFor(spec, known.least)} chips, more than ${boardText(board)} holds (not counted on larger systems)` };
    return;
  }
  let other = known?.result;
  let refusal = known?.error;
  if (!known) {
    try {
      other = discrete();
    } catch (e) {
      if (!(e instanceof SnncError)) throw e;
      refusal = e;
    }
  }
  if (!other) {
    doc.discrete = { refused: (refusal as SnncError).detail.replace(/; --board .*$/, '').replace(/ \(with --synapses population .*\)$/, '') };
    return;
  }
  doc.discrete = { cores: other.doc.totals.cores, chips: other.doc.totals.chips };
  const byId = new Map(other.doc.layers.map((l) => [l.id, l.cores]));
  for (const l of doc.layers) l.cores_discrete = byId.get(l.id);
}

/** Whether a layout is partitioned in blocks (blocks.ts) or neuron by neuron (partition.ts); see MapOptions.partitioner. */
function usesBlocks(synapses: number, options: MapOptions & Layout): boolean {
  const partitioner = options.partitioner ?? 'auto';
  return partitioner === 'blocks' || (partitioner === 'auto' && (synapses >= BLOCKS_FROM_SYNAPSES || options.synapses === 'population'));
}

/**
 * One layout on the smallest of the spec's systems that holds it. `stopAt`: the block partitioner stops (a
 * BoardError with a lower bound on the cores) as soon as the blocks cut so far cannot fit the largest of
 * these systems; a partition it finishes is placed on whichever system holds it.
 */
function buildMapWith(
  ir: SnnIr, plan: NetworkPlan, irFile: string, irSha256: string, spec: ChipSpec,
  options: MapOptions & Layout & { stopAt?: Board[] },
): MapResult {
  // The systems this layout may take, as a spec (its BoardErrors name the largest of them).
  const { board: _board, ...withoutBoard } = spec;
  const bounded: ChipSpec = options.stopAt ? { ...withoutBoard, boards: options.stopAt } : spec;
  const minResidual = options.minResidualNeurons ?? 64;
  const synapses = synapseCount(plan);
  const partitioner = options.partitioner ?? 'auto';
  const synapseMode = options.synapses;
  if (synapseMode === 'population' && partitioner === 'greedy') throw new SnncError('population synapses are laid out per block: use --partitioner blocks (or auto)');
  // A refusal in one line rather than running out of memory: the greedy fill lists every synapse.
  if (partitioner === 'greedy' && synapses > GREEDY_MAX_SYNAPSES) {
    throw new SnncError(`--partitioner greedy lists every synapse: ${synapses} synapses, more than its ${GREEDY_MAX_SYNAPSES} (by ${synapses - GREEDY_MAX_SYNAPSES}); use --partitioner blocks (or auto)`);
  }
  const useBlocks = usesBlocks(synapses, options);
  let net: ChipNetwork;
  let part: Partition;
  let edges: CoreEdge[];
  let messages: number;
  if (useBlocks) {
    const { pops, popOf } = chipPopulations(ir, plan);
    net = { plan, pops, popOf, incoming: [] };
    ({ part, edges, messages } = blockPartition(plan, pops, bounded, {
      rates: options.rates,
      synapses: synapseMode,
      outputAxons: options.outputAxons,
      maxCores: options.stopAt ? boardCores(bounded) : undefined,
      onProgress: (d, t) => options.onProgress?.('partition', d, t),
      // Before counting traffic (and its placement): a map that cannot fit the largest system stops here.
      beforeTraffic: (cores) => checkBoard(spec, cores),
    }));
  } else {
    net = chipNetwork(ir, plan);
    part = partition(net, spec, { minResidualNeurons: minResidual, rates: options.rates });
    const traffic = sliceTraffic(net, part, options.rates);
    edges = coreEdges(part, traffic);
    messages = [...traffic.values()].reduce((a, b) => a + b, 0);
  }
  const placement = options.placement ?? 'traffic';
  const placer = PLACERS[placement];
  if (!placer) throw new SnncError(`unknown placement '${placement}': one of ${Object.keys(PLACERS).join(', ')}`);
  // Placed, routed and embedded on one board: the smallest system that holds the cores.
  const onBoard: MapDocument['chip'] = { ...spec, board: chooseBoard(spec, part.cores.length) };
  spec = onBoard;
  const slots = placer({ cores: part.cores.length, edges, spec });
  const baseline = PLACERS.sequential({ cores: part.cores.length, edges, spec });
  const placed = spikeHops(spec, slots, edges);
  const sequential = spikeHops(spec, baseline, edges);

  let quantization: MapDocument['quantization'] = null;
  let runPlan = plan;
  if (options.quantize) {
    // Progress: the streams twice (exponents, then the quantised weight copies).
    const S = plan.streams.length;
    const groups = chooseExponents(plan, coreOfCurrent(part), options.quantize, spec, (d) => options.onProgress?.('quantise', d, 2 * S));
    const q = quantizePlan(plan, coreOfCurrent(part), groups, spec, (d) => options.onProgress?.('quantise', S + d, 2 * S));
    options.onProgress?.('quantise', 2 * S, 2 * S);
    runPlan = q.plan;
    quantization = {
      mode: options.quantize,
      mantissa_bits: spec.precision.weight_mantissa_bits,
      groups: groups.map((g) => ({ core: g.core, stream: g.stream === null ? null : plan.streams[g.stream].id, exponent: g.exponent, synapses: g.synapses, max_abs: g.max_abs })),
      stats: q.stats,
    };
  }

  const lb = lowerBound(plan, net.pops, spec);
  const caps = capsOf(spec);
  const layers: MapLayer[] = part.layers.map((l) => {
    const pop = net.pops[l.pop];
    const total: Use = emptyUse();
    const maxFrac: Use = emptyUse();
    const cores = new Set<number>();
    for (const s of l.slices) {
      const sl = part.slices[s];
      cores.add(part.coreOf[s]);
      for (let r = 0; r < LIMITS.length; r++) {
        total[r] += sl.use[r];
        maxFrac[r] = Math.max(maxFrac[r], sl.use[r] / caps[r]);
      }
    }
    return {
      id: pop.id,
      kind: pop.kind,
      shape: pop.shape,
      neurons: pop.size,
      slices: l.slices.length,
      cores: cores.size,
      ordering: l.ordering,
      binding: l.binding,
      use: usage(total),
      max_slice_fraction: usage(maxFrac),
    };
  });
  const slices: MapSlice[] = part.slices.map((s) => ({
    layer: net.pops[s.pop].id,
    core: part.coreOf[s.index],
    neurons: s.neurons.length,
    ranges: runs(s.neurons),
    use: usage(s.use),
    closed_by: s.closedBy,
    ...(s.shared ? { population: s.shared.map(([stream, route]) => ({ stream: plan.streams[stream].id, route })) } : {}),
  }));
  const cores: MapCore[] = part.cores.map((sl, c) => {
    const p = slotPosition(spec, slots[c]);
    return { core: c, slot: slots[c], chip: p.chip, tile: [p.x, p.y], core_in_tile: p.core, slices: sl, use: usage(part.use[c]) };
  });
  const tiles = new Set(cores.map((c) => tileOf(spec, slotPosition(spec, c.slot)))).size;
  const links = linkUse(spec, slots, edges);
  const doc: MapDocument = {
    format: MAP_FORMAT,
    version: MAP_VERSION,
    ir: { file: irFile, sha256: irSha256 },
    chip: onBoard,
    options: {
      placement,
      profile: options.profile ?? null,
      quantize: options.quantize ?? null,
      min_residual_neurons: minResidual,
      partitioner: useBlocks ? 'blocks' : 'greedy',
      synapses: synapseMode,
      ...(synapseMode === 'population' && options.outputAxons === 'population' ? { output_axons: 'population' as const } : {}),
    },
    layers,
    slices,
    cores,
    quantization,
    totals: {
      cores: part.cores.length,
      chips: chipsFor(spec, part.cores.length),
      tiles,
      neurons: net.pops.reduce((a, p) => a + p.size, 0),
      synapses,
      routing_entries: part.use.reduce((a, u) => a + u[R.output_axons], 0),
      lower_bound: lb,
      cores_over_lower_bound: part.cores.length / layoutLowerBound(lb, synapseMode),
      links: { used: links.used, inter_chip: links.interChip },
    },
    traffic: {
      weighting: options.rates ? 'profile' : 'uniform',
      messages_per_inference: messages,
      spike_hops: { placed, sequential, reduction: sequential > 0 ? 1 - placed / sequential : 0 },
      chip_hops: links.chipHops,
    },
  };
  return { doc, net, partition: part, plan: runPlan, notes: [] };
}

/** The mesh links the placed traffic uses (XY routes), those that cross chips, and messages × chip crossings. */
function linkUse(spec: ChipSpec, slots: Int32Array, edges: CoreEdge[]): { used: number; interChip: number; chipHops: number } {
  const used = new Set<number>();
  const crossing = new Set<number>();
  let chipHops = 0;
  const { tiles_x, tiles_y } = spec.mesh;
  for (const { from, to, messages } of edges) {
    const r = xyRoute(spec, slotPosition(spec, slots[from]), slotPosition(spec, slots[to]));
    chipHops += messages * r.chip;
    for (const l of r.links) {
      if (used.has(l)) continue;
      used.add(l);
      const { from: [x, y], to: [x2, y2] } = linkEnds(spec, l);
      if (Math.floor(x / tiles_x) !== Math.floor(x2 / tiles_x) || Math.floor(y / tiles_y) !== Math.floor(y2 / tiles_y)) crossing.add(l);
    }
  }
  return { used: used.size, interChip: crossing.size, chipHops };
}

export interface Profile {
  /** Expected spikes per inference of every neuron, per chip population (zeros for the readout). */
  rates: Float64Array[];
  /** Accuracy at T when labels were given. */
  accuracy: number | null;
  samples: number;
}

/**
 * A functional simulation of `input` (raw samples) for T steps: per-neuron spike rates and, with labels,
 * the accuracy at T. Runs in batches so that only one batch's recorded spikes are held at a time (each
 * batch's masks are keyed from its own sample 0: rates and accuracy need no more).
 */
export async function profileRun(
  plan: NetworkPlan,
  input: Float32Array,
  opts: { T: number; seed: number; labels?: Int32Array; onProgress?: (done: number, total: number) => void },
): Promise<Profile> {
  const { T, seed, labels } = opts;
  const rates = plan.pops.map((p) => new Float64Array(p.size));
  const P = plan.pops.length;
  const samples = input.length / plan.inputSize;
  const batch = 64;
  let correct = 0;
  for (let from = 0; from < samples; from += batch) {
    const to = Math.min(samples, from + batch);
    const part = input.subarray(from * plan.inputSize, to * plan.inputSize);
    const result = await simulatePlan(plan, part, { T, seed, labels: labels?.subarray(from, to), recordSpikes: true, onProgress: (d) => opts.onProgress?.(from + d, samples) });
    if (result.accuracy) correct += Math.round(result.accuracy[String(T)] * (to - from));
    for (const rec of result.spikes!) {
      for (let k = 0; k < T * P; k++) {
        const r = rates[k % P];
        for (let j = rec.offsets[k]; j < rec.offsets[k + 1]; j++) r[rec.indices[j]]++;
      }
    }
  }
  for (const r of rates) for (let i = 0; i < r.length; i++) r[i] /= samples;
  rates.push(new Float64Array(plan.readout.size));
  return { rates, accuracy: labels ? correct / samples : null, samples };
}

/** Per-neuron rates only (see profileRun). */
export async function profileRates(plan: NetworkPlan, input: Float32Array, T: number, seed: number, onProgress?: (done: number, total: number) => void): Promise<Float64Array[]> {
  return (await profileRun(plan, input, { T, seed, onProgress })).rates;
}

/**
 * The lower bound on cores that holds for a map's layout: all four limits with discrete synapses; with population
 * synapses (a source position, not each neuron, takes an axon; one weight set serves many axons) only the neurons'.
 */
export function layoutLowerBound(lb: LowerBound, synapses: SynapseMode | undefined): number {
  return synapses === 'population' ? lb.by_limit.neurons : lb.cores;
}

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Validates and writes atomically. `doc.ir.file` must already be relative to the map file's folder. */
export function writeMap(doc: MapDocument, file: string): void {
  const json = `${JSON.stringify(doc, null, 1)}\n`;
  validateDocument('map', JSON.parse(json), file);
  validateDocument('chip', doc.chip, `${file} (chip)`);
  writeFileAtomic(file, json);
}

export interface LoadedMap {
  doc: MapDocument;
  ir: SnnIr;
  irFile: string;
  /** The map's own path (errors found later name it). */
  file?: string;
}

/** Reads and validates a map, then the IR it references (which must be unchanged since mapping). */
export function readMap(file: string): LoadedMap {
  const doc = readDocument<MapDocument>('map', file);
  checkChipSpec(doc.chip, `${file} (chip)`);
  const irFile = path.join(path.dirname(file), doc.ir.file);
  if (!existsSync(irFile)) throw new SnncError(`the IR it maps, ${doc.ir.file}, is not there (paths are relative to the map file)`, { file });
  if (!statSync(irFile).isFile()) throw new SnncError(`the IR it maps, ${doc.ir.file}, is not a regular file`, { file });
  const bytes = readFileSync(irFile);
  if (sha256(bytes) !== doc.ir.sha256) throw new SnncError(`${doc.ir.file} changed since it was mapped (sha256 differs): run snnc map again`, { file });
  const ir = readIr(irFile);
  checkMapDocument(doc, ir, file);
  return { doc, ir, irFile, file };
}

/**
 * What the schema cannot say, checked before anything is built from the map, so that an edited or damaged
 * map is refused naming its file: the cores, slices and layers refer to each other consistently, every
 * layer is a node of the IR with its shape, every neuron sits in exactly one slice, every core on its own
 * slot of the board (a slot off the board would send routes across billions of tiles), the totals are
 * the sums of their parts, and the weight exponents keep every quantised weight a finite float32.
 */
export function checkMapDocument(doc: MapDocument, ir: SnnIr, file: string): void {
  const fail = (message: string): never => {
    throw new SnncError(message, { file });
  };
  const spec = doc.chip;
  // The cores' slots are on the board the map was placed on: a chip spec with only its list of systems does not say which.
  if (!spec.board) fail('chip: no board (the system the map was placed on)');
  const cores = doc.cores.length;
  const slices = doc.slices.length;
  if (doc.totals.cores !== cores) fail(`totals.cores is ${doc.totals.cores}, but the map lists ${cores} cores`);

  const nodes = new Map(ir.nodes.map((n) => [n.id, n]));
  const layerIndex = new Map<string, number>();
  doc.layers.forEach((l, k) => {
    if (layerIndex.has(l.id)) fail(`layer ${k}: ${l.id} is listed twice`);
    layerIndex.set(l.id, k);
    const node = nodes.get(l.id);
    if (!node) fail(`layer ${k}: ${l.id} is not a node of its IR`);
    const size = node!.shape.reduce((a, b) => a * b, 1);
    if (l.neurons !== size || l.shape.join() !== node!.shape.join()) {
      fail(`layer ${k}: ${l.id} has ${l.neurons} neurons of shape [${l.shape}], its IR node ${size} of shape [${node!.shape}]`);
    }
  });

  const covered = doc.layers.map((l) => new Uint8Array(l.neurons));
  const perLayer = doc.layers.map(() => ({ slices: 0, cores: new Set<number>(), use: LIMITS.map(() => 0) }));
  doc.slices.forEach((s, i) => {
    if (s.core >= cores) fail(`slice ${i} is on core ${s.core}, but the map has ${cores} cores`);
    const k = layerIndex.get(s.layer);
    if (k === undefined) fail(`slice ${i} belongs to layer ${s.layer}, which the map does not list`);
    const layer = doc.layers[k!];
    let n = 0;
    let end = 0;
    for (const [a, b] of s.ranges) {
      if (!(a < b && b <= layer.neurons)) fail(`slice ${i} covers [${a}, ${b}) outside layer ${layer.id} (${layer.neurons} neurons)`);
      if (a < end) fail(`slice ${i}: its ranges of layer ${layer.id} overlap or are out of order at [${a}, ${b})`);
      end = b;
      const seen = covered[k!];
      for (let t = a; t < b; t++) {
        if (seen[t]) fail(`neuron ${t} of layer ${layer.id} is in two slices (slice ${i} and an earlier one)`);
        seen[t] = 1;
      }
      n += b - a;
    }
    if (n !== s.neurons) fail(`slice ${i} lists ${s.neurons} neurons but its ranges cover ${n}`);
    perLayer[k!].slices++;
    perLayer[k!].cores.add(s.core);
    LIMITS.forEach((l) => (perLayer[k!].use[R[l]] += s.use[l]));
  });
  doc.layers.forEach((l, k) => {
    const missing = covered[k].indexOf(0);
    if (missing >= 0) fail(`neuron ${missing} of layer ${l.id} is in no slice`);
    const p = perLayer[k];
    if (l.slices !== p.slices || l.cores !== p.cores.size) fail(`layer ${l.id} says ${l.slices} slices on ${l.cores} cores, its slices are ${p.slices} on ${p.cores.size}`);
    LIMITS.forEach((lim) => {
      if (l.use[lim] !== p.use[R[lim]]) fail(`layer ${l.id} uses ${l.use[lim]} ${lim}, its slices ${p.use[R[lim]]}`);
    });
  });

  const capacity = coresPerChip(spec) * boardChips(spec.board);
  const slots = new Map<number, number>();
  const listed = new Int32Array(slices).fill(-1);
  doc.cores.forEach((c, i) => {
    if (c.core !== i) fail(`cores[${i}] says it is core ${c.core}`);
    if (c.slot >= capacity) fail(`core ${i} is on slot ${c.slot}, beyond the ${capacity} cores of a ${spec.board.chips_x}x${spec.board.chips_y}-chip ${spec.name} board`);
    const other = slots.get(c.slot);
    if (other !== undefined) fail(`cores ${other} and ${i} are both on slot ${c.slot}`);
    slots.set(c.slot, i);
    const p = slotPosition(spec, c.slot);
    if (c.chip !== p.chip || c.tile[0] !== p.x || c.tile[1] !== p.y || c.core_in_tile !== p.core) {
      fail(`core ${i}: slot ${c.slot} is chip ${p.chip}, tile [${p.x}, ${p.y}], core ${p.core} of its tile; the map says chip ${c.chip}, tile [${c.tile}], core ${c.core_in_tile}`);
    }
    const use = emptyUse();
    for (const s of c.slices) {
      if (s >= slices) fail(`core ${i} lists slice ${s}, but the map has ${slices} slices`);
      if (doc.slices[s].core !== i) fail(`core ${i} lists slice ${s}, which is on core ${doc.slices[s].core}`);
      if (listed[s] >= 0) fail(`slice ${s} is listed twice`);
      listed[s] = i;
      LIMITS.forEach((l) => (use[R[l]] += doc.slices[s].use[l]));
    }
    LIMITS.forEach((l) => {
      if (c.use[l] !== use[R[l]]) fail(`core ${i} uses ${c.use[l]} ${l}, its slices ${use[R[l]]}`);
    });
  });
  const tiles = new Set(doc.cores.map((c) => tileOf(spec, slotPosition(spec, c.slot)))).size;
  const neurons = doc.layers.reduce((a, l) => a + l.neurons, 0);
  const t = doc.totals;
  if (t.chips !== chipsFor(spec, cores) || t.tiles !== tiles || t.neurons !== neurons) {
    fail(`totals say ${t.chips} chips, ${t.tiles} tiles, ${t.neurons} neurons; the cores and layers make ${chipsFor(spec, cores)}, ${tiles}, ${neurons}`);
  }
  const unlisted = listed.indexOf(-1);
  if (unlisted >= 0) fail(`slice ${unlisted} is on core ${doc.slices[unlisted].core}, which does not list it`);

  const q = doc.quantization;
  if (q) {
    const bits = spec.precision.weight_mantissa_bits;
    if (q.mantissa_bits !== bits) fail(`quantization: ${q.mantissa_bits} mantissa bits, the chip's weights have ${bits}`);
    const perCore = new Map<number, number>();
    q.groups.forEach((g, i) => {
      if (g.core >= cores) fail(`quantization group ${i} is on core ${g.core}, but the map has ${cores} cores`);
      if ((g.stream === null) !== (q.mode === 'per-core')) fail(`quantization group ${i}: a ${q.mode} map ${q.mode === 'per-core' ? 'has no' : 'needs a'} stream per group`);
      // m·2^e for every mantissa m must be a finite, non-zero float32 step.
      if (!(g.exponent >= -149 && g.exponent + bits - 1 <= 127)) fail(`quantization group ${i}: weight exponent ${g.exponent} puts ${bits}-bit mantissas outside float32`);
      perCore.set(g.core, (perCore.get(g.core) ?? 0) + 1);
    });
    for (const [core, n] of perCore) {
      if (n > spec.precision.max_exponent_groups_per_core) fail(`core ${core} has ${n} weight exponents, more than the ${spec.precision.max_exponent_groups_per_core} of a ${spec.name} core`);
    }
  }
}
