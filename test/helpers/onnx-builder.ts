/**
 * Builds small ONNX models (ModelProto bytes, IR version 8) for tests, with onnx-proto, and deterministic
 * random tensors to feed them.
 */
import onnxProto from 'onnx-proto';
import type { Tensor } from '../../compiler/graph.ts';

const { onnx } = onnxProto;

/** Attribute values: integers and integer lists are INT/INTS, strings STRING; wrap floats with `float()` / `floats()`. */
export type AttrSpec = number | number[] | string | { float: number } | { floats: number[] };

export const float = (value: number): AttrSpec => ({ float: value });
export const floats = (values: number[]): AttrSpec => ({ floats: values });

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrSpec>;
  name?: string;
}

export type ElemType = 'float32' | 'int64';

/** A graph input or output; a string dim is symbolic (dynamic), e.g. 'N' for the batch. */
export interface ValueSpec {
  name: string;
  dims?: (number | string)[];
  dtype?: ElemType;
}

export interface InitializerSpec {
  name: string;
  dims: number[];
  data: ArrayLike<number>;
  dtype?: ElemType;
}

export interface ModelSpec {
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: InitializerSpec[];
  opset?: number;
}

const ELEM_TYPES: Record<ElemType, number> = { float32: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64 };

function attribute(name: string, value: AttrSpec): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') return { name, type: T.INT, i: value };
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.FLOATS, floats: value.floats };
}

function valueInfo(v: ValueSpec): onnxProto.onnx.IValueInfoProto {
  const dims = v.dims?.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name: v.name, type: { tensorType: { elemType: ELEM_TYPES[v.dtype ?? 'float32'], shape: dims ? { dim: dims } : undefined } } };
}

function initializer(t: InitializerSpec): onnxProto.onnx.ITensorProto {
  const dtype = t.dtype ?? 'float32';
  const values = Array.from(t.data);
  // int64 sentinels (±2^63) become Long's saturated INT64_MAX / INT64_MIN.
  return dtype === 'float32'
    ? { name: t.name, dims: t.dims, dataType: ELEM_TYPES.float32, floatData: values }
    : { name: t.name, dims: t.dims, dataType: ELEM_TYPES.int64, int64Data: values };
}

export function buildModel(spec: ModelSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'snnc-test',
    opsetImport: [{ domain: '', version: spec.opset ?? 13 }],
    graph: {
      name: 'test',
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `${n.op}_${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: (spec.initializers ?? []).map(initializer),
    },
  });
  const problem = onnx.ModelProto.verify(model);
  if (problem) throw new Error(`invalid test model: ${problem}`);
  return onnx.ModelProto.encode(model).finish();
}

/** Deterministic uniform values in [lo, hi) (mulberry32 seeded with `seed`). */
export function randomValues(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo));
  }
  return out;
}

export function randomTensor(dims: number[], seed: number, lo = -1, hi = 1): Tensor {
  return { dtype: 'float32', dims, data: randomValues(dims.reduce((a, b) => a * b, 1), seed, lo, hi) };
}
