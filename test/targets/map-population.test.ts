/**
 * Population axons at scale (targets/map/blocks.ts): shared output axons (one routing entry per source
 * position and destination block) and shared weight sets, against a hand count on a tiny network and
 * against a brute-force recount over every composed synapse of the routes (an independent count: it groups
 * the synapses themselves, by source position and by the weights and relative targets of each set).
 */
import { describe, expect, it } from 'vitest';
import { buildPlan, type NetworkPlan } from '../../runtime/snn/plan.ts';
import { forEachEntry } from '../../runtime/snn/routes.ts';
import { type ChipSpec, LIMITS, loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap, layoutLowerBound, type MapDocument } from '../../targets/map/map-file.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { smallCores, wordsFor } from './helpers.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';

const loihi = loadChipSpec('loihi1');
const NO_SHA = '0'.repeat(64);

type Use4 = [number, number, number, number];

/**
 * Every core's neurons, input axons, output axons and synapse words, by brute force over the synapses of
 * every route (forEachEntry), with the map's record of which (stream, route) pairs are population axons
 * into which slice. Discrete: an axon per (stream, source neuron, destination slice), its synapses one list.
 * Population: an input axon per (stream, route, source position) reaching the slice; an output entry per
 * (stream, route, source position, destination slice) in each source slice; a weight set per distinct
 * list of (atom → its synapses as (output channel, target position relative to the set's first, weight)),
 * taking the words of atoms × its longest atom list.
 */
function bruteForce(plan: NetworkPlan, doc: MapDocument): Use4[] {
  const sharedOut = doc.options.output_axons === 'population';
  const pops = [...plan.pops.map((p) => ({ id: p.id, offset: p.offset, size: p.size })), { id: plan.readout.id, offset: plan.readout.offset, size: plan.readout.size }];
  const shapeOf = new Map(doc.layers.map((l) => [l.id, l.shape.length === 3 ? l.shape : [l.neurons, 1, 1]]));
  const sliceOf = new Int32Array(plan.currentSize).fill(-1);
  const popOfSlice: number[] = [];
  doc.slices.forEach((s, k) => {
    const pop = pops.find((p) => p.id === s.layer)!;
    popOfSlice.push(pops.indexOf(pop));
    for (const [a, b] of s.ranges) for (let t = a; t < b; t++) sliceOf[pop.offset + t] = k;
  });
  // Each slice's corner and width (blocks are channel × row × column boxes).
  const corner = doc.slices.map((s) => {
    const [, H, W] = shapeOf.get(s.layer)!;
    let c0 = Infinity;
    let y0 = Infinity;
    let x0 = Infinity;
    let x1 = -1;
    for (const [a, b] of s.ranges) {
      for (let t = a; t < b; t++) {
        const c = Math.floor(t / (H * W));
        const y = Math.floor((t % (H * W)) / W);
        const x = t % W;
        c0 = Math.min(c0, c);
        y0 = Math.min(y0, y);
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
      }
    }
    return { c0, y0, x0, bw: x1 - x0 + 1, H, W };
  });
  const shared = doc.slices.map((s) => new Set((s.population ?? []).map((p) => `${p.stream}#${p.route}`)));
  const use = doc.cores.map((): Use4 => [0, 0, 0, 0]);
  doc.slices.forEach((s) => (use[s.core][0] += s.neurons));
  const outKeys = doc.slices.map(() => new Set<string>());
  const inKeys = doc.slices.map(() => new Set<string>());
  const sets = doc.slices.map(() => new Map<string, { atoms: number; longest: number }>());
  plan.streams.forEach((stream) => {
    const src = pops[stream.pop];
    const [, H, W] = shapeOf.get(src.id)!;
    const rows = src.size;
    // Per source position and (route, destination slice): per atom, its synapses.
    const perPosition = new Map<string, Map<number, string[]>>();
    for (let i = 0; i < rows; i++) {
      const from = sliceOf[src.offset + i];
      const discrete = new Map<number, number>();
      // Destination slices that take one output axon of this neuron (one per slice, over the stream's routes).
      const reached = new Set<number>();
      stream.fanout.routes.forEach((route, r) => {
        forEachEntry(route, i, (t, w) => {
          if (w === 0) return;
          const d = sliceOf[t];
          if (!shared[d].has(`${stream.id}#${r}`)) {
            discrete.set(d, (discrete.get(d) ?? 0) + 1);
            reached.add(d);
            return;
          }
          const p = i % (H * W);
          const atom = Math.floor(i / (H * W));
          if (sharedOut) outKeys[from].add(`${stream.id}#${r}#${p}#${d}`);
          else reached.add(d);
          inKeys[d].add(`${stream.id}#${r}#${p}`);
          const g = corner[d];
          const local = t - pops[popOfSlice[d]].offset;
          const c = Math.floor(local / (g.H * g.W));
          const y = Math.floor((local % (g.H * g.W)) / g.W);
          const x = local % g.W;
          const key = `${r}#${d}#${p}`;
          if (!perPosition.has(key)) perPosition.set(key, new Map());
          const atoms = perPosition.get(key)!;
          if (!atoms.has(atom)) atoms.set(atom, []);
          atoms.get(atom)!.push(`${c - g.c0},${(y - g.y0) * g.bw + (x - g.x0)},${w}`);
        });
      });
      use[doc.slices[from].core][2] += reached.size;
      for (const [d, n] of discrete) {
        use[doc.slices[d].core][1]++;
        use[doc.slices[d].core][3] += wordsFor(n, doc.chip);
      }
    }
    for (const [key, atoms] of perPosition) {
      const d = Number(key.split('#')[1]);
      // Relative to the set's first target position (the smallest), so that shifted copies coincide.
      let base = Infinity;
      for (const list of atoms.values()) for (const e of list) base = Math.min(base, Number(e.split(',')[1]));
      const text = [...atoms.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([a, list]) => `${a}:${list.map((e) => e.split(',')).map(([c, pos, w]) => `${c},${Number(pos) - base},${w}`).sort().join(';')}`)
        .join('|');
      const name = `${key.split('#')[0]}#${text}`;
      if (!sets[d].has(name)) sets[d].set(name, { atoms: atoms.size, longest: Math.max(...[...atoms.values()].map((l) => l.length)) });
    }
  });
  doc.slices.forEach((s, k) => {
    use[s.core][2] += outKeys[k].size;
    use[s.core][1] += inKeys[k].size;
    for (const { atoms, longest } of sets[k].values()) use[s.core][3] += wordsFor(atoms * longest, doc.chip);
  });
  return use;
}

function expectExact(ir: SnnIr, spec: ChipSpec, outputAxons: 'neuron' | 'population'): MapDocument {
  const { doc } = buildMap(ir, 'x', NO_SHA, spec, { synapses: 'population', outputAxons });
  const use = bruteForce(buildPlan(ir), doc);
  doc.cores.forEach((core, c) => {
    expect(LIMITS.map((l) => core.use[l]), `core ${c}`).toEqual(use[c]);
    LIMITS.forEach((l) => expect(core.use[l]).toBeLessThanOrEqual(spec.limits[l].value));
  });
  return doc;
}

/** input → A [2, 4, 4] → 1 × 1 conv → B [4, 4, 4] → readout. */
function pointwise(): SnnIr {
  const b = new IrBuilder([2, 4, 4]);
  const a = b.if(b.conv2d('input', randomArray(1, 2 * 2, 0.2, 1), [2, 2, 1, 1]), 0.5, { vInit: 0.5, id: 'A' });
  const B = b.if(b.conv2d(a, randomArray(2, 4 * 2, 0.2, 1), [4, 2, 1, 1]), 0.7, { vInit: 0.5, id: 'B' });
  return b.build(b.dense(b.reshape(B, [64]), randomArray(3, 2 * 64, 0.1, 1), [2, 64]));
}

describe('population output axons', () => {
  it('one routing entry per source position and destination block (hand-counted)', () => {
    // 32-neuron cores cut B into two blocks of 4 channels × 2 rows × 4 columns.
    const spec = smallCores(32, 400, 400);
    const shared = buildMap(pointwise(), 'x', NO_SHA, spec, { synapses: 'population', outputAxons: 'population' }).doc;
    expect(shared.layers.find((l) => l.id === 'B')!.ordering).toBe('blocks 4×2×4');
    expect(shared.options.output_axons).toBe('population');
    const a = shared.slices.find((s) => s.layer === 'A')!;
    // 16 positions of A, each reaching the one block of B that holds its row: 16 entries (32 neurons).
    expect(a.use.output_axons).toBe(16);
    for (const s of shared.slices.filter((x) => x.layer === 'B')) {
      // 8 source positions per block, one set (a 1 × 1 kernel): 2 atoms × 4 synapses = 8 → 3 words.
      expect(s.use.input_axons).toBe(8);
      expect(s.use.synapse_words).toBe(3);
      expect(s.population).toEqual([{ stream: 'A', route: 0 }]);
    }
    const perNeuron = buildMap(pointwise(), 'x', NO_SHA, spec, { synapses: 'population', outputAxons: 'neuron' }).doc;
    expect(perNeuron.slices.find((s) => s.layer === 'A')!.use.output_axons).toBe(32);
    expect(perNeuron.options.output_axons).toBeUndefined();
  });

  it('pooled, residual and pooled-dense routes on small cores: every core exactly as the brute-force recount', () => {
    const b = new IrBuilder([3, 12, 12]);
    const a = b.if(b.conv2d('input', randomArray(1, 6 * 27, -0.5, 1), [6, 3, 3, 3], { pads: [1, 1, 1, 1] }), [0.5, 0.6, 0.7, 0.8, 0.9, 1], { vInit: 0.5, axis: 0, id: 'A' });
    const B = b.if(b.conv2d(b.avgpool(a, [2, 2], { strides: [2, 2] }), randomArray(3, 8 * 6 * 9, -0.6, 1), [8, 6, 3, 3], { pads: [1, 1, 1, 1] }), 0.7, { vInit: 0.5, id: 'B' });
    const C = b.if(b.add([b.conv2d(B, randomArray(4, 8 * 8 * 9, -0.5, 1), [8, 8, 3, 3], { pads: [1, 1, 1, 1] }), B]), 0.6, { vInit: 0.5, id: 'C' });
    const ir = b.build(b.dense(b.reshape(b.avgpool(C, [6, 6]), [8]), randomArray(9, 3 * 8), [3, 8]));
    for (const mode of ['neuron', 'population'] as const) {
      const doc = expectExact(ir, smallCores(48, 300, 900), mode);
      expect(doc.slices.some((s) => s.population)).toBe(true);
      expect(doc.totals.cores).toBeGreaterThan(6);
    }
  });

  it('the map says cores with and without population synapses', () => {
    const doc = buildMap(pointwise(), 'x', NO_SHA, smallCores(32, 400, 400), { synapses: 'population' }).doc;
    const discrete = buildMap(pointwise(), 'x', NO_SHA, smallCores(32, 400, 400), { synapses: 'discrete' }).doc;
    expect(doc.discrete).toEqual({ cores: discrete.totals.cores, chips: discrete.totals.chips });
    for (const l of doc.layers) expect(l.cores_discrete).toBe(discrete.layers.find((x) => x.id === l.id)!.cores);
  });

  it('measures a population map against the bound that holds for it (the neurons\'), not the discrete synapses\' axon bound', () => {
    // 17-axon cores: the discrete bound (96 source rows / 17 axons = 6 cores) is above what population axons take (4).
    const doc = buildMap(pointwise(), 'x', NO_SHA, smallCores(32, 17, 400), { synapses: 'population', outputAxons: 'population' }).doc;
    const lb = doc.totals.lower_bound;
    expect(doc.totals.cores).toBeLessThan(lb.cores);
    expect(layoutLowerBound(lb, 'population')).toBe(lb.by_limit.neurons);
    expect(layoutLowerBound(lb, 'discrete')).toBe(lb.cores);
    expect(doc.totals.cores).toBeGreaterThanOrEqual(lb.by_limit.neurons);
    expect(doc.totals.cores_over_lower_bound).toBe(doc.totals.cores / lb.by_limit.neurons);
  });
});
