/**
 * BatchNorm folding: with s = γ/√(σ²+ε), a BN right after a Conv/Dense becomes W' = W·s (per output
 * channel) and b' = (b − μ)·s + β. A BN with no such producer (e.g. on tokens between Transposes, as
 * MST uses in place of LayerNorm) becomes a per-channel affine on the current, which the simulator
 * composes into the neighbouring synapses.
 */
import { checkFinite, indexIn, SnncError } from '../errors.ts';
import { consumersOf, nodeById, pruneUnused, renameUses } from '../ir/edit.ts';
import type { AffineNode, BatchNormNode, Conv2dNode, DenseNode, IrTensor, SnnIr } from '../ir/types.ts';

export function foldBatchnorm(ir: SnnIr): SnnIr {
  let out = ir;
  for (const bn of ir.nodes) {
    if (bn.kind !== 'batchnorm') continue;
    const { scale, shift } = bnAffine(bn, out.tensors);
    const producer = nodeById(out).get(bn.inputs[0]);
    const soleUse = (consumersOf(out).get(bn.inputs[0]) ?? []).length === 1 && out.output.id !== bn.inputs[0];
    const foldable =
      producer && soleUse &&
      ((producer.kind === 'conv2d') || (producer.kind === 'dense' && producer.shape.length === 1));
    out = foldable ? foldInto(out, producer as Conv2dNode | DenseNode, bn, scale, shift) : toAffine(out, bn, scale, shift);
  }
  return pruneUnused(out);
}

function bnAffine(bn: BatchNormNode, tensors: Map<string, IrTensor>): { scale: Float32Array; shift: Float32Array } {
  const [gamma, beta, mean, variance] = [bn.scale, bn.shift, bn.mean, bn.variance].map((k) => tensors.get(k)!.data);
  const c = gamma.length;
  checkVariance(bn, tensors.get(bn.variance)!);
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    // Computed in float64, rounded once: keeps the folded model within float32 noise of the ANN.
    const s = gamma[i] / Math.sqrt(variance[i] + bn.epsilon);
    scale[i] = s;
    shift[i] = beta[i] - mean[i] * s;
  }
  checkFolded(bn, `${bn.id}.scale`, scale);
  checkFolded(bn, `${bn.id}.shift`, shift);
  return { scale, shift };
}

/** A negative running variance (or σ² + ε ≤ 0) has no square root: the model is damaged, not exotic. */
function checkVariance(bn: BatchNormNode, variance: IrTensor): void {
  const bad = variance.data.findIndex((v) => v < 0 || !(v + bn.epsilon > 0));
  if (bad < 0) return;
  const at = variance.dims.length > 1 ? indexIn(variance.dims, bad) : String(bad);
  throw new SnncError(`variance ${variance.data[bad]} at index ${at} (ε = ${bn.epsilon}): a running variance must be ≥ 0 and σ² + ε > 0`, where(bn, bn.variance));
}

/** Finite inputs can still overflow float32 once multiplied out (γ/√(σ²+ε) with a tiny variance). */
function checkFolded(bn: BatchNormNode, name: string, data: Float32Array): void {
  checkFinite(data, [data.length], where(bn, name), 'after BatchNorm folding (float32 overflow)');
}

function where(bn: BatchNormNode, tensor: string) {
  return { node: bn.onnx[0] ?? bn.id, op: 'BatchNormalization', tensor };
}

function foldInto(ir: SnnIr, layer: Conv2dNode | DenseNode, bn: BatchNormNode, scale: Float32Array, shift: Float32Array): SnnIr {
  const w = ir.tensors.get(layer.weight)!;
  const cout = w.dims[0];
  const per = w.data.length / cout;
  const weight = new Float32Array(w.data.length);
  for (let o = 0; o < cout; o++) for (let k = 0; k < per; k++) weight[o * per + k] = w.data[o * per + k] * scale[o];
  const oldBias = layer.bias ? ir.tensors.get(layer.bias)!.data : new Float32Array(cout);
  const bias = new Float32Array(cout);
  for (let o = 0; o < cout; o++) bias[o] = oldBias[o] * scale[o] + shift[o];
  checkFinite(weight, w.dims, where(bn, `${layer.id}.weight.bn`), 'after BatchNorm folding (float32 overflow)');
  checkFolded(bn, `${layer.id}.bias.bn`, bias);

  const tensors = new Map(ir.tensors);
  const weightName = `${layer.id}.weight.bn`;
  const biasName = `${layer.id}.bias.bn`;
  tensors.set(weightName, { dims: w.dims, data: weight });
  tensors.set(biasName, { dims: [cout], data: bias });
  const folded = { ...layer, weight: weightName, bias: biasName, onnx: [...layer.onnx, ...bn.onnx] };
  const nodes = ir.nodes.filter((n) => n.id !== bn.id).map((n) => (n.id === layer.id ? folded : n));
  return renameUses({ ...ir, nodes, tensors }, bn.id, layer.id);
}

function toAffine(ir: SnnIr, bn: BatchNormNode, scale: Float32Array, shift: Float32Array): SnnIr {
  // Channel axis 0 of the sample; trailing 1s make the constants broadcast over the other axes.
  const dims = [scale.length, ...bn.shape.slice(1).map(() => 1)];
  const tensors = new Map(ir.tensors);
  tensors.set(`${bn.id}.scale`, { dims, data: scale });
  tensors.set(`${bn.id}.shift`, { dims, data: shift });
  const affine: AffineNode = {
    id: bn.id, kind: 'affine', inputs: bn.inputs, shape: bn.shape, onnx: bn.onnx,
    scale: `${bn.id}.scale`, shift: `${bn.id}.shift`,
  };
  return { ...ir, nodes: ir.nodes.map((n) => (n.id === bn.id ? affine : n)), tensors };
}
