/**
 * The ANN executor refuses a NaN or ±Inf in any node output, naming the node that made it, even when a
 * later node turns it back into finite numbers (a ReLU maps NaN to 0, a Clip maps Inf to its maximum).
 */
import { describe, expect, it } from 'vitest';
import type { AnnGraph, Tensor } from '../../compiler/graph.ts';
import { SnncError } from '../../compiler/errors.ts';
import { loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { NonFiniteOutputError, executeGraph, runBatched } from '../../runtime/ann/execute.ts';
import { buildModel } from '../helpers/onnx-builder.ts';

/** x [N, 2] → Mul by 1e30 (overflows for |x| > 3.4e8) → Sub x → Relu → Clip → Gemm → y [N, 2]: the Relu and Clip launder NaN and Inf. */
const graph = (): AnnGraph =>
  loadOnnxBytes(
    buildModel({
      inputs: [{ name: 'x', dims: ['N', 2] }],
      outputs: [{ name: 'y', dims: ['N', 2] }],
      initializers: [
        { name: 'big', dims: [], data: [1e30] },
        { name: 'w', dims: [2, 2], data: [1, 0, 0, 1] },
        { name: 'lo', dims: [], data: [0] },
        { name: 'hi', dims: [], data: [6] },
      ],
      nodes: [
        { op: 'Mul', inputs: ['x', 'big'], outputs: ['scaled'], name: 'scale' },
        { op: 'Sub', inputs: ['scaled', 'scaled'], outputs: ['zero'], name: 'minus' },
        { op: 'Relu', inputs: ['zero'], outputs: ['r'], name: 'relu' },
        { op: 'Clip', inputs: ['r', 'lo', 'hi'], outputs: ['c'], name: 'clip' },
        { op: 'Gemm', inputs: ['c', 'w'], outputs: ['y'], name: 'fc' },
      ],
    }),
    { path: 'model.onnx' },
  );

const x = (values: number[]): Tensor => ({ dtype: 'float32', dims: [values.length / 2, 2], data: Float32Array.from(values) });

function error(fn: () => unknown): NonFiniteOutputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NonFiniteOutputError) return e;
    throw e;
  }
  throw new Error('expected a NonFiniteOutputError');
}

describe('finite node outputs', () => {
  it('finite values run as before', () => {
    expect(Array.from(executeGraph(graph(), { x: x([1, 2, 3, 4]) }).get('y')!.data)).toEqual([0, 0, 0, 0]);
  });

  it('an overflow laundered by ReLU and Clip is refused at the node that made it', () => {
    const e = error(() => executeGraph(graph(), { x: x([1, 2, 3, 1e10]) }));
    expect(e).toBeInstanceOf(SnncError);
    expect(e.message).toBe('model.onnx: node scale (Mul): output scaled holds Infinity at [1, 1]: the values overflow float32 inside the model');
    expect(e.graphOutput).toBe(false);
    // The same node when every output is checked.
    expect(error(() => executeGraph(graph(), { x: x([1, 2, 3, 1e10]) }, { checkEveryOutput: true })).message).toBe(e.message);
  });

  it('runBatched names the batch the value arose in', () => {
    const e = error(() => runBatched(graph(), x([1, 2, 3, 4, 5, 6, -1e10, 8]), { batchSize: 2 }));
    expect(e.message).toBe('model.onnx: node scale (Mul): output scaled holds -Infinity at [1, 0] in the batch of samples 2–3: the values overflow float32 inside the model');
    expect(e.context.batch).toEqual({ first: 2, count: 2 });
  });

  it('a non-finite graph output is refused too', () => {
    const model = loadOnnxBytes(
      buildModel({
        inputs: [{ name: 'x', dims: ['N', 2] }],
        outputs: [{ name: 'y', dims: ['N', 2] }],
        initializers: [{ name: 'big', dims: [], data: [1e30] }],
        nodes: [{ op: 'Mul', inputs: ['x', 'big'], outputs: ['y'], name: 'scale' }],
      }),
      { path: 'model.onnx' },
    );
    const e = error(() => executeGraph(model, { x: x([1e10, 0]) }));
    expect(e.graphOutput).toBe(true);
    expect(e.message).toMatch(/node scale \(Mul\): output y holds Infinity at \[0, 0\]/);
  });
});
