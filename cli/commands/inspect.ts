/**
 * `snnc inspect <file>`: what a model contains. Dispatches on the file's suffix: ONNX models here, the
 * spiking IR (`.snn.json`) in inspect-ir.ts.
 */
import { SnncError } from '../../compiler/errors.ts';
import type { AnnGraph, DType } from '../../compiler/graph.ts';
import { isFloat, tensorSize } from '../../compiler/graph.ts';
import { inferShapes } from '../../compiler/shapes.ts';
import { formatCount, formatTable, printJson } from '../common.ts';

export interface InspectOptions {
  json?: boolean;
}

/** A dimension: a number, 'N' for the dynamic batch, '?' for another dynamic dimension. */
export type Dim = number | 'N' | '?';

export interface ValueSummary {
  name: string;
  dtype: DType | string;
  shape: Dim[];
}

export interface NodeSummary {
  name: string;
  op: string;
  outputs: ValueSummary[];
  parameters: number;
}

export interface OnnxSummary {
  file: string;
  format: 'onnx';
  graph: string;
  opset: number;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** Elements of the float initializers the nodes read, each initializer counted once. */
  parameters: number;
  /** Node count per op type, sorted by op name. */
  ops: Record<string, number>;
  nodes: NodeSummary[];
}

interface Inspector {
  suffix: string;
  run(file: string, options: InspectOptions): Promise<void>;
}

const INSPECTORS: Inspector[] = [
  { suffix: '.onnx', run: inspectOnnx },
  { suffix: '.json', run: async (file, options) => (await import('./inspect-ir.ts')).inspectIr(file, options) },
];

export async function inspect(file: string, options: InspectOptions): Promise<void> {
  const inspector = INSPECTORS.find((i) => file.toLowerCase().endsWith(i.suffix));
  if (!inspector) {
    const known = INSPECTORS.map((i) => i.suffix).join(', ');
    throw new SnncError(`unknown file type (snnc inspect reads ${known})`, { file });
  }
  await inspector.run(file, options);
}

async function inspectOnnx(file: string, options: InspectOptions): Promise<void> {
  // The loader pulls in onnx-proto: import it only when a model is actually read.
  const { loadOnnx } = await import('../../compiler/onnx/load.ts');
  const summary = summarizeOnnx(loadOnnx(file));
  if (options.json) printJson(summary);
  else process.stdout.write(`${renderOnnxSummary(summary)}\n`);
}

/**
 * The model summary. Shapes come from shape inference at batch 1 and at batch 2: a dimension that
 * differs between the two is the dynamic batch, shown as 'N'.
 */
export function summarizeOnnx(graph: AnnGraph): OnnxSummary {
  const [one, two] = [inferShapes(graph, 1), inferShapes(graph, 2)];
  const valueSummary = (name: string, declared?: { dtype: DType; dims: number[] }): ValueSummary => {
    const a = one.get(name);
    const b = two.get(name);
    if (a && b) return { name, dtype: a.dtype, shape: a.dims.map((d, i) => (d === b.dims[i] ? d : 'N')) };
    // Not inferred (should not happen for graph values): fall back to the declared shape, -1 = dynamic.
    if (declared) return { name, dtype: declared.dtype, shape: declared.dims.map((d, i) => (d >= 0 ? d : i === 0 ? 'N' : '?')) };
    return { name, dtype: '?', shape: [] };
  };

  const floatParameters = (name: string): number => {
    const t = graph.initializers.get(name);
    // Integer initializers are shapes, axes and indices, not learned parameters.
    return t && isFloat(t.dtype) ? tensorSize(t.dims) : 0;
  };

  const ops = new Map<string, number>();
  const parameterInputs = new Set<string>();
  const nodes: NodeSummary[] = graph.nodes.map((node) => {
    ops.set(node.op, (ops.get(node.op) ?? 0) + 1);
    let parameters = 0;
    for (const input of new Set(node.inputs)) {
      const n = floatParameters(input);
      if (n > 0) parameterInputs.add(input);
      parameters += n;
    }
    const outputs = node.outputs.filter((o) => o !== '').map((o) => valueSummary(o));
    return { name: node.name, op: node.op, outputs, parameters };
  });

  let parameters = 0;
  for (const name of parameterInputs) parameters += floatParameters(name);

  return {
    file: graph.source.path,
    format: 'onnx',
    graph: graph.name,
    opset: graph.opset,
    inputs: graph.inputs.map((v) => valueSummary(v.name, v)),
    outputs: graph.outputs.map((v) => valueSummary(v.name, v)),
    parameters,
    ops: Object.fromEntries([...ops].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    nodes,
  };
}

function formatShape(shape: Dim[]): string {
  return `[${shape.join(', ')}]`;
}

export function renderOnnxSummary(s: OnnxSummary): string {
  const values = (label: string, list: ValueSummary[]) =>
    list.map((v, i) => [i === 0 ? label : '', v.name, v.dtype, formatShape(v.shape)]);
  const header = formatTable([
    ['model', s.file],
    ['graph', `${s.graph} (opset ${s.opset})`],
    ['parameters', formatCount(s.parameters)],
    [
      'ops',
      Object.entries(s.ops)
        .map(([op, n]) => `${op} ${n}`)
        .join(', '),
    ],
  ]);
  const io = formatTable([...values('inputs', s.inputs), ...values('outputs', s.outputs)]);
  const nodeRows = s.nodes.map((n) => [
    n.name,
    n.op,
    n.outputs.map((o) => formatShape(o.shape)).join(' '),
    formatCount(n.parameters),
  ]);
  const nodes = formatTable([['node', 'op', 'output shape', 'params'], ...nodeRows], new Set([3]));
  return [header, io, nodes].join('\n\n');
}
