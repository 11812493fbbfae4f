/**
 * The shape rules and the kernel files once imported each other (compiler/ops/ now has no cycle; see
 * test/architecture/imports.test.ts). Loading a kernel file first (before the registry or the shape rules) must
 * still give a complete registry.
 */
import { convKernels } from '../../compiler/ops/kernels/conv.ts';
import { describe, expect, it } from 'vitest';
import { SHAPE_RULES } from '../../compiler/ops/rules.ts';
import { kernels } from '../../compiler/ops/kernels/index.ts';

describe('module cycle between shape rules and kernels', () => {
  it('gives a complete registry when a kernel file loads first', () => {
    expect(kernels().get('Conv')).toBe(convKernels.Conv);
    expect(kernels().size).toBe(SHAPE_RULES.size);
  });
});
