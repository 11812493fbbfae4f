/** Every ANN kernel by op name. An op is supported exactly when it has a kernel here and a rule in SHAPE_RULES. */
import type { Kernel } from './common.ts';
import { batchNormKernels } from './batchnorm.ts';
import { convKernels } from './conv.ts';
import { elementwiseKernels } from './elementwise.ts';
import { gemmKernels } from './gemm.ts';
import { padKernels } from './pad.ts';
import { poolKernels } from './pool.ts';
import { shapeKernels } from './shape.ts';

export type { Kernel } from './common.ts';

const REGISTRY: ReadonlyMap<string, Kernel> = new Map(
  Object.entries({ ...convKernels, ...gemmKernels, ...poolKernels, ...elementwiseKernels, ...batchNormKernels, ...shapeKernels, ...padKernels }),
);

/**
 * The registry. Constant folding, shape inference and ONNX → IR lowering (compiler/) evaluate ops with these
 * kernels, and the ANN executor (runtime/ann) runs graphs with them; the kernels import only the shape rules
 * (../rules.ts) and the graph types, so no module cycle runs through here.
 */
export function kernels(): ReadonlyMap<string, Kernel> {
  return REGISTRY;
}
