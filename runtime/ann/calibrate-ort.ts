/**
 * Calibration statistics with onnxruntime (onnxruntime-node, CPU): the original ONNX model, with every
 * requested activation added as an extra graph output, runs the calibration set in batches, and the same
 * ActivationCollector as the reference executor turns the activations into percentiles.
 *
 * onnxruntime computes in float32 with its own summation order, so its activations differ from the
 * reference executor's in the last bits, and a percentile threshold can move by as much. `snnc compile`
 * therefore uses this engine only where it pays (see `chooseCalibrationEngine`), and the bundled fixtures
 * stay on the reference executor. For a given model, data and machine the result is deterministic.
 */
import { readFileSync, openSync, readSync, closeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { AnnGraph, Tensor } from '../../compiler/graph.ts';
import { tensorSize } from '../../compiler/graph.ts';
import { SnncError } from '../../compiler/errors.ts';
import { inferShapes } from '../../compiler/shapes.ts';
import { ActivationCollector, type LayerStats, type StatsRequest } from './calibrate.ts';

const { onnx } = onnxProto;
type Long = { toNumber(): number };

export type CalibrationEngine = 'auto' | 'ort' | 'js';
export const CALIBRATION_ENGINES: readonly CalibrationEngine[] = ['auto', 'ort', 'js'];

/**
 * `auto` picks onnxruntime from this much calibration work on (multiply-accumulates per sample × samples):
 * 2–10 s of the reference executor (1–5 G MAC/s on one core), where onnxruntime's start-up (under 1 s) is repaid
 * several times. Every bundled fixture's calibration is below 1 G MAC, so they stay on the reference executor.
 */
export const AUTO_ORT_MIN_WORK = 1e10;

/** Extra graph outputs of one batch held at once, in float32 values (128 MB): sets the batch size. */
const BATCH_VALUES = 2 ** 25;
const MAX_BATCH = 64;

export interface CalibrationWork {
  /** Multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul for one sample. */
  macsPerSample: number;
  /** Elements of the requested activations for one sample. */
  valuesPerSample: number;
}

/** What calibrating one sample costs, from the graph's shapes at batch 1. */
export function calibrationWork(graph: AnnGraph, requests: readonly StatsRequest[]): CalibrationWork {
  const shapes = inferShapes(graph, 1);
  const dimsOf = (name: string): number[] | undefined => graph.initializers.get(name)?.dims ?? shapes.get(name)?.dims;
  let macs = 0;
  for (const node of graph.nodes) {
    const out = dimsOf(node.outputs[0]);
    const a = dimsOf(node.inputs[0]);
    const b = node.inputs[1] ? dimsOf(node.inputs[1]) : undefined;
    if (!out || !a) continue;
    if (node.op === 'Conv' && b) macs += tensorSize(out) * tensorSize(b.slice(1));
    else if (node.op === 'ConvTranspose' && b) macs += tensorSize(a) * tensorSize(b.slice(1));
    else if (node.op === 'Gemm') macs += tensorSize(out) * (node.attrs.transA ? a[0] : a[a.length - 1]);
    else if (node.op === 'MatMul') macs += tensorSize(out) * a[a.length - 1];
  }
  const valuesPerSample = requests.reduce((n, r) => n + tensorSize(dimsOf(r.value) ?? []), 0);
  return { macsPerSample: macs, valuesPerSample };
}

/** `auto` → ort when the work is large (AUTO_ORT_MIN_WORK), else js; an explicit choice stands. */
export function chooseCalibrationEngine(engine: CalibrationEngine, work: CalibrationWork, samples: number): 'ort' | 'js' {
  if (engine !== 'auto') return engine;
  return work.macsPerSample * samples >= AUTO_ORT_MIN_WORK ? 'ort' : 'js';
}

export interface OrtStatsOptions {
  percentile: number;
  /** Samples per run; default: as many as keep the extra outputs of one batch near 128 MB (at most 64). */
  batchSize?: number;
  /** onnxruntime's intra-op threads; default: every core. */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * `activationStats` with onnxruntime: the statistics of `requests` over `input` (already divided by the
 * input divisor, batch first), for the model file `modelPath` that `graph` was loaded from.
 */
export async function ortActivationStats(
  modelPath: string,
  graph: AnnGraph,
  input: Tensor,
  requests: StatsRequest[],
  opts: OrtStatsOptions,
): Promise<Map<string, LayerStats>> {
  const file = graph.source.path;
  const inputName = graph.inputs[0].name;
  let model: { bytes: Uint8Array; fetches: Map<string, string> };
  try {
    model = withActivationOutputs(modelPath, requests.map((r) => r.value));
  } catch (e) {
    if (e instanceof SnncError) throw e.inFile(file);
    throw new SnncError(`cannot add the calibrated activations as graph outputs (${firstLine(e)})`, { file });
  }
  const { bytes, fetches } = model;
  let ort: typeof import('onnxruntime-node');
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    // An optional dependency: its install can fail (e.g. its postinstall's CUDA download, without
    // ONNXRUNTIME_NODE_INSTALL=skip) without failing snnc's.
    throw new SnncError(`onnxruntime-node is not installed (${firstLine(e)}); reinstall with ONNXRUNTIME_NODE_INSTALL=skip in the environment`);
  }
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: opts.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
    });
  } catch (e) {
    throw new SnncError(`onnxruntime cannot load the model (${firstLine(e)}); try --calibration-engine js`, { file });
  }
  try {
    const n = input.dims[0];
    const sampleSize = input.data.length / n;
    const fixedBatch = graph.inputs[0].dims[0];
    const batchSize = fixedBatch > 0 ? fixedBatch : opts.batchSize ?? defaultBatchSize(graph, requests);
    const collector = new ActivationCollector(requests);
    const names = requests.map((r) => fetches.get(r.value)!);
    for (let start = 0; start < n; start += batchSize) {
      const count = Math.min(batchSize, n - start);
      const data = input.data.subarray(start * sampleSize, (start + count) * sampleSize);
      const feed = new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), [count, ...input.dims.slice(1)]);
      let out: Record<string, InstanceType<typeof ort.Tensor>>;
      try {
        out = await session.run({ [inputName]: feed }, names);
      } catch (e) {
        throw new SnncError(`onnxruntime failed on calibration samples ${start}–${start + count - 1} (${firstLine(e)}); try --calibration-engine js`, { file });
      }
      requests.forEach((r, i) => {
        const t = out[names[i]];
        const values = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
        collector.add(r.value, values, t.dims);
        t.dispose();
      });
      opts.onProgress?.(start + count, n);
    }
    return collector.finish(opts.percentile);
  } finally {
    await session.release();
  }
}

function defaultBatchSize(graph: AnnGraph, requests: StatsRequest[]): number {
  let perSample = 0;
  try {
    perSample = calibrationWork(graph, requests).valuesPerSample;
  } catch {
    // Shapes the reference rules cannot infer: fall back to small batches.
    return 8;
  }
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_VALUES / Math.max(1, perSample))));
}

/**
 * The model's bytes with each value in `values` as a graph output, and the output name it has there. A value
 * that is already an output keeps its name; a graph input or initializer is routed through an Identity
 * (onnxruntime does not allow those as outputs). External data is inlined, since the session is
 * created from bytes and could not find the side files.
 */
export function withActivationOutputs(modelPath: string, values: readonly string[]): { bytes: Uint8Array; fetches: Map<string, string> } {
  const model = onnx.ModelProto.decode(readFileSync(modelPath));
  const g = model.graph!;
  g.output ??= [];
  g.node ??= [];
  const outputs = new Set(g.output.map((o) => o.name ?? ''));
  const sources = new Set([...(g.input ?? []).map((v) => v.name ?? ''), ...(g.initializer ?? []).map((t) => t.name ?? '')]);
  const taken = new Set<string>([...sources, ...g.node.flatMap((n) => n.output ?? [])]);
  const fetches = new Map<string, string>();
  for (const value of values) {
    if (fetches.has(value)) continue;
    if (outputs.has(value)) {
      fetches.set(value, value);
      continue;
    }
    let name = value;
    if (sources.has(value)) {
      name = `${value}__snnc_calibration`;
      while (taken.has(name)) name += '_';
      taken.add(name);
      g.node.push(onnx.NodeProto.create({ opType: 'Identity', name, input: [value], output: [name] }));
    }
    g.output.push(onnx.ValueInfoProto.create({ name }));
    outputs.add(name);
    fetches.set(value, name);
  }
  inlineExternalData(model, path.dirname(path.resolve(modelPath)));
  return { bytes: onnx.ModelProto.encode(model).finish(), fetches };
}

/** Bytes per element of raw_data, by ONNX data type (as in compiler/onnx/load.ts). */
const RAW_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

/**
 * Replaces external tensor data by raw_data read from the side files. The loader (compiler/onnx/load.ts)
 * has already checked every location, offset and length when it read the same model.
 */
function inlineExternalData(model: onnxProto.onnx.ModelProto, baseDir: string): void {
  const tensors: onnxProto.onnx.ITensorProto[] = [...(model.graph?.initializer ?? [])];
  for (const node of model.graph?.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t) tensors.push(a.t);
      for (const t of a.tensors ?? []) tensors.push(t);
    }
  }
  const external = tensors.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
  const where = external.map((t) => {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const dims = (t.dims ?? []).map((d) => (typeof d === 'number' ? d : (d as Long).toNumber()));
    const length = kv.has('length') ? Number(kv.get('length')) : tensorSize(dims) * (RAW_BYTES[t.dataType ?? 0] ?? 0);
    return { location: kv.get('location') ?? '', offset: Number(kv.get('offset') ?? 0), length };
  });
  const total = where.reduce((n, w) => n + w.length, 0);
  if (total > 1.9 * 2 ** 30) {
    // A protobuf message (the model the session is created from) cannot exceed 2 GB.
    throw new SnncError(`the model's external data (${(total / 2 ** 30).toFixed(1)} GB) is too large to inline for onnxruntime; use --calibration-engine js`);
  }
  external.forEach((t, i) => {
    const { location, offset, length } = where[i];
    const raw = new Uint8Array(length);
    const fd = openSync(path.resolve(baseDir, location), 'r');
    try {
      readSync(fd, raw, 0, length, offset);
    } finally {
      closeSync(fd);
    }
    t.rawData = raw;
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
    t.externalData = [];
  });
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}
