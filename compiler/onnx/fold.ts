/**
 * Constant folding at load time: Constant nodes become initializers, and Identity/Cast/Transpose of a
 * constant become constants too (PyTorch wraps QCFS clip bounds in Cast(Constant) and exports a Linear on
 * tokens as MatMul(x, Transpose(W))). Index-only ops whose inputs are all constants (Reshape, Gather,
 * Unsqueeze, Squeeze, Slice, Concat, Flatten) are evaluated with the ANN kernels: Swin/MST's
 * `relative_position_bias_table[relative_position_index]` and its attention mask become plain constants.
 * Later ops see plain initializers.
 */
import type { AnnGraph, GraphNode, Tensor } from '../graph.ts';
import { SnncError } from '../errors.ts';
import { castTarget } from '../ops/rules.ts';
import { kernels } from '../ops/kernels/index.ts';
import { castTensor } from '../ops/kernels/elementwise.ts';

/** Data movement only: folding them cannot change a value's rounding. */
const INDEX_OPS = new Set(['Reshape', 'Gather', 'Unsqueeze', 'Squeeze', 'Slice', 'Concat', 'Flatten']);


export function foldConstants(graph: AnnGraph): AnnGraph {
  const constants = new Map(graph.initializers);
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const kept: GraphNode[] = [];
  for (const node of graph.nodes) {
    const value = graphOutputs.has(node.outputs[0]) ? undefined : foldNode(node, constants, graph.source.path, graph.opset);
    if (value) constants.set(node.outputs[0], value);
    else kept.push(node);
  }
  return { ...graph, initializers: constants, nodes: kept };
}

function foldNode(node: GraphNode, constants: Map<string, Tensor>, file: string, opset: number): Tensor | undefined {
  const where = { file, node: node.name, op: node.op };
  if (node.op === 'Constant') return constantValue(node, where);
  if (INDEX_OPS.has(node.op) && node.outputs.length === 1 && node.inputs.length > 0 && node.inputs.every((x) => x === '' || constants.has(x))) {
    const inputs = node.inputs.map((x) => (x === '' ? undefined : constants.get(x)));
    return kernels().get(node.op)!({ node, opset, file }, inputs)[0];
  }
  const input = constants.get(node.inputs[0]);
  if (!input || node.inputs.length !== 1) return undefined;
  if (node.op === 'Identity') return input;
  if (node.op === 'Cast') return castTensor(input, castTarget({ node, opset: 0, file }));
  if (node.op === 'Transpose') {
    const perm = (node.attrs.perm as number[] | undefined) ?? input.dims.map((_, i) => input.dims.length - 1 - i);
    checkPermutation(perm, input.dims.length, where);
    return transposeTensor(input, perm);
  }
  return undefined;
}

function constantValue(node: GraphNode, where: { file: string; node: string; op: string }): Tensor {
  const a = node.attrs;
  if (a.value !== undefined) return a.value as Tensor;
  if (a.value_float !== undefined) return { dtype: 'float32', dims: [], data: Float32Array.of(a.value_float as number) };
  if (a.value_floats !== undefined) {
    const v = a.value_floats as number[];
    return { dtype: 'float32', dims: [v.length], data: Float32Array.from(v) };
  }
  if (a.value_int !== undefined) return { dtype: 'int64', dims: [], data: Float64Array.of(a.value_int as number) };
  if (a.value_ints !== undefined) {
    const v = a.value_ints as number[];
    return { dtype: 'int64', dims: [v.length], data: Float64Array.from(v) };
  }
  throw new SnncError(`Constant has no supported value attribute (has ${Object.keys(a).join(', ') || 'none'})`, where);
}

/** A bad perm would fold into a tensor with undefined dims or duplicated rows: refuse it at the ONNX node. */
function checkPermutation(perm: unknown, rank: number, where: { file: string; node: string; op: string }): void {
  const ok = Array.isArray(perm) && perm.length === rank && new Set(perm).size === rank && perm.every((p) => Number.isInteger(p) && p >= 0 && p < rank);
  const shown = Array.isArray(perm) ? `[${perm.join(', ')}]` : String(perm);
  if (!ok) throw new SnncError(`perm ${shown} is not a permutation of the ${rank} axes of its constant input`, where);
}

function transposeTensor(t: Tensor, perm: number[]): Tensor {
  const rank = t.dims.length;
  const dims = perm.map((p) => t.dims[p]);
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; s *= t.dims[i], i--) inStrides[i] = s;
  const out = t.data instanceof Float32Array ? new Float32Array(t.data.length) : new Float64Array(t.data.length);
  const index = new Array<number>(rank).fill(0);
  for (let k = 0; k < out.length; k++) {
    let src = 0;
    for (let i = 0; i < rank; i++) src += index[i] * inStrides[perm[i]];
    out[k] = t.data[src];
    for (let i = rank - 1; i >= 0 && ++index[i] === dims[i]; i--) index[i] = 0;
  }
  return { dtype: t.dtype, dims, data: out };
}
