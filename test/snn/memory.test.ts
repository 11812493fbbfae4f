/**
 * The simulator's WebAssembly memory (engine.ts PlanImage): the plan's weights are laid out once however many
 * threads run it (each adds only its own state block), the memory is exactly as large as the layout, and a
 * network that would need more than the 4 GiB one instance can address is refused in one line that says
 * what is too large and by how much, before anything is allocated.
 */
import { describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import { loadPlan, planImage, WASM_MEMORY_LIMIT } from '../../runtime/snn/engine.ts';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

function cnn() {
  const b = new IrBuilder([2, 12, 12]);
  const a = b.if(b.conv2d('input', randomArray(1, 8 * 2 * 9, -0.5, 1), [8, 2, 3, 3], { pads: [1, 1, 1, 1] }), 0.7);
  const c = b.if(b.conv2d(a, randomArray(2, 16 * 8 * 9, -0.5, 1), [16, 8, 3, 3], { strides: [2, 2] }), 0.9);
  return b.build(b.dense(b.reshape(c, [16 * 5 * 5]), randomArray(3, 4 * 400), [4, 400]));
}

describe('simulator memory', () => {
  it('holds the weights once: a second thread adds one state block', () => {
    const plan = buildPlan(cnn());
    const one = planImage(plan, 1);
    const two = planImage(plan, 2);
    expect(two.states).toHaveLength(2);
    expect(two.bytes - one.bytes).toBe(two.stateBytes);
    // The conv weights are counted once: the spiking conv's in f64 (16·8·9), the input conv's in f32 (8·2·9).
    const weights = Object.fromEntries(two.parts)['conv weights'];
    expect(weights).toBeGreaterThanOrEqual(8 * 16 * 8 * 9 + 4 * 8 * 2 * 9);
    expect(weights).toBeLessThan(8 * 16 * 8 * 9 + 4 * 8 * 2 * 9 + 32);
    const memory = loadPlan(plan, two);
    expect(memory.buffer.byteLength).toBe(Math.ceil(two.bytes / 65536) * 65536);
    expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('refuses a network past 4 GiB in one line, naming the largest parts and the excess', async () => {
    const real = buildPlan(cnn());
    // 2^28 neurons: thresholds and leaks 4 GiB, three state arrays 6 GiB.
    const plan = { ...real, currentSize: 2 ** 28 };
    const message = /^the network needs 10\.00 GiB of simulator memory \(neuron state 6\.00 GiB, thresholds and leaks 4\.00 GiB, conv [a-z ]+ 0\.0 MiB\), 6\.00 GiB more than the 4 GiB one WebAssembly instance can address$/;
    expect(() => planImage(plan, 1)).toThrow(SnncError);
    expect(() => planImage(plan, 1)).toThrow(message);
    await expect(simulatePlan(plan, new Float32Array(real.inputSize), { T: 2 })).rejects.toThrow(message);
    expect(planImage(real, 1).bytes).toBeLessThan(WASM_MEMORY_LIMIT);
  });
});
