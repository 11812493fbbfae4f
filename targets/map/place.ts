/**
 * Cores → physical cores ("slots") on the tile mesh. Strategies are interchangeable functions of one
 * signature (as nengo-loihi's allocators): they get the number of cores, the spike traffic between them
 * and the chip spec, and return a slot per core.
 *
 *   sequential  core k on slot k: chips, tiles and cores in order (the baseline)
 *   traffic     greedy construction (the core with the most traffic to those already placed goes to the
 *               free slot that adds the fewest spike-hops), then move/swap local search until no move
 *               lowers Σ traffic × hops
 *
 * Traffic is expected spike messages per inference: rates from a profiling run (`snnc map --profile`) or,
 * without one, one per connection (every neuron weighted equally).
 */
import { SnncError } from '../../compiler/errors.ts';
import { type Board, boardChips, boardsOf, boardText, type ChipSpec, coresPerChip } from '../chip-spec.ts';
import { chipsFor, hopsBetween, type SlotPosition, slotPosition } from './route.ts';

/** Directed traffic between cores: messages per inference from `from` to `to` (from ≠ to). */
export interface CoreEdge {
  from: number;
  to: number;
  messages: number;
}

export interface PlaceInput {
  cores: number;
  edges: CoreEdge[];
  spec: ChipSpec;
}

export type Placer = (input: PlaceInput) => Int32Array;

/** A mapping that needs more chips than the largest of the spec's boards (boardsOf) holds. */
export class BoardError extends SnncError {
  constructor(
    spec: ChipSpec,
    readonly cores: number,
    how?: string,
  ) {
    // `how`: the count stopped early (a lower bound on the cores, not the mapping's own).
    const chips = chipsFor(spec, cores);
    const systems = boardsOf(spec);
    const largest = systems[systems.length - 1];
    const holds = boardChips(largest);
    const needs = `the mapping needs ${how ? 'at least ' : ''}${chips} chips (${how ?? `${cores} cores`})`;
    super(
      systems.length === 1 && !largest.name
        ? `${needs} but a ${spec.name} board holds ${holds} (by ${chips - holds}); --board CxR maps onto a larger board (this one is ${largest.chips_x} x ${largest.chips_y})`
        : `${needs} but the ${systems.length > 1 ? 'largest' : 'only'} ${spec.name} system, ${boardText(largest)}, holds ${holds} (by ${chips - holds}); --board CxR maps onto a larger board`,
    );
    this.complete = how === undefined;
  }

  /** Whether `cores` is the whole mapping's count. */
  readonly complete: boolean;
}

/** Cores the largest of the spec's boards holds. */
export function boardCores(spec: ChipSpec): number {
  const systems = boardsOf(spec);
  return boardChips(systems[systems.length - 1]) * coresPerChip(spec);
}

/** The chips a mapping of `cores` cores takes; an error naming the excess when the spec's largest board holds fewer. */
export function checkBoard(spec: ChipSpec, cores: number): number {
  if (cores > boardCores(spec)) throw new BoardError(spec, cores);
  return chipsFor(spec, cores);
}

/**
 * The smallest of the spec's boards that holds `cores` cores (a BoardError when none does). The placers
 * fill only the chips a mapping needs, row-major, so a larger board never adds chips or cores: it only
 * changes where chips beyond the first row sit.
 */
export function chooseBoard(spec: ChipSpec, cores: number): Board {
  const chips = chipsFor(spec, cores);
  const board = boardsOf(spec).find((b) => boardChips(b) >= chips);
  if (!board) throw new BoardError(spec, cores);
  return board;
}

export const sequential: Placer = ({ cores, spec }) => {
  checkBoard(spec, cores);
  return Int32Array.from({ length: cores }, (_, k) => k);
};

/** Symmetric adjacency: neighbours and summed traffic both ways. */
function adjacency(cores: number, edges: CoreEdge[]): Array<Map<number, number>> {
  const adj = Array.from({ length: cores }, () => new Map<number, number>());
  for (const { from, to, messages } of edges) {
    if (from === to || messages <= 0) continue;
    adj[from].set(to, (adj[from].get(to) ?? 0) + messages);
    adj[to].set(from, (adj[to].get(from) ?? 0) + messages);
  }
  return adj;
}

/** Above this much work (cores × slots × (neighbours + 1)), `traffic` looks only near each core's neighbours (placeNear). */
const EXHAUSTIVE_WORK = 150_000_000;

export const traffic: Placer = ({ cores, edges, spec }) => {
  const chips = checkBoard(spec, cores);
  const slots = chips * coresPerChip(spec);
  if (cores * slots * ((2 * edges.length) / Math.max(1, cores) + 1) > EXHAUSTIVE_WORK) return placeNear(cores, slots, edges, spec);
  const pos: SlotPosition[] = Array.from({ length: slots }, (_, s) => slotPosition(spec, s));
  const adj = adjacency(cores, edges);
  const total = adj.map((m) => [...m.values()].reduce((a, b) => a + b, 0));
  // The centre of the chips in use: the first core goes there, and ties prefer slots near it.
  const cx = pos.reduce((a, p) => a + p.x, 0) / slots;
  const cy = pos.reduce((a, p) => a + p.y, 0) / slots;
  const central = pos.map((p) => Math.abs(p.x - cx) + Math.abs(p.y - cy));

  const slotOf = new Int32Array(cores).fill(-1);
  const owner = new Int32Array(slots).fill(-1);
  const toPlaced = new Float64Array(cores);
  const place = (c: number, s: number) => {
    slotOf[c] = s;
    owner[s] = c;
    for (const [d, w] of adj[c]) toPlaced[d] += w;
  };
  for (let placed = 0; placed < cores; placed++) {
    let c = -1;
    for (let k = 0; k < cores; k++) {
      if (slotOf[k] >= 0) continue;
      if (c < 0 || toPlaced[k] > toPlaced[c] || (toPlaced[k] === toPlaced[c] && total[k] > total[c])) c = k;
    }
    let best = -1;
    let bestCost = Infinity;
    for (let s = 0; s < slots; s++) {
      if (owner[s] >= 0) continue;
      let cost = 0;
      for (const [d, w] of adj[c]) if (slotOf[d] >= 0) cost += w * hopsBetween(pos[s], pos[slotOf[d]]);
      if (cost < bestCost - 1e-9 || (Math.abs(cost - bestCost) <= 1e-9 && central[s] < central[best])) {
        bestCost = cost;
        best = s;
      }
    }
    place(c, best);
  }

  // Local search: move a core to any slot (swapping with its owner) while that lowers Σ traffic × hops.
  const costAt = (c: number, s: number, ignore: number) => {
    let cost = 0;
    for (const [d, w] of adj[c]) if (d !== ignore) cost += w * hopsBetween(pos[s], pos[slotOf[d]]);
    return cost;
  };
  // Work budget: a core's examination costs about slots × (3 × its neighbours + 1) steps. Small maps get
  // up to 50 full passes; a map of thousands of cores examines as many cores as the budget allows (seconds).
  const budget = 2e8;
  const degree = (2 * edges.length) / Math.max(1, cores);
  const examinations = Math.max(cores, Math.floor(budget / Math.max(1, slots * (3 * degree + 1))));
  const passes = Math.max(1, Math.min(50, Math.floor(budget / Math.max(1, cores * slots * 8))));
  let examined = 0;
  for (let pass = 0; pass < passes && examined < examinations; pass++) {
    let improved = false;
    for (let c = 0; c < cores && examined < examinations; c++, examined++) {
      const from = slotOf[c];
      const stay = costAt(c, from, -1);
      let bestDelta = -1e-9;
      let bestSlot = -1;
      for (let s = 0; s < slots; s++) {
        if (s === from) continue;
        const delta = moveDelta(c, from, s, owner[s], stay, costAt, adj, pos);
        if (delta < bestDelta) {
          bestDelta = delta;
          bestSlot = s;
        }
      }
      if (bestSlot >= 0) {
        moveTo(c, bestSlot, slotOf, owner);
        improved = true;
      }
    }
    if (!improved) break;
  }
  return slotOf;
};

/**
 * `traffic` for thousands of cores, in time O(cores × (neighbours + a few tiles)) instead of
 * O(cores × slots × neighbours): Σ traffic × hops (L1 distance on the tile mesh) is lowest at the weighted
 * median of a core's placed neighbours, so a core goes to the best of the free slots nearest that point
 * (found ring by ring around it), and the local search tries swaps with the slots of the tiles within two
 * hops of it. Same greedy order and same cost as the exhaustive version.
 */
export function placeNear(cores: number, slots: number, edges: CoreEdge[], spec: ChipSpec): Int32Array {
  const pos: SlotPosition[] = Array.from({ length: slots }, (_, s) => slotPosition(spec, s));
  // The mesh of the chips in use: columns × rows of tiles, and the slots of every tile.
  const width = Math.max(...pos.map((p) => p.x)) + 1;
  const height = Math.max(...pos.map((p) => p.y)) + 1;
  const slotsOfTile: number[][] = Array.from({ length: width * height }, () => []);
  for (let s = 0; s < slots; s++) slotsOfTile[pos[s].y * width + pos[s].x].push(s);
  const adj = adjacency(cores, edges);
  const nbr = adj.map((m) => Int32Array.from(m.keys()));
  const wts = adj.map((m) => Float64Array.from(m.values()));
  const total = wts.map((w) => w.reduce((a, b) => a + b, 0));
  const slotOf = new Int32Array(cores).fill(-1);
  const owner = new Int32Array(slots).fill(-1);
  const free = new Int32Array(width * height);
  for (let t = 0; t < free.length; t++) free[t] = slotsOfTile[t].length;
  const cx = Math.floor(width / 2);
  const cy = Math.floor(height / 2);

  const cost = (c: number, s: number, ignore: number) => {
    let sum = 0;
    const p = pos[s];
    const n = nbr[c];
    for (let k = 0; k < n.length; k++) {
      const d = n[k];
      if (d === ignore || slotOf[d] < 0) continue;
      const q = pos[slotOf[d]];
      sum += wts[c][k] * (Math.abs(p.x - q.x) + Math.abs(p.y - q.y));
    }
    return sum;
  };
  /** Weighted median tile of c's placed neighbours (the centre when none is placed). */
  const median = (c: number): [number, number] => {
    const xs: Array<[number, number]> = [];
    const ys: Array<[number, number]> = [];
    let w = 0;
    nbr[c].forEach((d, k) => {
      if (slotOf[d] < 0) return;
      const q = pos[slotOf[d]];
      xs.push([q.x, wts[c][k]]);
      ys.push([q.y, wts[c][k]]);
      w += wts[c][k];
    });
    if (w === 0) return [cx, cy];
    const pick = (v: Array<[number, number]>) => {
      v.sort((a, b) => a[0] - b[0]);
      let acc = 0;
      for (const [x, wx] of v) if ((acc += wx) >= w / 2) return x;
      return v[v.length - 1][0];
    };
    return [pick(xs), pick(ys)];
  };
  /** Tiles by L1 distance from (x, y), ring by ring, while `visit` asks for more. */
  const rings = (x: number, y: number, visit: (tile: number, d: number) => boolean) => {
    for (let d = 0; d < width + height; d++) {
      for (let dx = -d; dx <= d; dx++) {
        const rest = d - Math.abs(dx);
        for (const dy of rest === 0 ? [0] : [-rest, rest]) {
          const tx = x + dx;
          const ty = y + dy;
          if (tx < 0 || ty < 0 || tx >= width || ty >= height) continue;
          if (!visit(ty * width + tx, d)) return;
        }
      }
    }
  };

  // Greedy: the core with the most traffic to those placed goes to the cheapest free slot near its neighbours' median.
  const toPlaced = new Float64Array(cores);
  const placedFlag = new Uint8Array(cores);
  // Buckets would be faster; a linear scan of cores per step is O(cores²) simple steps, seconds at 10⁴.
  for (let placed = 0; placed < cores; placed++) {
    let c = -1;
    for (let k = 0; k < cores; k++) {
      if (placedFlag[k]) continue;
      if (c < 0 || toPlaced[k] > toPlaced[c] || (toPlaced[k] === toPlaced[c] && total[k] > total[c])) c = k;
    }
    const [mx, my] = median(c);
    let best = -1;
    let bestCost = Infinity;
    let reach = Infinity;
    rings(mx, my, (tile, d) => {
      // Slots two rings beyond the first free one cannot be cheaper by more than the ring difference; stop there.
      if (d > reach + 2) return false;
      if (free[tile] === 0) return true;
      if (reach === Infinity) reach = d;
      for (const s of slotsOfTile[tile]) {
        if (owner[s] >= 0) continue;
        const x = cost(c, s, -1);
        if (x < bestCost - 1e-9 || (Math.abs(x - bestCost) <= 1e-9 && s < best)) {
          bestCost = x;
          best = s;
        }
      }
      return true;
    });
    slotOf[c] = best;
    owner[best] = c;
    free[pos[best].y * width + pos[best].x]--;
    placedFlag[c] = 1;
    for (let k = 0; k < nbr[c].length; k++) toPlaced[nbr[c][k]] += wts[c][k];
  }

  // Local search: per core, moves and swaps with the slots of the tiles within two hops of its neighbours'
  // median (more passes than three gain about 1 % at several times the time).
  // A pass costs about cores × 13 tiles' slots × 3 × neighbours steps: at most three, as many as 3 × 10⁸ steps allow, at least one.
  const degree = (2 * edges.length) / Math.max(1, cores);
  const passes = Math.max(1, Math.min(3, Math.floor(3e8 / Math.max(1, cores * 13 * spec.mesh.cores_per_tile * (3 * degree + 1)))));
  for (let pass = 0; pass < passes; pass++) {
    let improved = false;
    for (let c = 0; c < cores; c++) {
      const from = slotOf[c];
      const stay = cost(c, from, -1);
      const [mx, my] = median(c);
      let bestDelta = -1e-9;
      let bestSlot = -1;
      rings(mx, my, (tile, d) => {
        if (d > 2) return false;
        for (const s of slotsOfTile[tile]) {
          if (s === from) continue;
          const delta = moveDelta(c, from, s, owner[s], stay, cost, adj, pos);
          if (delta < bestDelta) {
            bestDelta = delta;
            bestSlot = s;
          }
        }
        return true;
      });
      if (bestSlot >= 0) {
        moveTo(c, bestSlot, slotOf, owner);
        improved = true;
      }
    }
    if (!improved) break;
  }
  return slotOf;
}

export const PLACERS: Record<string, Placer> = { sequential, traffic };

/** Σ over core pairs of messages × hops between their slots: spike-hops per inference. */
export function spikeHops(spec: ChipSpec, slots: Int32Array, edges: CoreEdge[]): number {
  let sum = 0;
  for (const { from, to, messages } of edges) sum += messages * hopsBetween(slotPosition(spec, slots[from]), slotPosition(spec, slots[to]));
  return sum;
}

/**
 * The change of Σ traffic × hops when core c moves from `from` to slot s, swapping with its owner `other`
 * (−1: a free slot). `cost(core, slot, ignore)` is a core's traffic × hops at a slot, leaving one partner out.
 */
function moveDelta(
  c: number, from: number, s: number, other: number, stay: number,
  cost: (core: number, slot: number, ignore: number) => number, adj: Array<Map<number, number>>, pos: Array<Parameters<typeof hopsBetween>[0]>,
): number {
  if (other < 0) return cost(c, s, other) - stay;
  const pair = (adj[c].get(other) ?? 0) * hopsBetween(pos[from], pos[s]);
  const moved = cost(c, s, other) - (stay - pair);
  return moved + (cost(other, from, c) - cost(other, s, c)); // the two parts summed as before, so the same placements
}

/** Moves core c to slot s; the slot's owner (if any) takes c's old slot. */
function moveTo(c: number, s: number, slotOf: Int32Array | number[], owner: Int32Array | number[]): void {
  const from = slotOf[c];
  const other = owner[s];
  owner[from] = other;
  if (other >= 0) slotOf[other] = from;
  owner[s] = c;
  slotOf[c] = s;
}
