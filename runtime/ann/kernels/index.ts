/** Every ANN kernel by op name. An op is supported exactly when it has a kernel here and a rule in SHAPE_RULES. */
import type { Kernel } from './common.ts';
import { batchNormKernels } from './batchnorm.ts';
import { convKernels } from './conv.ts';
import { elementwiseKernels } from './elementwise.ts';
import { gemmKernels } from './gemm.ts';
import { poolKernels } from './pool.ts';
import { shapeKernels } from './shape.ts';

export type { Kernel } from './common.ts';

export const KERNELS: ReadonlyMap<string, Kernel> = new Map(
  Object.entries({ ...convKernels, ...gemmKernels, ...poolKernels, ...elementwiseKernels, ...batchNormKernels, ...shapeKernels }),
);
