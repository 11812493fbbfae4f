/**
 * The loihi2 preset: every figure names its source (unsourced ones say ASSUMPTION), its shared core memory
 * (neuron state and synapse words against one capacity) binds the partitioners, and fmnist_cnn_qcfs maps
 * onto it and runs on the virtual chip with the functional simulator's spikes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { type ChipSpec, coresPerChip, LIMITS, loadChipSpec, memoryBits } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { compileFixture, recount, samples } from './helpers.ts';

const NO_SHA = '0'.repeat(64);

/** Every object holding a number must carry a non-empty `source` (itself or the nearest object above it). */
function unsourced(doc: unknown, path = '', inherited = false): string[] {
  if (doc === null || typeof doc !== 'object') return [];
  const o = doc as Record<string, unknown>;
  const has = typeof o.source === 'string' && o.source.trim().length > 0;
  const out: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'number' || (Array.isArray(v) && v.some((x) => typeof x === 'number'))) {
      if (!has && !inherited) out.push(`${path}.${k}`);
    } else if (typeof v === 'object') out.push(...unsourced(v, `${path}.${k}`, has || inherited));
  }
  return out;
}

describe('the loihi2 preset', () => {
  it('has the published figures, each with its source, and marks the unpublished ones as assumptions', () => {
    const raw = JSON.parse(readFileSync(new URL('../../targets/chips/loihi2.json', import.meta.url), 'utf8'));
    // Numbers at the top level of the spec (format version) are not figures.
    expect(unsourced({ ...raw, version: undefined })).toEqual([]);
    const spec = loadChipSpec('loihi2');
    expect(coresPerChip(spec)).toBe(128);
    expect(spec.limits.neurons.value).toBe(8192);
    expect(spec.memory!.capacity_bits).toBe(192 * 1024 * 8);
    expect(spec.limits.synapse_words.value * spec.synapse_encoding.word_bits).toBe(spec.memory!.capacity_bits);
    expect(spec.neuron.native_reset).toBe('subtract');
    for (const l of ['input_axons', 'output_axons'] as const) expect(spec.limits[l].source).toMatch(/^ASSUMPTION/);
    for (const e of Object.values(spec.events)) expect(e.source).toMatch(/^ASSUMPTION/);
    for (const s of [spec.barrier.source, spec.clock_mhz.source, spec.synapse_encoding.source]) expect(s).toMatch(/^ASSUMPTION/);
    expect(spec.memory!.source).toMatch(/ASSUMPTION.*: 64 bits of state per neuron/);
    expect(spec.boards!.map((b) => b.source).join(' ')).toMatch(/3-D/);
  });

  it('charges neuron state and synapse words against one memory: a slice the four limits allow is cut when the memory is full', () => {
    // 4,000 neurons with 16 inputs each fit the neuron and synapse-word limits of one core (about 21,000 words),
    // but not with their state: 4,000 × 64 + 21,000 × 64 bits is more than 192 KB.
    const b = new IrBuilder([64]);
    const h = b.if(b.dense('input', randomArray(1, 64 * 16, 0, 1), [16, 64]), 0.5, { id: 'h' });
    const g = b.if(b.dense(h, randomArray(2, 4000 * 16, -0.5, 1), [4000, 16]), 0.5, { id: 'g' });
    const ir = b.build(b.dense(g, randomArray(3, 10 * 4000), [10, 4000], { id: 'out' }));
    const spec = loadChipSpec('loihi2');
    const noMemory: ChipSpec = { ...spec, memory: undefined };
    const shared = buildMap(ir, 'x', NO_SHA, spec).doc;
    const fixed = buildMap(ir, 'x', NO_SHA, noMemory).doc;
    // Same cores here, but the shared memory cuts the first (readout + g) core smaller.
    expect(shared.cores[0].use.neurons).toBeLessThan(fixed.cores[0].use.neurons);
    for (const c of shared.cores) expect(memoryBits(LIMITS.map((l) => c.use[l]), spec)).toBeLessThanOrEqual(spec.memory!.capacity_bits);
    expect(fixed.cores.some((c) => memoryBits(LIMITS.map((l) => c.use[l]), spec) > spec.memory!.capacity_bits)).toBe(true);
    // The lower bound adds the memory's: every neuron's state and the minimum synapse bits in 192 KB cores.
    const d = fixed.totals.lower_bound.demand;
    const memoryBound = Math.ceil((d.neurons * spec.memory!.neuron_bits + d.synapse_words * spec.synapse_encoding.word_bits) / spec.memory!.capacity_bits - 1e-9);
    expect(shared.totals.lower_bound.cores).toBe(Math.max(fixed.totals.lower_bound.cores, memoryBound));
  });

  it('refuses a neuron whose state and synapses alone overflow the shared memory, naming the bits (both partitioners)', () => {
    const b = new IrBuilder([16]);
    const h = b.if(b.dense('input', randomArray(1, 300 * 16, 0, 1), [300, 16]), 0.5, { id: 'h' });
    const ir = b.build(b.dense(h, randomArray(2, 10 * 300, 0.1, 1), [10, 300], { id: 'out' }));
    const spec = loadChipSpec('loihi2');
    // 200 words of 64 bits: each readout neuron's 300 synapses (300 words, one per input axon) and its state do not fit.
    const small: ChipSpec = { ...spec, memory: { ...spec.memory!, capacity_bits: 200 * 64 } };
    expect(() => buildMap(ir, 'x', NO_SHA, small, { partitioner: 'greedy', readout: 'cores' })).toThrow(/neuron out\[0\] has 300 incoming synapses that need 300 synapse-memory words: with its state, 19264 bits, more than the 12800 bits of a loihi2 core's shared memory \(by 6464\)/);
    expect(() => buildMap(ir, 'x', NO_SHA, small, { partitioner: 'blocks', readout: 'cores' })).toThrow(/layer out: even one neuron needs 19264 bits of core memory \(1 neurons' state and 300 synapse words\), more than the 12800 bits/);
  });

  for (const partitioner of ['greedy', 'blocks'] as const) {
    it(`fmnist_cnn_qcfs maps onto loihi2 (${partitioner}) within the shared memory, and the virtual chip gives the simulator's spikes`, async () => {
      const ir = compileFixture('fmnist_cnn_qcfs');
      const spec = loadChipSpec('loihi2');
      const mapped = buildMap(ir, 'x', NO_SHA, spec, { partitioner });
      const doc = mapped.doc;
      expect(doc.chip.name).toBe('loihi2');
      const counted = recount(mapped.plan, doc);
      doc.cores.forEach((c, k) => {
        expect(LIMITS.map((l) => c.use[l]), `core ${k}`).toEqual(counted[k]);
        expect(memoryBits(counted[k], spec)).toBeLessThanOrEqual(spec.memory!.capacity_bits);
        expect(c.use.neurons).toBeLessThanOrEqual(8192);
      });
      expect(doc.totals.cores).toBeGreaterThanOrEqual(doc.totals.lower_bound.cores);
      const { input } = samples('fmnist_test_x.npy', 'fmnist_test_y.npy', partitioner === 'greedy' ? 3 : 1);
      const chip = runChip(configureFromMap(doc, ir), input, { T: 32, seed: 0, recordSpikes: true });
      const sim = await simulatePlan(mapped.plan, input, { T: 32, seed: 0, recordSpikes: true, workers: 1 });
      expect(chip.spikes!.length).toBe(sim.spikes!.length);
      chip.spikes!.forEach((c, s) => {
        expect(c.offsets).toEqual(sim.spikes![s].offsets);
        expect(c.indices).toEqual(sim.spikes![s].indices);
      });
      expect(chip.logits).toEqual(sim.logits);
      expect(chip.report.counts.synaptic_op).toBe(sim.sops_per_sample);
    });
  }
});
