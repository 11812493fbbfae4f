/**
 * Which transformer module a node belongs to, for the per-module work breakdown (attention vs MLP vs the
 * rest), so that the saving of a mask on some module reads off directly.
 *
 * The rule is one table: the first row whose pattern matches the node's id (wrapped in slashes) or any of
 * its ONNX node names wins; no match is `other`. PyTorch exports name nodes by module path
 * (`/blocks.0/attn/q/MatMul`), so `/attn/` and `/mlp/` find MST's, Swin's and ViT's submodules.
 *
 * Work is charged to the module of the node that receives it: a synapse belongs to the layer it feeds (the
 * population, analog node or readout its composed table entry reaches), a product or softmax op to its
 * analog node, an input-layer MAC to its linear node, a spike to the population that fires it.
 */
import type { IrNode } from '../../compiler/ir/types.ts';

export const MODULES = ['attention', 'mlp', 'other'] as const;
export type ModuleName = (typeof MODULES)[number];

export const MODULE_RULES: ReadonlyArray<{ module: ModuleName; pattern: RegExp }> = [
  { module: 'attention', pattern: /\/attn\// },
  { module: 'mlp', pattern: /\/mlp\// },
];

/** Index into MODULES of a node's module. */
export function moduleOf(node: Pick<IrNode, 'id' | 'onnx'>): number {
  const names = [`/${node.id}/`, ...node.onnx];
  for (const rule of MODULE_RULES) if (names.some((n) => rule.pattern.test(n))) return MODULES.indexOf(rule.module);
  return MODULES.indexOf('other');
}

/**
 * Work categories of one composed table entry: the module of its target, and whether the target is a
 * synapse on a neuromorphic core (a population or the readout) or an operand of a host node (matmul, softmax).
 * Category index = module · 2 + (host ? 1 : 0).
 */
export const CATEGORIES = MODULES.length * 2;

export function categoryOf(module: number, host: boolean): number {
  return module * 2 + (host ? 1 : 0);
}
