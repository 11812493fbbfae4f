/**
 * A bounded, seeded fuzz run: ONNX models mutated field by field (values, dims, attributes, opsets, node
 * wiring) and IR documents mutated field by field. Every mutant must load and lower (or read) cleanly or fail
 * with a one-line SnncError naming the file; nothing else may escape. What is accepted must be finite: a
 * mutant that breaks finiteness and still passes would be a believable wrong answer.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import { readIr, serializeIr } from '../../compiler/ir/io.ts';
import { lowerAnn } from '../../compiler/lower.ts';
import { loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { inferShapes } from '../../compiler/shapes.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { leaves, type Rng, rng } from '../helpers/fuzz.ts';

const { onnx } = onnxProto;
const MODEL = readFileSync('test/fixtures/digits_mlp.onnx');


const ODD_NUMBERS = [NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e-45, 0, -1, 2 ** 40, 1e30];
const ODD_INTS = [0, -1, 1, 2, 3, 7, 1000, 2 ** 31, -(2 ** 40)];

type Model = onnxProto.onnx.ModelProto & {
  graph: { node: onnxProto.onnx.NodeProto[]; initializer: onnxProto.onnx.TensorProto[] };
};

/** One field-level mutation of a decoded model; returns what it did. */
function mutateModel(m: Model, r: Rng): string {
  const g = m.graph;
  const init = r.pick(g.initializer);
  const node = r.pick(g.node);
  switch (r.int(8)) {
    case 0: {
      const values = init.rawData?.length ? new Float32Array(Uint8Array.from(init.rawData).buffer) : Float32Array.from(init.floatData ?? []);
      const i = r.int(values.length);
      values[i] = r.pick(ODD_NUMBERS);
      init.rawData = new Uint8Array(values.buffer);
      init.floatData = [];
      return `initializer ${init.name}[${i}] = ${values[i]}`;
    }
    case 1: {
      const dims = init.dims.map(Number);
      dims[r.int(dims.length)] = r.pick(ODD_INTS);
      if (r.next() < 0.3) dims.push(r.pick(ODD_INTS));
      init.dims = dims;
      return `initializer ${init.name} dims = [${dims}]`;
    }
    case 2: {
      const a = node.attribute.length ? r.pick(node.attribute) : undefined;
      if (!a) return 'no attribute';
      const T = onnx.AttributeProto.AttributeType;
      if (a.type === T.FLOAT) a.f = r.pick(ODD_NUMBERS);
      else if (a.type === T.INT) a.i = r.pick(ODD_INTS);
      else if (a.type === T.INTS) a.ints = (a.ints ?? []).map(() => r.pick(ODD_INTS));
      else a.type = r.pick([T.TENSOR, T.GRAPH, T.FLOATS, 0]);
      return `attribute ${a.name} of ${node.name} changed`;
    }
    case 3: {
      const version = r.pick([-1, 0, 1, 6, 11, 13, 18, 24, 25, 2 ** 40]);
      m.opsetImport[0].version = version;
      return `opset ${version}`;
    }
    case 4: {
      const values = [...g.node.flatMap((n) => (n.output ?? []).map(String)), ...g.initializer.map((t) => String(t.name)), 'input', 'nowhere', ''];
      const k = r.int(node.input.length || 1);
      node.input[k] = r.pick(values);
      return `${node.name} input ${k} = ${node.input[k]}`;
    }
    case 5: {
      const i = g.node.indexOf(node);
      g.node.splice(i, 1);
      if (r.next() < 0.5) g.node.splice(r.int(g.node.length + 1), 0, node);
      return `${node.name} removed or moved`;
    }
    case 6: {
      node.opType = r.pick(['Relu', 'Gemm', 'Conv', 'Floor', 'Transpose', 'Identity', 'Softmax', 'MaxPool', 'Frobnicate']);
      return `${node.name} op = ${node.opType}`;
    }
    default: {
      const n = init.rawData?.length ?? 0;
      init.rawData = Uint8Array.from(init.rawData ?? []).subarray(0, r.int(n + 1));
      init.floatData = [];
      return `initializer ${init.name} truncated`;
    }
  }
}

/** Loads, infers shapes and lowers: 'accepted' or 'refused'; anything but a clean SnncError fails the test. */
function runOnnx(bytes: Uint8Array, what: string): 'accepted' | 'refused' {
  try {
    const graph = loadOnnxBytes(bytes, { path: 'mutant.onnx', baseDir: 'test/fixtures' });
    for (const [name, t] of graph.initializers) {
      expect(t.data.every(Number.isFinite), `${what}: accepted non-finite ${name}`).toBe(true);
    }
    inferShapes(graph, 2);
    const ir = lowerAnn(graph, { divisor: 1, snncVersion: 'fuzz', recorded: {} });
    for (const [name, t] of ir.tensors) expect(t.data.every(Number.isFinite), `${what}: lowered into non-finite ${name}`).toBe(true);
    return 'accepted';
  } catch (e) {
    if (!(e instanceof SnncError)) throw new Error(`${what}: not a clean error: ${(e as Error).stack}`);
    expect(e.message, what).not.toContain('\n');
    return 'refused';
  }
}

describe('fuzz: ONNX mutated field by field', () => {
  it('1000 mutants of digits_mlp load and lower or fail with one clean line; accepted ones are finite', () => {
    const counts = { accepted: 0, refused: 0 };
    for (let seed = 1; seed <= 1000; seed++) {
      const r = rng(seed);
      const model = onnx.ModelProto.decode(MODEL) as Model;
      const what = `seed ${seed}: ${mutateModel(model, r)}`;
      counts[runOnnx(onnx.ModelProto.encode(model).finish(), what)]++;
    }
    expect(counts.refused).toBeGreaterThan(250);
    expect(counts.accepted + counts.refused).toBe(1000);
  });

  it('every non-finite initializer value is refused', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(1000 + seed);
      const model = onnx.ModelProto.decode(MODEL) as Model;
      const init = r.pick(model.graph.initializer.filter((t) => t.dataType === 1));
      const values = init.rawData?.length ? new Float32Array(Uint8Array.from(init.rawData).buffer) : Float32Array.from(init.floatData ?? []);
      values[r.int(values.length)] = r.pick([NaN, Infinity, -Infinity]);
      init.rawData = new Uint8Array(values.buffer);
      init.floatData = [];
      expect(runOnnx(onnx.ModelProto.encode(model).finish(), `seed ${seed}: ${init.name}`)).toBe('refused');
    }
  });
});

describe('fuzz: IR documents mutated field by field', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'snnc-fuzz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const b = new IrBuilder([2, 4, 4], 255);
  const conv = b.conv2d('input', randomArray(1, 54), [3, 2, 3, 3], { bias: randomArray(2, 3), pads: [1, 1, 1, 1], id: 'conv' });
  const act = b.if(conv, [1, 0.5, 2], { id: 'act' });
  const pool = b.avgpool(act, [4, 4], { id: 'pool' });
  const flat = b.reshape(pool, [3], 'flat');
  const { json, weights } = serializeIr(b.build(b.dense(flat, randomArray(3, 6), [2, 3], { id: 'fc' })), 'ir.snn.bin');
  writeFileSync(path.join(dir, 'ir.snn.bin'), weights);

  const ODD_VALUES = ['1e400', '-1e400', '0', '-1', '0.5', '3', '1e30', '"x"', 'null', '[]', '[0]', '[1,1]', '{}', '"act"', '"conv"'];

  it('300 mutants read cleanly or fail with one line naming the file', () => {
    const doc = JSON.parse(json);
    const paths = leaves(doc).filter((p) => p[0] !== 'provenance' && p[0] !== 'weights');
    let refused = 0;
    const original = path.join(dir, 'original.snn.json');
    writeFileSync(original, json);
    expect(readIr(original).nodes).toHaveLength(5);
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const target = r.pick(paths);
      const placeholder = '"__MUTANT__"';
      const mutant = structuredClone(doc);
      let parent = mutant;
      for (const k of target.slice(0, -1)) parent = parent[k];
      parent[target[target.length - 1]] = '__MUTANT__';
      const value = r.pick(ODD_VALUES);
      const file = path.join(dir, `m${seed}.snn.json`);
      writeFileSync(file, JSON.stringify(mutant).replace(placeholder, value));
      const what = `seed ${seed}: /${target.join('/')} = ${value}`;
      try {
        const ir = readIr(file);
        for (const [name, t] of ir.tensors) expect(t.data.every(Number.isFinite), `${what}: non-finite ${name}`).toBe(true);
        expect(Number.isFinite(ir.input.divisor) && ir.input.divisor > 0, what).toBe(true);
      } catch (e) {
        if (!(e instanceof SnncError)) throw new Error(`${what}: not a clean error: ${(e as Error).stack}`);
        expect(e.message.startsWith(`${file}: `), what).toBe(true);
        expect(e.message, what).not.toContain('\n');
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(150);
  });
});
