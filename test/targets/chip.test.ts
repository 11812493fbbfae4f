/**
 * The virtual chip runs exactly the functional simulator's network: every spike of every step equal, for
 * the trained fixtures, for spike masks (masked and unmasked streams of one population), and for quantised
 * weights against the functional simulator on the same quantised plan.
 */
import { describe, expect, it } from 'vitest';
import type { SnnIr } from '../../compiler/ir/types.ts';
import type { SpikeRecord } from '../../runtime/snn/engine.ts';
import { simulate, simulatePlan } from '../../runtime/snn/simulate.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import type { QuantizeMode } from '../../targets/map/quantize.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { compileFixture, limitNetwork, samples } from './helpers.ts';

const NO_SHA = '0'.repeat(64);

function expectSameSpikes(chip: SpikeRecord[], sim: SpikeRecord[]): void {
  expect(chip.length).toBe(sim.length);
  chip.forEach((c, s) => {
    // Per step and population: the same neurons, in the same order.
    expect(c.offsets, `sample ${s} offsets`).toEqual(sim[s].offsets);
    expect(c.indices, `sample ${s} spikes`).toEqual(sim[s].indices);
  });
}

async function compare(ir: SnnIr, input: Float32Array, T: number, chipName = 'loihi1', quantize: QuantizeMode | null = null, seed = 0) {
  const spec = loadChipSpec(chipName);
  const mapped = buildMap(ir, 'x', NO_SHA, spec, { quantize });
  const chip = runChip(configureFromMap(mapped.doc, ir), input, { T, seed, recordSpikes: true });
  const sim = await simulatePlan(mapped.plan, input, { T, seed, recordSpikes: true, workers: 1 });
  return { chip, sim, doc: mapped.doc };
}

describe('the virtual chip reproduces the functional simulator', () => {
  it('fmnist_cnn_qcfs on 32 cores: every spike of every step (3 images, T = 32)', async () => {
    const ir = compileFixture('fmnist_cnn_qcfs');
    const { input } = samples('fmnist_test_x.npy', 'fmnist_test_y.npy', 3);
    const { chip, sim, doc } = await compare(ir, input, 32);
    expect(doc.totals.cores).toBeGreaterThan(1);
    expectSameSpikes(chip.spikes!, sim.spikes!);
    expect(chip.logits).toEqual(sim.logits);
    expect(chip.report.counts.synaptic_op).toBe(sim.sops_per_sample);
    expect(chip.report.counts.spike_out).toBe(sim.layers.reduce((a, l) => a + l.spikes_per_sample, 0));
    // The functional simulator counts IF updates; the chip also updates its readout compartments.
    expect(chip.report.counts.neuron_active + chip.report.counts.neuron_inactive).toBe(sim.neuron_updates.active + sim.neuron_updates.inactive + 10 * 32);
  });

  it('digits_mlp on the SANA-FE preset: every spike of every step (60 samples, T = 32)', async () => {
    const ir = compileFixture('digits_mlp');
    const { input, labels } = samples('digits_test_x.npy', 'digits_test_y.npy', 60);
    const { chip, sim } = await compare(ir, input, 32, 'loihi1-sanafe');
    expectSameSpikes(chip.spikes!, sim.spikes!);
    const ref = await simulate(ir, input, { T: 32, labels, workers: 1 });
    const run = runChip(configureFromMap(buildMap(ir, 'x', NO_SHA, loadChipSpec('loihi1-sanafe')).doc, ir), input, { T: 32, labels });
    expect(run.report.accuracy).toEqual(ref.accuracy);
  });

  it('with spike masks on one of two streams of a population: same spikes and the same drops', async () => {
    const b = new IrBuilder([16]);
    const h = b.if(b.dense('input', randomArray(1, 64 * 16, -0.2, 0.6), [64, 16]), 0.4, { id: 'h', vInit: 0.5 });
    const masked = b.dense(b.rsm(h, 0.5, 'mask'), randomArray(2, 32 * 64, -0.3, 0.5), [32, 64]);
    const direct = b.dense(h, randomArray(3, 32 * 64, -0.3, 0.5), [32, 64]);
    const g = b.if(b.add([masked, direct]), 0.7, { id: 'g' });
    const ir = b.build(b.dense(g, randomArray(4, 10 * 32), [10, 32], { id: 'out' }));
    const input = randomArray(5, 16 * 8, 0, 1);
    const { chip, sim } = await compare(ir, input, 24, 'loihi1', null, 7);
    expectSameSpikes(chip.spikes!, sim.spikes!);
    expect(chip.report.masks[0].spikes_dropped).toBe(sim.masks[0].spikes_dropped);
    expect(chip.report.masks[0].spikes_dropped).toBeGreaterThan(0);
    expect(chip.report.counts.synaptic_op).toBe(sim.sops_per_sample);
  });

  for (const mode of ['per-core', 'per-group'] as const) {
    it(`with ${mode} quantised weights: the functional simulator's spikes on the same quantised plan`, async () => {
      const ir = compileFixture('digits_mlp');
      const { input } = samples('digits_test_x.npy', 'digits_test_y.npy', 20);
      const { chip, sim, doc } = await compare(ir, input, 32, 'loihi1', mode);
      expect(doc.quantization!.mode).toBe(mode);
      expectSameSpikes(chip.spikes!, sim.spikes!);
      expect(chip.report.quantization).toMatchObject({ mode, mantissa_bits: 8 });
    });
  }

  it('offers Loihi 1’s reset to zero and says which reset it ran', () => {
    const ir = compileFixture('digits_mlp');
    const { input } = samples('digits_test_x.npy', 'digits_test_y.npy', 10);
    const cfg = configureFromMap(buildMap(ir, 'x', NO_SHA, loadChipSpec('loihi1')).doc, ir);
    const sub = runChip(cfg, input, { T: 16, recordSpikes: true });
    const zero = runChip(cfg, input, { T: 16, recordSpikes: true, reset: 'zero' });
    expect(sub.report.reset).toBe('subtract');
    expect(sub.report.reset_note).toMatch(/native neuron resets to zero/);
    expect(zero.report.reset).toBe('zero');
    expect(zero.spikes!.map((r) => r.indices.length)).not.toEqual(sub.spikes!.map((r) => r.indices.length));
  });

  it('spans several chips when one is not enough: chip crossings are routed and costed, spikes unchanged', async () => {
    // A chip of one tile with one core, four chips in a row on the board.
    const base = loadChipSpec('loihi1');
    const tiny = { ...base, name: 'tiny', mesh: { ...base.mesh, tiles_x: 1, tiles_y: 1, cores_per_tile: 1 }, board: { chips_x: 4, chips_y: 1, source: 'test' } };
    const { ir } = limitNetwork('neurons');
    const mapped = buildMap(ir, 'x', NO_SHA, tiny, { placement: 'sequential' });
    expect(mapped.doc.totals.chips).toBe(3);
    expect(mapped.doc.cores.map((c) => c.chip)).toEqual([0, 1, 2]);
    const input = randomArray(9, 16 * 4, 0, 1);
    const chip = runChip(configureFromMap(mapped.doc, ir), input, { T: 16, recordSpikes: true });
    const sim = await simulatePlan(mapped.plan, input, { T: 16, recordSpikes: true, workers: 1 });
    expectSameSpikes(chip.spikes!, sim.spikes!);
    expect(chip.report.counts.chip_hop).toBeGreaterThan(0);
    expect(chip.report.counts.hop_ew + chip.report.counts.hop_ns).toBe(0);
    const chipHop = chip.report.energy.per_inference.chip.terms.find((t) => t.what === 'chip_hop')!;
    expect(chipHop.source).toMatch(/ASSUMPTION/);
    // A board too small for the network is refused with the excess.
    expect(() => buildMap(ir, 'x', NO_SHA, { ...tiny, board: { ...tiny.board, chips_x: 2 } })).toThrow(/needs 3 chips \(3 cores\) but a tiny board holds 2 \(by 1\)/);
  });
});
