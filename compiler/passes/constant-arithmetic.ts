/**
 * Arithmetic with a constant operand becomes a linear op on the current: Add/Sub(x, c) → bias
 * (position embeddings, broadcast biases), Mul/Div(x, c) → affine (attention scale, normalisation).
 * Runs after activation capture, so the constants inside QCFS chains are already gone.
 */
import { checkFinite, SnncError } from '../errors.ts';
import type { IrNode, IrTensor, OnnxOpNode, SnnIr } from '../ir/types.ts';
import { pruneUnused } from '../ir/edit.ts';

const OPS = new Set(['Add', 'Sub', 'Mul', 'Div']);

export function constantArithmetic(ir: SnnIr): SnnIr {
  const tensors = new Map(ir.tensors);
  const nodes = ir.nodes.map((n): IrNode => {
    if (n.kind !== 'onnx' || !OPS.has(n.op) || n.inputs.length !== 1) return n;
    const positions = Object.keys(n.constants).map(Number);
    if (positions.length !== 1) return n;
    const constantFirst = positions[0] === 0;
    const c = sampleConstant(ir.tensors.get(n.constants[positions[0]])!, n.shape.length);
    const base = { id: n.id, inputs: n.inputs, shape: n.shape, onnx: n.onnx };
    const put = (suffix: string, t: IrTensor) => {
      const name = `${n.id}.${suffix}`;
      tensors.set(name, t);
      return name;
    };
    const map = (f: (v: number) => number): IrTensor => ({ dims: c.dims, data: c.data.map(f) });
    switch (n.op) {
      case 'Add':
        return { ...base, kind: 'bias', value: put('bias', c) };
      case 'Sub':
        if (constantFirst) {
          // c − x: a negated current; no spiking network needs it, so say so rather than guess.
          throw new SnncError('constant minus activation is not supported', { node: n.onnx[0], op: n.op });
        }
        return { ...base, kind: 'bias', value: put('bias', map((v) => -v)) };
      case 'Mul':
        return { ...base, kind: 'affine', scale: put('scale', c), shift: put('shift', zero()) };
      default: // Div
        if (constantFirst) throw new SnncError('constant divided by activation is not supported', { node: n.onnx[0], op: n.op });
        return { ...base, kind: 'affine', scale: put('scale', reciprocal(c, n, n.constants[positions[0]])), shift: put('shift', zero()) };
    }
  });
  return pruneUnused({ ...ir, nodes, tensors });
}

/** Division by a constant as multiplication by 1/c; a zero (or subnormal) divisor would give ±Inf. */
function reciprocal(c: IrTensor, n: OnnxOpNode, tensor: string): IrTensor {
  const data = c.data.map((v) => 1 / v);
  checkFinite(data, c.dims, { node: n.onnx[0] ?? n.id, op: 'Div', tensor }, 'of 1/divisor (a zero or tiny divisor)');
  return { dims: c.dims, data };
}

function zero(): IrTensor {
  return { dims: [1], data: new Float32Array(1) };
}

/** Drops the constant's leading batch axis of size 1, if it has one (dims are right-aligned to [N, ...sample]). */
function sampleConstant(t: IrTensor, sampleRank: number): IrTensor {
  if (t.dims.length === sampleRank + 1) {
    if (t.dims[0] !== 1) throw new SnncError(`a constant of shape [${t.dims}] varies along the batch axis`);
    return { dims: t.dims.slice(1), data: t.data };
  }
  return t;
}

