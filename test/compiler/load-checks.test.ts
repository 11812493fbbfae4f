/**
 * Inputs that would load into a plausible but broken graph are refused at load, one line naming the file
 * and the tensor, node or attribute: non-finite values, opsets snnc does not know, a bad constant Transpose,
 * a TENSOR attribute without a tensor, external data that is not a file.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import { loadOnnx, loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { buildModel, float, type ModelSpec } from '../helpers/onnx-builder.ts';

const { onnx } = onnxProto;

/** x [N,4] · Wᵀ + b through Gemm, with `w` and `b` as given. */
function gemmSpec(w: number[], b = [0, 0], alpha = 1): ModelSpec {
  return {
    nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'], name: 'fc', attrs: { transB: 1, alpha: float(alpha) } }],
    initializers: [
      { name: 'w', dims: [2, 4], data: w },
      { name: 'b', dims: [2], data: b },
    ],
    inputs: [{ name: 'x', dims: ['N', 4] }],
    outputs: [{ name: 'y', dims: ['N', 2] }],
  };
}

const W = [1, 2, 3, 4, 5, 6, 7, 8];

function loadError(bytes: Uint8Array, baseDir?: string): string {
  try {
    loadOnnxBytes(bytes, { path: 'm.onnx', baseDir });
  } catch (e) {
    expect(e).toBeInstanceOf(SnncError);
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('the model loaded');
}

/** The parts of a decoded model the tests edit (decoding always fills these repeated fields). */
interface EditableModel {
  opsetImport: onnxProto.onnx.IOperatorSetIdProto[];
  graph: { node: { attribute: onnxProto.onnx.IAttributeProto[] }[] & onnxProto.onnx.INodeProto[]; initializer: onnxProto.onnx.ITensorProto[] };
}

/** Re-encodes a built model after `edit` changed its proto. */
function edited(spec: ModelSpec, edit: (m: EditableModel) => void): Uint8Array {
  const model = onnx.ModelProto.decode(buildModel(spec));
  edit(model as unknown as EditableModel);
  return onnx.ModelProto.encode(model).finish();
}

describe('non-finite values', () => {
  it('a NaN initializer is refused with the tensor and its first bad index', () => {
    const w = [...W];
    w[6] = NaN;
    expect(loadError(buildModel(gemmSpec(w)))).toBe('m.onnx: tensor w: NaN at index [1, 2]: every value must be finite');
  });

  it('an infinite bias is refused', () => {
    expect(loadError(buildModel(gemmSpec(W, [0, -Infinity])))).toBe('m.onnx: tensor b: -Infinity at index 1: every value must be finite');
  });

  it('a float16 raw_data Inf is refused too', () => {
    const bytes = edited(gemmSpec(W), (m) => {
      const b = m.graph.initializer.find((t) => t.name === 'b')!;
      b.dataType = onnx.TensorProto.DataType.FLOAT16;
      b.floatData = [];
      b.rawData = Uint8Array.of(0x00, 0x3c, 0x00, 0x7c); // 1.0, +Inf
    });
    expect(loadError(bytes)).toContain('tensor b: Infinity at index 1');
  });

  it('a Constant node holding NaN names the node and attribute', () => {
    const bytes = edited(gemmSpec(W), (m) => {
      m.graph.initializer = m.graph.initializer.filter((t) => t.name !== 'b');
      m.graph.node.unshift(onnx.NodeProto.create({
        name: 'c', opType: 'Constant', output: ['b'],
        attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: { dims: [2], dataType: 1, floatData: [0, NaN] } }],
      }));
    });
    expect(loadError(bytes)).toBe('m.onnx: node c (Constant): tensor attribute value: NaN at index 1: every value must be finite');
  });

  it('Gemm alpha = Inf is refused by name', () => {
    expect(loadError(buildModel(gemmSpec(W, [0, 0], Infinity)))).toBe('m.onnx: node fc (Gemm): attribute alpha is Infinity: it must be finite');
  });

  it('finite values still load', () => {
    expect(loadOnnxBytes(buildModel(gemmSpec(W)), { path: 'm.onnx' }).nodes).toHaveLength(1);
  });
});

describe('opsets', () => {
  const withOpset = (version: number) =>
    edited(gemmSpec(W), (m) => {
      m.opsetImport[0].version = version;
    });

  it.each([0, -1, 2 ** 40, 1000])('opset %d is refused by name', (version) => {
    expect(loadError(withOpset(version))).toContain(`m.onnx: ai.onnx opset ${version} is outside the opsets snnc supports`);
  });

  it('opsets 7 to 21 load', () => {
    for (const v of [7, 13, 17, 21]) expect(loadOnnxBytes(withOpset(v), { path: 'm.onnx' }).opset).toBe(v);
  });
});

describe('malformed nodes', () => {
  it('an attribute declared TENSOR with no tensor is a user error, not a crash', () => {
    const bytes = edited(gemmSpec(W), (m) => {
      m.graph.node[0].attribute.push(onnx.AttributeProto.create({ name: 'odd', type: onnx.AttributeProto.AttributeType.TENSOR }));
    });
    expect(loadError(bytes)).toBe('m.onnx: node fc (Gemm): attribute odd is declared TENSOR but holds no tensor');
  });

  it.each([[[0, 0]], [[1, 2]], [[0]]])('a constant Transpose with perm %j is refused at its ONNX node', (perm) => {
    const spec: ModelSpec = {
      nodes: [
        { op: 'Transpose', inputs: ['w'], outputs: ['wt'], name: 'tr', attrs: { perm } },
        { op: 'MatMul', inputs: ['x', 'wt'], outputs: ['y'] },
      ],
      initializers: [{ name: 'w', dims: [4, 4], data: Array.from({ length: 16 }, (_, i) => i) }],
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y', dims: ['N', 4] }],
    };
    expect(loadError(buildModel(spec))).toBe(`m.onnx: node tr (Transpose): perm [${perm.join(', ')}] is not a permutation of the 2 axes of its constant input`);
  });
});

describe('files that are folders', () => {
  it('external data whose location is a folder', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'snnc-ext-'));
    mkdirSync(path.join(dir, 'weights.bin'));
    const bytes = edited(gemmSpec(W), (m) => {
      const w = m.graph.initializer.find((t) => t.name === 'w')!;
      w.floatData = [];
      w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      w.externalData = [{ key: 'location', value: 'weights.bin' }];
    });
    expect(loadError(bytes, dir)).toBe('m.onnx: initializer w: external data weights.bin is not a regular file');
  });

  it('a model path that is a folder', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'snnc-dir-'));
    expect(() => loadOnnx(dir)).toThrow(`${dir}: not a regular file`);
  });
});
