/**
 * compiler/shapes.ts and the kernel files import each other. Loading a kernel file first (before the
 * registry or the shape module) must still give a complete registry and working shape inference.
 */
import { convKernels } from '../../runtime/ann/kernels/conv.ts';
import { describe, expect, it } from 'vitest';
import { SHAPE_RULES } from '../../compiler/shapes.ts';
import { kernels } from '../../runtime/ann/kernels/index.ts';

describe('module cycle between shape rules and kernels', () => {
  it('gives a complete registry when a kernel file loads first', () => {
    expect(kernels().get('Conv')).toBe(convKernels.Conv);
    expect(kernels().size).toBe(SHAPE_RULES.size);
  });
});
