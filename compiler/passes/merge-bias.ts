/**
 * MatMul+Add (and Conv + broadcast Add) → one layer with a bias: a `bias` node whose constant is one
 * value per output channel of the Dense/Conv right before it is merged into that layer's bias.
 */
import { checkFinite } from '../errors.ts';
import { consumersOf, nodeById, pruneUnused, renameUses } from '../ir/edit.ts';
import type { BiasNode, Conv2dNode, DenseNode, SnnIr } from '../ir/types.ts';

export function mergeBias(ir: SnnIr): SnnIr {
  let out = ir;
  for (const node of ir.nodes) {
    if (node.kind !== 'bias') continue;
    const layer = nodeById(out).get(node.inputs[0]);
    if (!layer || (layer.kind !== 'dense' && layer.kind !== 'conv2d')) continue;
    if ((consumersOf(out).get(layer.id) ?? []).length !== 1 || out.output.id === layer.id) continue;
    const add = perChannel(out, node, layer);
    if (!add) continue;
    const cout = add.length;
    const old = layer.bias ? out.tensors.get(layer.bias)!.data : new Float32Array(cout);
    const tensors = new Map(out.tensors);
    const name = `${layer.id}.bias.merged`;
    const sum = add.map((v, o) => v + old[o]);
    checkFinite(sum, [cout], { node: node.onnx[0] ?? node.id, op: 'Add', tensor: name }, 'after merging two biases (float32 overflow)');
    tensors.set(name, { dims: [cout], data: sum });
    const merged = { ...layer, bias: name, onnx: [...layer.onnx, ...node.onnx] };
    const nodes = out.nodes.filter((n) => n.id !== node.id).map((n) => (n.id === layer.id ? merged : n));
    out = renameUses({ ...out, nodes, tensors }, node.id, layer.id);
  }
  return pruneUnused(out);
}

/** The constant as one value per output channel, or undefined if it varies along other axes. */
function perChannel(ir: SnnIr, bias: BiasNode, layer: Conv2dNode | DenseNode): Float32Array | undefined {
  const c = ir.tensors.get(bias.value)!;
  const cout = ir.tensors.get(layer.weight)!.dims[0];
  const dims = [...Array(layer.shape.length - c.dims.length).fill(1), ...c.dims];
  const channelAxis = layer.kind === 'conv2d' ? 0 : layer.shape.length - 1;
  const ok = dims.every((d, i) => (i === channelAxis ? d === cout || d === 1 : d === 1));
  if (!ok) return undefined;
  return Float32Array.from({ length: cout }, (_, o) => c.data[c.data.length === 1 ? 0 : o]);
}
