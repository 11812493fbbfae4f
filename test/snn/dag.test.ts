/** Residual add, concat and every linear kind in one DAG, against the dense step-by-step reference. */
import { describe, expect, it } from 'vitest';
import { simulateDense } from '../../runtime/ir/evaluate.ts';
import { simulate } from '../../runtime/snn/simulate.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

/**
 * input [2,6,6] → conv(+b) → IF A (θ per channel) ─┬─ conv → IF B ─┐
 *                                                   ├───────────────┴ add(1, 0.5) → avgpool 2 → reshape [36] ─┐
 *                                                   └─ transpose → reshape [144] → dense → bias [8] ──────────┴ concat → affine → IF C → dense(+b) → readout
 * A reaches C along two paths, and the readout also reads IF B through a 1×1 conv added to the logits.
 */
function dagNetwork() {
  const b = new IrBuilder([2, 6, 6], 2);
  const c1 = b.conv2d('input', randomArray(41, 4 * 2 * 9), [4, 2, 3, 3], { pads: [1, 1, 1, 1], bias: randomArray(42, 4, 0, 0.3) });
  const A = b.if(c1, [0.4, 0.5, 0.6, 0.7], { vInit: 0.5, axis: 0, id: 'A' });
  const B = b.if(b.conv2d(A, randomArray(43, 4 * 4 * 9, -0.6, 1), [4, 4, 3, 3], { pads: [1, 1, 1, 1] }), 0.6, { vInit: 0.5, id: 'B' });
  const res = b.reshape(b.avgpool(b.add([A, B], [1, 0.5]), [2, 2]), [36]);
  const side = b.bias(b.dense(b.reshape(b.transpose(A, [1, 2, 0]), [144]), randomArray(44, 8 * 144, -0.3, 0.4), [8, 144]), randomArray(45, 8, 0, 0.2), [8]);
  const cat = b.concat([res, side], 0);
  const C = b.if(b.affine(cat, randomArray(46, 44, 0.5, 1.5), randomArray(47, 44, -0.1, 0.2), [44]), 0.8, { vInit: 0.5, id: 'C' });
  const logits = b.dense(C, randomArray(48, 5 * 44), [5, 44], { bias: randomArray(49, 5) });
  const fromB = b.reshape(b.avgpool(b.conv2d(B, randomArray(50, 5 * 4), [5, 4, 1, 1]), [6, 6]), [5]);
  return b.build(b.add([logits, fromB], [1, 1]));
}

describe('DAG networks', () => {
  it('match the dense reference spike for spike', async () => {
    const ir = dagNetwork();
    const T = 24;
    const samples = 3;
    const x = randomArray(51, samples * 72, 0, 2);
    const r = await simulate(ir, x, { T, recordSpikes: true });
    const pops = r.layers.filter((l) => l.kind === 'if').map((l) => l.id);
    expect(pops).toEqual(['A', 'B', 'C']);
    let total = 0;
    for (let s = 0; s < samples; s++) {
      const ref = simulateDense(ir, x.subarray(s * 72, (s + 1) * 72), T);
      const { offsets, indices } = r.spikes![s];
      for (let t = 1; t <= T; t++) {
        pops.forEach((id, p) => {
          const k = (t - 1) * pops.length + p;
          const got = Array.from(indices.subarray(offsets[k], offsets[k + 1]));
          expect(got, `sample ${s} step ${t} ${id}`).toEqual(ref.spikes[t - 1].get(id));
          total += got.length;
        });
      }
      for (let o = 0; o < 5; o++) expect(r.logits[s * 5 + o]).toBeCloseTo(ref.logits[o], 5);
    }
    // Not a vacuous comparison: every population fires.
    expect(total).toBeGreaterThan(100);
    for (const l of r.layers.slice(0, 3)) expect(l.spikes_per_sample).toBeGreaterThan(0);
  });

  it('sums parallel paths into one table row per source neuron', async () => {
    // A → add(A, A) with scales 1 and 2 is one synapse of weight 3·θ, not two.
    const b = new IrBuilder([3]);
    const A = b.if('input', 0.5, { id: 'A' });
    const ir = b.build(b.add([A, A], [1, 2]));
    const r = await simulate(ir, Float32Array.of(1, 0, 1), { T: 4 });
    expect(r.sops_per_sample).toBe(r.layers[0].spikes_per_sample);
    expect(Array.from(r.logits)).toEqual([1.5, 0, 1.5]);
  });
});
