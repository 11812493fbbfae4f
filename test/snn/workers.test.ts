/** Worker threads change nothing: byte-identical results for 1 and 2 workers. */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../runtime/snn/simulate.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

function cnnWithMask() {
  const b = new IrBuilder([1, 10, 10], 255);
  const A = b.if(b.conv2d('input', randomArray(61, 4 * 9, -0.5, 1), [4, 1, 3, 3], { pads: [1, 1, 1, 1], bias: [0.1, 0, 0.05, 0] }), 0.6, { vInit: 0.5 });
  const m = b.rsm(A, 0.3);
  const B = b.if(b.conv2d(m, randomArray(62, 8 * 4 * 9, -0.4, 1), [8, 4, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }), 0.8, { vInit: 0.5 });
  const flat = b.reshape(b.avgpool(B, [5, 5]), [8]);
  return b.build(b.dense(flat, randomArray(63, 3 * 8), [3, 8], { bias: [0, 0.1, -0.1] }));
}

describe('workers', () => {
  it('give byte-identical results for 1 and 2 workers', async () => {
    const ir = cnnWithMask();
    const samples = 41;
    const x = randomArray(64, samples * 100, 0, 255);
    const labels = Int32Array.from({ length: samples }, (_, i) => i % 3);
    const progress: number[] = [];
    const opts = { T: 16, seed: 9, labels, recordSpikes: true };
    const one = await simulate(ir, x, { ...opts, workers: 1 });
    const two = await simulate(ir, x, { ...opts, workers: 2, onProgress: (done, total) => progress.push(done / total) });
    expect(Buffer.from(two.logits.buffer).equals(Buffer.from(one.logits.buffer))).toBe(true);
    expect(two.predictions).toEqual(one.predictions);
    const { seconds: _a, ...rest1 } = one;
    const { seconds: _b, ...rest2 } = two;
    expect(rest2).toEqual(rest1);
    expect(one.masks[0].spikes_dropped).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(1);
  });
});
