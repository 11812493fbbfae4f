/**
 * A chip described as data (SANA-FE's idea): geometry, per-core limits, synapse encoding, precision and an
 * energy/latency table per event, each constant labelled with its source. Presets live in
 * `targets/chips/<name>.json`; any file of the same schema works. Mapping, the virtual chip and the energy
 * model read the spec and never hard-code a chip.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { SnncError } from '../compiler/errors.ts';
import { packageRoot, readJson, validateDocument } from '../compiler/schema.ts';

export interface Labelled<T> {
  value: T;
  source: string;
}

export interface ChipEvent {
  energy_pj: number;
  latency_ns: number;
  source: string;
}

/**
 * The per-core resources a mapping must respect, named in one place. `LIMITS` is their fixed order (reports,
 * errors and the map file's `use` objects use these names); a slice's or core's use in the partitioners' hot
 * loops is a `Use` tuple in that order, read by name through `R`: `use[R.output_axons]`.
 */
export const LIMITS = ['neurons', 'input_axons', 'output_axons', 'synapse_words'] as const;
export type LimitName = (typeof LIMITS)[number];

/** Position of each resource in a `Use` tuple (agrees with LIMITS: test/targets/resources.test.ts). */
export const R = { neurons: 0, input_axons: 1, output_axons: 2, synapse_words: 3 } as const satisfies { [K in LimitName]: number };

export interface Resource {
  /** How errors and reports name it ("4096 input axons"). */
  text: string;
  /** How a slice's (a set of neurons of one population on one core) use of it is counted. */
  counts: string;
}

/** Every per-core resource: its text and how a slice's use is counted (targets/map/partition.ts, blocks.ts). */
export const RESOURCES: Record<LimitName, Resource> = {
  neurons: { text: 'neurons', counts: "the slice's neurons: one compartment each" },
  input_axons: { text: 'input axons', counts: 'the distinct (spike stream, source neuron) pairs with a synapse into the slice' },
  output_axons: { text: 'output axons', counts: "Σ over the slice's neurons and their streams of the distinct destination slices reached (one routing entry, one message per spike, each)" },
  synapse_words: { text: 'synapse-memory words', counts: 'Σ over its input axons of synapseWords(the axon\'s synapses into the slice)' },
};

/** A slice's or core's use of every resource, in LIMITS order: read it as `use[R.synapse_words]`. */
export type Use = [number, number, number, number];

/** n neurons and w synapse words fit a core when n·neuron_bits + w·word_bits ≤ capacity_bits. */
export interface SharedMemory {
  capacity_bits: number;
  neuron_bits: number;
  source: string;
}

/** Bits of a shared core memory a use takes (0 for a spec without one). */
export function memoryBits(u: ArrayLike<number>, spec: ChipSpec): number {
  const m = spec.memory;
  return m ? u[R.neurons] * m.neuron_bits + u[R.synapse_words] * spec.synapse_encoding.word_bits : 0;
}

/**
 * How a chip's core memory is allocated, named in the spec (`resource_model`) and looked up in
 * `RESOURCE_MODELS`, as placers are in targets/map/place.ts: the mapper's fit tests, its cost share and the
 * virtual chip's check all go through it.
 */
export interface ResourceModel {
  /** Whether a use fits one core. Hot: the partitioners call it per candidate slice. */
  fits(u: ArrayLike<number>, caps: Use, spec: ChipSpec): boolean;
  /** The resource the use fills most and the share of the core it takes. */
  worst(u: ArrayLike<number>, caps: Use, spec: ChipSpec): { share: number; limit: LimitName };
  /** Why a use does not fit a core (a phrase such as "needs 5000 input axons, more than the 4096 of a loihi1 core (by 904)"), or null. */
  overflow(u: ArrayLike<number>, caps: Use, spec: ChipSpec): string | null;
}

function limitsShare(u: ArrayLike<number>, caps: Use): { share: number; limit: LimitName } {
  let share = -Infinity;
  let limit: LimitName = LIMITS[0];
  for (let r = 0; r < LIMITS.length; r++) {
    const x = u[r] / caps[r];
    if (x > share) {
      share = x;
      limit = LIMITS[r];
    }
  }
  return { share, limit };
}

function limitsOverflow(u: ArrayLike<number>, caps: Use, spec: ChipSpec): string | null {
  for (let r = 0; r < LIMITS.length; r++) {
    if (u[r] > caps[r]) return `needs ${u[r]} ${LIMITS[r].replace('_', ' ')}, more than the ${caps[r]} of a ${spec.name} core (by ${u[r] - caps[r]})`;
  }
  return null;
}

/** Loihi 1: four fixed allocations per core (neurons, input axons, output axons, synapse words). */
const limitsModel: ResourceModel = {
  fits(u, caps) {
    for (let r = 0; r < LIMITS.length; r++) if (u[r] > caps[r]) return false;
    return true;
  },
  worst: (u, caps) => limitsShare(u, caps),
  overflow: limitsOverflow,
};

/**
 * Loihi 2: the four limits, plus one core memory shared by neuron state and synapse words. A full shared
 * memory is charged to the part taking most of it (neurons or synapse words), so the map file keeps its
 * four resource names.
 */
const sharedMemoryModel: ResourceModel = {
  fits(u, caps, spec) {
    return limitsModel.fits(u, caps, spec) && memoryBits(u, spec) <= spec.memory!.capacity_bits;
  },
  worst(u, caps, spec) {
    const w = limitsShare(u, caps);
    const m = spec.memory!;
    const x = memoryBits(u, spec) / m.capacity_bits;
    if (x > w.share) return { share: x, limit: u[R.neurons] * m.neuron_bits >= u[R.synapse_words] * spec.synapse_encoding.word_bits ? 'neurons' : 'synapse_words' };
    return w;
  },
  overflow(u, caps, spec) {
    const over = limitsOverflow(u, caps, spec);
    if (over) return over;
    const bits = memoryBits(u, spec);
    const capacity = spec.memory!.capacity_bits;
    return bits > capacity ? `needs ${bits} bits of shared core memory, more than the ${capacity} of a ${spec.name} core (by ${bits - capacity})` : null;
  },
};

export const RESOURCE_MODELS = { limits: limitsModel, 'shared-memory': sharedMemoryModel } as const satisfies Record<string, ResourceModel>;
export type ResourceModelName = keyof typeof RESOURCE_MODELS;

/** The spec's resource model: named by `resource_model`, or by default `shared-memory` with a `memory` block and `limits` without. */
export function resourceModelName(spec: ChipSpec): ResourceModelName {
  return spec.resource_model ?? (spec.memory ? 'shared-memory' : 'limits');
}

export function resourceModel(spec: ChipSpec): ResourceModel {
  return RESOURCE_MODELS[resourceModelName(spec)];
}

/** The resource that a use fills most and the share of the core it takes (the spec's resource model). */
export function worstShare(u: ArrayLike<number>, caps: Use, spec: ChipSpec): { share: number; limit: LimitName } {
  return resourceModel(spec).worst(u, caps, spec);
}

/** Whether a use fits one core under the spec's resource model. */
export function fitsCore(u: ArrayLike<number>, caps: Use, spec: ChipSpec): boolean {
  return resourceModel(spec).fits(u, caps, spec);
}

export function emptyUse(): Use {
  return [0, 0, 0, 0];
}

/** A chip's capacity of every resource per core, as a Use. */
export function capsOf(spec: ChipSpec): Use {
  return LIMITS.map((l) => spec.limits[l].value) as Use;
}

/** A Use as the map file writes it: keyed by resource name. */
export function useRecord(u: ArrayLike<number>): Record<LimitName, number> {
  return Object.fromEntries(LIMITS.map((l) => [l, u[R[l]]])) as Record<LimitName, number>;
}

export const EVENTS = ['synaptic_op', 'neuron_active', 'neuron_inactive', 'spike_out', 'message_out', 'message_in', 'hop_ew', 'hop_ns', 'chip_hop'] as const;
export type EventName = (typeof EVENTS)[number];

/** A multi-chip system: chips_x × chips_y chips tiling one mesh (targets/map/route.ts), filled row-major as needed. */
export interface Board {
  /** The system's name ("Nahuku 32"); absent for a board given only by its size. */
  name?: string;
  chips_x: number;
  chips_y: number;
  source: string;
}

export function boardChips(board: Board): number {
  return board.chips_x * board.chips_y;
}

/** "Pohoiki Beach (8 x 8 chips)", or "8 x 4 chips" for a board without a name. */
export function boardText(board: Board): string {
  const size = `${board.chips_x} x ${board.chips_y} chips`;
  return board.name ? `${board.name} (${size})` : size;
}

/** The systems a mapping may use, smallest first: the spec's `board` alone when it has one, else its `boards`. */
export function boardsOf(spec: ChipSpec): Board[] {
  return spec.board ? [spec.board] : spec.boards!;
}

/** The board a spec's physical cores lie on: its `board`, else its largest system. */
export function boardOf(spec: ChipSpec): Board {
  return spec.board ?? spec.boards![spec.boards!.length - 1];
}

export interface ChipSpec {
  format: 'snnc-chip';
  version: 1;
  name: string;
  description: string;
  /** `routing` names the router (targets/chip/routers.ts `ROUTERS`). */
  mesh: { tiles_x: number; tiles_y: number; cores_per_tile: number; routing: string; source: string };
  /**
   * The one board to map onto: an old spec's only system, a board forced with `snnc map --board`, or (in a
   * map file) the system the mapping was placed on. When present it wins over `boards`.
   */
  board?: Board;
  /** The multi-chip systems the chip is sold in, smallest first: `snnc map` places onto the smallest that holds the mapping. */
  boards?: Board[];
  limits: Record<LimitName, Labelled<number>>;
  /** A core memory shared by neuron state and synapse words (Loihi 2), on top of the four limits; absent: fixed allocations (Loihi 1). */
  memory?: SharedMemory;
  /** How core memory is allocated (`RESOURCE_MODELS`); absent: `shared-memory` with a `memory` block, else `limits`. */
  resource_model?: ResourceModelName;
  synapse_encoding: {
    word_bits: number;
    weight_bits: number;
    index_bits: number;
    group_header_bits: number;
    max_synapses_per_group: number;
    source: string;
  };
  precision: { weight_mantissa_bits: number; max_exponent_groups_per_core: number; membrane_bits: number; threshold: string; source: string };
  /** graded_spikes: spikes carry an integer payload (absent: binary spikes only). */
  neuron: { reset_modes: Array<'zero' | 'subtract'>; native_reset: 'zero' | 'subtract'; graded_spikes?: boolean; source: string };
  events: Record<EventName, ChipEvent>;
  barrier: { tiles: number[]; latency_ns: number[]; energy_pj: number; source: string };
  clock_mhz: Labelled<number>;
  /** Processors that run host nodes (matmul of two dynamic operands, softmax): absent, a transformer IR cannot be mapped. */
  host?: Partial<Record<HostPlacement, HostProcessor>>;
}

/** Where host nodes run: the chip's embedded processors, or a processor off the chip. */
export type HostPlacement = 'embedded' | 'off_chip';
export const HOST_PLACEMENTS: readonly HostPlacement[] = ['embedded', 'off_chip'];

/**
 * A processor class that runs host nodes: how many share the work, the cost of one host operation (a
 * spike-pair product, an analog multiply-accumulate, a softmax element, an output entry) and of one value
 * moved between the neuromorphic cores and the processor (a spike in, a current out).
 */
export interface HostProcessor {
  processors: Labelled<number>;
  op: ChipEvent;
  transfer: ChipEvent;
}

function presetsFolder(): string {
  return path.join(packageRoot(), 'targets', 'chips');
}

/** Names of the bundled presets (`loihi1`, `loihi1-sanafe`, ...). */
export function chipPresets(): string[] {
  const folder = presetsFolder();
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** A preset name (`loihi1`) or a path to a chip spec file (anything with a slash or ending in .json). */
export function loadChipSpec(nameOrPath: string): ChipSpec {
  const isPath = nameOrPath.includes('/') || nameOrPath.includes('\\') || nameOrPath.endsWith('.json');
  const file = isPath ? nameOrPath : path.join(presetsFolder(), `${nameOrPath}.json`);
  const label = isPath ? file : `chip ${nameOrPath}`;
  if (!existsSync(file)) {
    if (isPath) throw new SnncError('no such chip spec file', { file });
    throw new SnncError(`unknown chip '${nameOrPath}': presets are ${chipPresets().join(', ')} (or give a path to a chip spec .json)`);
  }
  return checkChipSpec(readJson(file, label), label);
}

/** Bounds on a chip's geometry (placement allocates per slot of the chips in use). */
export const MAX_CORES_PER_CHIP = 65_536;
export const MAX_CHIPS_PER_BOARD = 1_048_576;

/** Schema validation plus the rules a schema cannot state. */
export function checkChipSpec(doc: unknown, file: string): ChipSpec {
  validateDocument('chip', doc, file);
  const spec = doc as ChipSpec;
  // Placement lays out every slot of the chips in use and routes walk the mesh: a chip of 2^40 cores is
  // a typo, not a chip (the largest made have a few thousand cores; boards a few thousand chips).
  const perChip = coresPerChip(spec);
  if (perChip > MAX_CORES_PER_CHIP) {
    const { tiles_x, tiles_y, cores_per_tile } = spec.mesh;
    throw new SnncError(`mesh: ${tiles_x} x ${tiles_y} tiles of ${cores_per_tile} cores make ${perChip} cores per chip, more than the ${MAX_CORES_PER_CHIP} snnc supports`, { file });
  }
  checkBoards(spec, file);
  const { tiles, latency_ns } = spec.barrier;
  if (tiles.length !== latency_ns.length) throw new SnncError(`barrier: ${tiles.length} tile counts but ${latency_ns.length} latencies`, { file });
  for (let i = 1; i < tiles.length; i++) {
    if (!(tiles[i] > tiles[i - 1])) throw new SnncError('barrier: tile counts must be increasing', { file });
  }
  if (resourceModelName(spec) === 'shared-memory' && !spec.memory) throw new SnncError("resource_model 'shared-memory' needs a memory block", { file });
  if (!spec.neuron.reset_modes.includes(spec.neuron.native_reset)) {
    throw new SnncError(`neuron: native reset '${spec.neuron.native_reset}' is not among the reset modes`, { file });
  }
  const enc = spec.synapse_encoding;
  if (spec.memory && spec.memory.neuron_bits + synapseWords(1, spec) * enc.word_bits > spec.memory.capacity_bits) {
    throw new SnncError('memory: one neuron and one synapse do not fit the shared core memory', { file });
  }
  if (synapseWords(1, spec) > spec.limits.synapse_words.value) throw new SnncError('synapse_encoding: one synapse does not fit the synapse memory', { file });
  if (enc.index_bits < Math.ceil(Math.log2(spec.limits.neurons.value))) {
    throw new SnncError(`synapse_encoding: ${enc.index_bits} index bits cannot address ${spec.limits.neurons.value} neurons`, { file });
  }
  return spec;
}

/** A board or a list of systems, each within MAX_CHIPS_PER_BOARD; the list smallest first. */
function checkBoards(spec: ChipSpec, file: string): void {
  if (!spec.board && !spec.boards) throw new SnncError('needs a board or a list of boards (the multi-chip systems it is sold in)', { file });
  const named = (b: Board, where: string) => (b.name ? `${where} (${b.name})` : where);
  const all: Array<[Board, string]> = [...(spec.board ? [[spec.board, 'board'] as [Board, string]] : []), ...(spec.boards ?? []).map((b, i) => [b, named(b, `boards[${i}]`)] as [Board, string])];
  for (const [b, where] of all) {
    if (boardChips(b) > MAX_CHIPS_PER_BOARD) throw new SnncError(`${where}: ${b.chips_x} x ${b.chips_y} chips, more than the ${MAX_CHIPS_PER_BOARD} snnc supports`, { file });
  }
  // Smallest first: the mapper takes the first system that holds a mapping.
  const list = spec.boards ?? [];
  for (let i = 1; i < list.length; i++) {
    if (!(boardChips(list[i]) > boardChips(list[i - 1]))) {
      throw new SnncError(`${named(list[i], `boards[${i}]`)}: ${boardChips(list[i])} chips, not more than the ${boardChips(list[i - 1])} of ${named(list[i - 1], `boards[${i - 1}]`)}: list the systems smallest first`, { file });
    }
  }
}

export function coresPerChip(spec: ChipSpec): number {
  return spec.mesh.tiles_x * spec.mesh.tiles_y * spec.mesh.cores_per_tile;
}

/**
 * Synapse-memory words taken by one input axon with `n` synapses on a core: groups of at most
 * `max_synapses_per_group`, each `group_header_bits + k·(weight_bits + index_bits)` bits rounded up to
 * whole words (nengo-loihi's SynapseConfig.bits_per_axon).
 */
export function synapseWords(n: number, spec: ChipSpec): number {
  const { word_bits: w, weight_bits, index_bits, group_header_bits: h, max_synapses_per_group: g } = spec.synapse_encoding;
  const bits = weight_bits + index_bits;
  const full = Math.floor(n / g);
  const rest = n - full * g;
  return full * Math.ceil((g * bits + h) / w) + (rest > 0 ? Math.ceil((rest * bits + h) / w) : 0);
}

/** Barrier latency for `tiles` tiles in use: piecewise linear through the spec's points. */
export function barrierNs(spec: ChipSpec, tiles: number): number {
  const { tiles: xs, latency_ns: ys } = spec.barrier;
  if (xs.length === 1) return ys[0];
  let i = 0;
  while (i < xs.length - 2 && tiles > xs[i + 1]) i++;
  const t = (tiles - xs[i]) / (xs[i + 1] - xs[i]);
  return Math.max(0, ys[i] + t * (ys[i + 1] - ys[i]));
}
