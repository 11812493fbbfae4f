/** A dense-only network: the SNN readout converges to the ReLU-clipped analog network as T grows. */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../runtime/snn/simulate.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

const IN = 6;
const HID = 12;
const OUT = 4;
const SAMPLES = 5;
const w1 = randomArray(21, HID * IN);
const b1 = randomArray(22, HID, -0.2, 0.4);
const w2 = randomArray(23, OUT * HID);
const b2 = randomArray(24, OUT, -0.5, 0.5);
const theta = Array.from(randomArray(25, HID, 0.5, 1.5));
const x = randomArray(26, SAMPLES * IN, 0, 1);

function network() {
  const b = new IrBuilder([IN]);
  const h = b.if(b.dense('input', w1, [HID, IN], { bias: b1 }), theta, { vInit: 0.5, axis: 0 });
  return b.build(b.dense(h, w2, [OUT, HID], { bias: b2 }));
}

/** The analog network with each hidden unit clipped to [0, θ]: what rate × θ converges to. */
function analog(s: number): number[] {
  const h = Array.from({ length: HID }, (_, j) => {
    let a = b1[j];
    for (let k = 0; k < IN; k++) a += w1[j * IN + k] * x[s * IN + k];
    return Math.min(Math.max(a, 0), theta[j]);
  });
  return Array.from({ length: OUT }, (_, o) => h.reduce((acc, v, j) => acc + w2[o * HID + j] * v, b2[o]));
}

describe('dense network convergence', () => {
  it('stays within the one-spike bound Σ|w|·θ/T of the analog result', async () => {
    const ir = network();
    for (const T of [50, 2000]) {
      const r = await simulate(ir, x, { T });
      for (let s = 0; s < SAMPLES; s++) {
        const ref = analog(s);
        for (let o = 0; o < OUT; o++) {
          // A constant current I gives ⌊(v(0) + t·I)/θ⌋ spikes: at most one spike from I·t/θ.
          const bound = w2.slice(o * HID, (o + 1) * HID).reduce((a, w, j) => a + Math.abs(w) * theta[j], 0) / T;
          expect(Math.abs(r.logits[s * OUT + o] - ref[o])).toBeLessThanOrEqual(bound + 1e-5);
        }
      }
    }
  });

  it('reaches the analog prediction at large T', async () => {
    const r = await simulate(network(), x, { T: 2000 });
    for (let s = 0; s < SAMPLES; s++) {
      const ref = analog(s);
      expect(r.predictions[s]).toBe(ref.indexOf(Math.max(...ref)));
    }
  });
});
