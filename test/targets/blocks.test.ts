/**
 * The block partitioner (targets/map/blocks.ts) against the brute-force recount over every synapse
 * (helpers.ts `recount`): each core's neurons, input axons, output axons and synapse words computed in
 * closed form from the routes must be exactly what counting the composed tables gives, on the fixtures and
 * on hand-built chains cut into many blocks by a small chip.
 */
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { type ChipSpec, LIMITS, loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { compileFixture, recount, smallCores } from './helpers.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';

const loihi = loadChipSpec('loihi1');
const NO_SHA = '0'.repeat(64);

function expectExactUse(ir: SnnIr, spec: ChipSpec): ReturnType<typeof buildMap>['doc'] {
  const { doc } = buildMap(ir, 'x', NO_SHA, spec, { partitioner: 'blocks' });
  const use = recount(buildPlan(ir), doc);
  doc.cores.forEach((core, c) => {
    expect(LIMITS.map((l) => core.use[l]), `core ${c}`).toEqual(use[c]);
    LIMITS.forEach((l, r) => expect(use[c][r], `core ${c} ${l}`).toBeLessThanOrEqual(spec.limits[l].value));
  });
  expect(doc.totals.routing_entries).toBe(use.reduce((a, u) => a + u[2], 0));
  expect(doc.totals.cores).toBeGreaterThanOrEqual(doc.totals.lower_bound.cores);
  expect(doc.layers.every((l) => l.ordering.startsWith('blocks'))).toBe(true);
  return doc;
}

describe('block partitioner', () => {
  it('fmnist_cnn_qcfs on loihi1: every core exactly as the per-synapse recount, within the limits', () => {
    const doc = expectExactUse(compileFixture('fmnist_cnn_qcfs'), loihi);
    // Close to the lower bound even without the greedy's neuron-level packing.
    expect(doc.totals.cores).toBeLessThanOrEqual(2 * doc.totals.lower_bound.cores);
  });

  it('digits_mlp on small cores: dense blocks', () => {
    const doc = expectExactUse(compileFixture('digits_mlp'), smallCores(16, 200, 400));
    expect(doc.totals.cores).toBeGreaterThan(4);
  });

  it('pooled, composed, concatenated and residual routes on small cores', () => {
    const b = new IrBuilder([3, 12, 12]);
    const a = b.if(b.conv2d('input', randomArray(1, 6 * 27, -0.5, 1), [6, 3, 3, 3], { pads: [1, 1, 1, 1] }), [0.5, 0.6, 0.7, 0.8, 0.9, 1], { vInit: 0.5, axis: 0, id: 'A' });
    const pooled = b.avgpool(a, [3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] });
    const B = b.if(b.conv2d(pooled, randomArray(3, 4 * 6 * 9, -0.6, 1), [4, 6, 3, 3], { pads: [1, 1, 1, 1] }), 0.7, { vInit: 0.5, id: 'B' });
    const half = b.avgpool(a, [2, 2], { strides: [2, 2] });
    const cat = b.concat([b.conv2d(B, randomArray(5, 2 * 4 * 9, -0.5, 1), [2, 4, 3, 3], { pads: [1, 1, 1, 1] }), b.conv2d(half, randomArray(6, 3 * 6, -0.5, 1), [3, 6, 1, 1])], 0);
    const C = b.if(b.add([cat, b.conv2d(a, randomArray(7, 5 * 6, -0.5, 1), [5, 6, 1, 1], { strides: [2, 2] })]), 0.6, { vInit: 0.5, id: 'C' });
    const D = b.if(b.add([b.conv2d(C, randomArray(8, 5 * 5 * 9, -0.5, 1), [5, 5, 3, 3], { pads: [1, 1, 1, 1] }), C]), 0.6, { vInit: 0.5, id: 'D' });
    const ir = b.build(b.dense(b.reshape(b.avgpool(D, [6, 6]), [5]), randomArray(9, 3 * 5), [3, 5]));
    const plan = buildPlan(ir);
    expect(new Set(plan.streams.flatMap((s) => s.fanout.routes.map((r) => r.kind)))).toEqual(new Set(['conv', 'dense', 'table']));
    const doc = expectExactUse(ir, smallCores(32, 600, 1500));
    expect(doc.totals.cores).toBeGreaterThan(10);
  });

  it('refuses a neuron no core can hold, naming the layer, the limit and the excess', () => {
    const b = new IrBuilder([4]);
    const a = b.if(b.dense('input', randomArray(1, 5000 * 4), [5000, 4]), 0.5, { id: 'a' });
    const ir = b.build(b.dense(a, new Float32Array(2 * 5000).fill(0.01), [2, 5000], { id: 'out' }));
    expect(() => buildMap(ir, 'x', NO_SHA, loihi, { partitioner: 'blocks', readout: 'cores' })).toThrow(/layer out: even one neuron needs 5000 input axons, more than the 4096 of a loihi1 core \(by 904\)/);
  });
});

describe('population synapses', () => {
  /** input → A [4, 6, 6] → 3×3 conv, pad 1 → B [8, 6, 6] → readout: B takes one block. */
  function convNet(): SnnIr {
    const b = new IrBuilder([4, 6, 6]);
    const a = b.if(b.conv2d('input', randomArray(1, 4 * 36, 0.1, 1), [4, 4, 3, 3], { pads: [1, 1, 1, 1] }), 0.5, { vInit: 0.5, id: 'A' });
    const B = b.if(b.conv2d(a, randomArray(2, 8 * 4 * 9, 0.1, 1), [8, 4, 3, 3], { pads: [1, 1, 1, 1] }), 0.7, { vInit: 0.5, id: 'B' });
    return b.build(b.dense(b.reshape(B, [288]), randomArray(3, 2 * 288, 0.1, 1), [2, 288]));
  }

  it('one axon per source position and one weight set per border class (hand-counted)', () => {
    const { doc } = buildMap(convNet(), 'x', NO_SHA, loihi, { synapses: 'population' });
    const slice = doc.slices.find((s) => s.layer === 'B')!;
    expect(slice.neurons).toBe(288);
    // 36 source positions; sets: interior 9 taps, 4 edges of 6 taps, 4 corners of 4 taps, each × 8
    // outputs per atom, 4 atoms; a set is one list of atoms × synapses (nengo-loihi's Synapse.bits):
    // interior 288 synapses = 4 groups of 64 (19 words each) + 32 (10 words) = 86 words, an edge 192 = 3
    // groups = 57 words, a corner 128 = 2 groups = 38 words.
    expect(slice.use.input_axons).toBe(36);
    expect(slice.use.synapse_words).toBe(86 + 4 * 57 + 4 * 38);
    const discrete = buildMap(convNet(), 'x', NO_SHA, loihi, { partitioner: 'blocks' }).doc.slices.find((s) => s.layer === 'B')!;
    expect(discrete.use.input_axons).toBe(144);
    expect(discrete.use.synapse_words).toBeGreaterThan(slice.use.synapse_words);
    expect(doc.options.synapses).toBe('population');
  });

  it('needs the block partitioner; the virtual chip runs population (one or shared output axons) and block maps spike for spike', async () => {
    expect(() => buildMap(convNet(), 'x', NO_SHA, loihi, { synapses: 'population', partitioner: 'greedy' })).toThrow(/population synapses are laid out per block/);
    const input = randomArray(4, 3 * 144, 0, 1.5);
    const options = [
      { synapses: 'population' as const, outputAxons: 'neuron' as const },
      { synapses: 'population' as const, outputAxons: 'population' as const },
      { partitioner: 'blocks' as const, synapses: 'discrete' as const },
    ];
    for (const option of options) {
      const mapped = buildMap(convNet(), 'x', NO_SHA, loihi, option);
      if (option.outputAxons === 'population') expect(mapped.doc.options.output_axons).toBe('population');
      const chip = runChip(configureFromMap(mapped.doc, convNet()), input, { T: 16, seed: 0, recordSpikes: true });
      const sim = await simulatePlan(mapped.plan, input, { T: 16, seed: 0, recordSpikes: true, workers: 1 });
      expect(chip.spikes!.map((r) => Array.from(r.indices))).toEqual(sim.spikes!.map((r) => Array.from(r.indices)));
      expect(chip.logits).toEqual(sim.logits);
    }
  });

  it('by default falls back to population synapses when a neuron gathers more sources than a core has axons', () => {
    // A global pool before the classifier: every one of its neurons hears all 32 × 16 × 16 = 8192 neurons.
    const b = new IrBuilder([2, 16, 16]);
    const a = b.if(b.conv2d('input', randomArray(5, 32 * 18, 0.1, 1), [32, 2, 3, 3], { pads: [1, 1, 1, 1] }), 0.5, { vInit: 0.5, id: 'A' });
    const ir = b.build(b.dense(b.reshape(b.avgpool(a, [16, 16]), [32]), randomArray(6, 10 * 32), [10, 32], { id: 'fc' }));
    expect(() => buildMap(ir, 'x', NO_SHA, loihi, { synapses: 'discrete', readout: 'cores' })).toThrow(/fc\[0\] receives spikes from 8192 source neurons/);
    const mapped = buildMap(ir, 'x', NO_SHA, loihi);
    expect(mapped.doc.options.synapses).toBe('population');
    expect(mapped.notes[0]).toMatch(/population synapses: with discrete ones, neuron fc\[0\] receives spikes from 8192 source neurons/);
    expect(mapped.doc.slices.find((s) => s.layer === 'fc')!.use.input_axons).toBe(256);
  });
});
