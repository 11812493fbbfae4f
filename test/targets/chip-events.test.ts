/**
 * The virtual chip counts its events per row signature and per phase (targets/chip/run.ts), from the
 * routes (targets/chip/messages.ts), not message by message: here a plain recount, message by message
 * from the chip's own spikes and the composed synapse tables (tableOf, brute force), must give the same
 * numbers (route energies integer on loihi1, not on the SANA-FE preset). With quantised weights (every
 * stream a table of its quantised synapses) the chip still gives the functional simulator's spikes on the
 * same quantised plan.
 */
import { describe, expect, it } from 'vitest';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import { slotPosition, xyRoute } from '../../targets/map/route.ts';
import { tableOf } from '../../runtime/snn/routes.ts';
import type { QuantizeMode } from '../../targets/map/quantize.ts';
import { compileFixture, samples, tableMessages } from './helpers.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { messageCounter } from '../../targets/chip/messages.ts';
import type { ChipSpec } from '../../targets/chip-spec.ts';

function recount(ir: SnnIr, input: Float32Array, T: number, chipName: string, quantize: QuantizeMode | null = null) {
  const spec = loadChipSpec(chipName);
  const mapped = buildMap(ir, 'x', '0'.repeat(64), spec, { quantize }).doc;
  const cfg = configureFromMap(mapped, ir);
  const run = runChip(cfg, input, { T, recordSpikes: true });
  const N = cfg.cores;
  const P = cfg.plan.pops.length;
  const pairs = new Map<number, number>();
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
            // One message per destination slice of the row's synapses.
            const { rowPtr, col } = tableOf(cfg.plan.streams[si].fanout);
            const bySlice = new Map<number, number>();
            for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) bySlice.set(cfg.sliceOf[col[j]], (bySlice.get(cfg.sliceOf[col[j]]) ?? 0) + 1);
            for (const [slice, n] of bySlice) {
              const core = mapped.slices[slice].core;
              messages++;
              sops += n;
              pairs.set(src * N + core, (pairs.get(src * N + core) ?? 0) + 1);
              perCore.out[src]++;
              perCore.in[core]++;
              perCore.sops[core] += n;
              sopsIn[cfg.sliceLayer[slice]] += n;
            }
          }
        }
      }
    }
  }
  const S = run.spikes!.length;
  let ew = 0;
  let ns = 0;
  const positions = mapped.cores.map((c) => slotPosition(spec, c.slot));
  pairs.forEach((n, pair) => {
    const route = xyRoute(spec, positions[Math.floor(pair / N)], positions[pair % N]);
    ew += n * route.ew;
    ns += n * route.ns;
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
    // The quantised plan keeps the operators' structure (conv twins, dense rows) with quantised weight copies.
    expect(mapped.plan.streams.flatMap((s) => s.fanout.routes.map((r) => r.kind))).toEqual(['conv', 'conv', 'dense']);
    expect(mapped.plan.streams.every((s) => s.fanout.routes.every((r) => r.unquantized))).toBe(true);
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

  it('counts each element\'s messages from the routes exactly as the composed tables give them (block maps on small cores: grouped, depthwise, pooled, concatenated, residual and dense routes)', () => {
    const b = new IrBuilder([4, 10, 10]);
    const A = b.if(b.conv2d('input', randomArray(11, 8 * 4 * 9, -0.5, 1), [8, 4, 3, 3], { pads: [1, 1, 1, 1] }), 0.6, { vInit: 0.5, id: 'A' });
    // Zero weights are no synapses: every third one of the grouped conv.
    const grouped = randomArray(12, 12 * 4 * 9, -0.5, 1).map((w, k) => (k % 3 === 0 ? 0 : w));
    const B = b.if(b.conv2d(A, grouped, [12, 4, 3, 3], { pads: [1, 1, 1, 1], groups: 2 }), 0.7, { vInit: 0.5, id: 'B' });
    const dw = b.if(b.conv2d(B, randomArray(13, 12 * 9, -0.5, 1), [12, 1, 3, 3], { pads: [1, 1, 1, 1], strides: [2, 2], groups: 12 }), 0.6, { vInit: 0.5, id: 'DW' });
    const pooled = b.avgpool(B, [2, 2], { strides: [2, 2] });
    const C = b.if(b.add([b.conv2d(dw, randomArray(14, 6 * 12, -0.5, 1), [6, 12, 1, 1]), b.conv2d(pooled, randomArray(15, 6 * 12 * 9, -0.5, 1), [6, 12, 3, 3], { pads: [1, 1, 1, 1] })]), 0.6, { vInit: 0.5, id: 'C' });
    const ir = b.build(b.dense(b.reshape(C, [150]), randomArray(16, 7 * 150, -0.3, 1), [7, 150]));
    const loihi = loadChipSpec('loihi1');
    const limits = structuredClone(loihi.limits);
    limits.neurons.value = 37;
    const small: ChipSpec = { ...loihi, limits };
    const { doc } = buildMap(ir, 'x', '0'.repeat(64), small, { partitioner: 'blocks' });
    const cfg = configureFromMap(doc, ir);
    expect(new Set(cfg.plan.streams.flatMap((s) => s.fanout.routes.map((r) => r.kind)))).toEqual(new Set(['conv', 'dense']));
    expect(cfg.cores).toBeGreaterThan(30);
    let checked = 0;
    cfg.plan.streams.forEach((st) => {
      const messages = messageCounter(st.fanout, cfg.sliceOf, cfg.sliceLayer.length);
      tableMessages(st.fanout, cfg.sliceOf).forEach((expected, i) => {
        const n = messages.of(i);
        const got = Array.from({ length: n }, (_, g) => [messages.slice[g], messages.synapses[g]]);
        expect(got, `stream ${st.id} element ${i}`).toEqual(expected);
        checked += n;
      });
    });
    expect(checked).toBeGreaterThan(1000);
  });

  it('gives the same report when signatures run out and elements are counted message by message (masks, dense, conv; integer and fractional route energies)', () => {
    const b = new IrBuilder([16]);
    const h = b.if(b.dense('input', randomArray(21, 64 * 16, -0.2, 0.6), [64, 16]), 0.4, { id: 'h', vInit: 0.5 });
    const masked = b.dense(b.rsm(h, 0.5, 'mask'), randomArray(22, 32 * 64, -0.3, 0.5), [32, 64]);
    const g = b.if(b.add([masked, b.dense(h, randomArray(23, 32 * 64, -0.3, 0.5), [32, 64])]), 0.7, { id: 'g' });
    const masks = b.build(b.dense(g, randomArray(24, 10 * 32), [10, 32], { id: 'out' }));
    const { input: fm } = samples('fmnist_test_x.npy', 'fmnist_test_y.npy', 1);
    const cases: Array<[SnnIr, Float32Array, string]> = [
      [masks, randomArray(25, 16 * 4, 0, 1), 'loihi1-sanafe'],
      [compileFixture('fmnist_cnn_qcfs'), fm, 'loihi1'],
      [compileFixture('fmnist_cnn_qcfs'), fm, 'loihi1-sanafe'],
    ];
    for (const [ir, input, chip] of cases) {
      const cfg = configureFromMap(buildMap(ir, 'x', '0'.repeat(64), loadChipSpec(chip)).doc, ir);
      const report = (budget?: number) => {
        const { seconds: _s, ...r } = runChip(cfg, input, { T: 8, seed: 3, trace: true, signatureMessages: budget }).report;
        return r;
      };
      const all = report();
      expect(all.counts.message_out).toBeGreaterThan(0);
      for (const budget of [0, 500]) expect(report(budget), `${chip}, ${budget} messages in signatures`).toEqual(all);
    }
  });
});

