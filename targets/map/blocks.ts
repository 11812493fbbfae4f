/**
 * The block partitioner: layers → core-sized blocks in closed form from the simulator's routes
 * (runtime/snn/routes.ts), never from a table of every synapse, so that networks of billions of synapses
 * (ResNet-18 at 224×224) map in seconds and in memory O(weights + neurons).
 *
 * A population is seen as [C, H, W] (a flat one as [N, 1, 1]) and cut into equal blocks of cc channels ×
 * rr rows × ww columns (the last ones smaller). Per population, from the readout backwards (so that output
 * axons are counted against real destination blocks), the block shape with the fewest blocks whose every
 * block fits all four per-core limits wins. The resource model is partition.ts's: neurons; input axons =
 * distinct (stream, source neuron) pairs with a synapse into the block; synapse words = Σ over them of
 * synapseWords(their synapses into the block); output axons = Σ over the block's neurons and streams of the
 * distinct destination blocks reached. A conv route's sources are found from its twin's per-position
 * targets (the rows and columns that reach the block's tile), a dense route's per feature, a table route's
 * from its transpose. Blocks are then packed into cores first-fit.
 */
import { SnncError } from '../../compiler/errors.ts';
import type { NetworkPlan } from '../../runtime/snn/plan.ts';
import { type ConvRoute, type DenseRoute, type Route, routeStart } from '../../runtime/snn/routes.ts';
import { type ChipSpec, emptyUse, fitsCore, LIMITS, type LimitName, memoryBits, R, RESOURCES, synapseWords, worstShare } from '../chip-spec.ts';
import { capsOf, type ChipPopulation, type LayerPartition, type Partition, type Slice, UnplaceableError, type Use } from './partition.ts';
import { BoardError, type CoreEdge } from './place.ts';

interface Block {
  c0: number;
  c1: number;
  r0: number;
  r1: number;
  x0: number;
  x1: number;
}

interface Grid {
  cc: number;
  rr: number;
  ww: number;
}

/** A route into a population: the stream it carries, and where its region starts (local neuron index). */
interface Incoming {
  /** Index over all routes of the plan (keys of population output axons). */
  id: number;
  stream: number;
  /** Index of the route in its stream's fan-out. */
  index: number;
  /** Slices whose synapses from this route are population axons. */
  shared: Set<number>;
  route: Route;
  start: number;
  /** Conv routes: for each source row/column of the twin's input, the output rows/columns it reaches. */
  rowMin?: Int32Array;
  rowMax?: Int32Array;
  colMin?: Int32Array;
  colMax?: Int32Array;
  /** Conv: per (channel, tap), prefix counts of non-zero weights over the group's output channels; dense: per feature over outputs. */
  nz?: Int32Array;
  /** Source neurons landing on each element of the op's input (remapped routes only). */
  mult?: Int32Array;
  /** Conv routes: channels whose weights are all non-zero (their synapse counts need no per-tap look-up). */
  full?: Uint8Array;
  /** Table routes: per target (local to the population), the source rows. */
  tPtr?: Int32Array;
  tRow?: Int32Array;
}

interface Dest {
  pop: number;
  inc: Incoming;
}

interface Model {
  plan: NetworkPlan;
  pops: ChipPopulation[];
  dims: Array<[number, number, number]>;
  incoming: Incoming[][];
  /** Per stream and route: the population it feeds and its description. */
  dests: Dest[][];
}

function dimsOf(p: ChipPopulation): [number, number, number] {
  return p.shape.length === 3 ? [p.shape[0], p.shape[1], p.shape[2]] : [p.size, 1, 1];
}

function prefixNonZero(weights: Float32Array, rows: number, len: number): Int32Array {
  const nz = new Int32Array(rows * (len + 1));
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < len; o++) nz[r * (len + 1) + o + 1] = nz[r * (len + 1) + o] + (weights[r * len + o] !== 0 ? 1 : 0);
  }
  return nz;
}

function multiplicity(remap: Int32Array | null, size: number): Int32Array | undefined {
  if (!remap) return undefined;
  const mult = new Int32Array(size);
  for (const m of remap) if (m >= 0) mult[m]++;
  return mult;
}

function describe(inc: Incoming, pop: ChipPopulation, dims: [number, number, number]): void {
  const r = inc.route;
  const [C, H, W] = dims;
  if (r.kind === 'conv') {
    const t = r.twin;
    if (t.outPlane !== H * W || t.outWidth !== W || inc.start % (H * W) !== 0 || inc.start / (H * W) + t.cout > C) {
      throw new SnncError(`the block mapper cannot lay a conv route into ${pop.id} [${pop.shape}]: its output plane is not the population's`);
    }
    const h = t.plane / t.width;
    inc.rowMin = new Int32Array(h).fill(2 ** 30);
    inc.rowMax = new Int32Array(h).fill(-1);
    inc.colMin = new Int32Array(t.width).fill(2 ** 30);
    inc.colMax = new Int32Array(t.width).fill(-1);
    for (let s = 0; s < t.plane; s++) {
      const y = Math.floor(s / t.width);
      const x = s - y * t.width;
      for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) {
        const oy = Math.floor(t.posOut[q] / t.outWidth);
        const ox = t.posOut[q] - oy * t.outWidth;
        inc.rowMin[y] = Math.min(inc.rowMin[y], oy);
        inc.rowMax[y] = Math.max(inc.rowMax[y], oy);
        inc.colMin[x] = Math.min(inc.colMin[x], ox);
        inc.colMax[x] = Math.max(inc.colMax[x], ox);
      }
    }
    const cin = t.weights.length / (t.taps * t.coutPerGroup);
    inc.nz = prefixNonZero(t.weights, cin * t.taps, t.coutPerGroup);
    inc.mult = multiplicity(r.remap, cin * t.plane);
    inc.full = new Uint8Array(cin);
    const per = t.taps * t.coutPerGroup;
    for (let c = 0; c < cin; c++) inc.full[c] = inc.nz[(c * t.taps + t.taps - 1) * (t.coutPerGroup + 1) + t.coutPerGroup] === t.coutPerGroup && !t.weights.subarray(c * per, (c + 1) * per).includes(0) ? 1 : 0;
  } else if (r.kind === 'dense') {
    inc.nz = prefixNonZero(r.weights, r.inner, r.out);
    inc.mult = multiplicity(r.remap, (r.targets / r.out) * r.inner);
  } else {
    const { rowPtr, col } = r.csr;
    const ptr = new Int32Array(pop.size + 1);
    for (const c of col) ptr[c - pop.offset + 1]++;
    for (let t = 0; t < pop.size; t++) ptr[t + 1] += ptr[t];
    const row = new Int32Array(ptr[pop.size]);
    const fill = ptr.slice(0, pop.size);
    for (let i = 0; i + 1 < rowPtr.length; i++) for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) row[fill[col[j] - pop.offset]++] = i;
    inc.tPtr = ptr;
    inc.tRow = row;
  }
}

function buildModel(plan: NetworkPlan, pops: ChipPopulation[]): Model {
  const dims = pops.map(dimsOf);
  const incoming: Incoming[][] = pops.map(() => []);
  let nextId = 0;
  const popAt = (target: number) => pops.findIndex((p) => target >= p.offset && target < p.offset + p.size);
  const dests = plan.streams.map((s, si) =>
    s.fanout.routes.map((route, index) => {
      const k = popAt(routeStart(route));
      if (k < 0) throw new SnncError(`stream ${s.id} reaches no population of the chip`);
      const inc: Incoming = { id: nextId++, stream: si, index, shared: new Set(), route, start: routeStart(route) - pops[k].offset };
      if (route.kind === 'conv') inc.start = route.twin.offset - pops[k].offset;
      if (route.kind === 'dense') inc.start = route.offset - pops[k].offset;
      describe(inc, pops[k], dims[k]);
      incoming[k].push(inc);
      return { pop: k, inc };
    }),
  );
  return { plan, pops, dims, incoming, dests };
}

/**
 * How a core stores the synapses of a conv layer (and of a pooled dense head):
 * - `discrete`: one input axon per source neuron, its synapses listed one by one;
 * - `population`: per route and block, whichever takes the smaller share of a core of discrete synapses
 *   and Loihi's population axons as nengo-loihi lays out a Conv2D (`conv2d_loihi_weights`,
 *   `Synapse.set_population_weights`): one axon per source *position*, the spike carrying the channel as
 *   its atom; each axon points at a weight set (per atom, the synapses of that channel) with a
 *   compartment base, so positions whose targets in the block have the same layout share one set.
 *   Input axons = distinct (stream, source position) pairs; synapse words = Σ over the distinct sets of
 *   Σ over atoms synapseWords(the atom's synapses in the set). Axon-config memory (the base and the set
 *   index per axon) is not counted against synapse words.
 */
export type SynapseMode = 'discrete' | 'population';

/**
 * How a source neuron's routing entries (output axons) are counted with population synapses:
 * - `neuron`: one per (neuron, stream, destination block), as for discrete synapses;
 * - `population`: a destination block reached through population axons takes one entry per (route, source
 *   position) for all the channels of that position in the source block: Loihi's compartments point into a
 *   shared list of axon configurations and send their own atom (nengo-loihi's Axon.axon_slots counts axons,
 *   not compartments). Other destinations are counted per neuron.
 */
export type OutputAxonMode = 'neuron' | 'population';

/** Input axons and synapse words a block takes from one incoming route, and 1 when they are population axons. */
function routeUse(m: Model, k: number, inc: Incoming, b: Block, spec: ChipSpec, scratch: { mark: Int32Array; count: Int32Array; id: number }, mode: SynapseMode): [number, number, number] {
  const r = inc.route;
  const [, H, W] = m.dims[k];
  let axons = 0;
  let words = 0;
  if (mode === 'population') {
    // Per route and block, the layout that takes the smaller share of a core (Loihi mixes both kinds of axon).
    const shared = r.kind === 'conv' ? populationConvUse(inc, r, H, W, b, spec) : r.kind === 'dense' && r.remap && pooledSource(m, inc) ? populationDenseUse(m, inc, r, b, spec) : null;
    if (shared) {
      const single = routeUse(m, k, inc, b, spec, scratch, 'discrete');
      const caps = capsOf(spec);
      // [input axons, synapse words] of the route, as shares of a core.
      const share = (u: [number, number, number?]) => Math.max(u[0] / caps[R.input_axons], u[1] / caps[R.synapse_words]);
      return share(shared) < share(single) ? [shared[0], shared[1], 1] : single;
    }
  }
  if (r.kind === 'conv') {
    const t = r.twin;
    const cpg = t.coutPerGroup;
    const [lo, hi] = twinChannels(inc, r, H * W, b);
    if (lo >= hi) return [0, 0, 0];
    const ys: number[] = [];
    for (let y = 0; y < inc.rowMin!.length; y++) if (inc.rowMax![y] >= b.r0 && inc.rowMin![y] < b.r1) ys.push(y);
    const xs: number[] = [];
    for (let x = 0; x < t.width; x++) if (inc.colMax![x] >= b.x0 && inc.colMin![x] < b.x1) xs.push(x);
    // Targets each source position has in the block (its pairs are rows × columns).
    const hits = new Int32Array(ys.length * xs.length);
    ys.forEach((y, a) =>
      xs.forEach((x, bb) => {
        const s = y * t.width + x;
        for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) {
          const oy = Math.floor(t.posOut[q] / t.outWidth);
          const ox = t.posOut[q] - oy * t.outWidth;
          if (oy >= b.r0 && oy < b.r1 && ox >= b.x0 && ox < b.x1) hits[a * xs.length + bb]++;
        }
      }),
    );
    for (let g = Math.floor(lo / cpg); g * cpg < hi; g++) {
      const olo = Math.max(lo - g * cpg, 0);
      const ohi = Math.min(hi - g * cpg, cpg);
      // Channels with no zero weight: every hit is (ohi − olo) synapses, the same for each of them.
      let fullChannels = 0;
      if (!inc.mult) for (let c = g * t.cinPerGroup; c < (g + 1) * t.cinPerGroup; c++) fullChannels += inc.full![c];
      if (fullChannels > 0) {
        for (const h of hits) {
          if (h === 0) continue;
          axons += fullChannels;
          words += fullChannels * synapseWords(h * (ohi - olo), spec);
        }
      }
      for (let c = g * t.cinPerGroup; c < (g + 1) * t.cinPerGroup; c++) {
        if (!inc.mult && inc.full![c]) continue;
        for (const y of ys) {
          for (const x of xs) {
            const s = y * t.width + x;
            let n = 0;
            for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) {
              const oy = Math.floor(t.posOut[q] / t.outWidth);
              const ox = t.posOut[q] - oy * t.outWidth;
              if (oy < b.r0 || oy >= b.r1 || ox < b.x0 || ox >= b.x1) continue;
              const base = (c * t.taps + t.posTap[q]) * (cpg + 1);
              n += inc.nz![base + ohi] - inc.nz![base + olo];
            }
            if (n === 0) continue;
            const mult = inc.mult ? inc.mult[c * t.plane + s] : 1;
            axons += mult;
            words += mult * synapseWords(n, spec);
          }
        }
      }
    }
  } else if (r.kind === 'dense' && !(b.r0 === 0 && b.r1 === H && b.x0 === 0 && b.x1 === W)) {
    // Part of the planes of a [C, H, W] population (a transformer's token grid): the block's neurons, by dense row.
    const outs = new Map<number, number[]>();
    for (let c = b.c0; c < b.c1; c++) {
      for (let y = b.r0; y < b.r1; y++) {
        for (let x = b.x0; x < b.x1; x++) {
          const t = (c * H + y) * W + x - inc.start;
          if (t < 0 || t >= r.targets) continue;
          const row = Math.floor(t / r.out);
          const list = outs.get(row) ?? [];
          list.push(t - row * r.out);
          outs.set(row, list);
        }
      }
    }
    for (const row of [...outs.keys()].sort((a, b2) => a - b2)) {
      const list = outs.get(row)!;
      for (let f = 0; f < r.inner; f++) {
        let n = 0;
        for (const o of list) n += inc.nz![f * (r.out + 1) + o + 1] - inc.nz![f * (r.out + 1) + o];
        if (n === 0) continue;
        const mult = inc.mult ? inc.mult[row * r.inner + f] : 1;
        axons += mult;
        words += mult * synapseWords(n, spec);
      }
    }
  } else if (r.kind === 'dense') {
    // Whole planes: the block is the neuron range [c0·H·W, c1·H·W) (a flat population: [c0, c1)).
    const first = b.c0 * H * W - inc.start;
    const last = b.c1 * H * W - inc.start;
    const rows = r.targets / r.out;
    for (let row = Math.max(0, Math.floor(first / r.out)); row < rows && row * r.out < last; row++) {
      const olo = Math.max(first - row * r.out, 0);
      const ohi = Math.min(last - row * r.out, r.out);
      if (olo >= ohi) continue;
      for (let f = 0; f < r.inner; f++) {
        const n = inc.nz![f * (r.out + 1) + ohi] - inc.nz![f * (r.out + 1) + olo];
        if (n === 0) continue;
        const mult = inc.mult ? inc.mult[row * r.inner + f] : 1;
        axons += mult;
        words += mult * synapseWords(n, spec);
      }
    }
  } else {
    const id = ++scratch.id;
    const touched: number[] = [];
    for (let c = b.c0; c < b.c1; c++) {
      for (let y = b.r0; y < b.r1; y++) {
        for (let x = b.x0; x < b.x1; x++) {
          const t = (c * H + y) * W + x;
          for (let j = inc.tPtr![t]; j < inc.tPtr![t + 1]; j++) {
            const row = inc.tRow![j];
            if (scratch.mark[row] !== id) {
              scratch.mark[row] = id;
              scratch.count[row] = 0;
              touched.push(row);
            }
            scratch.count[row]++;
          }
        }
      }
    }
    for (const row of touched) {
      axons++;
      words += synapseWords(scratch.count[row], spec);
    }
  }
  return [axons, words, 0];
}

/** The twin's output channels [lo, hi) that fall in the block (a twin may start past channel 0: a concat). */
function twinChannels(inc: Incoming, r: ConvRoute, plane: number, b: Block): [number, number] {
  const chStart = inc.start / plane;
  return [Math.max(b.c0 - chStart, 0), Math.min(b.c1 - chStart, r.twin.cout)];
}

/** A dense route fed by a [C, H, W] population through a pool: its positions can be population axons. */
function pooledSource(m: Model, inc: Incoming): boolean {
  const [, H, W] = m.dims[m.plan.streams[inc.stream].pop];
  return H * W > 1;
}

/** Population synapses of a conv route into a block (see SynapseMode). */
function populationConvUse(inc: Incoming, r: ConvRoute, H: number, W: number, b: Block, spec: ChipSpec): [number, number] {
  const t = r.twin;
  const cpg = t.coutPerGroup;
  const [lo, hi] = twinChannels(inc, r, H * W, b);
  if (lo >= hi) return [0, 0];
  const bw = b.x1 - b.x0;
  const cin = t.weights.length / (t.taps * cpg);
  // Atoms: the input channels whose group reaches the block's channels.
  const atoms: number[] = [];
  for (let c = 0; c < cin; c++) {
    const g = Math.floor(c / t.cinPerGroup);
    if ((g + 1) * cpg > lo && g * cpg < hi) atoms.push(c);
  }
  const sets = new Set<string>();
  let axons = 0;
  let words = 0;
  const pairs: number[] = [];
  for (let y = 0; y < t.plane / t.width; y++) {
    if (inc.rowMax![y] < b.r0 || inc.rowMin![y] >= b.r1) continue;
    for (let x = 0; x < t.width; x++) {
      if (inc.colMax![x] < b.x0 || inc.colMin![x] >= b.x1) continue;
      const s = y * t.width + x;
      pairs.length = 0;
      let base = -1;
      for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) {
        const oy = Math.floor(t.posOut[q] / t.outWidth);
        const ox = t.posOut[q] - oy * t.outWidth;
        if (oy < b.r0 || oy >= b.r1 || ox < b.x0 || ox >= b.x1) continue;
        const rel = (oy - b.r0) * bw + (ox - b.x0);
        if (base < 0) base = rel;
        pairs.push(rel - base, t.posTap[q]);
      }
      if (base < 0) continue;
      // The channels of a remapped route land together (a pool keeps channels apart), so any atom's count will do.
      axons += inc.mult ? inc.mult[atoms[0] * t.plane + s] : 1;
      const key = pairs.join(',');
      if (sets.has(key)) continue;
      sets.add(key);
      // One list of atoms × (the longest atom's synapses), as nengo-loihi stores a set (Synapse.bits).
      let most = 0;
      for (const c of atoms) {
        const g = Math.floor(c / t.cinPerGroup);
        const olo = Math.max(lo - g * cpg, 0);
        const ohi = Math.min(hi - g * cpg, cpg);
        if (inc.full![c]) {
          most = Math.max(most, (pairs.length / 2) * (ohi - olo));
          continue;
        }
        let n = 0;
        for (let p = 1; p < pairs.length; p += 2) {
          const base2 = (c * t.taps + pairs[p]) * (cpg + 1);
          n += inc.nz![base2 + ohi] - inc.nz![base2 + olo];
        }
        most = Math.max(most, n);
      }
      words += synapseWords(atoms.length * most, spec);
    }
  }
  return [axons, words];
}

/** Population synapses of a pooled dense head (each source position an axon, its channels the atoms). */
function populationDenseUse(m: Model, inc: Incoming, r: DenseRoute, b: Block, spec: ChipSpec): [number, number] {
  const [C, H, W] = m.dims[m.plan.streams[inc.stream].pop];
  const plane = H * W;
  const first = b.c0 - inc.start;
  const last = b.c1 - inc.start;
  const sets = new Set<string>();
  let axons = 0;
  let words = 0;
  for (let s = 0; s < plane; s++) {
    const feats: number[] = [];
    let reaches = false;
    for (let c = 0; c < C; c++) {
      const e = r.remap![c * plane + s];
      feats.push(e);
      if (e < 0) continue;
      const row = Math.floor(e / r.inner);
      const f = e - row * r.inner;
      const olo = Math.max(first - row * r.out, 0);
      const ohi = Math.min(last - row * r.out, r.out);
      if (olo < ohi && inc.nz![f * (r.out + 1) + ohi] - inc.nz![f * (r.out + 1) + olo] > 0) reaches = true;
    }
    if (!reaches) continue;
    axons++;
    const key = feats.join(',');
    if (sets.has(key)) continue;
    sets.add(key);
    // One list of atoms (the channels) × the longest atom's synapses, as for a conv set.
    let most = 0;
    let atoms = 0;
    for (const e of feats) {
      if (e < 0) continue;
      atoms++;
      const row = Math.floor(e / r.inner);
      const f = e - row * r.inner;
      const olo = Math.max(first - row * r.out, 0);
      const ohi = Math.min(last - row * r.out, r.out);
      if (olo >= ohi) continue;
      most = Math.max(most, inc.nz![f * (r.out + 1) + ohi] - inc.nz![f * (r.out + 1) + olo]);
    }
    words += synapseWords(atoms * most, spec);
  }
  return [axons, words];
}

/** Spatial tiles already visited for one source element (forEachDest). */
const tiles = new Int32Array(4096);

/** Key of a population output axon: (route, source position, destination slice); below 2⁵³. */
function sharedKey(inc: Incoming, position: number, slice: number): number {
  return (inc.id * 2 ** 17 + position) * 2 ** 24 + slice;
}

/**
 * Visits the distinct destination slices of neuron i of population p, stream by stream (one output axon
 * each): `visit(slice)` once per (stream, destination slice). With `shared`, a slice that a route reaches
 * through population axons is visited as `shared(key)` instead, once per (route, slice): the key names
 * the population output axon (route, source position, slice) that every channel of the position uses.
 */
function forEachDest(
  m: Model,
  p: number,
  i: number,
  sliceOf: Int32Array,
  stamp: { mark: Int32Array; id: number },
  visit: (slice: number) => void,
  shared?: { mark: Int32Array; id: number; visit: (key: number) => void },
): void {
  for (const si of m.pops[p].streams) {
    const id = ++stamp.id;
    const once = (slice: number) => {
      if (slice >= 0 && stamp.mark[slice] !== id) {
        stamp.mark[slice] = id;
        visit(slice);
      }
    };
    for (const { pop: k, inc } of m.dests[si]) {
      const r = inc.route;
      // A population axon is one per source position (a pooled prefix's positions each keep their own).
      const position = i % (m.dims[p][1] * m.dims[p][2]);
      const sid = shared ? ++shared.id : 0;
      const reach = (slice: number) => {
        if (!shared || !inc.shared.has(slice)) once(slice);
        else if (shared.mark[slice] !== sid) {
          shared.mark[slice] = sid;
          shared.visit(sharedKey(inc, position, slice));
        }
      };
      const dest = m.pops[k];
      const [C, H, W] = m.dims[k];
      const grid = gridOf.get(dest);
      if (r.kind === 'table') {
        for (let j = r.csr.rowPtr[i]; j < r.csr.rowPtr[i + 1]; j++) once(sliceOf[r.csr.col[j]]);
        continue;
      }
      const e = r.remap ? r.remap[i] : i;
      if (e < 0 || !grid) continue;
      if (r.kind === 'conv') {
        const t = r.twin;
        const cpg = t.coutPerGroup;
        const c = Math.floor(e / t.plane);
        const s = e - c * t.plane;
        const g = Math.floor(c / t.cinPerGroup);
        const chStart = inc.start / (H * W);
        const first = chStart + g * cpg;
        if (inc.full![c]) {
          // Every tap reaches every output channel of the group: the slices are the channel blocks of each
          // distinct spatial tile its outputs fall in (a few), not one look-up per tap and channel block.
          let seen = 0;
          for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) {
            const o = t.posOut[q];
            const oy = Math.floor(o / W);
            const tile = Math.floor(oy / grid.rr) * W + Math.floor((o - oy * W) / grid.ww);
            let k = 0;
            while (k < seen && tiles[k] !== tile) k++;
            if (k < seen) continue;
            tiles[seen++] = tile;
            for (let ch = first; ch < first + cpg; ch = (Math.floor(ch / grid.cc) + 1) * grid.cc) reach(sliceOf[dest.offset + ch * H * W + o]);
          }
          continue;
        }
        for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) {
          const base = (c * t.taps + t.posTap[q]) * (cpg + 1);
          for (let ch = first; ch < first + cpg; ch = (Math.floor(ch / grid.cc) + 1) * grid.cc) {
            const end = Math.min(first + cpg, (Math.floor(ch / grid.cc) + 1) * grid.cc, C);
            if (inc.nz![base + end - first] - inc.nz![base + ch - first] > 0) reach(sliceOf[dest.offset + ch * H * W + t.posOut[q]]);
          }
        }
      } else {
        const d = r as DenseRoute;
        const row = Math.floor(e / d.inner);
        const f = e - row * d.inner;
        const first = inc.start + row * d.out;
        for (let n = first; n < first + d.out; n = (Math.floor(n / grid.cc) + 1) * grid.cc) {
          const end = Math.min(first + d.out, (Math.floor(n / grid.cc) + 1) * grid.cc);
          if (inc.nz![f * (d.out + 1) + end - first] - inc.nz![f * (d.out + 1) + n - first] > 0) reach(sliceOf[dest.offset + n]);
        }
      }
    }
  }
}

/** The grid each population was cut with (blocks of a flat population are neuron ranges: cc = their length). */
const gridOf = new WeakMap<ChipPopulation, Grid>();

function blocksOf(dims: [number, number, number], g: Grid): Block[] {
  const [C, H, W] = dims;
  const out: Block[] = [];
  for (let c0 = 0; c0 < C; c0 += g.cc) {
    for (let r0 = 0; r0 < H; r0 += g.rr) {
      for (let x0 = 0; x0 < W; x0 += g.ww) out.push({ c0, c1: Math.min(C, c0 + g.cc), r0, r1: Math.min(H, r0 + g.rr), x0, x1: Math.min(W, x0 + g.ww) });
    }
  }
  return out;
}

/** The block at a fraction of the grid along each axis (0: the first, 0.5: one in the middle). */
function blockAt(dims: [number, number, number], g: Grid, at: number): Block {
  const [C, H, W] = dims;
  const pick = (n: number, size: number) => Math.floor(at * (Math.ceil(n / size) - 1)) * size;
  const c0 = pick(C, g.cc);
  const r0 = pick(H, g.rr);
  const x0 = pick(W, g.ww);
  return { c0, c1: Math.min(C, c0 + g.cc), r0, r1: Math.min(H, r0 + g.rr), x0, x1: Math.min(W, x0 + g.ww) };
}

/** Tile sizes along a spatial axis: ceil(n/k) for k = 1..8 and powers of two beyond. */
function tileSizes(n: number): number[] {
  const ks = new Set<number>();
  for (let k = 1; k <= Math.min(n, 8); k++) ks.add(k);
  for (let k = 16; k < n; k *= 2) ks.add(k);
  ks.add(n);
  return [...new Set([...ks].map((k) => Math.ceil(n / k)))];
}

/**
 * Block shapes worth measuring, fewest cores first: per spatial tile, the most channels whose probe
 * blocks fit (a binary search: every resource grows with the channels of a block), each shape's cores
 * estimated as its blocks × the largest share of a core a probe block takes (first fit packs small blocks
 * together, so fewer blocks is not always fewer cores: a block of 49 neurons whose weight sets fill a core
 * is a core, two blocks of half the channels are one). `probeShare` is Infinity when a probe does not fit.
 */
function candidates(dims: [number, number, number], maxNeurons: number, probeShare: (g: Grid) => number): Grid[] {
  const [C, H, W] = dims;
  const out: Array<Grid & { blocks: number; cores: number }> = [];
  for (const rr of tileSizes(H)) {
    for (const ww of tileSizes(W)) {
      let lo = 0;
      let share = Infinity;
      let hi = Math.min(C, Math.floor(maxNeurons / (rr * ww)));
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        const x = probeShare({ cc: mid, rr, ww });
        if (x <= 1) {
          lo = mid;
          share = x;
        } else hi = mid - 1;
      }
      if (lo === 0) continue;
      // The same number of channel blocks with the channels spread evenly.
      const cc = Math.ceil(C / Math.ceil(C / lo));
      if (cc !== lo) share = probeShare({ cc, rr, ww });
      const blocks = Math.ceil(C / cc) * Math.ceil(H / rr) * Math.ceil(W / ww);
      out.push({ cc, rr, ww, blocks, cores: Math.ceil(blocks / (share > 0 ? Math.max(1, Math.floor(1 / share)) : blocks)) });
    }
  }
  // Fewest estimated cores first; then fewer blocks, whole rows (fewer distinct source columns), more channels.
  return out.sort((a, b) => a.cores - b.cores || a.blocks - b.blocks || b.ww - a.ww || b.cc - a.cc);
}

export interface BlockPartitionResult {
  part: Partition;
  /** Spike messages per inference between cores (from ≠ to). */
  edges: CoreEdge[];
  /** All spike messages per inference, those within a core included. */
  messages: number;
}

/**
 * Cuts every population into blocks that fit a core, packs the blocks into cores and counts the slice
 * traffic between cores (messages per inference: `rates` per neuron from a profile, or 1 per neuron).
 */
export function blockPartition(
  plan: NetworkPlan,
  pops: ChipPopulation[],
  spec: ChipSpec,
  opts: {
    rates?: Float64Array[];
    synapses?: SynapseMode;
    outputAxons?: OutputAxonMode;
    /** Stop (BoardError) as soon as the blocks cut so far need more cores than this, whatever the packing. */
    maxCores?: number;
    onProgress?: (done: number, total: number) => void;
    beforeTraffic?: (cores: number) => void;
  } = {},
): BlockPartitionResult {
  const { rates, onProgress } = opts;
  const mode = opts.synapses ?? 'discrete';
  const sharedOut = mode === 'population' && opts.outputAxons === 'population';
  const total = emptyUse();
  let totalBits = 0;
  const m = buildModel(plan, pops);
  const caps = capsOf(spec);
  const sliceOf = new Int32Array(plan.currentSize).fill(-1);
  const slices: Slice[] = [];
  const layers: LayerPartition[] = new Array(pops.length);
  const largest = Math.max(...plan.pops.map((p) => p.size), 1);
  const scratch = { mark: new Int32Array(largest).fill(-1), count: new Int32Array(largest), id: 0 };
  let stamp = { mark: new Int32Array(16), id: 0 };
  let done = 0;
  for (let p = pops.length - 1; p >= 0; p--) {
    const pop = pops[p];
    const dims = m.dims[p];
    const [C, H, W] = dims;
    // Output axons per neuron: destinations are already cut.
    stamp = { mark: new Int32Array(Math.max(slices.length, 1)).fill(-1), id: 0 };
    const outAx = new Int32Array(pop.size);
    // Population output axons: the keys of the shared entries each neuron uses; a block counts each key
    // once. Where every channel of a position uses the same keys (no groups, no zero weights), a block
    // takes that position's count once, and the keys are not kept.
    const plane = H * W;
    let uniform: Int32Array | undefined;
    const mixed = new Map<number, Float64Array[]>();
    if (sharedOut) {
      if (plane >= 2 ** 17 || slices.length >= 2 ** 24 || m.dests.flat().length >= 2 ** 12) {
        throw new SnncError(`layer ${pop.id}: population output axons are counted for planes below 2^17 positions, 2^24 blocks and 2^12 routes`);
      }
      uniform = new Int32Array(plane).fill(-1);
      let list: number[] = [];
      const sharedStamp = { mark: new Int32Array(Math.max(slices.length, 1)).fill(-1), id: 0, visit: (key: number) => list.push(key) };
      for (let pos = 0; pos < plane; pos++) {
        const per: number[][] = [];
        let same = true;
        for (let c = 0; c < C; c++) {
          const i = c * plane + pos;
          list = [];
          forEachDest(m, p, i, sliceOf, stamp, () => outAx[i]++, sharedStamp);
          per.push(list);
          if (same && c > 0) same = list.length === per[0].length && list.every((k, j) => k === per[0][j]);
        }
        if (same) uniform[pos] = per[0].length;
        else mixed.set(pos, per.map((l) => Float64Array.from(l)));
      }
    } else {
      for (let i = 0; i < pop.size; i++) forEachDest(m, p, i, sliceOf, stamp, () => outAx[i]++);
    }
    const distinct = new Set<number>();
    const useOf = (b: Block, shared?: Uint8Array): Use => {
      const u: Use = emptyUse();
      u[R.neurons] = (b.c1 - b.c0) * (b.r1 - b.r0) * (b.x1 - b.x0);
      m.incoming[p].forEach((inc, k) => {
        const [ax, wd, pop] = routeUse(m, p, inc, b, spec, scratch, mode);
        u[R.input_axons] += ax;
        u[R.synapse_words] += wd;
        if (shared) shared[k] = pop;
      });
      for (let c = b.c0; c < b.c1; c++) for (let y = b.r0; y < b.r1; y++) for (let x = b.x0; x < b.x1; x++) u[R.output_axons] += outAx[(c * H + y) * W + x];
      if (uniform) {
        for (let y = b.r0; y < b.r1; y++) {
          for (let x = b.x0; x < b.x1; x++) {
            const pos = y * W + x;
            if (uniform[pos] >= 0) {
              u[R.output_axons] += uniform[pos];
              continue;
            }
            const per = mixed.get(pos)!;
            for (let c = b.c0; c < b.c1; c++) for (const k of per[c]) distinct.add(k);
            u[R.output_axons] += distinct.size;
            distinct.clear();
          }
        }
      }
      return u;
    };
    const fits = (u: Use) => fitsCore(u, caps, spec);
    let chosen: { grid: Grid; blocks: Block[]; uses: Use[]; shared: Uint8Array[] } | undefined;
    let worst: { grid: Grid; use: Use } | undefined;
    const probeShare = (grid: Grid): number => {
      // A cheap look at a middle block and the first before measuring them all.
      const probe = [blockAt(dims, grid, 0.5), blockAt(dims, grid, 0)].map((b) => useOf(b));
      const bad = probe.find((u) => !fits(u));
      if (bad && grid.cc === 1 && grid.rr === 1 && grid.ww === 1) worst = { grid, use: bad };
      return bad ? Infinity : Math.max(...probe.map((u) => worstShare(u, caps, spec).share));
    };
    // Fewest estimated cores first; a shape whose probes fit but some other block does not (e.g. one whose
    // neurons reach more destination blocks) is retried with fewer channels per block.
    let failed: Use | undefined;
    for (const candidate of candidates(dims, caps[R.neurons], probeShare)) {
      for (let cc = candidate.cc; cc >= 1 && !chosen; cc = cc > 4 ? Math.floor(cc * 0.75) : cc - 1) {
        const grid = { ...candidate, cc };
        const blocks = blocksOf(dims, grid);
        const shared = blocks.map(() => new Uint8Array(m.incoming[p].length));
        const uses = blocks.map((b, j) => useOf(b, shared[j]));
        const bad = uses.find((u) => !fits(u));
        if (!bad) chosen = { grid, blocks, uses, shared };
        else failed ??= bad;
      }
      if (chosen) break;
    }
    if (!chosen) {
      const u = worst?.use ?? failed ?? useOf(blockAt(dims, { cc: 1, rr: 1, ww: 1 }, 0.5));
      const r = Math.max(0, u.findIndex((v, k) => v > caps[k]));
      if (spec.memory && u.every((v, k) => v <= caps[k])) {
        const bits = memoryBits(u, spec);
        throw new UnplaceableError(
          `layer ${pop.id}: ${worst ? 'even one neuron needs' : 'no block shape fits: a block needs'} ${bits} bits of core memory (${u[R.neurons]} neurons' state and ${u[R.synapse_words]} synapse words), more than the ${spec.memory.capacity_bits} bits a ${spec.name} core shares between them (by ${bits - spec.memory.capacity_bits}); no slicing can place it`,
          { node: pop.id },
          worstShare(u, caps, spec).limit,
        );
      }
      throw new UnplaceableError(
        `layer ${pop.id}: ${worst ? 'even one neuron needs' : 'no block shape fits: a block needs'} ${u[r]} ${RESOURCES[LIMITS[r]].text}, more than the ${caps[r]} of a ${spec.name} core (by ${u[r] - caps[r]}); no slicing can place it${
          pop.kind === 'readout' && r === R.input_axons
            ? ' (the readout can run on the host: --readout host)'
            : mode === 'discrete' && r === R.input_axons
              ? ' (with --synapses population a source position, not each neuron, takes an axon)'
              : ''
        }`,
        { node: pop.id },
        LIMITS[r],
      );
    }
    gridOf.set(pop, chosen.grid);
    const indices: number[] = [];
    const closers = new Map<LimitName, number>();
    chosen.blocks.forEach((b, j) => {
      const neurons = new Int32Array((b.c1 - b.c0) * (b.r1 - b.r0) * (b.x1 - b.x0));
      let n = 0;
      for (let c = b.c0; c < b.c1; c++) for (let y = b.r0; y < b.r1; y++) for (let x = b.x0; x < b.x1; x++) neurons[n++] = (c * H + y) * W + x;
      const index = slices.length;
      for (const t of neurons) sliceOf[pop.offset + t] = index;
      const use = chosen!.uses[j];
      // The limit closest to its cap is the one that kept the block from growing.
      let closedBy: LimitName | null = null;
      if (chosen!.blocks.length > 1) closedBy = worstShare(use, caps, spec).limit;
      const pairs: Array<[number, number]> = [];
      m.incoming[p].forEach((inc, k) => {
        if (!chosen!.shared[j][k]) return;
        inc.shared.add(index);
        pairs.push([inc.stream, inc.index]);
      });
      slices.push({ index, pop: p, neurons, use, closedBy, ...(pairs.length ? { shared: pairs } : {}) });
      indices.push(index);
      if (closedBy) closers.set(closedBy, (closers.get(closedBy) ?? 0) + 1);
      for (let r = 0; r < LIMITS.length; r++) total[r] += use[r];
      totalBits += memoryBits(use, spec);
    });
    if (opts.maxCores !== undefined) {
      // No packing puts more of a resource on a core than the core has: a bound on the cores these blocks need.
      let least = 0;
      for (let r = 0; r < LIMITS.length; r++) least = Math.max(least, Math.ceil(total[r] / caps[r]));
      if (spec.memory) least = Math.max(least, Math.ceil(totalBits / spec.memory.capacity_bits));
      if (least > opts.maxCores) throw new BoardError(spec, least, `the layers from ${pop.id} on already need ${least} cores`);
    }
    let binding: LimitName | 'none' = 'none';
    for (const l of LIMITS) if ((closers.get(l) ?? 0) > (binding === 'none' ? 0 : closers.get(binding)!)) binding = l;
    const g = chosen.grid;
    layers[p] = { pop: p, ordering: `blocks ${g.cc}×${g.rr}×${g.ww}`, slices: indices, binding };
    onProgress?.(++done, pops.length);
  }

  // Cores: first fit over the slices in the order they were cut (destinations before their sources).
  const cores: number[][] = [];
  const use: Use[] = [];
  const coreOf = new Int32Array(slices.length);
  // Only the 1024 most recently opened cores are tried: first fit over all of them is quadratic in the cores.
  const window = 1024;
  for (const s of slices) {
    let core = -1;
    const sum = emptyUse();
    for (let c = Math.max(0, use.length - window); c < use.length && core < 0; c++) {
      for (let r = 0; r < LIMITS.length; r++) sum[r] = use[c][r] + s.use[r];
      if (fitsCore(sum, caps, spec)) core = c;
    }
    if (core < 0) {
      core = cores.length;
      cores.push([]);
      use.push(emptyUse());
    }
    cores[core].push(s.index);
    coreOf[s.index] = core;
    for (let r = 0; r < LIMITS.length; r++) use[core][r] += s.use[r];
  }

  opts.beforeTraffic?.(cores.length);
  // Traffic between cores: one message per (spike, destination slice); a Map per slice pair would
  // outgrow its 2²⁴ entries on networks of thousands of blocks.
  const n = cores.length;
  const byCore = Array.from({ length: n }, () => new Map<number, number>());
  let messages = 0;
  stamp = { mark: new Int32Array(slices.length).fill(-1), id: 0 };
  pops.forEach((pop, p) => {
    for (let i = 0; i < pop.size; i++) {
      const w = rates ? rates[p][i] : 1;
      if (w === 0) continue;
      const from = coreOf[sliceOf[pop.offset + i]];
      forEachDest(m, p, i, sliceOf, stamp, (to) => {
        messages += w;
        const c = coreOf[to];
        if (c !== from) byCore[from].set(c, (byCore[from].get(c) ?? 0) + w);
      });
    }
  });
  const edges = byCore.flatMap((to, from) => [...to].sort((x, y) => x[0] - y[0]).map(([c, w]) => ({ from, to: c, messages: w })));
  return { part: { slices, layers, sliceOf, coreOf, cores, use }, edges, messages };
}

/** Synapses of the plan (non-zero composed weights), from the routes' fan-out counts. */
export function synapseCount(plan: NetworkPlan): number {
  let n = 0;
  for (const s of plan.streams) for (const f of s.fanout.fanOut) n += f;
  return n;
}

