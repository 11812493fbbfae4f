/**
 * Which transformer module a node belongs to, for the per-module work breakdown (attention vs MLP vs the
 * rest), so that the saving of a mask on some module reads off directly.
 *
 * The rule reads the graph's structure, not node names (a Swin export names its MLP `…/mlp/fc1`, a ViT
 * export `…/mlp/fc1` or `…/ffn/…`, and a hand-built IR anything at all):
 * - a residual add is an `add` node one of whose inputs (the skip) is an ancestor of the other (the branch
 *   output); its branch is every node on a path from the skip to the branch output, the skip excluded;
 * - a branch that holds a host node (softmax or a matmul of two dynamic operands) is **attention**;
 * - a branch with at least two synaptic layers (dense, conv) whose skip comes from an attention residual add
 *   with no other residual add in between is the **MLP** (the two-linear chain after the attention);
 * - everything else — patch embedding and merging, the norms on the residual stream, the adds, the head —
 *   is **other**.
 *
 * Work is charged to the module of the node that receives it: a synapse belongs to the layer it feeds (the
 * population, analog node or readout its composed table entry reaches), a product or softmax op to its
 * analog node, an input-layer MAC to its linear node, a spike to the population that fires it.
 */
import type { IrNode, SnnIr } from '../../compiler/ir/types.ts';

export const MODULES = ['attention', 'mlp', 'other'] as const;
export type ModuleName = (typeof MODULES)[number];

const ATTENTION = 0;
const MLP = 1;
const OTHER = 2;
const SYNAPTIC = new Set(['dense', 'conv2d']);
const HOST = new Set(['matmul', 'softmax']);

interface Residual {
  id: string;
  skip: string;
  branch: Set<string>;
}

/** Index into MODULES of every node of the IR (nodes not listed are `other`), from the graph's structure. */
export function moduleMap(ir: Pick<SnnIr, 'nodes'>): Map<string, number> {
  const byId = new Map<string, IrNode>(ir.nodes.map((n) => [n.id, n]));
  const consumers = new Map<string, string[]>();
  for (const n of ir.nodes) for (const x of n.inputs) consumers.set(x, [...(consumers.get(x) ?? []), n.id]);
  const walk = (from: string, next: (id: string) => readonly string[]): Set<string> => {
    const seen = new Set<string>([from]);
    const stack = [from];
    while (stack.length) for (const m of next(stack.pop()!)) if (!seen.has(m)) (seen.add(m), stack.push(m));
    return seen;
  };
  const up = (id: string) => byId.get(id)?.inputs ?? [];
  const down = (id: string) => consumers.get(id) ?? [];

  const residuals: Residual[] = [];
  for (const n of ir.nodes) {
    if (n.kind !== 'add' || n.inputs.length !== 2) continue;
    const [a, b] = n.inputs;
    const aboveB = walk(b, up);
    const aboveA = aboveB.has(a) ? null : walk(a, up);
    const [skip, out, above] = aboveB.has(a) ? [a, b, aboveB] : aboveA!.has(b) ? [b, a, aboveA!] : [null, null, null];
    if (!skip || !out || !above) continue;
    const below = walk(skip, down);
    const branch = new Set([...above].filter((id) => id !== skip && below.has(id)));
    residuals.push({ id: n.id, skip, branch });
  }

  const modules = new Map<string, number>();
  const attentionAdds = new Set<string>();
  for (const r of residuals) {
    if (![...r.branch].some((id) => HOST.has(byId.get(id)!.kind))) continue;
    attentionAdds.add(r.id);
    for (const id of r.branch) modules.set(id, ATTENTION);
  }
  const residualIds = new Set(residuals.map((r) => r.id));
  for (const r of residuals) {
    if (attentionAdds.has(r.id)) continue;
    if ([...r.branch].filter((id) => SYNAPTIC.has(byId.get(id)!.kind)).length < 2) continue;
    // The nearest residual add above the skip (through single paths of non-add nodes) must be attention.
    const seen = new Set<string>();
    const stack = [r.skip];
    let follows = false;
    let blocked = false;
    while (stack.length) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      if (residualIds.has(id)) {
        if (attentionAdds.has(id)) follows = true;
        else blocked = true;
        continue;
      }
      stack.push(...up(id));
    }
    if (!follows || blocked) continue;
    for (const id of r.branch) if (!modules.has(id)) modules.set(id, MLP);
  }
  return modules;
}

/** Module index lookup for one IR: a node not in any attention or MLP branch is `other`. */
export function moduleRule(ir: Pick<SnnIr, 'nodes'>): (node: Pick<IrNode, 'id'>) => number {
  const map = moduleMap(ir);
  return (node) => map.get(node.id) ?? OTHER;
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
