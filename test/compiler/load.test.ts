/**
 * The loader's ways of storing a tensor (raw_data, float_data, int64_data, external data) give the same
 * graph, and that graph runs like onnxruntime runs the embedded model. External paths stay inside the
 * model's folder.
 */
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { loadOnnx, loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { executeGraph } from '../../runtime/ann/execute.ts';
import { randomValues } from '../helpers/onnx-builder.ts';

const { onnx } = onnxProto;
ort.env.logLevel = 'error';

const IN = 6;
const OUT = 4;
const weight = randomValues(IN * OUT, 7);
const bias = randomValues(OUT, 8);

function floatBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

type Storage = 'raw' | 'typed' | { location: string; offset?: number };

/** Gemm(x, W, b) with transB = 1, then Reshape(·, shape) where shape is an int64 initializer. */
function model(storage: Storage): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const tensor = (name: string, dims: number[], values: Float32Array, offset = 0): onnxProto.onnx.ITensorProto => {
    if (storage === 'raw') return { name, dims, dataType: F, rawData: floatBytes(values) };
    if (storage === 'typed') return { name, dims, dataType: F, floatData: Array.from(values) };
    return {
      name, dims, dataType: F, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: storage.location },
        { key: 'offset', value: String((storage.offset ?? 0) + offset) },
        { key: 'length', value: String(values.length * 4) },
      ],
    };
  };
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [
        { name: 'gemm', opType: 'Gemm', input: ['x', 'W', 'b'], output: ['h'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
        { name: 'reshape', opType: 'Reshape', input: ['h', 'shape'], output: ['y'] },
      ],
      input: [{ name: 'x', type: { tensorType: { elemType: F, shape: { dim: [{ dimParam: 'N' }, { dimValue: IN }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: F } } }],
      initializer: [
        tensor('W', [OUT, IN], weight),
        tensor('b', [OUT], bias, weight.length * 4),
        { name: 'shape', dims: [3], dataType: onnx.TensorProto.DataType.INT64, int64Data: [-1, 2, 2] },
      ],
    },
  });
  return onnx.ModelProto.encode(m).finish();
}

function externalDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'snnc-ext-'));
  mkdirSync(path.join(dir, 'data'));
  // 16 bytes of padding first: offsets must be honoured.
  writeFileSync(path.join(dir, 'data', 'weights.bin'), Buffer.concat([Buffer.alloc(16, 0xab), floatBytes(weight), floatBytes(bias)]));
  return dir;
}

describe('tensor storage', () => {
  it('raw_data, float_data and external data load to the same tensors', () => {
    const dir = externalDir();
    const file = path.join(dir, 'model.onnx');
    writeFileSync(file, model({ location: 'data/weights.bin', offset: 16 }));
    const graphs = [
      loadOnnxBytes(model('raw'), { path: 'raw.onnx' }),
      loadOnnxBytes(model('typed'), { path: 'typed.onnx' }),
      loadOnnx(file),
    ];
    for (const g of graphs) {
      expect(Array.from(g.initializers.get('W')!.data)).toEqual(Array.from(weight));
      expect(Array.from(g.initializers.get('b')!.data)).toEqual(Array.from(bias));
      expect(Array.from(g.initializers.get('shape')!.data)).toEqual([-1, 2, 2]);
    }
  });

  it('the external-data model computes what onnxruntime computes on the embedded one', async () => {
    const dir = externalDir();
    const file = path.join(dir, 'model.onnx');
    writeFileSync(file, model({ location: 'data/weights.bin', offset: 16 }));
    const x = randomValues(3 * IN, 9);
    const session = await ort.InferenceSession.create(model('raw'));
    const expected = (await session.run({ x: new ort.Tensor('float32', x, [3, IN]) })).y;
    const ours = executeGraph(loadOnnx(file), { x: { dtype: 'float32', dims: [3, IN], data: x } }).get('y')!;
    expect(ours.dims).toEqual([...expected.dims]);
    const want = expected.data as Float32Array;
    ours.data.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
  });

  it('external paths may not leave the model folder', () => {
    const dir = externalDir();
    const inner = path.join(dir, 'inner');
    mkdirSync(inner);
    const escape = path.join(inner, 'escape.onnx');
    writeFileSync(escape, model({ location: '../data/weights.bin', offset: 16 }));
    expect(() => loadOnnx(escape)).toThrow(/escape\.onnx: initializer W: external data path \.\.\/data\/weights\.bin leaves the model's folder/);
    const absolute = path.join(inner, 'absolute.onnx');
    writeFileSync(absolute, model({ location: path.join(dir, 'data/weights.bin'), offset: 16 }));
    expect(() => loadOnnx(absolute)).toThrow(/leaves the model's folder/);
    symlinkSync(path.join(dir, 'data'), path.join(inner, 'link'));
    const linked = path.join(inner, 'linked.onnx');
    writeFileSync(linked, model({ location: 'link/weights.bin', offset: 16 }));
    expect(() => loadOnnx(linked)).toThrow(/links outside the model's folder/);
  });

  it('a missing or short external file is a clean error', () => {
    const dir = externalDir();
    const file = path.join(dir, 'missing.onnx');
    writeFileSync(file, model({ location: 'data/nothing.bin' }));
    expect(() => loadOnnx(file)).toThrow(/external data file data\/nothing\.bin not found/);
    const short = path.join(dir, 'short.onnx');
    writeFileSync(short, model({ location: 'data/weights.bin', offset: 40 }));
    expect(() => loadOnnx(short)).toThrow(/external data data\/weights\.bin is \d+ bytes, needs \d+/);
  });
});
