/** IF neuron dynamics on one neuron, against hand-computed spike trains. */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../runtime/snn/simulate.ts';
import { IrBuilder } from '../helpers/ir-builder.ts';

/** input [1] → IF(θ, vInit) → dense 1×1 (w = 1, bias) → readout. */
function oneNeuron(theta: number, vInit: number, bias = 0) {
  const b = new IrBuilder([1]);
  const s = b.if('input', theta, { vInit });
  return b.build(b.dense(s, [1], [1, 1], { bias: [bias] }));
}

/** Steps (1-based) at which the only neuron spiked. */
function spikeSteps(record: { offsets: Int32Array }, T: number): number[] {
  const steps: number[] = [];
  for (let t = 1; t <= T; t++) if (record.offsets[t] > record.offsets[t - 1]) steps.push(t);
  return steps;
}

describe('IF neuron', () => {
  it('starts at vInit·θ and resets by subtraction (I = 0.25, θ = 1, v(0) = 0.5)', async () => {
    // v: 0.75, 1.0 → spike → 0, 0.25, 0.5, 0.75, 1.0 → spike, …
    const r = await simulate(oneNeuron(1, 0.5), Float32Array.of(0.25), { T: 16, recordSpikes: true });
    expect(spikeSteps(r.spikes![0], 16)).toEqual([2, 6, 10, 14]);
    expect(r.logits[0]).toBe(4 / 16);
  });

  it('carries θ per spike and keeps the remainder (I = 0.75, θ = 2, v(0) = 0)', async () => {
    // v: .75 1.5 2.25↓.25 1 1.75 2.5↓.5 1.25 2↓0 .75 1.5 2.25↓.25 1 1.75 2.5↓.5 1.25 2↓0
    const r = await simulate(oneNeuron(2, 0, 0.5), Float32Array.of(0.75), { T: 16, recordSpikes: true, labels: Int32Array.of(0) });
    expect(spikeSteps(r.spikes![0], 16)).toEqual([3, 6, 8, 11, 14, 16]);
    // Readout: 6 spikes × θ / T, plus the bias every step.
    expect(r.logits[0]).toBe((6 * 2) / 16 + 0.5);
    expect(r.accuracy).toEqual({ '1': 1, '2': 1, '4': 1, '8': 1, '16': 1 });
    expect(r.layers[0].firing_rate).toBe(6 / 16);
  });

  it('spikes at most once per step when the current exceeds θ', async () => {
    const r = await simulate(oneNeuron(1, 0), Float32Array.of(2.5), { T: 10, recordSpikes: true });
    expect(spikeSteps(r.spikes![0], 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(r.logits[0]).toBe(1);
  });

  it('divides the raw input by the divisor and never fires on a negative current', async () => {
    const b = new IrBuilder([2], 4);
    const s = b.if('input', 1, { vInit: 0.5 });
    const ir = b.build(b.dense(s, [1, 0, 0, 1], [2, 2]));
    const r = await simulate(ir, Float32Array.of(1, -3), { T: 8, recordSpikes: true });
    // 1/4 per step from v(0) = 0.5: spikes at 2 and 6; the second neuron never.
    expect(Array.from(r.logits)).toEqual([2 / 8, 0]);
    expect(r.neuron_updates).toEqual({ active: 16, inactive: 0 });
  });

  it('reports T checkpoints 1, 2, 4, … and T', async () => {
    const r = await simulate(oneNeuron(1, 0.5), Float32Array.of(0.25, 0.5), { T: 12, labels: Int32Array.of(0, 0) });
    expect(Object.keys(r.accuracy!)).toEqual(['1', '2', '4', '8', '12']);
  });
});
