/**
 * The last pass: every node must now be of a kind the simulator and targets understand. Leftover ONNX
 * ops are reported by the pattern they belong to where it is recognisable, not as a bare op.
 */
import { SnncError } from '../errors.ts';
import { consumersOf, nodeById } from '../ir/edit.ts';
import { FINAL_KINDS } from '../ir/kinds.ts';
import type { IrNode, OnnxOpNode, SnnIr } from '../ir/types.ts';

export function checkSupported(ir: SnnIr): SnnIr {
  const leftovers = ir.nodes.filter((n) => n.kind === 'onnx') as OnnxOpNode[];
  const pattern = recognisePattern(ir, leftovers);
  if (pattern) throw new SnncError(pattern.message, { node: pattern.node.onnx[0], op: pattern.node.op });
  const odd = ir.nodes.find((n) => !FINAL_KINDS.has(n.kind));
  if (odd) {
    const op = odd.kind === 'onnx' ? odd.op : odd.kind;
    throw new SnncError(`${op} has no spiking conversion in snnc yet`, { node: odd.onnx[0], op });
  }
  return ir;
}

function recognisePattern(ir: SnnIr, leftovers: OnnxOpNode[]): { node: IrNode & { op: string }; message: string } | undefined {
  const consumers = consumersOf(ir);
  const byId = nodeById(ir);
  const next = (n: IrNode) => consumers.get(n.id) ?? [];
  for (const n of leftovers) {
    // LayerNorm at opset 13: ReduceMean → Sub → Pow → ReduceMean → Add → Sqrt → Div → Mul → Add. The
    // ReduceMean became a `mean` node; x − mean(x) (a Sub of two activations) gives the pattern away.
    const mean = n.op === 'Sub' ? n.inputs.map((x) => byId.get(x)).find((x) => x?.kind === 'mean') : undefined;
    if (mean) {
      return {
        node: { ...mean, op: 'ReduceMean' },
        message: `LayerNorm at node ${mean.onnx[0]}: it cannot be folded into a spiking network; replace it by BatchNorm as MST does`,
      };
    }
    // GELU: Div → Erf → Add → Mul → Mul.
    if (n.op === 'Erf' || (n.op === 'Div' && next(n).some((c) => c.kind === 'onnx' && c.op === 'Erf'))) {
      return { node: n, message: `GELU at node ${n.onnx[0]}: it has no spiking equivalent; replace it by ReLU or a QCFS activation` };
    }
  }
  return undefined;
}
