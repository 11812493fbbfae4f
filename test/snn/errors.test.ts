/** IRs the simulator cannot run are refused with a one-line SnncError naming the node. */
import { describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import type { IrNode } from '../../compiler/ir/types.ts';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { simulate } from '../../runtime/snn/simulate.ts';
import { IrBuilder } from '../helpers/ir-builder.ts';

describe('simulator errors', () => {
  it('names a node whose kind the passes should have replaced', () => {
    const b = new IrBuilder([4]);
    const d = b.dense('input', new Float32Array(16).fill(0.1), [4, 4], { id: 'fc1' });
    const ir = b.build(d);
    const relu: IrNode = { kind: 'relu', id: 'act1', inputs: ['fc1'], shape: [4], onnx: ['Relu_3'], value: 'x' };
    ir.nodes.push(relu);
    ir.output = { id: 'act1', shape: [4] };
    expect(() => buildPlan(ir)).toThrow(SnncError);
    expect(() => buildPlan(ir)).toThrow(/node act1 \(relu\): cannot simulate a relu node/);
  });

  it('refuses a spiking output, a mask that does not follow an IF node, and bad thresholds', () => {
    const spiking = new IrBuilder([4]);
    expect(() => buildPlan(spiking.build(spiking.if('input', 1, { id: 'out' })))).toThrow(/node out \(if\): the output must be a non-spiking readout/);

    const masked = new IrBuilder([4]);
    const m = masked.rsm('input', 0.5, 'm');
    expect(() => buildPlan(masked.build(masked.dense(m, new Float32Array(4), [1, 4])))).toThrow(/node m \(rsm\): a spike mask must follow an IF node/);

    const zero = new IrBuilder([4]);
    expect(() => buildPlan(zero.build(zero.dense(zero.if('input', 0, { id: 'z' }), new Float32Array(4), [1, 4])))).toThrow(/node z \(if\): threshold 0/);
  });

  it('checks the input and the options', async () => {
    const b = new IrBuilder([4]);
    const ir = b.build(b.dense(b.if('input', 1), new Float32Array(4), [1, 4]));
    await expect(simulate(ir, new Float32Array(6), { T: 4 })).rejects.toThrow(/not a whole number of samples of 4/);
    await expect(simulate(ir, new Float32Array(8), { T: 0 })).rejects.toThrow(/T must be a positive integer/);
    await expect(simulate(ir, new Float32Array(8), { T: 2, labels: new Int32Array(3) })).rejects.toThrow(/3 labels for 2 samples/);
  });
});
