/** Every ANN kernel by op name. An op is supported exactly when it has a kernel here and a rule in SHAPE_RULES. */
import type { Kernel } from './common.ts';
import { batchNormKernels } from './batchnorm.ts';
import { convKernels } from './conv.ts';
import { elementwiseKernels } from './elementwise.ts';
import { gemmKernels } from './gemm.ts';
import { poolKernels } from './pool.ts';
import { shapeKernels } from './shape.ts';

export type { Kernel } from './common.ts';

let registry: ReadonlyMap<string, Kernel> | undefined;

/**
 * The registry, built on first use. compiler/shapes.ts evaluates small constant subgraphs with these kernels
 * and the kernels use its shape rules, so the modules import each other: whichever loads first, nothing may
 * read the kernel files' exports while modules are still loading.
 */
export function kernels(): ReadonlyMap<string, Kernel> {
  registry ??= new Map(
    Object.entries({ ...convKernels, ...gemmKernels, ...poolKernels, ...elementwiseKernels, ...batchNormKernels, ...shapeKernels }),
  );
  return registry;
}
