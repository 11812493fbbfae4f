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
import { type ChipSpec, coresPerChip } from '../chip-spec.ts';
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

/** The chips a mapping of `cores` cores takes; an error naming the excess when the spec's board holds fewer. */
export function checkBoard(spec: ChipSpec, cores: number): number {
  const chips = chipsFor(spec, cores);
  const board = spec.board.chips_x * spec.board.chips_y;
  if (chips > board) {
    throw new SnncError(`the mapping needs ${chips} chips (${cores} cores) but a ${spec.name} board holds ${board} (by ${chips - board})`);
  }
  return chips;
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

export const traffic: Placer = ({ cores, edges, spec }) => {
  const chips = checkBoard(spec, cores);
  const slots = chips * coresPerChip(spec);
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
        const other = owner[s];
        let delta = costAt(c, s, other) - (other >= 0 ? stay - (adj[c].get(other) ?? 0) * hopsBetween(pos[from], pos[s]) : stay);
        if (other >= 0) delta += costAt(other, from, c) - costAt(other, s, c);
        if (delta < bestDelta) {
          bestDelta = delta;
          bestSlot = s;
        }
      }
      if (bestSlot >= 0) {
        const other = owner[bestSlot];
        owner[from] = other;
        if (other >= 0) slotOf[other] = from;
        owner[bestSlot] = c;
        slotOf[c] = bestSlot;
        improved = true;
      }
    }
    if (!improved) break;
  }
  return slotOf;
};

export const PLACERS: Record<string, Placer> = { sequential, traffic };

/** Σ over core pairs of messages × hops between their slots: spike-hops per inference. */
export function spikeHops(spec: ChipSpec, slots: Int32Array, edges: CoreEdge[]): number {
  let sum = 0;
  for (const { from, to, messages } of edges) sum += messages * hopsBetween(slotPosition(spec, slots[from]), slotPosition(spec, slots[to]));
  return sum;
}
