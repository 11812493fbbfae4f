/**
 * The virtual chip counts its events per row signature and per phase (targets/chip/simulate.ts), not
 * message by message: here a plain recount, message by message from the chip's own spikes and synapse
 * tables, must give the same numbers (route energies integer on loihi1, not on the SANA-FE preset). And
 * with quantised weights it delivers conv layers through per-core weight banks: still the functional
 * simulator's spikes on the same quantised plan (which delivers from its table).
 */
import { describe, expect, it } from 'vitest';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import type { QuantizeMode } from '../../targets/map/quantize.ts';
import { compileFixture, samples } from './helpers.ts';

function recount(ir: SnnIr, input: Float32Array, T: number, chipName: string, quantize: QuantizeMode | null = null) {
  const spec = loadChipSpec(chipName);
  const cfg = configureFromMap(buildMap(ir, 'x', '0'.repeat(64), spec, { quantize }).doc, ir);
  const run = runChip(cfg, input, { T, recordSpikes: true });
  const N = cfg.cores;
  const P = cfg.plan.pops.length;
  const pairs = new Float64Array(N * N);
  const perCore = { out: new Float64Array(N), in: new Float64Array(N), sops: new Float64Array(N) };
  const sopsIn = new Float64Array(cfg.net.pops.length);
  let messages = 0;
  let sops = 0;
  for (const rec of run.spikes!) {
    for (let t = 0; t < T; t++) {
      for (let p = 0; p < P; p++) {
        const offset = cfg.net.pops[p].offset;
        for (let k = rec.offsets[t * P + p]; k < rec.offsets[t * P + p + 1]; k++) {
          const i = rec.indices[k];
          const src = cfg.coreOf[offset + i];
          for (const si of cfg.plan.pops[p].streams) {
            const { msgPtr, core, slice, entPtr } = cfg.tables[si];
            for (let g = msgPtr[i]; g < msgPtr[i + 1]; g++) {
              const n = entPtr[g + 1] - entPtr[g];
              messages++;
              sops += n;
              pairs[src * N + core[g]]++;
              perCore.out[src]++;
              perCore.in[core[g]]++;
              perCore.sops[core[g]] += n;
              sopsIn[cfg.sliceLayer[slice[g]]] += n;
            }
          }
        }
      }
    }
  }
  const S = run.spikes!.length;
  let ew = 0;
  let ns = 0;
  pairs.forEach((n, pair) => {
    ew += n * cfg.routes[pair].ew;
    ns += n * cfg.routes[pair].ns;
  });
  const r = run.report;
  expect(r.counts.message_out).toBe(messages / S);
  expect(r.counts.message_in).toBe(messages / S);
  expect(r.counts.synaptic_op).toBe(sops / S);
  expect(r.counts.hop_ew).toBe(ew / S);
  expect(r.counts.hop_ns).toBe(ns / S);
  expect(r.cores.map((c) => c.messages_out)).toEqual(Array.from(perCore.out, (x) => x / S));
  expect(r.cores.map((c) => c.messages_in)).toEqual(Array.from(perCore.in, (x) => x / S));
  expect(r.cores.map((c) => c.synaptic_ops)).toEqual(Array.from(perCore.sops, (x) => x / S));
  expect(r.layers.map((l) => l.synaptic_ops_in)).toEqual(Array.from(sopsIn, (x) => x / S));
  expect(messages).toBeGreaterThan(0);
  return run;
}

describe('the virtual chip counts every message', () => {
  it('fmnist_cnn_qcfs on loihi1 (2 images, T = 8)', () => {
    const { input } = samples('fmnist_test_x.npy', 'fmnist_test_y.npy', 2);
    recount(compileFixture('fmnist_cnn_qcfs'), input, 8, 'loihi1');
  });

  it('fmnist_cnn_qcfs on loihi1 with per-group quantised weights: also the functional simulator\'s spikes (2 images, T = 16)', async () => {
    const ir = compileFixture('fmnist_cnn_qcfs');
    const { input } = samples('fmnist_test_x.npy', 'fmnist_test_y.npy', 2);
    const chip = recount(ir, input, 16, 'loihi1', 'per-group');
    const mapped = buildMap(ir, 'x', '0'.repeat(64), loadChipSpec('loihi1'), { quantize: 'per-group' });
    expect(mapped.plan.streams.every((s) => s.conv === null)).toBe(true);
    const sim = await simulatePlan(mapped.plan, input, { T: 16, seed: 0, recordSpikes: true, workers: 1 });
    chip.spikes!.forEach((c, s) => {
      expect(c.offsets).toEqual(sim.spikes![s].offsets);
      expect(c.indices).toEqual(sim.spikes![s].indices);
    });
    expect(chip.logits).toEqual(sim.logits);
  });

  it('digits_mlp on the SANA-FE preset (10 samples, T = 16)', () => {
    const { input } = samples('digits_test_x.npy', 'digits_test_y.npy', 10);
    recount(compileFixture('digits_mlp'), input, 16, 'loihi1-sanafe');
  });
});
