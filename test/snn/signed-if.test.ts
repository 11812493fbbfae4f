/**
 * Signed and burst spikes (issue 13): the `if` node's `model: 'signed-if'` (negative spikes while the tracer,
 * the net spikes sent, is positive) and `burst: k` (up to k spikes per step as one graded spike), in the one
 * parameterised update (kernels.wat `integrate`). Hand-computed spike trains, a plain reference loop of the
 * rule on a network whose sums are all exact (dyadic weights and inputs), the QCFS ANN reproduced exactly at
 * T = L, the IR's version 3, and the refusals (virtual chip, NIR, dense reference).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readIr, writeIr } from '../../compiler/ir/io.ts';
import type { IfNode, SnnIr } from '../../compiler/ir/types.ts';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { runBatched } from '../../runtime/ann/execute.ts';
import { simulateDense } from '../../runtime/ir/evaluate.ts';
import { readNpy } from '../../runtime/npy.ts';
import type { SpikeRecord } from '../../runtime/snn/engine.ts';
import { simulate } from '../../runtime/snn/simulate.ts';
import { configureFromMap } from '../../targets/chip/simulate.ts';
import { loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import { buildNirGraph } from '../../targets/nir/export.ts';
import { IrBuilder } from '../helpers/ir-builder.ts';
import { legacyIrDoc } from '../helpers/legacy-ir.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-signed-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function setRule(ir: SnnIr, id: string, rule: { signed?: boolean; burst?: number }): SnnIr {
  const n = ir.nodes.find((x) => x.id === id) as IfNode;
  if (rule.signed) n.model = 'signed-if';
  if (rule.burst !== undefined) n.burst = rule.burst;
  return ir;
}

/** (step, neuron, payload) of population p's spikes (p in plan order, P populations). */
function events(rec: SpikeRecord, p: number, P: number, T: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let t = 1; t <= T; t++) {
    const at = (t - 1) * P + p;
    for (let j = rec.offsets[at]; j < rec.offsets[at + 1]; j++) out.push([t, rec.indices[j], rec.payloads ? rec.payloads[j] : 1]);
  }
  return out;
}

/**
 * input [2] → A (2 IF neurons, θ = 1, v(0) = 0; A1 gets 1 per step and fires every step, A2 gets 0.5 and fires
 * at even steps) → B (1 neuron, θ = 1, v(0) = θ/2) with weights wB → readout (w = 1).
 */
function twoLayer(wB: [number, number], inputs: [number, number] = [1, 0.5]): { ir: SnnIr; input: Float32Array } {
  const b = new IrBuilder([2]);
  const a = b.if(b.dense('input', [1, 0, 0, 1], [2, 2]), 1, { id: 'A' });
  const bn = b.if(b.dense(a, wB, [1, 2]), 1, { id: 'B', vInit: 0.5 });
  return { ir: b.build(b.dense(bn, [1], [1, 1], { id: 'out' })), input: Float32Array.from(inputs) };
}

describe('signed IF: a negative spike while the tracer is positive', () => {
  it('B gets 0.75 at odd steps and −0.5 at even ones: it sends −1 where its membrane goes below 0', async () => {
    // v(0) = .5; t1 1.25 → +1 (.25, S 1); t2 −.25 → −1 (.75, S 0); t3 1.5 → +1 (.5, S 1); t4 0; t5 .75; t6 .25;
    // t7 1.0 → +1 (0, S 2); t8 −.5 → −1 (.5, S 1). Net 1 = round(X/θ) with X = 4·.75 − 4·.5 = 1.
    const { ir, input } = twoLayer([0.75, -1.25]);
    setRule(ir, 'B', { signed: true });
    const r = await simulate(ir, input, { T: 8, recordSpikes: true, workers: 1 });
    expect(events(r.spikes![0], 1, 2, 8)).toEqual([[1, 0, 1], [2, 0, -1], [3, 0, 1], [7, 0, 1], [8, 0, -1]]);
    expect(r.logits[0]).toBeCloseTo(1 / 8, 12);
    // The plain rule on the same input: spikes at 1 and 7 only, two where the ANN asks for one.
    const plain = await simulate(twoLayer([0.75, -1.25]).ir, input, { T: 8, recordSpikes: true, workers: 1 });
    expect(events(plain.spikes![0], 1, 2, 8)).toEqual([[1, 0, 1], [7, 0, 1]]);
    expect(plain.spikes![0].payloads).toBeUndefined();
    expect(plain.logits[0]).toBeCloseTo(2 / 8, 12);
  });

  it('never goes below zero net spikes: a negative current with nothing sent yet sends nothing', async () => {
    // B gets −0.5 at even steps only (A1's weight 0): v .5, 0, 0, −.5, … never ≥ θ and S = 0 throughout.
    const { ir, input } = twoLayer([0, -1]);
    setRule(ir, 'B', { signed: true });
    const r = await simulate(ir, input, { T: 8, recordSpikes: true, workers: 1 });
    expect(events(r.spikes![0], 1, 2, 8)).toEqual([]);
  });
});

describe('bursts: up to k spikes per step, one graded spike, net count within [0, t]', () => {
  it('2 at every even step: payload 2 there (plain IF lags and sends 7 spikes by T = 8)', async () => {
    const { ir, input } = twoLayer([0, 2]);
    (ir.nodes.find((n) => n.id === 'B') as IfNode).vInit = 0;
    setRule(ir, 'B', { burst: 3 });
    const r = await simulate(ir, input, { T: 8, recordSpikes: true, workers: 1 });
    expect(events(r.spikes![0], 1, 2, 8)).toEqual([[2, 0, 2], [4, 0, 2], [6, 0, 2], [8, 0, 2]]);
    expect(r.logits[0]).toBeCloseTo(1, 12);
    // One graded spike is one event: 4 spikes (and 4 SOPs into the readout), not 8.
    expect(r.layers.find((l) => l.id === 'B')?.spikes_per_sample).toBe(4);
    const plainIr = twoLayer([0, 2]).ir;
    (plainIr.nodes.find((n) => n.id === 'B') as IfNode).vInit = 0;
    const plain = await simulate(plainIr, input, { T: 8, recordSpikes: true, workers: 1 });
    expect(events(plain.spikes![0], 1, 2, 8).map((e) => e[0])).toEqual([2, 3, 4, 5, 6, 7, 8]);
  });

  it('the tracer caps the net count at t (rate ≤ 1, the clip at θ): 3 at even steps sends 2, then 1 per step', async () => {
    // t2 v 3 → min(3, k 3, t − S = 2) = 2 (v 1); t3 → 1 (v 0, S 3); t4 v 3 → 1 (room 1; v 2); t5 → 1 (v 1); …
    const { ir, input } = twoLayer([0, 3]);
    (ir.nodes.find((n) => n.id === 'B') as IfNode).vInit = 0;
    setRule(ir, 'B', { burst: 3 });
    const r = await simulate(ir, input, { T: 8, recordSpikes: true, workers: 1 });
    expect(events(r.spikes![0], 1, 2, 8)).toEqual([[2, 0, 2], [3, 0, 1], [4, 0, 1], [5, 0, 1], [6, 0, 1], [7, 0, 1], [8, 0, 1]]);
    expect(r.logits[0]).toBeCloseTo(1, 12);
  });
});

describe('the rule against a plain reference loop', () => {
  it('a 6 → 5 → 4 network of signed burst neurons (dyadic numbers, so every sum is exact in any order)', async () => {
    // Weights k/8 in [−1, 1], inputs k/16 in [0, 1], θ = 1 and 0.5, v(0) = θ/2, bursts of up to 3.
    let seed = 12345;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const dy = (n: number, den: number, lo: number, hi: number) => Array.from({ length: n }, () => Math.round((lo + (hi - lo) * next()) * den) / den);
    const w1 = dy(5 * 6, 8, -1, 1);
    const w2 = dy(4 * 5, 8, -1, 1);
    const x = dy(6, 16, 0, 1);
    const b = new IrBuilder([6]);
    const h = b.if(b.dense('input', w1, [5, 6]), 1, { id: 'h', vInit: 0.5 });
    const g = b.if(b.dense(h, w2, [4, 5]), 0.5, { id: 'g', vInit: 0.5 });
    const ir = b.build(b.dense(g, [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], [4, 4], { id: 'out' }));
    setRule(ir, 'h', { signed: true, burst: 3 });
    setRule(ir, 'g', { signed: true, burst: 3 });
    const T = 24;
    const r = await simulate(ir, Float32Array.from(x), { T, recordSpikes: true, workers: 1 });

    const layer = (theta: number, size: number) => ({ theta, v: new Array(size).fill(theta / 2), S: new Array(size).fill(0) });
    const L1 = layer(1, 5);
    const L2 = layer(0.5, 4);
    const step = (L: ReturnType<typeof layer>, I: number[], t: number) => {
      const out: number[] = [];
      I.forEach((c, i) => {
        L.v[i] += c;
        let n = 0;
        if (L.v[i] >= L.theta) n = Math.min(Math.floor(L.v[i] / L.theta), 3, t - L.S[i]);
        else if (L.v[i] < 0 && L.S[i] > 0) n = -Math.min(Math.ceil(-L.v[i] / L.theta), 3, L.S[i]);
        L.v[i] -= n * L.theta;
        L.S[i] += n;
        out.push(n);
      });
      return out;
    };
    const expected: Array<[number, number, number][]> = [[], []];
    for (let t = 1; t <= T; t++) {
      const I1 = Array.from({ length: 5 }, (_, o) => x.reduce((s, xv, k) => s + xv * w1[o * 6 + k], 0));
      const n1 = step(L1, I1, t);
      const I2 = Array.from({ length: 4 }, (_, o) => n1.reduce((s, n, k) => s + n * L1.theta * w2[o * 5 + k], 0));
      const n2 = step(L2, I2, t);
      n1.forEach((n, i) => n !== 0 && expected[0].push([t, i, n]));
      n2.forEach((n, i) => n !== 0 && expected[1].push([t, i, n]));
    }
    expect(events(r.spikes![0], 0, 2, T)).toEqual(expected[0]);
    expect(events(r.spikes![0], 1, 2, T)).toEqual(expected[1]);
    // The case is not trivial: negative spikes and bursts both happen.
    const all = [...expected[0], ...expected[1]].map((e) => e[2]);
    expect(all.some((n) => n < 0)).toBe(true);
    expect(all.some((n) => n > 1)).toBe(true);
    // Readout (float32): Σ payload·θ / T per output.
    L2.S.forEach((s, o) => expect(r.logits[o]).toBe(Math.fround((s * 0.5) / T)));
  });
});

describe('signed IF with bursts reproduces the QCFS ANN at T = L', () => {
  const OPTIONS: LowerOptions = { divisor: 255, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {} };

  it('fmnist_cnn_qcfs (L = 8) at T = 8: the logits of the ANN executor, and its every class', async () => {
    const graph = loadOnnx('test/fixtures/fmnist_cnn_qcfs.onnx');
    const { ir } = lower(graph, OPTIONS);
    for (const n of ir.nodes) if (n.kind === 'if') Object.assign(n, { model: 'signed-if', burst: 8 });
    const x = readNpy('test/fixtures/fmnist_test_x.npy');
    const count = 100;
    const per = x.data.length / x.shape[0];
    const raw = Float32Array.from(x.data.subarray(0, count * per) as ArrayLike<number>);
    const ann = runBatched(graph, { dtype: 'float32', dims: [count, ...x.shape.slice(1)], data: raw.map((v) => v / 255) }).data as Float32Array;
    const r = await simulate(ir, raw, { T: 8, workers: 1 });
    let worst = 0;
    for (let i = 0; i < ann.length; i++) worst = Math.max(worst, Math.abs(r.logits[i] - ann[i]));
    // The quantised ANN in float32 against the SNN's float64 sums of float32 weights × θ: equal to rounding.
    expect(worst).toBeLessThan(1e-3);
    const argmax = (a: ArrayLike<number>, s: number) => {
      let best = 0;
      for (let k = 1; k < 10; k++) if (a[s * 10 + k] > a[s * 10 + best]) best = k;
      return best;
    };
    for (let s = 0; s < count; s++) expect(argmax(r.logits, s), `sample ${s}`).toBe(argmax(ann, s));
    // The plain IF rule at T = 8 is far from it (the starting point).
    const plain = await simulate(lower(graph, OPTIONS).ir, raw, { T: 8, workers: 1 });
    let plainWorst = 0;
    for (let i = 0; i < ann.length; i++) plainWorst = Math.max(plainWorst, Math.abs(plain.logits[i] - ann[i]));
    expect(plainWorst).toBeGreaterThan(0.5);
  });
});

describe('SOPs up to each T of one causal run (checkpoint_sops)', () => {
  it('equal the SOPs of a run that stops there, for plain and signed neurons; the last is sops_per_sample', async () => {
    const graph = loadOnnx('test/fixtures/fmnist_cnn_qcfs.onnx');
    const x = readNpy('test/fixtures/fmnist_test_x.npy');
    const per = x.data.length / x.shape[0];
    const raw = Float32Array.from(x.data.subarray(0, 6 * per) as ArrayLike<number>);
    const options: LowerOptions = { divisor: 255, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {} };
    for (const neuron of [undefined, { model: 'signed-if' as const, reset: 'subtract' as const }]) {
      const { ir } = lower(graph, { ...options, neuron });
      const long = await simulate(ir, raw, { T: 16, workers: 2 });
      expect(long.checkpoint_sops!.length).toBe(5);
      expect(long.checkpoint_sops![4]).toBe(long.sops_per_sample);
      for (const [k, T] of [[2, 4], [3, 8]]) {
        const short = await simulate(ir, raw, { T, workers: 1 });
        expect(long.checkpoint_sops![k], `T=${T}`).toBe(short.sops_per_sample);
      }
      expect(long.checkpoint_sops![2]).toBeGreaterThan(0);
    }
  });
});

describe('the IR file and the targets', () => {
  function smallIr(rule: { signed?: boolean; burst?: number }): SnnIr {
    const { ir } = twoLayer([0.75, -1.25]);
    return setRule(ir, 'B', rule);
  }

  it('written as version 4 and read back; an older file (versions 1-3) with signed or burst spikes must say version 3', () => {
    const plainFile = join(tmp, 'plain.snn.json');
    writeIr(smallIr({}), plainFile);
    expect(JSON.parse(readFileSync(plainFile, 'utf8')).version).toBe(4);
    for (const [name, rule] of [['signed', { signed: true }], ['burst', { burst: 4 }]] as const) {
      const file = join(tmp, `${name}.snn.json`);
      writeIr(smallIr(rule), file);
      const doc = JSON.parse(readFileSync(file, 'utf8'));
      expect(doc.version).toBe(4);
      const back = readIr(file);
      expect(back.version).toBe(4);
      expect(back.nodes.find((n) => n.id === 'B')).toMatchObject(rule.signed ? { model: 'signed-if' } : { burst: 4 });
      writeFileSync(file, JSON.stringify(legacyIrDoc(doc, 3)));
      expect(readIr(file).nodes.find((n) => n.id === 'B')).toMatchObject(rule.signed ? { model: 'signed-if' } : { burst: 4 });
      writeFileSync(file, JSON.stringify(legacyIrDoc(doc, 2)));
      expect(() => readIr(file)).toThrow(/node B sends signed or burst spikes, which needs version 3, but the IR says version 2/);
    }
    const bad = smallIr({ burst: 1 });
    expect(() => writeIr(bad, join(tmp, 'bad.snn.json'))).toThrow(/burst 1 is not an integer of at least 2/);
    const zero = smallIr({ signed: true });
    (zero.nodes.find((n) => n.id === 'B') as IfNode).reset = 'zero';
    expect(() => writeIr(zero, join(tmp, 'zero.snn.json'))).toThrow(/signed and burst spikes need reset by subtraction/);
  });

  it('the virtual chip refuses them by the neuron model and the chip; NIR and the dense reference refuse them', () => {
    for (const chip of ['loihi1', 'loihi2'] as const) {
      const ir = smallIr({ signed: true, burst: 2 });
      const spec = loadChipSpec(chip);
      const mapped = buildMap(ir, 'x', '0'.repeat(64), spec);
      expect(() => configureFromMap(mapped.doc, ir)).toThrow(
        chip === 'loihi1'
          ? /population B uses the signed-if neuron model with bursts of up to 2 spikes per step: loihi1 has no graded spikes \(negative spikes would need a second axon per neuron, bursts a graded payload\)/
          : /population B uses the signed-if neuron model with bursts of up to 2 spikes per step: loihi2 has graded spikes, which the virtual chip does not model yet/,
      );
    }
    const plain = smallIr({});
    const spec = loadChipSpec('loihi1');
    expect(() => configureFromMap(buildMap(plain, 'x', '0'.repeat(64), spec).doc, plain)).not.toThrow();
    expect(() => buildNirGraph(smallIr({ signed: true }))).toThrow(/signed-if population: NIR's IF and LIF send one unsigned spike per step/);
    expect(() => simulateDense(smallIr({ burst: 2 }), [1, 0.5], 4)).toThrow(/plain IF spikes only/);
  });
});
