/**
 * Bad input never yields a believable wrong answer: through the CLI, each of these is exit 2 with one
 * `snnc: <file>: …` line (never exit 70, never a result).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../../runtime/npy.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';
import { buildModel } from '../helpers/onnx-builder.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-bad-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const MLP = join('test', 'fixtures', 'digits_mlp.onnx');

describe('snnc ann', () => {
  it('inputs that overflow float32 inside the model: an error, not Inf/NaN logits', () => {
    const model = join(tmp, 'gemm.onnx');
    writeFileSync(model, buildModel({
      nodes: [{ op: 'Gemm', inputs: ['x', 'w'], outputs: ['y'], attrs: { transB: 1 } }],
      initializers: [{ name: 'w', dims: [2, 4], data: [1, 1, 1, 1, 1, -1, 1, -1] }],
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y', dims: ['N', 2] }],
    }));
    const x = join(tmp, 'huge.npy');
    writeNpy(x, { dtype: 'float32', shape: [2, 4], data: new Float32Array(8).fill(3.4e38) });
    const logits = join(tmp, 'huge-logits.npy');
    const result = snnc('ann', model, '--input', x, '--logits', logits);
    // Progress lines come first on stderr; the error is the last line.
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    const last = result.stderr.trimEnd().split('\n').pop()!;
    expect(last).toMatch(/^snnc: .*gemm\.onnx: output Infinity at \[0, 0\] on the samples of .*huge\.npy: the values overflow float32 inside the model$/);
    expect(readdirSync(tmp)).not.toContain('huge-logits.npy');
  });

  it('a float64 input beyond the float32 range is refused with its index', () => {
    const x = join(tmp, 'f64.npy');
    const data = new Float64Array(64);
    data[5] = 1e39;
    writeNpy(x, { dtype: 'float64', shape: [1, 64], data });
    expectUserError(snnc('ann', MLP, '--input', x), 'f64.npy', 'value 1e+39 (beyond the float32 range) at index [0, 5]');
  });

  it('a label equal to the class count is refused', () => {
    const y = join(tmp, 'labels.npy');
    writeNpy(y, { dtype: 'int64', shape: [3], data: new BigInt64Array([1n, 10n, 2n]) });
    const x = join(tmp, 'x3.npy');
    writeNpy(x, { dtype: 'float32', shape: [3, 64], data: new Float32Array(192) });
    expectUserError(snnc('ann', MLP, '--input', x, '--labels', y), 'labels.npy', 'label 10 at index 1 is not a class of a model with 10 outputs');
  });
});

describe('commands that read an IR', () => {
  let ir: string;
  beforeAll(() => {
    ir = join(tmp, 'mlp.snn.json');
    const result = snnc('compile', MLP, '-o', ir, '--calib', join('test', 'fixtures', 'digits_calib_x.npy'), '--calib-limit', '64');
    expect(result.status).toBe(0);
  });

  it('an ONNX model where an IR is expected', () => {
    const onnxAsIr = join(tmp, 'model.snn.json');
    copyFileSync(MLP, onnxAsIr);
    expectUserError(snnc('inspect', onnxAsIr), 'model.snn.json: is an ONNX model, not an snnc IR: run `snnc compile` first');
    const x = join(tmp, 'x1.npy');
    writeNpy(x, { dtype: 'float32', shape: [1, 64], data: new Float32Array(64) });
    expectUserError(snnc('simulate', MLP, '--input', x, '-T', '4'), 'is an ONNX model, not an snnc IR');
  });

  it('a negative threshold names its cause and the file', () => {
    const doc = JSON.parse(readFileSync(ir, 'utf8'));
    doc.nodes.find((n: { kind: string }) => n.kind === 'if').threshold = -1;
    const bad = join(tmp, 'neg.snn.json');
    writeFileSync(bad, JSON.stringify(doc));
    copyFileSync(ir.replace(/json$/, 'bin'), join(tmp, doc.weights.file));
    expectUserError(snnc('inspect', bad), 'neg.snn.json: does not match the ir schema at /nodes/', '/threshold: must be > 0');
  });

  it('a weights file that is a folder: exit 2, not an internal error', () => {
    const doc = JSON.parse(readFileSync(ir, 'utf8'));
    doc.weights.file = 'weights-folder';
    mkdirSync(join(tmp, 'weights-folder'));
    const bad = join(tmp, 'folder.snn.json');
    writeFileSync(bad, JSON.stringify(doc));
    expectUserError(snnc('inspect', bad), 'folder.snn.json: weights file weights-folder is not a regular file');
  });
});

describe('map and chip spec files', () => {
  let ir: string;
  let map: string;
  beforeAll(() => {
    ir = join(tmp, 'for-map.snn.json');
    expect(snnc('compile', MLP, '-o', ir, '--calib', join('test', 'fixtures', 'digits_calib_x.npy'), '--calib-limit', '64').status).toBe(0);
    map = join(tmp, 'for-map.map.json');
    expect(snnc('map', ir, '-o', map).status).toBe(0);
  });

  it('a map whose IR path is a folder: exit 2, not an internal error', () => {
    const doc = JSON.parse(readFileSync(map, 'utf8'));
    doc.ir.file = 'ir-folder';
    mkdirSync(join(tmp, 'ir-folder'));
    const bad = join(tmp, 'folder.map.json');
    writeFileSync(bad, JSON.stringify(doc));
    const x = join(tmp, 'x-chip.npy');
    writeNpy(x, { dtype: 'float32', shape: [1, 64], data: new Float32Array(64) });
    expectUserError(snnc('chip', bad, '--input', x), 'folder.map.json: the IR it maps, ir-folder, is not a regular file');
  });

  it('a chip spec number that overflows to Infinity is refused', () => {
    const spec = readFileSync(join('targets', 'chips', 'loihi1.json'), 'utf8');
    const bad = join(tmp, 'inf-chip.json');
    const edited = spec.replace(/("tiles_x":\s*)\d+/, '$11e400');
    expect(edited).not.toBe(spec);
    writeFileSync(bad, edited);
    expectUserError(snnc('map', ir, '-o', join(tmp, 'x.map.json'), '--chip', bad), 'inf-chip.json: /mesh/tiles_x is a number beyond the range of a double');
  });
});

describe('snnc compile', () => {
  it('a NaN initializer is refused with the tensor and index, and nothing is written', () => {
    const model = join(tmp, 'nan.onnx');
    writeFileSync(model, buildModel({
      nodes: [{ op: 'Gemm', inputs: ['x', 'w'], outputs: ['y'], attrs: { transB: 1 } }],
      initializers: [{ name: 'w', dims: [2, 4], data: [1, 2, 3, NaN, 5, 6, 7, 8] }],
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y', dims: ['N', 2] }],
    }));
    const out = join(tmp, 'nan.snn.json');
    expectUserError(snnc('compile', model, '-o', out), 'nan.onnx: tensor w: NaN at index [0, 3]');
    expect(readdirSync(tmp).filter((f) => f.startsWith('nan.snn'))).toEqual([]);
  });

  it('opset 2^40 is refused by name', () => {
    const model = join(tmp, 'opset.onnx');
    writeFileSync(model, buildModel({
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y', dims: ['N', 4] }],
      opset: 2 ** 40,
    }));
    expectUserError(snnc('inspect', model), `opset.onnx: ai.onnx opset ${2 ** 40} is outside the opsets snnc supports`);
  });
});
