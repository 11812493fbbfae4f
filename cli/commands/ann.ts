/**
 * `snnc ann <model.onnx> --input x.npy`: runs the model as an ordinary ANN (the reference every spiking
 * result is compared with) and reports accuracy against labels.
 */
import { indexIn, SnncError } from '../../compiler/errors.ts';
import type { AnnGraph, Tensor } from '../../compiler/graph.ts';
import type { NonFiniteOutputError } from '../../runtime/ann/execute.ts';
import { tensorSize } from '../../compiler/graph.ts';
import { forEachWindow } from '../../runtime/data/source.ts';
import { writeFileAtomic, writeNpy } from '../../runtime/npy.ts';
import { argmaxRows, countCorrect } from '../../runtime/metrics.ts';
import { checkLabelRange, type ImageFlags, imageOptions, openDataset, parseShard } from '../data.ts';
import { checkOutputPath, createProgress, formatTable, printJson } from '../common.ts';
import { fileSha256, type Partial, toJsonArray, writePartial } from '../partial.ts';

export interface AnnOptions extends ImageFlags {
  input: string;
  labels?: string;
  inputDivisor?: number;
  limit?: number;
  batchSize?: number;
  logits?: string;
  json?: boolean;
  /** `i/n`: run shard i of n and write its partial result to `output`. */
  shard?: string;
  /** The result without timings as JSON; with --shard, the partial result. */
  output?: string;
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
  const shard = options.shard !== undefined ? parseShard(options.shard) : undefined;
  if (shard && !options.output) throw new SnncError(`--shard ${options.shard} writes a partial result: give it a file with -o part-${shard.index}.json`);
  // Fail on a bad output path before spending time on inference.
  for (const out of [options.logits, options.output]) if (out) checkOutputPath(out);

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
  const data = await openDataset(
    { input: options.input, labels: options.labels, limit: options.limit, classes: declaredClasses(graph), shard, images: imageOptions(options) },
    graph.inputs[0]!,
  );
  const samples = data.to - data.from;
  const labels = data.labels?.subarray(data.from, data.to);

  // A window of samples at a time (runtime/data/source.ts): memory holds one window and the logits.
  const progress = await createProgress('ann');
  const start = performance.now();
  const windows: Tensor[] = [];
  try {
    await forEachWindow(
      data.source,
      data.from,
      data.to,
      (x, first, count) => {
        const done = first - data.from;
        const feed: Tensor = { dtype: 'float32', dims: [count, ...data.source.sampleShape], data: x };
        try {
          windows.push(runBatched(graph, feed, { batchSize: options.batchSize, onProgress: (d) => progress.update(done + d, samples) }));
        } catch (e) {
          throw e instanceof NonFiniteOutputError ? overflowError(e, graph, options.input, first) : e;
        }
      },
      options.inputDivisor ?? 1,
    );
  } finally {
    progress.stop();
    data.source.close();
  }
  const seconds = (performance.now() - start) / 1000;
  const logits = concatRows(windows);

  // Per-sample outputs beyond [N, C] (e.g. [N, C, 1, 1]) are flattened into classes.
  const classes = tensorSize(logits.dims.slice(1));
  checkFiniteLogits(logits, graph, options.input);
  if (labels) checkLabelRange(labels, classes, options.labels!);
  const correct = labels ? countCorrect(argmaxRows(logits.data, classes), labels) : null;
  if (options.logits) {
    writeNpy(options.logits, { dtype: 'float32', shape: [samples, classes], data: Float32Array.from(logits.data) });
  }

  if (shard) {
    const partial: AnnPartialData = { predictions: toJsonArray(argmaxRows(logits.data, classes)), labels: labels ? toJsonArray(labels) : null, classes };
    writePartial(options.output!, 'ann', annKey(modelPath, options), shard, data, partial);
    process.stderr.write(`wrote ${options.output}: shard ${shard.index}/${shard.count}, samples ${data.from}…${data.to - 1} of ${data.samples}\n`);
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
  if (options.output && !shard) writeFileAtomic(options.output, annResultJson(result));
  if (options.json) printJson(result);
  else process.stdout.write(renderAnnResult(result));
}

/** `-o result.json`: the result without its wall time and logits file (a shard writes its own rows), the same bytes whether run whole or merged from shards. */
function annResultJson(r: AnnResult): string {
  const { seconds: _s, logits: _l, ...rest } = r;
  return `${JSON.stringify(rest, null, 2)}\n`;
}

type AnnKey = { model: string; model_sha256: string; input: string; labels: string | null; limit: number | null; input_divisor: number | null; image_options: ReturnType<typeof imageOptions> };

function annKey(modelPath: string, o: AnnOptions): AnnKey {
  return {
    model: modelPath,
    model_sha256: fileSha256(modelPath),
    input: o.input,
    labels: o.labels ?? null,
    limit: o.limit ?? null,
    input_divisor: o.inputDivisor ?? null,
    image_options: imageOptions(o),
  };
}

interface AnnPartialData {
  predictions: number[];
  labels: number[] | null;
  classes: number;
}

/** `snnc merge` of ann parts: what `snnc ann -o` writes for the whole run. */
export async function mergeAnn(parts: Array<Partial & { file: string }>): Promise<string> {
  const key = parts[0]!.key as AnnKey;
  if (fileSha256(key.model) !== key.model_sha256) throw new SnncError(`is not the model the parts were run with (its sha256 differs from ${parts[0]!.file}'s)`, { file: key.model });
  const predictions: number[] = [];
  const labels: number[] = [];
  for (const p of parts) {
    const d = p.data as AnnPartialData;
    if (!Array.isArray(d?.predictions) || d.predictions.length !== p.to - p.from) throw new SnncError('malformed ann partial (predictions)', { file: p.file });
    predictions.push(...d.predictions);
    if (d.labels) labels.push(...d.labels);
  }
  const samples = parts[0]!.samples;
  const correct = key.labels ? countCorrect(Int32Array.from(predictions), labels) : null;
  return annResultJson({
    model: key.model,
    input: key.input,
    labels: key.labels,
    samples,
    classes: (parts[0]!.data as AnnPartialData).classes,
    correct,
    accuracy: correct === null ? null : correct / samples,
    seconds: 0,
    logits: null,
  });
}

/** The windows' outputs as one [samples, …] tensor. */
function concatRows(parts: Tensor[]): Tensor {
  if (parts.length === 1) return parts[0]!;
  const total = parts.reduce((a, t) => a + t.data.length, 0);
  const data = new Float32Array(total);
  let at = 0;
  for (const t of parts) {
    data.set(t.data as ArrayLike<number>, at);
    at += t.data.length;
  }
  return { dtype: 'float32', dims: [parts.reduce((a, t) => a + t.dims[0]!, 0), ...parts[0]!.dims.slice(1)], data };
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
function overflowError(e: NonFiniteOutputError, graph: AnnGraph, input: string, windowFirst = 0): SnncError {
  const first = windowFirst + (e.context.batch?.first ?? 0);
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
