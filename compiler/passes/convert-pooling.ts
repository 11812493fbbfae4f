/**
 * MaxPool has no exact rate-coded equivalent (Rueckauer et al. 2017): it is an error unless the user asks for the
 * conversion to average pooling, which is then reported as a warning.
 */
import { SnncError } from '../errors.ts';
import type { IrNode, SnnIr } from '../ir/types.ts';

export type MaxPoolPolicy = 'error' | 'avg';

export function convertPooling(ir: SnnIr, policy: MaxPoolPolicy, warnings: string[]): SnnIr {
  const nodes = ir.nodes.map((n): IrNode => {
    if (n.kind !== 'maxpool2d') return n;
    if (policy === 'error') {
      throw new SnncError('MaxPool has no exact spiking equivalent; pass --maxpool avg to convert it to average pooling', {
        node: n.onnx[0],
        op: 'MaxPool',
      });
    }
    warnings.push(`MaxPool at node ${n.onnx[0]} converted to average pooling (--maxpool avg): accuracy may drop`);
    return { id: n.id, kind: 'avgpool2d', inputs: n.inputs, shape: n.shape, onnx: n.onnx, kernel: n.kernel, strides: n.strides, pads: n.pads, countIncludePad: true };
  });
  return { ...ir, nodes };
}
