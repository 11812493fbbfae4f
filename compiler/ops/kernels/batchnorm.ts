/** BatchNormalization in inference form: y = (x − mean)/√(var + ε)·scale + B, per channel (axis 1). */
import { tensorSize } from '../../graph.ts';
import { attrFloat, outputShapes, required } from '../rules.ts';
import type { Kernel } from './common.ts';
import { outputTensor } from './common.ts';

const batchNormalization: Kernel = (ctx, inputs) => {
  const [shape] = outputShapes(ctx, inputs); // checks the parameters are [C]
  const x = required(ctx, inputs, 0);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => required(ctx, inputs, i).data);
  const epsilon = attrFloat(ctx, 'epsilon', 1e-5);
  const channels = x.dims[1];
  const area = tensorSize(x.dims.slice(2));
  const y = outputTensor(ctx, x.dtype, shape.dims);
  for (let c = 0; c < channels; c++) {
    // One multiply-add per element, with the per-channel factors computed in float64.
    const gain = scale[c] / Math.sqrt(variance[c] + epsilon);
    const shift = bias[c] - mean[c] * gain;
    for (let base = c * area; base < x.data.length; base += channels * area) {
      for (let i = base; i < base + area; i++) y.data[i] = x.data[i] * gain + shift;
    }
  }
  return [y];
};

export const batchNormKernels: Record<string, Kernel> = { BatchNormalization: batchNormalization };
