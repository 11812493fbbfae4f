/**
 * Output shape of an IR node from its inputs' shapes: the one entry point to the kinds' shape rules
 * (`kinds.ts`). Builders call `deriveShape`, `checkShapes` re-derives every node of a document that was read back.
 */
import { SnncError } from '../errors.ts';
import { kindInfo, shapeError } from './kinds.ts';
import type { IrNode, IrTensor, Shape, SnnIr } from './types.ts';

export { convOutput } from './kinds.ts';

/**
 * `declared` is the shape a builder wants for shape-free nodes (reshape, select, onnx); for every other kind
 * it is ignored and the shape follows from inputs and parameters. The rules are the kinds' `shape` entries
 * in `kinds.ts`.
 */
export function deriveShape(node: IrNode, inputs: Shape[], tensors: Map<string, IrTensor>, declared?: Shape): Shape {
  const info = kindInfo(node.kind);
  if (!info) throw new SnncError(`unknown IR kind ${node.kind}`, { node: node.onnx[0] ?? node.id, op: node.kind });
  const dims = (name: string): number[] => {
    const t = tensors.get(name);
    if (!t) shapeError(node, `tensor ${name} is missing`);
    return t.dims;
  };
  return info.shape(node as never, inputs, { tensors, declared, dims });
}

/** Re-derives every node's shape from the input's: catches a hand-edited or corrupted IR. */
export function checkShapes(ir: SnnIr): void {
  const shapes = new Map<string, Shape>([[ir.input.id, ir.input.shape]]);
  for (const node of ir.nodes) {
    const inputs = node.inputs.map((id) => {
      const s = shapes.get(id);
      if (!s) throw new SnncError(`input ${id} is not defined before use`, { node: node.id, op: node.kind });
      return s;
    });
    const derived = deriveShape(node, inputs, ir.tensors, node.shape);
    if (derived.join() !== node.shape.join()) shapeError(node, `stored shape [${node.shape}] but inputs give [${derived}]`);
    shapes.set(node.id, derived);
  }
  if (!shapes.has(ir.output.id)) throw new SnncError(`output ${ir.output.id} is not a node`);
}
