/** Per-layer diagnostics (runtime/snn/diagnose.ts): the metrics by hand, the jump rule, and a run where the answer is known. */
import { describe, expect, it } from 'vitest';
import { evaluateIr, simulateDense } from '../../runtime/ir/evaluate.ts';
import {
  addPairs,
  checkedSteps,
  diagnose,
  emptySums,
  firstJump,
  inputScaleWarning,
  metricsOf,
  silentLayerWarnings,
  upstreamPopulations,
} from '../../runtime/snn/diagnose.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

/**
 * input [16] → dense (positive weights) → IF A (θ = 2.5, above every current: the ANN's largest is 1.5) → dense →
 * IF B (θ = `thetaB`; 1.5 is about its largest current) → dense → readout [4]. With θ_B = 1000 B can never
 * reach its threshold within 64 steps (its current is a few units per step at most), so it never fires.
 */
function twoLayerIr(thetaB: number, divisor = 1) {
  const b = new IrBuilder([16], divisor);
  const A = b.if(b.dense('input', randomArray(1, 8 * 16, 0, 0.25), [8, 16]), 2.5, { id: 'A' });
  const B = b.if(b.dense(A, randomArray(2, 6 * 8, -0.2, 0.5), [6, 8]), thetaB, { id: 'B' });
  return b.build(b.dense(B, randomArray(3, 4 * 6), [4, 6], { id: 'logits' }));
}

describe('metrics by hand', () => {
  it('correlation, relative error, silent, saturated and clipped of four neurons at t = 4', () => {
    const sums = emptySums();
    const ann = [1, 0, 2, 0.5];
    const counts = [4, 0, 2, 0];
    const theta = [1, 1, 4, 1];
    addPairs(sums, ann, counts, theta, 4);
    const m = metricsOf(sums, 4);
    const snn = [1, 0, 2, 0]; // counts / 4 × θ
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const ma = mean(ann);
    const ms = mean(snn);
    const cov = mean(ann.map((a, i) => (a - ma) * (snn[i] - ms)));
    const sa = Math.sqrt(mean(ann.map((a) => (a - ma) ** 2)));
    const ss = Math.sqrt(mean(snn.map((s) => (s - ms) ** 2)));
    expect(m.correlation).toBeCloseTo(cov / (sa * ss), 12);
    expect(m.rms_error).toBeCloseTo(Math.sqrt(0.25 / 4), 12); // only 0.5 vs 0 differs
    expect(m.ann_rms).toBeCloseTo(Math.sqrt((1 + 4 + 0.25) / 4), 12);
    expect(m.relative_error).toBeCloseTo(Math.sqrt(0.25 / 4) / Math.sqrt(5.25 / 4), 12);
    expect(m.ann_max).toBe(2);
    expect(m.silent).toBeCloseTo(1 / 3, 12); // of 1, 2, 0.5 (ANN > 0), only 0.5 sent nothing
    expect(m.saturated).toBe(1 / 4); // the first spiked at all 4 steps
    expect(m.clipped).toBe(1 / 4); // the first is at its θ
    expect(m.ann_active).toBe(3 / 4);
    expect(m.firing_rate).toBeCloseTo((1 + 0 + 0.5 + 0) / 4, 12);
  });

  it('a layer that sends nothing: correlation undefined, relative error exactly 1, every active neuron silent', () => {
    const sums = emptySums();
    addPairs(sums, [0.3, 0, 1.2], [0, 0, 0], [2, 2, 2], 8);
    addPairs(sums, [0.7, 0.1, 0], [0, 0, 0], [2, 2, 2], 8);
    const m = metricsOf(sums, 8);
    expect(m.correlation).toBeNull();
    expect(m.relative_error).toBe(1);
    expect(m.silent).toBe(1);
    expect(m.saturated).toBe(0);
  });

  it('an exact layer: correlation 1, error 0; an ANN that is 0 everywhere has no relative error', () => {
    const exact = emptySums();
    addPairs(exact, [0.25, 0.5, 1], [1, 2, 4], [1, 1, 1], 4);
    expect(metricsOf(exact, 4)).toMatchObject({ correlation: 1, rms_error: 0, relative_error: 0, silent: 0 });
    const zero = emptySums();
    addPairs(zero, [0, 0], [0, 0], [1, 1], 4);
    expect(metricsOf(zero, 4)).toMatchObject({ correlation: null, relative_error: null, silent: null });
  });

  it('checked T: 8, 16, … below T, then T', () => {
    expect(checkedSteps(32)).toEqual([8, 16, 32]);
    expect(checkedSteps(40)).toEqual([8, 16, 32, 40]);
    expect(checkedSteps(4)).toEqual([4]);
    expect(checkedSteps(8)).toEqual([8]);
  });
});

describe('the first error jump', () => {
  const chain = new Map([
    ['a', []],
    ['b', ['a']],
    ['c', ['b']],
  ]);
  const errors = (a: number | null, b: number | null, c: number | null) =>
    new Map([
      ['a', a],
      ['b', b],
      ['c', c],
    ]);

  it('is the first layer above 0.1 and more than twice the layers it reads', () => {
    expect(firstJump(['a', 'b', 'c'], errors(0.05, 0.3, 0.5), chain)).toEqual({ layer: 'b', relative_error: 0.3, upstream_error: 0.05 });
    // A growing error that never doubles is inherited, not a jump; the first layer is compared with 0.
    expect(firstJump(['a', 'b', 'c'], errors(0.08, 0.15, 0.25), chain)).toBeNull();
    expect(firstJump(['a', 'b', 'c'], errors(0.2, 0.3, 0.9), chain)?.layer).toBe('a');
    // Small errors never count, however they grow.
    expect(firstJump(['a', 'b', 'c'], errors(0.001, 0.01, 0.09), chain)).toBeNull();
    // Undefined errors are skipped and count as 0 upstream.
    expect(firstJump(['a', 'b', 'c'], errors(null, 0.05, 0.2), chain)?.layer).toBe('c');
  });

  it('compares a layer that reads several with the worst of them (a residual add)', () => {
    const dag = new Map([
      ['a', []],
      ['b', ['a']],
      ['c', ['a', 'b']],
    ]);
    expect(firstJump(['a', 'b', 'c'], errors(0.02, 0.3, 0.5), dag)?.layer).toBe('b');
    expect(firstJump(['b', 'c'], new Map([['a', 0.02], ['b', 0.05], ['c', 0.5]]), dag)?.layer).toBe('c');
  });

  it('finds the populations a population reads through linear nodes', () => {
    const b = new IrBuilder([2, 4, 4]);
    const A = b.if(b.conv2d('input', randomArray(5, 2 * 2 * 9), [2, 2, 3, 3], { pads: [1, 1, 1, 1] }), 1, { id: 'A' });
    const B = b.if(b.conv2d(A, randomArray(6, 2 * 2 * 9), [2, 2, 3, 3], { pads: [1, 1, 1, 1] }), 1, { id: 'B' });
    const C = b.if(b.add([A, B]), 1, { id: 'C' });
    const ir = b.build(b.dense(b.reshape(C, [32]), randomArray(7, 3 * 32), [3, 32]));
    expect(Object.fromEntries(upstreamPopulations(ir))).toEqual({ A: [], B: ['A'], C: ['A', 'B'] });
  });
});

describe('diagnose on a network with a known answer', () => {
  const samples = 12;
  const x = randomArray(9, samples * 16, 0, 1);

  it('a layer whose threshold is far too high never fires: silent 1, no correlation, error 1, the first jump', async () => {
    const ir = twoLayerIr(1000);
    const r = await diagnose(ir, x, { T: 64 });
    expect(r.checks).toEqual([8, 16, 32, 64]);
    expect(r.layers.map((l) => l.id)).toEqual(['A', 'B']);
    const [A, B] = r.layers;
    expect(B.inputs).toEqual(['A']);
    for (const m of B.at) {
      expect(m.silent).toBe(1);
      expect(m.correlation).toBeNull();
      expect(m.relative_error).toBe(1);
      expect(m.firing_rate).toBe(0);
    }
    const a64 = A.at[3];
    expect(a64.correlation).toBeGreaterThan(0.9);
    expect(a64.relative_error).toBeLessThan(0.2);
    expect(r.first_jump['64']).toEqual({ layer: 'B', relative_error: 1, upstream_error: a64.relative_error });
    // Without B's signal the readout (no biases) stays 0.
    expect(r.readout).toMatchObject({ correlation: null, relative_error: 1 });
  });

  it('a balanced network: correlation > 0.9 at T = 64 in every layer, the error shrinking with T, no jump at 64', async () => {
    const ir = twoLayerIr(1.5);
    const r = await diagnose(ir, x, { T: 64, labels: Int32Array.from({ length: samples }, (_, s) => s % 4) });
    for (const l of r.layers) {
      expect(l.at[3].correlation, l.id).toBeGreaterThan(0.9);
      expect(l.at[3].relative_error!, l.id).toBeLessThan(l.at[0].relative_error!);
      expect(l.at[3].silent, l.id).toBeLessThan(0.2);
    }
    expect(r.first_jump['64']).toBeNull();
    expect(r.readout.correlation).toBeGreaterThan(0.9);
    expect(Object.keys(r.accuracy!.snn)).toEqual(['8', '16', '32', '64']);
  });

  it('the numbers are those of the dense reference spikes and the IR evaluated as an ANN', async () => {
    const ir = twoLayerIr(1.5);
    const T = 16;
    const r = await diagnose(ir, x, { T, batch: 5 }); // batches that split the samples unevenly
    const theta = { A: 2.5, B: 1.5 } as Record<string, number>;
    for (const l of r.layers) {
      let dd = 0;
      let aa = 0;
      let n = 0;
      for (let s = 0; s < samples; s++) {
        const xs = x.subarray(s * 16, (s + 1) * 16);
        const ann = evaluateIr(ir, xs).get(l.id)!;
        const counts = new Float64Array(ann.length);
        for (const step of simulateDense(ir, xs, T).spikes) for (const i of step.get(l.id)!) counts[i]++;
        ann.forEach((a, i) => {
          dd += ((counts[i] / T) * theta[l.id] - a) ** 2;
          aa += a * a;
          n++;
        });
      }
      const m = l.at[l.at.length - 1];
      expect(m.T).toBe(T);
      expect(m.rms_error).toBeCloseTo(Math.sqrt(dd / n), 12);
      expect(m.relative_error).toBeCloseTo(Math.sqrt(dd / aa), 12);
    }
  });
});

describe('warnings', () => {
  it('8-bit data read with a divisor of 1, and [0, 1] data read with 255, each with the fix', () => {
    expect(inputScaleWarning(Float32Array.of(0, 17, 255, 3), 1)).toMatch(/8-bit data .*--input-divisor 255/);
    expect(inputScaleWarning(Float32Array.of(0, 0.5, 1), 255)).toMatch(/already in \[0, 1\].*divides it by 255.*--input-divisor 1/);
    // Scaled as the divisor expects: no warning.
    expect(inputScaleWarning(Float32Array.of(0, 17, 255), 255)).toBeNull();
    expect(inputScaleWarning(Float32Array.of(0, 0.5, 1), 1)).toBeNull();
    // Binary or fractional data is not 8-bit; standardised data (negative values) is neither.
    expect(inputScaleWarning(Float32Array.of(0, 1, 1), 1)).toBeNull();
    expect(inputScaleWarning(Float32Array.of(0, 2.5, 7), 1)).toBeNull();
    expect(inputScaleWarning(Float32Array.of(-1.2, 0.3, 2.1), 255)).toBeNull();
  });

  it('names a layer that never fired and says what it means for the energy figures', () => {
    const w = silentLayerWarnings(
      [
        { id: 'A', kind: 'if', spikes_per_sample: 3 },
        { id: 'B', kind: 'if', spikes_per_sample: 0 },
        { id: 'logits', kind: 'output', spikes_per_sample: 0 },
      ],
      8,
      100,
    );
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^layer B never fired in 8 steps on 100 samples: .*energy/);
  });
});
