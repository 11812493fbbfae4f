/**
 * Pattern capture: QCFS activations arrive as seven ONNX ops,
 *   Div(x, λ) → Mul(·, L) → Add(·, 0.5) → Floor → Div(·, L) → Clip(·, 0, 1) → Mul(·, λ),
 * and become one `qcfs` node (λ, L) that the neuron pass turns into IF neurons with θ = λ, v(0) = θ/2.
 */
import { SnncError } from '../errors.ts';
import { consumersOf, nodeById, pruneUnused, renameUses } from '../ir/edit.ts';
import type { ActivationNode, IrNode, OnnxOpNode, SnnIr } from '../ir/types.ts';

type Step = { op: string; constant?: (v: number, ctx: { lambda: number; levels: number }) => boolean; expected?: string };

/** The QCFS chain; the first two steps bind λ and L, the rest must agree with them. */
const QCFS: Step[] = [
  { op: 'Div', constant: (v) => v > 0 && Number.isFinite(v), expected: 'λ, a positive finite number' },
  { op: 'Mul', constant: (v) => Number.isInteger(v) && v >= 1, expected: 'L, an integer ≥ 1' },
  { op: 'Add', constant: (v) => v === 0.5, expected: '0.5' },
  { op: 'Floor' },
  { op: 'Div', constant: (v, c) => v === c.levels, expected: 'L again' },
  { op: 'Clip', expected: 'the bounds 0 and 1' },
  { op: 'Mul', constant: (v, c) => Math.abs(v - c.lambda) <= 1e-6 * c.lambda, expected: 'λ again' },
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
    const chain = followOps(ir, start, consumers, byId);
    if (chain) return { chain, ...bindConstants(ir, chain) };
  }
  return undefined;
}

/** The seven QCFS ops from `start`, each the sole consumer of the one before, or undefined. */
function followOps(ir: SnnIr, start: OnnxOpNode, consumers: Map<string, IrNode[]>, byId: Map<string, IrNode>): OnnxOpNode[] | undefined {
  const chain: OnnxOpNode[] = [];
  let node: IrNode | undefined = start;
  for (const [i, step] of QCFS.entries()) {
    if (!node || node.kind !== 'onnx' || node.op !== step.op) return undefined;
    if (step.constant && scalarConstant(ir, node) === undefined) return undefined;
    chain.push(node);
    if (i === QCFS.length - 1) return chain;
    const next: IrNode[] = consumers.get(node.id) ?? [];
    if (next.length !== 1 || ir.output.id === node.id) return undefined;
    node = byId.get(next[0].id);
  }
  return undefined;
}

/**
 * λ and L from a chain with the QCFS ops. A wrong constant (λ ≤ 0 or NaN, L = 2.5) is reported here by
 * name: uncaptured, the chain would surface later as a baffling "Floor has no spiking conversion".
 */
function bindConstants(ir: SnnIr, chain: OnnxOpNode[]): { lambda: number; levels: number } {
  const ctx = { lambda: NaN, levels: NaN };
  for (const [i, step] of QCFS.entries()) {
    const node = chain[i];
    let value: number | string | undefined;
    let ok = true;
    if (step.op === 'Clip') {
      const [lo, hi] = clipBounds(ir, node);
      ok = lo === 0 && hi === 1;
      value = `[${lo}, ${hi}]`;
    } else if (step.constant) {
      const v = scalarConstant(ir, node)!;
      if (i === 0) ctx.lambda = v;
      if (i === 1) ctx.levels = v;
      ok = step.constant(v, ctx);
      value = v;
    }
    if (!ok) {
      throw new SnncError(`QCFS activation (Div → Mul → Add → Floor → Div → Clip → Mul) with constant ${value} where ${step.expected} is expected`, {
        node: node.onnx[0] ?? node.id,
        op: node.op,
      });
    }
  }
  return ctx;
}

/** ONNX names "/act1/Div", "/act1/Mul_1", … → the module they share, "act1". */
function commonModule(names: string[]): string {
  const split = names.map((s) => s.replace(/^\//, '').split('/').slice(0, -1));
  const first = split[0];
  let k = 0;
  while (k < first.length && split.every((p) => p[k] === first[k])) k++;
  return first.slice(0, k).join('/');
}
