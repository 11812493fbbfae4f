/** SOP and MAC counts against fan-outs counted independently (brute force over output positions). */
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { simulate } from '../../runtime/snn/simulate.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { tableOf } from '../../runtime/snn/routes.ts';

/** Targets of input (c, y, x) under a conv: every (co, oy, ox, tap) with oy·s − p + ky = y (same for x), in bounds. */
function bruteFanOut(y: number, x: number, o: { cout: number; k: number; s: number; p: number; outH: number; outW: number }): number {
  let n = 0;
  for (let oy = 0; oy < o.outH; oy++) {
    for (let ox = 0; ox < o.outW; ox++) {
      for (let ky = 0; ky < o.k; ky++) {
        for (let kx = 0; kx < o.k; kx++) if (oy * o.s - o.p + ky === y && ox * o.s - o.p + kx === x) n++;
      }
    }
  }
  return n * o.cout;
}

describe('SOP counting', () => {
  // [2,8,8] → IF (θ tiny: every neuron spikes at step 1) → conv 3×3 stride 2 pad 1 → readout.
  const C = 2;
  const H = 8;
  const cout = 3;
  const geometry = { cout, k: 3, s: 2, p: 1, outH: 4, outW: 4 };
  const b = new IrBuilder([C, H, H]);
  const spikes = b.if('input', 1e-3, { id: 'A' });
  const conv = b.conv2d(spikes, randomArray(1, cout * C * 9, 0.1, 1), [cout, C, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] });
  const ir = b.build(conv);

  it('gives each neuron its exact per-position fan-out (border and stride-2 positions differ)', () => {
    const plan = buildPlan(ir);
    const { rowPtr } = tableOf(plan.streams[0].fanout);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < H; x++) {
          const i = (c * H + y) * H + x;
          const expected = bruteFanOut(y, x, geometry);
          expect(rowPtr[i + 1] - rowPtr[i], `neuron ${c},${y},${x}`).toBe(expected);
        }
      }
    }
    // Odd rows/columns reach two output rows/columns, even ones one; the last odd one (7) loses its second to the border.
    const row = (y: number, x: number) => rowPtr[y * H + x + 1] - rowPtr[y * H + x];
    expect([row(0, 0), row(0, 1), row(1, 1), row(5, 5), row(7, 5), row(7, 7)]).toEqual([3, 6, 12, 12, 6, 3]);
  });

  it('counts one SOP per spike per synapse at step 1', async () => {
    let expected = 0;
    for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < H; x++) expected += bruteFanOut(y, x, geometry);
    const r = await simulate(ir, new Float32Array(C * H * H).fill(1), { T: 1 });
    expect(r.layers[0].spikes_per_sample).toBe(C * H * H);
    expect(r.sops_per_sample).toBe(expected);
    expect(r.layers[0].sops_per_sample).toBe(expected);
    // Fewer than the nominal 3·9/4 per neuron because of the borders.
    expect(expected).toBeLessThan((C * H * H * cout * 9) / 4);
    expect(r.macs_per_sample).toBe(0);
  });
});

describe('MAC counting', () => {
  it('counts the analog first layer once per step, in-bounds taps only', async () => {
    const b = new IrBuilder([1, 6, 6], 255);
    const conv = b.conv2d('input', randomArray(2, 4 * 9), [4, 1, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], bias: [0.1, 0.2, 0.3, 0.4] });
    const s = b.if(conv, 0.5);
    const out = b.dense(b.reshape(s, [36]), randomArray(3, 2 * 36), [2, 36]);
    const T = 5;
    const r = await simulate(b.build(out), randomArray(4, 36, 0, 255), { T });
    let perStep = 0;
    for (let oy = 0; oy < 3; oy++) {
      for (let ox = 0; ox < 3; ox++) {
        for (let ky = 0; ky < 3; ky++) {
          for (let kx = 0; kx < 3; kx++) {
            const y = oy * 2 - 1 + ky;
            const x = ox * 2 - 1 + kx;
            if (y >= 0 && y < 6 && x >= 0 && x < 6) perStep += 4;
          }
        }
      }
    }
    expect(r.macs_per_sample).toBe(perStep * T);
  });
});
