/**
 * Load + inspect benchmark: a synthetic ONNX MLP with > 10 M float parameters (raw_data initializers, as
 * PyTorch writes them), timed through loadOnnx and the `snnc inspect` summary (two shape inferences).
 */
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { summarizeOnnx } from '../cli/commands/inspect.ts';
import { loadOnnx } from '../compiler/onnx/load.ts';
import { inferShapes } from '../compiler/shapes.ts';

const { onnx } = onnxProto;
const FLOAT = 1;
/** Layer widths: 1024·2048 + 2048·2048 + 2048·2048 + 2048·10 weights ≈ 10.5 M parameters. */
const WIDTHS = [1024, 2048, 2048, 2048, 10];
/** Timed repetitions; the median is reported. */
const RUNS = 3;

export interface LoadBenchResult {
  params: number;
  bytes: number;
  load_ms: number;
  infer_shapes_ms: number;
  inspect_ms: number;
  node_version: string;
  date: string;
}

/** Deterministic filler values in [-0.05, 0.05): the loader's speed does not depend on them. */
function fillerWeights(count: number, seed: number): Uint8Array {
  const values = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    values[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  return new Uint8Array(values.buffer);
}

/** Gemm → Relu → … → Gemm over WIDTHS, with a dynamic batch. Returns the encoded model and its parameter count. */
function buildMlp(): { bytes: Uint8Array; params: number } {
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const initializers: onnxProto.onnx.ITensorProto[] = [];
  let params = 0;
  let current = 'input';
  for (let layer = 0; layer < WIDTHS.length - 1; layer++) {
    const [inWidth, outWidth] = [WIDTHS[layer]!, WIDTHS[layer + 1]!];
    const [weight, bias] = [`fc${layer}.weight`, `fc${layer}.bias`];
    initializers.push({ name: weight, dataType: FLOAT, dims: [outWidth, inWidth], rawData: fillerWeights(outWidth * inWidth, layer + 1) });
    initializers.push({ name: bias, dataType: FLOAT, dims: [outWidth], rawData: fillerWeights(outWidth, 100 + layer) });
    params += outWidth * inWidth + outWidth;
    const last = layer === WIDTHS.length - 2;
    const gemmOut = last ? 'logits' : `fc${layer}`;
    nodes.push({
      name: `/fc${layer}/Gemm`,
      opType: 'Gemm',
      input: [current, weight, bias],
      output: [gemmOut],
      attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    });
    current = gemmOut;
    if (!last) {
      nodes.push({ name: `/relu${layer}/Relu`, opType: 'Relu', input: [gemmOut], output: [`relu${layer}`] });
      current = `relu${layer}`;
    }
  }
  const valueInfo = (name: string, width: number): onnxProto.onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } },
  });
  const model = onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'snnc-bench',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'bench_mlp',
      node: nodes,
      initializer: initializers,
      input: [valueInfo('input', WIDTHS[0]!)],
      output: [valueInfo('logits', WIDTHS.at(-1)!)],
    },
  }).finish();
  return { bytes: model, params };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs fn once: its result and the milliseconds it took. */
function timed<T>(fn: () => T): [T, number] {
  const start = performance.now();
  const result = fn();
  return [result, performance.now() - start];
}

export function benchLoad(): Record<string, LoadBenchResult> {
  const { bytes, params } = buildMlp();
  const file = join(tmpdir(), `snnc-bench-load-${process.pid}.onnx`);
  writeFileSync(file, bytes);
  try {
    const load: number[] = [];
    const shapes: number[] = [];
    const inspect: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const [graph, loadMs] = timed(() => loadOnnx(file));
      load.push(loadMs);
      shapes.push(timed(() => inferShapes(graph, 1))[1]);
      inspect.push(timed(() => summarizeOnnx(graph))[1]);
    }
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return {
      load_inspect_10M: {
        params,
        bytes: statSync(file).size,
        load_ms: round(median(load)),
        infer_shapes_ms: round(median(shapes)),
        inspect_ms: round(median(inspect)),
        node_version: process.version,
        date: new Date().toISOString(),
      },
    };
  } finally {
    rmSync(file, { force: true });
  }
}
