/** executeGraph / runBatched behaviour, the op registry, and the errors shape rules raise. */
import { describe, expect, it } from 'vitest';
import type { AnnGraph } from '../../compiler/graph.ts';
import { SnncError } from '../../compiler/errors.ts';
import { loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { SHAPE_RULES, broadcastDims } from '../../compiler/ops/rules.ts';
import { inferShapes } from '../../compiler/shapes.ts';
import { SUPPORTED_OPS, executeGraph, runBatched } from '../../runtime/ann/execute.ts';
import { kernels } from '../../compiler/ops/kernels/index.ts';
import { erf } from '../../compiler/ops/kernels/elementwise.ts';
import type { ModelSpec } from '../helpers/onnx-builder.ts';
import { buildModel, randomTensor, randomValues } from '../helpers/onnx-builder.ts';

const load = (spec: ModelSpec): AnnGraph => loadOnnxBytes(buildModel(spec), { path: 'model.onnx' });

/** x [N, 4] → Gemm → Relu → y [N, 3] */
const mlp = (): AnnGraph =>
  load({
    inputs: [{ name: 'x', dims: ['N', 4] }],
    outputs: [{ name: 'y' }],
    initializers: [{ name: 'w', dims: [3, 4], data: randomValues(12, 7) }],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'wt'], outputs: ['h'], name: 'fc' },
      { op: 'Relu', inputs: ['h'], outputs: ['y'], name: 'act' },
      { op: 'Transpose', inputs: ['w'], outputs: ['wt'], name: 'wt' },
    ],
  });

/** Catches the SnncError `fn` throws. */
function snncError(fn: () => unknown): SnncError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SnncError) return e;
    throw e;
  }
  throw new Error('expected an SnncError');
}

describe('executeGraph', () => {
  it('returns the graph outputs, plus the values `keep` asks for', () => {
    const graph = mlp();
    const x = randomTensor([2, 4], 1);
    const plain = executeGraph(graph, { x });
    expect([...plain.keys()]).toEqual(['y']);
    const kept = executeGraph(graph, { x }, { keep: (name) => name === 'h' || name === 'x' });
    expect([...kept.keys()].sort()).toEqual(['h', 'x', 'y']);
    expect(kept.get('y')!.data).toEqual(plain.get('y')!.data);
    expect(Array.from(kept.get('y')!.data)).toEqual(Array.from(kept.get('h')!.data, (v) => Math.max(0, v)));
  });

  it('rejects missing feeds and feeds of the wrong shape', () => {
    const graph = mlp();
    expect(snncError(() => executeGraph(graph, {})).message).toMatch(/model\.onnx: no value given for graph input x/);
    expect(snncError(() => executeGraph(graph, { x: randomTensor([2, 5], 1) })).message).toMatch(/expects dims \[-1, 4\], got \[2, 5\]/);
  });

  it('names file, node and op of an unsupported op', () => {
    const graph = load({
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y' }],
      nodes: [{ op: 'LpNormalization', inputs: ['x'], outputs: ['y'], name: 'norm' }],
    });
    const e = snncError(() => executeGraph(graph, { x: randomTensor([1, 4], 1) }));
    expect(e.message).toBe('model.onnx: node norm (LpNormalization): unsupported op LpNormalization');
    expect(e.where).toEqual({ file: 'model.onnx', node: 'norm', op: 'LpNormalization' });
    expect(snncError(() => inferShapes(graph, 1)).message).toBe(e.message);
  });

  it('recycles buffers without clobbering values that are still live or returned', () => {
    // h is read through a view (Reshape), an unused Identity and a kept name while a chain of
    // same-sized element-wise ops recycles buffers around it.
    const graph = load({
      inputs: [{ name: 'x', dims: [4, 1024] }],
      outputs: [{ name: 'y' }, { name: 'z' }],
      initializers: [{ name: 'flat', dims: [1], data: [-1], dtype: 'int64' }],
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['h'] },
        { op: 'Identity', inputs: ['h'], outputs: ['unused'] },
        { op: 'Reshape', inputs: ['h', 'flat'], outputs: ['hv'] },
        { op: 'Floor', inputs: ['x'], outputs: ['a'] },
        { op: 'Sqrt', inputs: ['h'], outputs: ['b'] },
        { op: 'Floor', inputs: ['b'], outputs: ['c'] },
        { op: 'Add', inputs: ['a', 'c'], outputs: ['d'] },
        { op: 'Mul', inputs: ['d', 'x'], outputs: ['y'] },
        { op: 'Reshape', inputs: ['hv', 'flat'], outputs: ['z'] },
      ],
    });
    const x = randomTensor([4, 1024], 5, -4, 4);
    const out = executeGraph(graph, { x }, { keep: (name) => name === 'b' });
    const h = Array.from(x.data, (v) => Math.max(0, v));
    expect(Array.from(out.get('z')!.data)).toEqual(Array.from(Float32Array.from(h)));
    expect(Array.from(out.get('b')!.data)).toEqual(Array.from(Float32Array.from(h, Math.sqrt)));
    const y = Float32Array.from(x.data, (v, i) => Math.fround(Math.floor(v) + Math.floor(Math.fround(Math.sqrt(h[i])))) * v);
    expect(Array.from(out.get('y')!.data)).toEqual(Array.from(y));
    expect(Array.from(x.data)).toEqual(Array.from(randomTensor([4, 1024], 5, -4, 4).data)); // feeds untouched
  });
});

describe('runBatched', () => {
  it('matches one unbatched run, in uneven batches, reporting progress', () => {
    const graph = mlp();
    const input = randomTensor([20, 4], 3);
    const progress: number[] = [];
    const out = runBatched(graph, input, { batchSize: 7, onProgress: (done, total) => progress.push(done, total) });
    expect(out.dims).toEqual([20, 3]);
    expect(out.data).toEqual(executeGraph(graph, { x: input }).get('y')!.data);
    expect(progress).toEqual([7, 20, 14, 20, 20, 20]);
  });

  it('handles an empty input and rejects bad batch sizes', () => {
    const graph = mlp();
    expect(runBatched(graph, randomTensor([0, 4], 1)).dims).toEqual([0, 3]);
    expect(() => runBatched(graph, randomTensor([2, 4], 1), { batchSize: 0 })).toThrow(SnncError);
  });
});

describe('op registry', () => {
  it('has a shape rule for every kernel and a kernel for every shape rule', () => {
    expect([...kernels().keys()].sort()).toEqual([...SHAPE_RULES.keys()].sort());
    expect([...SUPPORTED_OPS].sort()).toEqual([...kernels().keys()].sort());
  });
});

describe('shape rules', () => {
  it('broadcast like NumPy', () => {
    expect(broadcastDims([2, 1, 4], [3, 1])).toEqual([2, 3, 4]);
    expect(broadcastDims([], [5])).toEqual([5]);
    expect(() => broadcastDims([2, 3], [4])).toThrow(/shape mismatch: cannot broadcast \[2, 3\] with \[4\]/);
  });

  const mismatch = (name: string, spec: ModelSpec, batch: number, message: RegExp) =>
    it(`report a shape mismatch: ${name}`, () => {
      const graph = load(spec);
      const e = snncError(() => inferShapes(graph, batch));
      expect(e.message).toMatch(message);
      expect(e.where.node).toBe('bad');
      // The executor reaches the same rule.
      const feeds = Object.fromEntries(graph.inputs.map((v) => [v.name, randomTensor(v.dims.map((d) => (d < 0 ? batch : d)), 1)]));
      expect(snncError(() => executeGraph(graph, feeds)).message).toBe(e.message);
    });

  mismatch('Gemm inner dims', {
    inputs: [{ name: 'x', dims: ['N', 4] }],
    outputs: [{ name: 'y' }],
    initializers: [{ name: 'w', dims: [3, 5], data: randomValues(15, 1) }],
    nodes: [{ op: 'Gemm', inputs: ['x', 'w'], outputs: ['y'], attrs: { transB: 1 }, name: 'bad' }],
  }, 2, /node bad \(Gemm\): shape mismatch: A \[2, 4\] × B \[3, 5\]ᵀ: inner dims 4 ≠ 5/);

  mismatch('impossible broadcast', {
    inputs: [{ name: 'x', dims: ['N', 3] }],
    outputs: [{ name: 'y' }],
    initializers: [{ name: 'b', dims: [4], data: randomValues(4, 1) }],
    nodes: [{ op: 'Add', inputs: ['x', 'b'], outputs: ['y'], name: 'bad' }],
  }, 2, /node bad \(Add\): shape mismatch: cannot broadcast \[2, 3\] with \[4\]/);

  mismatch('Reshape size', {
    inputs: [{ name: 'x', dims: ['N', 6] }],
    outputs: [{ name: 'y' }],
    initializers: [{ name: 's', dims: [2], data: [0, 4], dtype: 'int64' }],
    nodes: [{ op: 'Reshape', inputs: ['x', 's'], outputs: ['y'], name: 'bad' }],
  }, 2, /shape mismatch: cannot reshape \[2, 6\] \(12 elements\) to \[0, 4\]/);

  mismatch('Conv channels', {
    inputs: [{ name: 'x', dims: ['N', 3, 5, 5] }],
    outputs: [{ name: 'y' }],
    initializers: [{ name: 'w', dims: [2, 2, 3, 3], data: randomValues(36, 1) }],
    nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], name: 'bad' }],
  }, 1, /shape mismatch: input \[1, 3, 5, 5\] and weight \[2, 2, 3, 3\] with group 1/);

  it('say when a Reshape target depends on data', () => {
    const graph = load({
      inputs: [{ name: 'x', dims: [2, 3] }, { name: 's', dims: [2] }],
      outputs: [{ name: 'y' }],
      nodes: [
        { op: 'Cast', inputs: ['s'], outputs: ['si'], attrs: { to: 7 } },
        { op: 'Reshape', inputs: ['x', 'si'], outputs: ['y'], name: 'bad' },
      ],
    });
    expect(snncError(() => inferShapes(graph, 1)).message).toMatch(/node bad \(Reshape\): the target shape must be a constant/);
  });

  it('propagate small integer values computed from shapes, so Reshape targets resolve', () => {
    const graph = load({
      inputs: [{ name: 'x', dims: ['N', 3, 4] }],
      outputs: [{ name: 'y' }],
      initializers: [
        { name: 'i', dims: [2], data: [1, 2], dtype: 'int64' },
        { name: 'one', dims: [1], data: [-1], dtype: 'int64' },
      ],
      nodes: [
        { op: 'Shape', inputs: ['x'], outputs: ['s'] },
        { op: 'Gather', inputs: ['s', 'i'], outputs: ['hw'] },
        { op: 'Concat', inputs: ['one', 'hw'], outputs: ['target'], attrs: { axis: 0 } },
        { op: 'Reshape', inputs: ['x', 'target'], outputs: ['y'] },
      ],
    });
    const shapes = inferShapes(graph, 5);
    expect(shapes.get('y')).toEqual({ dtype: 'float32', dims: [5, 3, 4] });
    expect(shapes.get('target')).toEqual({ dtype: 'int64', dims: [3] });
  });
});

describe('erf', () => {
  it('is accurate to double precision at known points', () => {
    const known: [number, number][] = [
      [0, 0], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527],
      [2.5, 0.9995930479825550], [3, 0.9999779095030014], [-1.5, -0.9661051464753108], [4, 0.9999999845827421],
    ];
    for (const [x, y] of known) expect(Math.abs(erf(x) - y), `erf(${x})`).toBeLessThan(1e-14);
  });
});
