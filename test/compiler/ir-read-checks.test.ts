/**
 * Reading an IR checks more than its schema: numbers that overflowed to Infinity, non-finite weights,
 * tensor dims against each node, thresholds, duplicate inputs, a weights "file" that is a folder, an ONNX
 * model passed by mistake. Every error is one line naming the IR file; schema errors name the real cause.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import { readIr, serializeIr, writeIr } from '../../compiler/ir/io.ts';
import type { IrDocument } from '../../compiler/ir/io.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { legacyIrDoc } from '../helpers/legacy-ir.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'snnc-ir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** input [2,4,4] → conv (3 channels, bias; tensors w0, b0) → if (per-channel θ) → avgpool → reshape → dense (w4). */
function network(): SnnIr {
  const b = new IrBuilder([2, 4, 4], 255);
  const conv = b.conv2d('input', randomArray(1, 3 * 2 * 3 * 3), [3, 2, 3, 3], { bias: randomArray(2, 3), pads: [1, 1, 1, 1], id: 'conv' });
  const act = b.if(conv, [1, 0.5, 2], { id: 'act' });
  const pool = b.avgpool(act, [4, 4], { id: 'pool' });
  const flat = b.reshape(pool, [3], 'flat');
  const fc = b.dense(flat, randomArray(3, 2 * 3), [2, 3], { id: 'fc' });
  return b.build(fc);
}

let base: IrDocument;
let weights: Buffer;
beforeAll(() => {
  const ir = network();
  const out = serializeIr(ir, 'net.snn.bin');
  base = JSON.parse(out.json);
  weights = out.weights;
});

/** Writes the IR document after `edit`, with matching weights, and returns readIr's error message. */
function readError(name: string, edit: (doc: IrDocument) => void, text?: (json: string) => string): string {
  const doc: IrDocument = structuredClone(base);
  edit(doc);
  const file = path.join(dir, `${name}.snn.json`);
  const json = JSON.stringify(doc, null, 1);
  writeFileSync(file, text ? text(json) : json);
  if (!doc.weights.file.includes('folder')) writeFileSync(path.join(dir, doc.weights.file), weights);
  try {
    readIr(file);
  } catch (e) {
    expect(e).toBeInstanceOf(SnncError);
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    expect(message.startsWith(`${file}: `)).toBe(true);
    return message.slice(file.length + 2);
  }
  throw new Error('the IR was accepted');
}

const nodeOf = (doc: IrDocument, kind: string) => doc.nodes.find((n) => n.kind === kind)! as unknown as Record<string, unknown>;

describe('reading an IR', () => {
  it('the unedited document reads back', () => {
    const file = path.join(dir, 'ok.snn.json');
    writeFileSync(file, JSON.stringify(base));
    writeFileSync(path.join(dir, base.weights.file), weights);
    expect(readIr(file).nodes).toHaveLength(5);
  });

  it('an input divisor of 1e400 (parsed as Infinity) is refused', () => {
    expect(readError('divisor', () => {}, (json) => json.replace('"divisor": 255', '"divisor": 1e400'))).toBe(
      '/input/divisor is a number beyond the range of a double (parsed as ±Infinity)',
    );
  });

  it('a NaN weight is refused with the tensor and its first bad index', () => {
    const nan = Buffer.from(weights);
    const at = base.tensors['w0'].offset + 4 * 20;
    nan.writeFloatLE(NaN, at);
    const file = path.join(dir, 'nan.snn.json');
    const doc = structuredClone(base);
    doc.weights.sha256 = createHash('sha256').update(nan).digest('hex');
    doc.weights.file = 'nan.snn.bin';
    writeFileSync(file, JSON.stringify(doc));
    writeFileSync(path.join(dir, 'nan.snn.bin'), nan);
    expect(() => readIr(file)).toThrow(`${file}: tensor w0: NaN at index [1, 0, 0, 2]: every value must be finite`);
  });

  it('a bias with dims [0] or [] is refused', () => {
    for (const dims of [[0], []]) {
      expect(readError('bias', (doc) => (doc.tensors['b0'].dims = dims))).toBe(
        `node conv (conv2d): bias b0 has dims [${dims}], the weight has 3 output channels`,
      );
    }
  });

  it('duplicate node inputs are refused', () => {
    expect(readError('dup', (doc) => (nodeOf(doc, 'dense').inputs = ['flat', 'flat']))).toBe(
      'node fc (dense): inputs [flat, flat] list the same value twice',
    );
  });

  it('an unknown input name is refused', () => {
    expect(readError('unknown', (doc) => (nodeOf(doc, 'dense').inputs = ['nowhere']))).toBe(
      'node fc (dense): input nowhere is not defined before use',
    );
  });

  it('thresholds that do not fit their axis are refused with the file named', () => {
    expect(readError('theta', (doc) => (nodeOf(doc, 'if').threshold = [1, 2]))).toBe('node act (if): 2 thresholds do not fit axis 0 of [3,4,4]');
  });

  it('a negative threshold is reported by its own branch of the schema, not as a missing weight', () => {
    expect(readError('negative', (doc) => (nodeOf(doc, 'if').threshold = -1))).toBe(
      'does not match the ir schema at /nodes/1/threshold: must be > 0',
    );
  });

  it('an unknown node kind lists the kinds', () => {
    expect(readError('kind', (doc) => (nodeOf(doc, 'if').kind = 'lif'))).toMatch(/^does not match the ir schema at \/nodes\/1\/kind: must be one of conv2d, dense, /);
  });

  it('a conv weight of the wrong rank is refused', () => {
    expect(readError('rank', (doc) => (doc.tensors['w0'].dims = [3, 18]))).toBe(
      'node conv (conv2d): tensor w0 has dims [3,18], a conv2d weight needs 4 non-empty axes',
    );
  });

  it('a weights file that is a folder is refused', () => {
    mkdirSync(path.join(dir, 'folder.snn.bin'));
    expect(readError('folder', (doc) => (doc.weights.file = 'folder.snn.bin'))).toBe('weights file folder.snn.bin is not a regular file');
  });

  it('an IR path that is a folder is refused', () => {
    const folder = path.join(dir, 'a-folder.snn.json');
    mkdirSync(folder);
    expect(() => readIr(folder)).toThrow(`${folder}: not a regular file`);
  });

  it('an ONNX model where an IR is expected says to compile it first', () => {
    const file = path.join(dir, 'model.snn.json');
    copyFileSync('test/fixtures/digits_mlp.onnx', file);
    expect(() => readIr(file)).toThrow(`${file}: is an ONNX model, not an snnc IR: run \`snnc compile\` first`);
    expect(() => readIr('test/fixtures/digits_mlp.onnx')).toThrow('is an ONNX model, not an snnc IR');
  });
});

describe('the key style and the previous versions', () => {
  it('writes version 4 with every key in snake_case (nodes and recorded options)', () => {
    const keys: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') for (const [k, child] of Object.entries(v)) keys.push(k), k === 'tensors' || walk(child);
    };
    const ir = network();
    ir.provenance.options = { calibrationEngine: 'js', maxpool: 'avg' };
    const doc = JSON.parse(serializeIr(ir, 'net.snn.bin').json);
    walk(doc);
    expect(doc.version).toBe(4);
    expect(keys).toContain('count_include_pad');
    expect(keys).toContain('v_init');
    expect(keys).toContain('calibration_engine');
    expect(keys.filter((k) => /[a-z][A-Z]/.test(k))).toEqual([]);
  });

  it('reads a version 1-3 file (camelCase keys) into the same IR, and writing it again gives the version-4 bytes', () => {
    const file = path.join(dir, 'legacy.snn.json');
    writeFileSync(path.join(dir, base.weights.file), weights);
    const current = path.join(dir, 'current.snn.json');
    writeFileSync(current, JSON.stringify(base));
    for (const version of [1, 2, 3] as const) {
      const legacy = legacyIrDoc(base, version);
      expect(JSON.stringify(legacy)).toMatch(/"countIncludePad":/);
      writeFileSync(file, JSON.stringify(legacy));
      const ir = readIr(file);
      expect(ir.nodes).toEqual(readIr(current).nodes);
      expect(serializeIr(ir, 'net.snn.bin').json).toBe(JSON.stringify(base, null, 1) + '\n');
    }
  });

  it('refuses a version-4 file in the old spelling and an old file in the new one, by the key', () => {
    expect(readError('camel-v4', (doc) => Object.assign(doc, legacyIrDoc(doc, 1), { version: 4 }))).toMatch(/^does not match the ir schema at \/nodes\/\d+: must have required property '(count_include_pad|v_init)'/);
    expect(readError('snake-v1', (doc) => (doc.version = 1))).toMatch(/^does not match the ir-v1-3 schema at \/nodes\/\d+: must have required property '(countIncludePad|vInit)'/);
  });
});

describe('writing an IR', () => {
  it('a non-finite weight is refused before anything is written', () => {
    const ir = network();
    ir.tensors.get('w4')!.data[3] = Infinity;
    const file = path.join(dir, 'bad-out.snn.json');
    expect(() => writeIr(ir, file)).toThrow(`${file}: tensor w4: Infinity at index [1, 0]: every value must be finite`);
    expect(() => readFileSync(file)).toThrow();
  });
});
