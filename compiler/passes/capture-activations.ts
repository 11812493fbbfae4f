/**
 * Pattern capture: QCFS activations arrive as seven ONNX ops,
 *   Div(x, λ) → Mul(·, L) → Add(·, 0.5) → Floor → Div(·, L) → Clip(·, 0, 1) → Mul(·, λ),
 * and become one `qcfs` node (λ, L) that the neuron pass turns into IF neurons with θ = λ, v(0) = θ/2.
 */
import { consumersOf, nodeById, pruneUnused, renameUses } from '../ir/edit.ts';
import type { ActivationNode, IrNode, OnnxOpNode, SnnIr } from '../ir/types.ts';

type Step = { op: string; constant?: (v: number, ctx: { lambda: number; levels: number }) => boolean };

/** The QCFS chain; the first two steps bind λ and L, the rest must agree with them. */
const QCFS: Step[] = [
  { op: 'Div', constant: (v) => v > 0 },
  { op: 'Mul', constant: (v) => Number.isInteger(v) && v >= 1 },
  { op: 'Add', constant: (v) => v === 0.5 },
  { op: 'Floor' },
  { op: 'Div', constant: (v, c) => v === c.levels },
  { op: 'Clip' },
  { op: 'Mul', constant: (v, c) => Math.abs(v - c.lambda) <= 1e-6 * c.lambda },
];

export function captureActivations(ir: SnnIr): SnnIr {
  let out = ir;
  for (;;) {
    const match = findQcfs(out);
    if (!match) return pruneUnused(out);
    const { chain, lambda, levels } = match;
    const last = chain[chain.length - 1];
    const module = commonModule(chain.flatMap((n) => n.onnx));
    const taken = (id: string) => out.nodes.some((n) => n.id === id && !chain.includes(n as OnnxOpNode));
    const qcfs: ActivationNode = {
      id: module && !taken(module) ? module : `${chain[0].id}_qcfs`,
      kind: 'qcfs',
      inputs: chain[0].inputs,
      shape: last.shape,
      onnx: chain.flatMap((n) => n.onnx),
      lambda,
      levels,
      value: last.value,
    };
    // The chain's inner nodes lose their only consumer; pruning drops them, so rewire first.
    out = renameUses(out, last.id, qcfs.id);
    const at = out.nodes.findIndex((n) => n.id === last.id);
    out = { ...out, nodes: [...out.nodes.slice(0, at), qcfs, ...out.nodes.slice(at + 1)].filter((n) => !chain.some((c) => c.id === n.id) || n === qcfs) };
  }
}

function scalarConstant(ir: SnnIr, n: OnnxOpNode): number | undefined {
  const names = Object.values(n.constants);
  if (names.length !== 1 || n.inputs.length !== 1) return undefined;
  const t = ir.tensors.get(names[0])!;
  return t.data.length === 1 ? t.data[0] : undefined;
}

function clipBounds(ir: SnnIr, n: OnnxOpNode): [number | undefined, number | undefined] {
  const at = (i: number) => (n.constants[i] ? ir.tensors.get(n.constants[i])!.data[0] : undefined);
  return [at(1) ?? (n.attrs.min as number | undefined), at(2) ?? (n.attrs.max as number | undefined)];
}

function findQcfs(ir: SnnIr): { chain: OnnxOpNode[]; lambda: number; levels: number } | undefined {
  const consumers = consumersOf(ir);
  const byId = nodeById(ir);
  for (const start of ir.nodes) {
    if (start.kind !== 'onnx' || start.op !== 'Div') continue;
    const chain: OnnxOpNode[] = [];
    const ctx = { lambda: NaN, levels: NaN };
    let node: IrNode | undefined = start;
    for (const [i, step] of QCFS.entries()) {
      if (!node || node.kind !== 'onnx' || node.op !== step.op) break;
      if (step.op === 'Clip') {
        const [lo, hi] = clipBounds(ir, node);
        if (lo !== 0 || hi !== 1) break;
      } else if (step.constant) {
        const v = scalarConstant(ir, node);
        if (v === undefined) break;
        if (i === 0) ctx.lambda = v;
        if (i === 1) ctx.levels = v;
        if (!step.constant(v, ctx)) break;
      }
      chain.push(node);
      if (i === QCFS.length - 1) return { chain, lambda: ctx.lambda, levels: ctx.levels };
      const next: IrNode[] = consumers.get(node.id) ?? [];
      if (next.length !== 1 || ir.output.id === node.id) break;
      node = byId.get(next[0].id);
    }
  }
  return undefined;
}

/** ONNX names "/act1/Div", "/act1/Mul_1", … → the module they share, "act1". */
function commonModule(names: string[]): string {
  const split = names.map((s) => s.replace(/^\//, '').split('/').slice(0, -1));
  const first = split[0];
  let k = 0;
  while (k < first.length && split.every((p) => p[k] === first[k])) k++;
  return first.slice(0, k).join('/');
}
