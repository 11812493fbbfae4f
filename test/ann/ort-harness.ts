/**
 * Runs many small op cases against onnxruntime-web in one session per opset: the cases are merged into one
 * model (names prefixed by the case name), run by ORT once per batch size, and each case is then run by
 * our executor as its own subgraph and shape-inferred, so a failure names the case.
 */
import * as ort from 'onnxruntime-web';
import { expect } from 'vitest';
import type { AnnGraph, Tensor } from '../../compiler/graph.ts';
import { loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { inferShapes } from '../../compiler/shapes.ts';
import { executeGraph } from '../../runtime/ann/execute.ts';
import type { ElemType, InitializerSpec, NodeSpec } from '../helpers/onnx-builder.ts';
import { buildModel, randomTensor } from '../helpers/onnx-builder.ts';

ort.env.logLevel = 'error';

export interface CaseInput {
  name: string;
  /** 'N' is the dynamic batch dim. */
  dims: (number | 'N')[];
  lo?: number;
  hi?: number;
}

export interface OpCase {
  name: string;
  nodes: NodeSpec[];
  inputs: CaseInput[];
  outputs: (string | { name: string; dtype: ElemType })[];
  initializers?: InitializerSpec[];
}

export interface CaseRun {
  batch: number;
  feeds: Record<string, Tensor>;
  /** ORT's outputs by (prefixed) name, as float64 values with dims. */
  expected: Map<string, { dims: number[]; data: Float64Array }>;
}

export interface GroupResult {
  graph: AnnGraph;
  runs: CaseRun[];
}

const prefixed = (caseName: string, value: string): string => (value ? `${caseName}/${value}` : '');

function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

export async function runGroup(cases: OpCase[], opset: number, batches: number[]): Promise<GroupResult> {
  const outputName = (o: OpCase['outputs'][number]) => (typeof o === 'string' ? o : o.name);
  const bytes = buildModel({
    opset,
    nodes: cases.flatMap((c) =>
      c.nodes.map((n, i) => ({
        ...n,
        name: `${c.name}/${n.name ?? `${n.op}_${i}`}`,
        inputs: n.inputs.map((v) => prefixed(c.name, v)),
        outputs: n.outputs.map((v) => prefixed(c.name, v)),
      })),
    ),
    inputs: cases.flatMap((c) => c.inputs.map((v) => ({ name: prefixed(c.name, v.name), dims: v.dims }))),
    outputs: cases.flatMap((c) =>
      c.outputs.map((o) => ({ name: prefixed(c.name, outputName(o)), dtype: typeof o === 'string' ? 'float32' : o.dtype })),
    ),
    initializers: cases.flatMap((c) => (c.initializers ?? []).map((t) => ({ ...t, name: prefixed(c.name, t.name) }))),
  });
  const graph = loadOnnxBytes(bytes, { path: `ops-opset${opset}.onnx` });
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const runs: CaseRun[] = [];
  for (const batch of batches) {
    const feeds: Record<string, Tensor> = {};
    for (const c of cases) {
      for (const v of c.inputs) {
        const name = prefixed(c.name, v.name);
        feeds[name] = randomTensor(v.dims.map((d) => (d === 'N' ? batch : d)), seedOf(`${name}#${batch}`), v.lo, v.hi);
      }
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', t.data as Float32Array, t.dims);
    const results = await session.run(ortFeeds);
    const expected = new Map<string, { dims: number[]; data: Float64Array }>();
    for (const [name, t] of Object.entries(results)) {
      expected.set(name, { dims: t.dims.map(Number), data: Float64Array.from(t.data as ArrayLike<number | bigint>, Number) });
    }
    runs.push({ batch, feeds, expected });
  }
  await session.release();
  return { graph, runs };
}

/** The part of the merged graph that belongs to one case. */
export function caseGraph(graph: AnnGraph, caseName: string): AnnGraph {
  const mine = (name: string) => name.startsWith(`${caseName}/`);
  return {
    ...graph,
    inputs: graph.inputs.filter((v) => mine(v.name)),
    outputs: graph.outputs.filter((v) => mine(v.name)),
    nodes: graph.nodes.filter((n) => mine(n.name)),
  };
}

/** Worst error, absolute below magnitude 1 and relative above. */
export function worstError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(err <= worst)) worst = err; // NaN counts as the worst
  }
  return worst;
}

/**
 * Runs case `name` of `group` with our executor at every batch size and checks it against ORT: every output
 * within `tolerance` (same dims), and the shape rules agreeing with every value the kernels produced.
 */
export function expectCaseMatches(group: GroupResult, name: string, tolerance: number): void {
  const graph = caseGraph(group.graph, name);
  for (const run of group.runs) {
    const feeds: Record<string, Tensor> = Object.fromEntries(graph.inputs.map((v) => [v.name, run.feeds[v.name]]));
    const values = executeGraph(graph, feeds, { keep: () => true });
    const shapes = inferShapes(graph, run.batch);
    for (const output of graph.outputs) {
      const expected = run.expected.get(output.name)!;
      const actual = values.get(output.name)!;
      const what = `${output.name} at batch ${run.batch}`;
      expect(actual.dims, what).toEqual(expected.dims);
      expect(worstError(actual.data, expected.data), what).toBeLessThanOrEqual(tolerance);
    }
    for (const [value, t] of values) {
      expect(shapes.get(value), `inferShapes of ${value} at batch ${run.batch}`).toEqual({ dtype: t.dtype, dims: t.dims });
    }
  }
}

