/**
 * Shape inference over an ONNX graph: every value's dtype and dims from the per-op shape rules
 * (compiler/ops/rules.ts), with small constant subgraphs (Shape → Gather → Concat → Reshape) evaluated by the
 * op kernels (compiler/ops/kernels/) so the shapes they compute resolve.
 */
import type { AnnGraph, Tensor } from './graph.ts';
import { tensorSize } from './graph.ts';
import { type NodeContext, type ShapedValue, type ValueShape, nodeError, outputShapes } from './ops/rules.ts';
import { kernels } from './ops/kernels/index.ts';

/** Values up to this many elements are computed during inference when all their inputs are known. */
const MAX_PROPAGATED_ELEMENTS = 1024;

/**
 * The dtype and dims of every value in the graph (inputs, initializers, node outputs), with dynamic graph-input
 * dims (-1) set to `batch`. Small tensors computable from shapes and constants (Shape → Gather → Unsqueeze →
 * Concat chains) are evaluated along the way, so the Reshape targets they feed resolve.
 */
export function inferShapes(graph: AnnGraph, batch: number): Map<string, ValueShape> {
  const known = new Map<string, ShapedValue>();
  for (const [name, t] of graph.initializers) known.set(name, t);
  for (const v of graph.inputs) known.set(v.name, { dtype: v.dtype, dims: v.dims.map((d) => (d < 0 ? batch : d)) });

  for (const node of graph.nodes) {
    const ctx: NodeContext = { node, opset: graph.opset, file: graph.source.path };
    const inputs = node.inputs.map((name) => {
      if (!name) return undefined;
      const v = known.get(name);
      if (!v) throw nodeError(ctx, `input ${name} has no known shape (is the graph in topological order?)`);
      return v;
    });
    const shapes = outputShapes(ctx, inputs);
    const values = propagatedValues(ctx, inputs, shapes);
    node.outputs.forEach((name, i) => {
      if (name && shapes[i]) known.set(name, values?.[i] ?? shapes[i]);
    });
  }

  const result = new Map<string, ValueShape>();
  for (const [name, v] of known) result.set(name, { dtype: v.dtype, dims: v.dims });
  return result;
}

/** The outputs' values when they are small and follow from known inputs (Shape needs only dims). */
function propagatedValues(ctx: NodeContext, inputs: (ShapedValue | undefined)[], shapes: ValueShape[]): Tensor[] | undefined {
  if (shapes.some((s) => tensorSize(s.dims) > MAX_PROPAGATED_ELEMENTS)) return undefined;
  const known = ctx.node.op === 'Shape' || inputs.every((v) => v === undefined || v.data !== undefined);
  // The Shape kernel reads only its input's dims, so it runs on a value whose data is unknown.
  return known ? kernels().get(ctx.node.op)!(ctx, inputs as (Tensor | undefined)[]) : undefined;
}
