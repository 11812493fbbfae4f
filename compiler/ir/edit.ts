/** Small graph queries and edits the passes share. Passes never mutate their input IR. */
import { tensorRefs } from './kinds.ts';
import type { IrNode, SnnIr } from './types.ts';

export function consumersOf(ir: SnnIr): Map<string, IrNode[]> {
  const map = new Map<string, IrNode[]>();
  for (const n of ir.nodes) {
    for (const x of n.inputs) {
      // push, not spread: a value read by 10⁵ nodes must not cost 10¹⁰ copies.
      const list = map.get(x);
      if (list) list.push(n);
      else map.set(x, [n]);
    }
  }
  return map;
}

export function nodeById(ir: SnnIr): Map<string, IrNode> {
  return new Map(ir.nodes.map((n) => [n.id, n]));
}

/** Rewires every use of `from` (node inputs and the output) to `to`. */
export function renameUses(ir: SnnIr, from: string, to: string): SnnIr {
  return {
    ...ir,
    nodes: ir.nodes.map((n) => (n.inputs.includes(from) ? { ...n, inputs: n.inputs.map((x) => (x === from ? to : x)) } : n)),
    output: ir.output.id === from ? { ...ir.output, id: to } : ir.output,
  };
}

/** Drops nodes no longer reachable from the output, and tensors no node references. */
export function pruneUnused(ir: SnnIr): SnnIr {
  const byId = nodeById(ir);
  const live = new Set<string>();
  const stack = [ir.output.id];
  while (stack.length) {
    const id = stack.pop()!;
    if (live.has(id)) continue;
    live.add(id);
    for (const x of byId.get(id)?.inputs ?? []) stack.push(x);
  }
  const nodes = ir.nodes.filter((n) => live.has(n.id));
  const used = new Set<string>();
  for (const n of nodes) for (const name of tensorRefs(n)) used.add(name);
  const tensors = new Map([...ir.tensors].filter(([k]) => used.has(k)));
  return { ...ir, nodes, tensors };
}

/** The tensor-table names a node refers to: its kind's `tensors` fields (kinds.ts). */
export { tensorRefs } from './kinds.ts';

/** The same network with every RSM mask removed (its consumers read the IF population directly). */
export function withoutMasks(ir: SnnIr): SnnIr {
  let out = ir;
  for (const n of ir.nodes) {
    if (n.kind !== 'rsm') continue;
    out = renameUses({ ...out, nodes: out.nodes.filter((m) => m.id !== n.id) }, n.id, n.inputs[0]);
  }
  return out;
}
