/**
 * ONNX export (targets/onnx): the exported time-stepped graph run by onnxruntime-node against spikes worked out
 * by hand on tiny IRs (IF, LIF, resets, masks, signed and burst spikes, both attention rules), and against the
 * event-driven simulator on the Fashion-MNIST CNN (plain, with random spike masking, with signed bursts), the
 * MST-style transformer and a small IR using every linear kind the exporter writes.
 *
 * Tolerance on the fixtures: the simulator sums each step's current in float64 (float32 weights, a fixed
 * order); the ONNX graph computes in float32 in the order onnxruntime's kernels pick (blocked, fused
 * multiply-adds, different per CPU). A membrane that lands within a few float32 ulps of θ can then fire one
 * step earlier or later, and the change travels to the layers after it. Measured on this machine
 * (bench/export-onnx.ts, docs/export-onnx.md): 63 spike counts differ, each by one, of 99.3 million spikes in
 * the first 1000 test images at T = 32, in 14 of the images; no prediction differs. The tests allow one
 * differing count per 10⁵ spikes, require equal predictions at every checked T on each image whose counts all
 * agree, and bound the SOP difference by what the differing spikes cost (equal when none differs).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import { writeIr } from '../../compiler/ir/io.ts';
import { deriveShape } from '../../compiler/ir/shapes.ts';
import type { IfNode, IrNode, SnnIr } from '../../compiler/ir/types.ts';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { readNpy } from '../../runtime/npy.ts';
import { draw32, dropBelow, maskKey } from '../../runtime/snn/rng.ts';
import { buildPlan, type NetworkPlan } from '../../runtime/snn/plan.ts';
import { simulate, type SimulationResult } from '../../runtime/snn/simulate.ts';
import { exportOnnx, rsmMasks } from '../../targets/onnx/export.ts';
import { runOnnxExport, sopsFromSpikeCounts } from '../../targets/onnx/run.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

const FIX = 'test/fixtures';
const tmp = mkdtempSync(join(tmpdir(), 'snnc-onnx-export-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Spike counts that may differ between float32 ONNX and the float64 simulator, per spike (see the header). */
const SPIKE_TOLERANCE = 1e-5;

const OPTIONS: LowerOptions = { divisor: 255, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {} };

function fmnist(n: number): { ir: (extra?: Partial<LowerOptions>) => SnnIr; x: Float32Array; y: Int32Array } {
  const xa = readNpy(`${FIX}/fmnist_test_x.npy`);
  const per = xa.data.length / xa.shape[0];
  return {
    ir: (extra = {}) => lower(loadOnnx(`${FIX}/fmnist_cnn_qcfs.onnx`), { ...OPTIONS, ...extra }).ir,
    x: Float32Array.from(xa.data.subarray(0, n * per) as ArrayLike<number>),
    y: Int32Array.from(readNpy(`${FIX}/fmnist_test_y.npy`).data.subarray(0, n) as ArrayLike<number>, Number),
  };
}

/** The simulator's spike counts per neuron (samples × size per population) from its recorded spike lists. */
function simCounts(plan: NetworkPlan, sim: SimulationResult, T: number): Map<string, Float32Array> {
  const P = plan.pops.length;
  const out = new Map(plan.pops.map((p) => [p.id, new Float32Array(sim.samples * p.size)]));
  sim.spikes!.forEach((rec, s) => {
    plan.pops.forEach((p, pi) => {
      const c = out.get(p.id)!;
      for (let t = 1; t <= T; t++) {
        for (let k = rec.offsets[(t - 1) * P + pi]; k < rec.offsets[(t - 1) * P + pi + 1]; k++) c[s * p.size + rec.indices[k]]++;
      }
    });
  });
  return out;
}

/** Spike counts of the simulator against the export's, per neuron and sample: total spikes, |differences| summed, which samples differ. */
function compareCounts(plan: NetworkPlan, counts: Map<string, Float32Array>, exported: Map<string, Float32Array>, samples: number): { spikes: number; differing: number; sampleDiffers: Uint8Array } {
  let spikes = 0;
  let differing = 0;
  const sampleDiffers = new Uint8Array(samples);
  for (const p of plan.pops) {
    const a = counts.get(p.id)!;
    const b = exported.get(p.id)!;
    for (let e = 0; e < a.length; e++) {
      spikes += a[e];
      if (a[e] !== b[e]) {
        differing += Math.abs(a[e] - b[e]);
        sampleDiffers[Math.floor(e / p.size)] = 1;
      }
    }
  }
  return { spikes, differing, sampleDiffers };
}

function sumOver(counts: Float32Array, size: number): Float64Array {
  const out = new Float64Array(size);
  for (let e = 0; e < counts.length; e++) out[e % size] += counts[e];
  return out;
}

describe('export-onnx: hand-computed spikes', () => {
  // x = [0.25, 0.75]; dense → currents [0.25, 0.75, 0.5] (dyadic: exact in float32 and float64).
  function tiny(): SnnIr {
    const b = new IrBuilder([2]);
    const d = b.dense('input', [1, 0, 0, 1, 1, 1], [3, 2], { bias: [0, 0, -0.5], id: 'd1' });
    const a = b.if(d, [1, 1, 0.5], { vInit: 0.5, id: 'a1' });
    b.dense(a, [1, 0, 0, 0, 1, 1], [2, 3], { id: 'out' });
    return b.build('out');
  }

  it('IF with per-channel θ: spike counts and logits at t = 1, 2, 4 as worked out by hand', async () => {
    // θ = [1, 1, 0.5], v(0) = θ/2, subtract reset, T = 4:
    //   n0: I = 0.25  v = 0.75, 1.0*, 0.25, 0.5        → 1 spike (t=2)
    //   n1: I = 0.75  v = 1.25*, 1.0*, 0.75, 1.5*      → 3 spikes (t=1, 2, 4)
    //   n2: I = 0.5, θ = 0.5  v = 0.75* each step       → 4 spikes, each carrying 0.5
    // readout [s0, s1 + s2]: t1 [0, 1.5], t2 [1, 1.5], t3 [0, 0.5], t4 [0, 1.5]; accumulated [0,1.5] [1,3] [1,3.5] [1,5].
    const ir = tiny();
    const { bytes, summary } = exportOnnx(ir, { T: 4 });
    expect(summary.checkpoints).toEqual([1, 2, 4]);
    const r = await runOnnxExport(bytes, ir, Float32Array.from([0.25, 0.75]), { T: 4, keepCounts: true });
    expect(Array.from(r.counts!.get('a1')!)).toEqual([1, 3, 4]);
    // logits rows are [checkpoint]: 1 → acc/1, 2 → acc/2, 4 → acc/4; argmax is class 1 at every t.
    expect(Array.from(r.checkpointLogits)).toEqual([0, 1.5, 0.5, 1.5, 0.25, 1.25]);
    expect(Array.from(r.logits)).toEqual([0.25, 1.25]);
    expect(Array.from(r.predictions)).toEqual([1, 1, 1]);
    const sim = await simulate(ir, Float32Array.from([0.25, 0.75]), { T: 4 });
    expect(Array.from(sim.logits)).toEqual([0.25, 1.25]);
  });

  it('LIF: λ·v + I, then reset to zero or by subtraction', async () => {
    const lif = (reset: 'zero' | 'subtract', leak: number): SnnIr => {
      const b = new IrBuilder([1]);
      const a = b.if(b.dense('input', [1], [1, 1], { id: 'd' }), 1, { vInit: 0, id: 'lif' });
      const ir = b.build(b.dense(a, [2], [1, 1], { id: 'out' }));
      Object.assign(ir.nodes.find((n) => n.id === 'lif') as IfNode, leak === 1 ? { reset } : { model: 'lif', leak, reset });
      return ir;
    };
    const spikes = async (ir: SnnIr, x: number, T: number) => {
      const r = await runOnnxExport(exportOnnx(ir, { T }).bytes, ir, Float32Array.from([x]), { T, keepCounts: true });
      return [r.counts!.get('lif')![0], r.logits[0]];
    };
    // θ = 1, v(0) = 0, I = 0.625. λ = 0.5, zero: v = 0.625, 0.9375, 1.09375* → 0, 0.625: 1 spike in 4 steps, logits 2·1/4.
    expect(await spikes(lif('zero', 0.5), 0.625, 4)).toEqual([1, 0.5]);
    // λ = 1 (IF), zero: 0.625, 1.25* → 0, 0.625, 1.25* → 0: 2 spikes.
    expect(await spikes(lif('zero', 1), 0.625, 4)).toEqual([2, 1]);
    // I = 0.875, λ = 0.5. Zero: 0.875, 1.3125* → 0, 0.875, 1.3125* → 0, 0.875: 2 spikes in 5 steps.
    expect(await spikes(lif('zero', 0.5), 0.875, 5)).toEqual([2, Math.fround(0.8)]);
    // Subtract keeps the remainder: 0.875, 1.3125* → 0.3125, 1.03125* → 0.03125, 0.890625, 1.3203125*: 3 spikes.
    expect(await spikes(lif('subtract', 0.5), 0.875, 5)).toEqual([3, Math.fround(1.2)]);
  });

  it('RSM: survivors are the hand-computed spikes times the keep masks snnc generates, which are the simulator’s', async () => {
    const b = new IrBuilder([2]);
    const d = b.dense('input', [1, 0, 0, 1, 1, 1], [3, 2], { bias: [0, 0, -0.5], id: 'd1' });
    const a = b.if(d, [1, 1, 0.5], { vInit: 0.5, id: 'a1' });
    const m = b.rsm(a, 0.5, 'mask');
    b.dense(m, [1, 0, 0, 0, 1, 1], [2, 3], { id: 'out' });
    const ir = b.build('out');
    const T = 4;
    const seed = 7;
    const spikeTrains = [[0, 1, 0, 0], [1, 1, 0, 1], [1, 1, 1, 1]]; // from the first test, per neuron per step
    const x = Float32Array.from([0.25, 0.75, 0.25, 0.75, 0.25, 0.75]); // three samples: three different masks
    const keep = rsmMasks(ir, T, seed, 0, 3).get('mask')!;
    const r = await runOnnxExport(exportOnnx(ir, { T }).bytes, ir, x, { T, seed, keepCounts: true });
    const survivors = r.counts!.get('mask')!;
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < 3; i++) {
        let expected = 0;
        for (let t = 1; t <= T; t++) {
          // The simulator's rule (runtime/snn/engine.ts): dropped when the draw is below ratio · 2³².
          const kept = draw32(maskKey(seed, s, t, 0), i) >= dropBelow(0.5) ? 1 : 0;
          expect(keep[((t - 1) * 3 + s) * 3 + i]).toBe(kept);
          expected += spikeTrains[i][t - 1] * kept;
        }
        expect(survivors[s * 3 + i]).toBe(expected);
      }
    }
    // The unmasked population still fires as without the mask; the simulator agrees on the logits.
    expect(Array.from(r.counts!.get('a1')!)).toEqual([1, 3, 4, 1, 3, 4, 1, 3, 4]);
    const sim = await simulate(ir, x, { T, seed });
    expect(Array.from(r.logits)).toEqual(Array.from(sim.logits));
    expect(Array.from(r.logits)).not.toEqual([0.25, 1.25, 0.25, 1.25, 0.25, 1.25]); // the masks dropped something
  });
});

describe('export-onnx: signed and burst spikes, by hand', () => {
  /**
   * input [2] → A (θ = 1, v(0) = 0: A1 gets 1 per step and fires every step, A2 gets 0.5 and fires at even
   * steps) → B (θ = 1) with weights wB → readout (w = 1). The cases of test/snn/signed-if.test.ts.
   */
  function twoLayer(wB: [number, number], rule: { signed?: boolean; burst?: number }, vInit: number): SnnIr {
    const b = new IrBuilder([2]);
    const a = b.if(b.dense('input', [1, 0, 0, 1], [2, 2]), 1, { id: 'A' });
    const bn = b.if(b.dense(a, wB, [1, 2]), 1, { id: 'B', vInit });
    const ir = b.build(b.dense(bn, [1], [1, 1], { id: 'out' }));
    Object.assign(ir.nodes.find((n) => n.id === 'B') as IfNode, rule.signed ? { model: 'signed-if' } : {}, rule.burst ? { burst: rule.burst } : {});
    return ir;
  }
  const run = async (ir: SnnIr, T: number) => {
    const r = await runOnnxExport(exportOnnx(ir, { T }).bytes, ir, Float32Array.from([1, 0.5]), { T, keepCounts: true });
    return { A: Array.from(r.counts!.get('A')!), B: r.counts!.get('B')![0], logits: Array.from(r.checkpointLogits) };
  };

  it('signed: B gets 0.75 at odd steps and −0.5 at even ones, and sends −1 where its membrane goes below 0', async () => {
    // v(0) = .5; t1 1.25 → +1 (.25, S 1); t2 −.25 → −1 (.75, S 0); t3 1.5 → +1 (.5, S 1); t4 0; t5 .75; t6 .25;
    // t7 1.0 → +1 (0, S 2); t8 −.5 → −1 (.5, S 1): 5 spikes; readout Σ n / t at t = 1, 2, 4, 8: 1, 0, 1/4, 1/8.
    const r = await run(twoLayer([0.75, -1.25], { signed: true }, 0.5), 8);
    expect(r.A).toEqual([8, 4]);
    expect(r.B).toBe(5);
    expect(r.logits).toEqual([1, 0, 0.25, 0.125]);
    // Plain IF on the same currents: spikes at t = 1 and 7 only.
    const plain = await run(twoLayer([0.75, -1.25], {}, 0.5), 8);
    expect([plain.B, plain.logits[3]]).toEqual([2, 0.25]);
  });

  it('signed: nothing is sent below zero net spikes', async () => {
    // B gets −0.5 at even steps only: v .5, 0, 0, −.5, …: never ≥ θ, and S = 0 throughout.
    expect((await run(twoLayer([0, -1], { signed: true }, 0.5), 8)).B).toBe(0);
  });

  it('bursts: 2 at every even step is one graded spike carrying 2; the tracer caps the net count at t', async () => {
    // B gets 2 at even steps, v(0) = 0, burst 3: n = 2 at t = 2, 4, 6, 8: 4 spikes, readout 8 / 8.
    const two = await run(twoLayer([0, 2], { burst: 3 }, 0), 8);
    expect([two.B, two.logits[3]]).toEqual([4, 1]);
    // 3 at even steps: t2 min(3, 3, t − S = 2) = 2 (v 1); t3 1 (v 0, S 3); then 1 per step (room 1): 7 spikes.
    const three = await run(twoLayer([0, 3], { burst: 3 }, 0), 8);
    expect([three.B, three.logits]).toEqual([7, [0, 1, 1, 1]]);
  });
});

describe('export-onnx: host nodes (matmul, softmax), by hand', () => {
  /**
   * input [2] → P (θ = 1, v(0) = 0; currents 1 and 0.5: p1 fires every step, p2 at even steps) → a = P as
   * [1, 2], b = P as [2, 1] → y = a·b = p1² + p2² → readout (w = 1).
   */
  function squares(): SnnIr {
    const b = new IrBuilder([2]);
    const p = b.if(b.dense('input', [1, 0, 0, 1], [2, 2]), 1, { id: 'P' });
    const extra = b as unknown as { push(fields: object, declared?: number[], id?: string): string };
    const mm = extra.push({ kind: 'matmul', inputs: [b.reshape(p, [1, 2], 'a'), b.reshape(p, [2, 1], 'b')] }, undefined, 'mm');
    return b.build(b.dense(b.reshape(mm, [1], 'flat'), [1], [1, 1], { id: 'out' }));
  }

  it('per-step: y(t) = p1(t)² + p2(t)² = 1, 2, 1, 2: logits 1, 3/2, 6/4 at t = 1, 2, 4', async () => {
    const ir = squares();
    const r = await runOnnxExport(exportOnnx(ir, { T: 4, attention: 'per-step' }).bytes, ir, Float32Array.from([1, 0.5]), { T: 4 });
    expect(Array.from(r.checkpointLogits)).toEqual([1, 1.5, 1.5]);
  });

  it('accumulated: Σ y up to t = S_a(t)·S_b(t)/t with S = (t, ⌊t/2⌋): logits 1, 5/4, 5/4', async () => {
    // t = 1: 1/1 → 1; t = 2: (4 + 1)/2 = 2.5 → 2.5/2; t = 4: (16 + 4)/4 = 5 → 5/4. The mean output is the
    // product of the mean inputs (1 · 1 + ½ · ½), where per-step gives the mean of the products (1 + ½).
    const ir = squares();
    const r = await runOnnxExport(exportOnnx(ir, { T: 4 }).bytes, ir, Float32Array.from([1, 0.5]), { T: 4 });
    expect(Array.from(r.checkpointLogits)).toEqual([1, 1.25, 1.25]);
    const sim = await simulate(ir, Float32Array.from([1, 0.5]), { T: 4 });
    expect(sim.logits[0]).toBeCloseTo(1.25, 6);
  });
});

describe('export-onnx: against the simulator', () => {
  it('Fashion-MNIST CNN at T = 32: predictions at every checked T, spike counts and SOPs', async () => {
    const n = 32;
    const T = 32;
    const data = fmnist(n);
    const ir = data.ir();
    const { bytes } = exportOnnx(ir, { T });
    // Batches of 20: the batch dimension is dynamic (20, 20, 8).
    const r = await runOnnxExport(bytes, ir, data.x, { T, labels: data.y, batch: 20, keepCounts: true });
    const sim = await simulate(ir, data.x, { T, labels: data.y, recordSpikes: true, workers: 1 });
    const plan = buildPlan(ir);
    const counts = simCounts(plan, sim, T);
    const { spikes, differing, sampleDiffers } = compareCounts(plan, counts, r.counts!, n);
    expect(spikes).toBeGreaterThan(1e5);
    expect(differing).toBeLessThanOrEqual(SPIKE_TOLERANCE * spikes);
    const K = r.checkpoints.length;
    expect(r.checkpoints).toEqual([1, 2, 4, 8, 16, 32]);
    for (let s = 0; s < n; s++) {
      if (sampleDiffers[s]) continue;
      expect(Array.from(r.predictions.subarray(s * K, (s + 1) * K))).toEqual(Array.from(sim.checkpoint_predictions.subarray(s * K, (s + 1) * K)));
      for (let c = 0; c < 10; c++) expect(r.logits[s * 10 + c]).toBeCloseTo(sim.logits[s * 10 + c], 4);
    }
    const equalSamples = n - sampleDiffers.reduce((a, b) => a + b, 0);
    expect(equalSamples).toBeGreaterThanOrEqual(n - 2);
    // SOPs: the recomputation is the simulator's own count on the simulator's spikes, …
    const simTotals = new Map([...counts].map(([id, c]) => [id, sumOver(c, c.length / n)]));
    expect(sopsFromSpikeCounts(plan, simTotals).total).toBe(sim.sops_per_sample * n);
    // … and on the exported spikes it differs only by what the differing spikes cost.
    const maxFanOut = Math.max(...plan.streams.map((st) => Math.max(...st.fanout.fanOut)));
    const exported = sopsFromSpikeCounts(plan, r.spikeTotals).total;
    expect(Math.abs(exported - sim.sops_per_sample * n)).toBeLessThanOrEqual(differing * maxFanOut);
    if (differing === 0) expect(exported).toBe(sim.sops_per_sample * n);
    // Accuracy at every checked T differs at most by the images whose spikes differ.
    for (const t of r.checkpoints) expect(Math.abs(r.accuracy![t] - sim.accuracy![t]) * n).toBeLessThanOrEqual(n - equalSamples);
  });

  it('Fashion-MNIST CNN with random spike masking: the keep masks reproduce the simulator’s drops', async () => {
    const n = 16;
    const T = 16;
    const seed = 3;
    const data = fmnist(n);
    const ir = data.ir({ rsm: [{ pattern: 'conv[23]', ratio: 0.5 }] });
    const r = await runOnnxExport(exportOnnx(ir, { T }).bytes, ir, data.x, { T, seed, labels: data.y, keepCounts: true });
    const sim = await simulate(ir, data.x, { T, seed, labels: data.y, recordSpikes: true, workers: 1 });
    const plan = buildPlan(ir);
    expect(plan.masks.length).toBe(2);
    const counts = simCounts(plan, sim, T);
    const { spikes, differing } = compareCounts(plan, counts, r.counts!, n);
    expect(differing).toBeLessThanOrEqual(SPIKE_TOLERANCE * spikes);
    for (const mask of sim.masks) {
      const passed = r.spikeTotals.get(mask.id)!.reduce((a, b) => a + b, 0);
      const expected = (mask.spikes_arriving - mask.spikes_dropped) * n;
      expect(Math.abs(passed - expected)).toBeLessThanOrEqual(differing);
      expect(passed).toBeLessThan(0.6 * mask.spikes_arriving * n); // half dropped, give or take
    }
    const exported = sopsFromSpikeCounts(plan, r.spikeTotals).total;
    if (differing === 0) {
      expect(exported).toBe(sim.sops_per_sample * n);
      expect(Array.from(r.predictions)).toEqual(Array.from(sim.checkpoint_predictions));
    }
    expect(Math.abs(exported / (sim.sops_per_sample * n) - 1)).toBeLessThan(1e-4);
  });

  it('Fashion-MNIST CNN with signed IF and bursts of 8 at T = 8: the spikes and predictions of the simulator', async () => {
    const n = 16;
    const T = 8;
    const data = fmnist(n);
    const ir = data.ir();
    for (const node of ir.nodes) if (node.kind === 'if') Object.assign(node, { model: 'signed-if', burst: 8 });
    const r = await runOnnxExport(exportOnnx(ir, { T }).bytes, ir, data.x, { T, labels: data.y, keepCounts: true });
    const sim = await simulate(ir, data.x, { T, labels: data.y, recordSpikes: true, workers: 1 });
    const plan = buildPlan(ir);
    const counts = simCounts(plan, sim, T);
    const { spikes, differing } = compareCounts(plan, counts, r.counts!, n);
    expect(spikes).toBeGreaterThan(1e4);
    expect(differing).toBeLessThanOrEqual(SPIKE_TOLERANCE * spikes);
    expect(Array.from(r.predictions)).toEqual(Array.from(sim.checkpoint_predictions));
    for (let e = 0; e < sim.logits.length; e++) expect(r.logits[e]).toBeCloseTo(sim.logits[e], 3);
    if (differing === 0) expect(sopsFromSpikeCounts(plan, r.spikeTotals).total).toBe(sim.sops_per_sample * n);
  });

  it('the MST-style transformer (digits_mst), both attention rules: spikes, predictions, SOPs and host inputs', async () => {
    const n = 12;
    const T = 16;
    const ir = lower(loadOnnx(`${FIX}/digits_mst.onnx`), { ...OPTIONS, divisor: 1 }).ir;
    const x = Float32Array.from(readNpy(`${FIX}/digits8x8_test_x.npy`).data.subarray(0, n * 64) as ArrayLike<number>);
    const plan = buildPlan(ir);
    expect(plan.analog.map((a) => a.kind)).toEqual(['matmul', 'softmax', 'matmul', 'matmul', 'softmax', 'matmul']);
    for (const attention of ['accumulated', 'per-step'] as const) {
      const r = await runOnnxExport(exportOnnx(ir, { T, attention }).bytes, ir, x, { T, keepCounts: true });
      const sim = await simulate(ir, x, { T, attention, recordSpikes: true, workers: 1 });
      const counts = simCounts(plan, sim, T);
      const { spikes, differing } = compareCounts(plan, counts, r.counts!, n);
      // Per-step attention multiplies this step's spikes: one flipped spike changes a whole row of scores,
      // so a flip spreads further than in a CNN (measured: 1067 of 6.1 M at T = 32 on 60 images, in 2 of them).
      expect(differing, attention).toBeLessThanOrEqual((attention === 'per-step' ? 20 : 1) * SPIKE_TOLERANCE * spikes);
      expect(Array.from(r.predictions), attention).toEqual(Array.from(sim.checkpoint_predictions));
      const sops = sopsFromSpikeCounts(plan, r.spikeTotals);
      const hostInputs = sim.layers.filter((l) => l.kind === 'if').reduce((a, l) => a + l.host_inputs_per_sample, 0) * n;
      expect(sops.hostInputs).toBeGreaterThan(0);
      if (differing === 0) {
        expect(sops.total).toBe(sim.sops_per_sample * n);
        expect(Math.abs(sops.hostInputs - hostInputs)).toBeLessThan(1e-6 * hostInputs); // simulate reports means per sample
      }
      expect(Math.abs(sops.total / (sim.sops_per_sample * n) - 1), attention).toBeLessThan(1e-3);
      expect(Math.abs(sops.hostInputs / hostInputs - 1), attention).toBeLessThan(1e-3);
    }
  });

  it('every linear kind (grouped dilated conv, padded pooling, scaled add, bias, transpose, concat, affine, dense over tokens, select, mean)', async () => {
    const b = new IrBuilder([2, 6, 6]);
    const c1 = b.conv2d('input', randomArray(1, 4 * 1 * 9, -0.5, 1), [4, 1, 3, 3], { groups: 2, pads: [1, 1, 1, 1], bias: [0.1, 0, 0.05, 0.2], id: 'c1' });
    const a1 = b.if(c1, [0.5, 0.6, 0.7, 0.8], { vInit: 0.5, id: 'a1' });
    const p1 = b.avgpool(a1, [3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], id: 'p1' });
    const c2 = b.conv2d(a1, randomArray(2, 4 * 4 * 9, -0.3, 0.5), [4, 4, 3, 3], { strides: [2, 2], pads: [2, 2, 2, 2], dilations: [2, 2], id: 'c2' });
    const s = b.add([p1, c2], [0.5, 1], 's');
    const bi = b.bias(s, [0.05, -0.05, 0.1, 0], [4, 1, 1], 'bi');
    const t = b.transpose(bi, [1, 2, 0], 't');
    const cat = b.concat([t, t], 2, 'cat');
    const af = b.affine(cat, randomArray(3, 8, 0.5, 1.5), randomArray(4, 8, 0, 0.1), [8], 'af');
    const d = b.dense(af, randomArray(5, 5 * 8, -0.5, 1), [5, 8], { bias: randomArray(6, 5, 0, 0.2), id: 'd' });
    const a2 = b.if(d, 0.8, { vInit: 0.5, id: 'a2' });
    const extra = b as unknown as { push(fields: object, declared?: number[], id?: string): string };
    const index = b.tensor('reverse', Array.from({ length: 45 }, (_, i) => 44 - i), [45]);
    const sel = extra.push({ kind: 'select', inputs: [a2], index }, [45], 'sel');
    const mean = extra.push({ kind: 'mean', inputs: [a2], axes: [0, 1], keepdims: false }, undefined, 'mean');
    const h1 = b.dense(sel, randomArray(7, 3 * 45, -1, 1), [3, 45], { id: 'h1' });
    const h2 = b.dense(mean, randomArray(8, 3 * 5, -1, 1), [3, 5], { id: 'h2' });
    b.add([h1, h2], [1, 1], 'out');
    const ir = b.build('out');
    expect(new Set(ir.nodes.map((n) => n.kind))).toEqual(new Set(['conv2d', 'if', 'avgpool2d', 'add', 'bias', 'transpose', 'concat', 'affine', 'dense', 'select', 'mean']));
    const n = 6;
    const T = 16;
    const x = randomArray(9, n * 72, 0, 1);
    const r = await runOnnxExport(exportOnnx(ir, { T }).bytes, ir, x, { T, keepCounts: true, batch: 4 });
    const sim = await simulate(ir, x, { T, recordSpikes: true, workers: 1 });
    const plan = buildPlan(ir);
    const counts = simCounts(plan, sim, T);
    let spikes = 0;
    for (const p of plan.pops) {
      const a = counts.get(p.id)!;
      spikes += a.reduce((u, v) => u + v, 0);
      expect(Array.from(r.counts!.get(p.id)!)).toEqual(Array.from(a));
    }
    expect(spikes).toBeGreaterThan(500); // both layers fire: the comparison is not of silence
    for (let e = 0; e < sim.logits.length; e++) expect(r.logits[e]).toBeCloseTo(sim.logits[e], 4);
  });
});

describe('export-onnx: files and refusals', () => {
  it('a second runtime (onnxruntime-web, WebAssembly) reads the same model and gives the same logits', async () => {
    const data = fmnist(3);
    const ir = data.ir();
    const T = 8;
    const { bytes } = exportOnnx(ir, { T });
    const session = await ortWeb.InferenceSession.create(bytes);
    const out = await session.run({ input: new ortWeb.Tensor('float32', data.x, [3, 1, 28, 28]) });
    expect(out.logits.dims).toEqual([4, 3, 10]);
    const web = out.logits.data as Float32Array;
    const node = await runOnnxExport(bytes, ir, data.x, { T });
    // node: samples × checkpoints × classes; web: checkpoints × samples × classes (the graph's own layout).
    for (let s = 0; s < 3; s++) for (let k = 0; k < 4; k++) for (let c = 0; c < 10; c++) {
      expect(web[(k * 3 + s) * 10 + c]).toBeCloseTo(node.checkpointLogits[(s * 4 + k) * 10 + c], 4);
    }
    await session.release();
  });

  it('the same IR and T give the same bytes; another T another graph', () => {
    const ir = fmnist(1).ir();
    const a = exportOnnx(ir, { T: 8 }).bytes;
    expect(Buffer.from(exportOnnx(ir, { T: 8 }).bytes).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(exportOnnx(ir, { T: 16 }).bytes).equals(Buffer.from(a))).toBe(false);
  });

  function withNode(extra: (prev: string, shape: number[]) => IrNode): SnnIr {
    const b = new IrBuilder([4]);
    const d = b.dense('input', randomArray(1, 16), [4, 4], { id: 'd' });
    const a = b.if(d, 1, { id: 'a' });
    const ir = b.build(b.dense(a, randomArray(2, 8), [2, 4], { id: 'out' }));
    const node = extra(a, [4]);
    node.shape = deriveShape(node, [[4]], ir.tensors, [4]);
    ir.nodes.splice(2, 0, node);
    (ir.nodes.find((n) => n.id === 'out') as IrNode).inputs = [node.id];
    return ir;
  }

  it('refuses kinds the compiler passes should have replaced, by name', () => {
    const relu = withNode((prev) => ({ id: 'r', kind: 'relu', inputs: [prev], value: 'v', shape: [], onnx: ['/Relu'] }));
    expect(() => exportOnnx(relu, { T: 4 })).toThrow(SnncError);
    expect(() => exportOnnx(relu, { T: 4 })).toThrow(/node r \(relu\): cannot export a relu node/);
    expect(() => exportOnnx(fmnist(1).ir(), { T: 0 })).toThrow(/T must be a positive integer/);
  });

  it('CLI: writes the model; a refused IR is one line naming the file, exit 2, nothing written', () => {
    const irFile = join(tmp, 'fm.snn.json');
    writeIr(fmnist(1).ir(), irFile);
    const out = join(tmp, 'fm.snn.onnx');
    const ok = snnc('export-onnx', irFile, '-T', '8', '-o', out, '--json');
    expect(ok.status).toBe(0);
    const summary = JSON.parse(ok.stdout);
    expect(summary.checkpoints).toEqual([1, 2, 4, 8]);
    expect(summary.bytes).toBe(readFileSync(out).length);
    const bad = join(tmp, 'relu.snn.json');
    writeIr(withNode((prev) => ({ id: 'r', kind: 'relu', inputs: [prev], value: 'v', shape: [], onnx: ['/Relu'] })), bad);
    const badOut = join(tmp, 'relu.onnx');
    expectUserError(snnc('export-onnx', bad, '-o', badOut), bad, 'node r (relu)', 'compiler passes must replace it');
    expect(() => readFileSync(badOut)).toThrow();
  });
});
