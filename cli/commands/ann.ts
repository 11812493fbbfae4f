/**
 * `snnc ann <model.onnx> --input x.npy`: runs the model as an ordinary ANN (the reference every spiking
 * result is compared with) and reports accuracy against labels.
 */
import { indexIn, SnncError } from '../../compiler/errors.ts';
import type { AnnGraph, Tensor } from '../../compiler/graph.ts';
import type { NonFiniteOutputError } from '../../runtime/ann/execute.ts';
import { tensorSize } from '../../compiler/graph.ts';
import { writeNpy } from '../../runtime/npy.ts';
import { argmaxRows, countCorrect } from '../../runtime/metrics.ts';
import { checkLabelRange, loadDataset } from '../data.ts';
import { checkOutputPath, createProgress, formatTable, printJson } from '../common.ts';

export interface AnnOptions {
  input: string;
  labels?: string;
  inputDivisor?: number;
  limit?: number;
  batchSize?: number;
  logits?: string;
  json?: boolean;
}

export interface AnnResult {
  model: string;
  input: string;
  labels: string | null;
  samples: number;
  classes: number;
  /** Correct predictions; null without labels. */
  correct: number | null;
  /** correct / samples in [0, 1]; null without labels. */
  accuracy: number | null;
  /** Wall time of inference alone (not loading). */
  seconds: number;
  logits: string | null;
}

export async function ann(modelPath: string, options: AnnOptions): Promise<void> {
  // Fail on a bad output path before spending time on inference.
  if (options.logits) checkOutputPath(options.logits);

  const [{ loadOnnx }, { runBatched, SUPPORTED_OPS, NonFiniteOutputError }] = await Promise.all([
    import('../../compiler/onnx/load.ts'),
    import('../../runtime/ann/execute.ts'),
  ]);
  const graph = loadOnnx(modelPath);
  checkSupported(graph, SUPPORTED_OPS);

  if (graph.inputs.length !== 1) {
    const names = graph.inputs.map((i) => i.name).join(', ');
    throw new SnncError(`snnc ann supports models with one input; this one has ${graph.inputs.length} (${names})`, {
      file: graph.source.path,
    });
  }
  const { x: input, labels, samples } = loadDataset(
    { input: options.input, labels: options.labels, limit: options.limit, divisor: options.inputDivisor, classes: declaredClasses(graph) },
    graph.inputs[0]!,
  );

  const progress = await createProgress('ann');
  const start = performance.now();
  let logits: Tensor;
  try {
    logits = runBatched(graph, input, { batchSize: options.batchSize, onProgress: (done, total) => progress.update(done, total) });
  } catch (e) {
    throw e instanceof NonFiniteOutputError ? overflowError(e, graph, options.input) : e;
  } finally {
    progress.stop();
  }
  const seconds = (performance.now() - start) / 1000;

  // Per-sample outputs beyond [N, C] (e.g. [N, C, 1, 1]) are flattened into classes.
  const classes = tensorSize(logits.dims.slice(1));
  checkFiniteLogits(logits, graph, options.input);
  if (labels) checkLabelRange(labels, classes, options.labels!);
  const correct = labels ? countCorrect(argmaxRows(logits.data, classes), labels) : null;
  if (options.logits) {
    writeNpy(options.logits, { dtype: 'float32', shape: [samples, classes], data: Float32Array.from(logits.data) });
  }

  const result: AnnResult = {
    model: modelPath,
    input: options.input,
    labels: options.labels ?? null,
    samples,
    classes,
    correct,
    accuracy: correct === null ? null : correct / samples,
    seconds,
    logits: options.logits ?? null,
  };
  if (options.json) printJson(result);
  else process.stdout.write(renderAnnResult(result));
}

/** The class count from the model's declared output shape, if every axis after the batch is fixed. */
function declaredClasses(graph: AnnGraph): number | undefined {
  const dims = graph.outputs[0]?.dims.slice(1) ?? [];
  return dims.length > 0 && dims.every((d) => d > 0) ? tensorSize(dims) : undefined;
}

/** Inf/NaN logits are float32 overflow inside the model, not a result: argmax over them means nothing. */
function checkFiniteLogits(logits: Tensor, graph: AnnGraph, input: string): void {
  const i = logits.data.findIndex((v) => !Number.isFinite(v));
  if (i < 0) return;
  throw new SnncError(`output ${logits.data[i]} at ${indexIn(logits.dims, i)} on the samples of ${input}: the values overflow float32 inside the model`, {
    file: graph.source.path,
  });
}

/**
 * Overflow inside the model, named with the samples file: in the logits, at its [sample, class] like
 * checkFiniteLogits; in an intermediate, at the node that made it (runtime/ann/execute.ts checks each one).
 */
function overflowError(e: NonFiniteOutputError, graph: AnnGraph, input: string): SnncError {
  const first = e.context.batch?.first ?? 0;
  if (!e.graphOutput || e.dims.length === 0) return e.with({ samplesFile: input });
  const perSample = tensorSize(e.dims.slice(1));
  const at = indexIn([first + e.dims[0]!, ...e.dims.slice(1)], first * perSample + e.index);
  return new SnncError(`output ${e.value} at ${at} on the samples of ${input}: the values overflow float32 inside the model`, { file: graph.source.path });
}

function checkSupported(graph: AnnGraph, supported: ReadonlySet<string>): void {
  const unsupported = graph.nodes.filter((n) => !supported.has(n.op));
  if (unsupported.length === 0) return;
  const ops = [...new Set(unsupported.map((n) => n.op))];
  const others = ops.length > 1 ? ` (unsupported ops: ${ops.join(', ')})` : '';
  throw new SnncError(`op ${unsupported[0]!.op} is not supported by the ANN executor${others}`, {
    file: graph.source.path,
    node: unsupported[0]!.name,
  });
}

function renderAnnResult(r: AnnResult): string {
  const rows = [['samples', String(r.samples)]];
  if (r.accuracy !== null) rows.push(['accuracy', `${(100 * r.accuracy).toFixed(2)} % (${r.correct}/${r.samples})`]);
  rows.push(['time', `${r.seconds.toFixed(2)} s (${Math.round(r.samples / r.seconds)} samples/s)`]);
  if (r.logits) rows.push(['logits', `${r.logits} [${r.samples}, ${r.classes}]`]);
  return `${formatTable(rows)}\n`;
}
