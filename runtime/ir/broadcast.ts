/** Helpers for constant IR tensors, shared by the dense evaluator and the spiking plan builder. */
import type { IrTensor, Shape } from '../../compiler/ir/types.ts';

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** C-order strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** A constant broadcast against a sample shape from the right (numpy-style), expanded to one value per element. */
export function broadcastTo(t: IrTensor, shape: Shape): Float64Array {
  const out = new Float64Array(sizeOf(shape));
  const lead = shape.length - t.dims.length;
  const tStrides = stridesOf(t.dims);
  // Stride into the constant for each sample axis: 0 where the constant has no axis or a size-1 axis.
  const strides = shape.map((_, a) => (a < lead || t.dims[a - lead] === 1 ? 0 : tStrides[a - lead]));
  const outStrides = stridesOf(shape);
  for (let e = 0; e < out.length; e++) {
    let src = 0;
    for (let a = 0; a < shape.length; a++) src += (Math.floor(e / outStrides[a]) % shape[a]) * strides[a];
    out[e] = t.data[src];
  }
  return out;
}
