/** Random spike masking: drop rate, SOPs of survivors only, reproducibility from the seed. */
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { draw32, dropBelow, maskKey } from '../../runtime/snn/rng.ts';
import { simulate } from '../../runtime/snn/simulate.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { tableOf } from '../../runtime/snn/routes.ts';

const C = 2;
const H = 8;

/** [2,8,8] → IF A (fires every step) → rsm(p) → conv 3×3 s2 p1 → readout. */
function maskedConv(ratio: number) {
  const b = new IrBuilder([C, H, H]);
  const a = b.if('input', 1, { id: 'A' });
  const m = b.rsm(a, ratio, 'mask');
  return b.build(b.conv2d(m, randomArray(31, 3 * C * 9, 0.1, 1), [3, C, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], id: 'conv' }));
}

const allOnes = (samples: number) => new Float32Array(samples * C * H * H).fill(1.5);

describe('RSM', () => {
  it('drops about a fraction p of the arriving spikes', async () => {
    const T = 50;
    const samples = 8;
    const r = await simulate(maskedConv(0.5), allOnes(samples), { T, seed: 7 });
    const [mask] = r.masks;
    expect(mask).toMatchObject({ id: 'mask', from: 'A', to: 'conv', ratio: 0.5 });
    expect(mask.spikes_arriving).toBe(C * H * H * T);
    expect(mask.spikes_dropped / mask.spikes_arriving).toBeGreaterThan(0.49);
    expect(mask.spikes_dropped / mask.spikes_arriving).toBeLessThan(0.51);
    expect(r.layers[0].sops_per_sample).toBe(mask.sops_delivered);
  });

  it('delivers exactly the fan-out of the surviving spikes (masks recomputed from the documented hash)', async () => {
    const T = 6;
    const samples = 3;
    const seed = 11;
    const ir = maskedConv(0.5);
    const { rowPtr } = tableOf(buildPlan(ir).streams[0].fanout);
    const r = await simulate(ir, allOnes(samples), { T, seed });
    let survivors = 0;
    let sops = 0;
    for (let s = 0; s < samples; s++) {
      for (let t = 1; t <= T; t++) {
        const key = maskKey(seed, s, t, 0);
        for (let i = 0; i < C * H * H; i++) {
          if (draw32(key, i) >= dropBelow(0.5)) {
            survivors++;
            sops += rowPtr[i + 1] - rowPtr[i];
          }
        }
      }
    }
    expect(r.masks[0].spikes_arriving - r.masks[0].spikes_dropped).toBe(survivors / samples);
    expect(r.masks[0].sops_delivered).toBe(sops / samples);
  });

  it('masks afresh at every step and sample: a following IF shows the survivors', async () => {
    // A → rsm → IF B (θ = θ_A, v(0) = 0): B spikes exactly when A's spike survived.
    const n = 300;
    const b = new IrBuilder([n]);
    const m = b.rsm(b.if('input', 1, { id: 'A' }), 0.5, 'mask');
    const B = b.if(m, 1, { id: 'B' });
    const ir = b.build(b.dense(B, new Float32Array(n).fill(1), [1, n]));
    const T = 4;
    const r = await simulate(ir, new Float32Array(2 * n).fill(1), { T, seed: 3, recordSpikes: true });
    const survivors = (s: number, t: number) => {
      const { offsets, indices } = r.spikes![s];
      return Array.from(indices.subarray(offsets[(t - 1) * 2 + 1], offsets[(t - 1) * 2 + 2]));
    };
    const total = [0, 1].reduce((a, s) => a + [1, 2, 3, 4].reduce((b2, t) => b2 + survivors(s, t).length, 0), 0);
    expect(total / 2).toBe(r.masks[0].spikes_arriving - r.masks[0].spikes_dropped);
    expect(survivors(0, 1)).not.toEqual(survivors(0, 2));
    expect(survivors(0, 1)).not.toEqual(survivors(1, 1));
    // Survivors are delivered unscaled: the readout sums θ_A per survivor.
    expect(r.logits[0] * T).toBeCloseTo([1, 2, 3, 4].reduce((a, t) => a + survivors(0, t).length, 0), 4);
  });

  it('is reproducible from the seed, and another seed masks differently', async () => {
    const ir = maskedConv(0.5);
    const run = (seed: number) => simulate(ir, allOnes(4), { T: 10, seed });
    const [a, b, c] = await Promise.all([run(5), run(5), run(6)]);
    expect(b.logits).toEqual(a.logits);
    expect(b.masks).toEqual(a.masks);
    expect(c.masks[0].spikes_dropped).not.toBe(a.masks[0].spikes_dropped);
    expect(c.logits).not.toEqual(a.logits);
  });

  it('drops nothing at p = 0 and everything at p = 1', async () => {
    const keep = await simulate(maskedConv(0), allOnes(1), { T: 4 });
    const unmasked = C * H * H * 4;
    expect(keep.masks[0]).toMatchObject({ spikes_arriving: unmasked, spikes_dropped: 0 });
    const drop = await simulate(maskedConv(1), allOnes(1), { T: 4 });
    expect(drop.masks[0]).toMatchObject({ spikes_arriving: unmasked, spikes_dropped: unmasked, sops_delivered: 0 });
    expect(Array.from(drop.logits)).toEqual(new Array(drop.logits.length).fill(0));
  });
});
