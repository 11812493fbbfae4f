/**
 * The ANN graph: what the ONNX loader produces and every later stage reads.
 * Plain data (typed arrays, numbers, strings): nothing past the loader sees onnx-proto types.
 */

/** Element types the toolchain computes with. Integer and bool tensors are small (shapes, axes, indices). */
export type DType = 'float32' | 'int64' | 'int32' | 'bool' | 'uint8' | 'int8' | 'float64';

/**
 * A dense tensor in C order. Float tensors hold a Float32Array; integer and bool tensors hold a
 * Float64Array (exact below 2^53, which covers every shape and index; INT64_MAX sentinels stay huge).
 */
export interface Tensor {
  dtype: DType;
  dims: number[];
  data: Float32Array | Float64Array;
}

export type AttrValue = number | number[] | string | string[] | Tensor;

export interface GraphNode {
  /** Unique node name (the ONNX name, or `<op>_<index>` when the exporter left it empty). */
  name: string;
  op: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

/** A graph input or output. `dims` uses -1 for a dynamic dimension (the batch). */
export interface ValueInfo {
  name: string;
  dtype: DType;
  dims: number[];
}

export interface AnnGraph {
  name: string;
  opset: number;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Constant tensors: ONNX initializers plus everything constant folding produced. */
  initializers: Map<string, Tensor>;
  /** Nodes in topological order; constant nodes already folded away. */
  nodes: GraphNode[];
  /** Where it came from: shown in errors and recorded as provenance. */
  source: { path: string; sha256: string };
}

export function tensorSize(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

export function makeTensor(dtype: DType, dims: number[], data?: Float32Array | Float64Array): Tensor {
  const n = tensorSize(dims);
  const out = data ?? (isFloat(dtype) && dtype !== 'float64' ? new Float32Array(n) : new Float64Array(n));
  if (out.length !== n) throw new Error(`tensor data has ${out.length} elements, dims ${JSON.stringify(dims)} need ${n}`);
  return { dtype, dims, data: out };
}
