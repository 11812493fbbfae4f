/**
 * Loading a data set for a command: samples from .npy (checked against the model's input shape), optional
 * labels (one per sample; with a limit, at least one per sample used), an optional limit, scaling, and a
 * NaN/Inf check. Shared by ann, compile (calibration) and simulate, so each reports bad data the same way.
 */
import { SnncError } from '../compiler/errors.ts';
import type { Tensor } from '../compiler/graph.ts';
import { readFileSync, statSync } from 'node:fs';
import { openSource } from '../runtime/data/open.ts';
import { type ImageOptions, type SampleSource, windowSamples } from '../runtime/data/source.ts';
import { describeFsError, readNpy, toFloatTensor, toLabels, type NpyArray, type NpyData } from '../runtime/npy.ts';

export interface DatasetRequest {
  input: string;
  labels?: string;
  limit?: number;
  /** Input values are divided by this (1 = as stored). */
  divisor?: number;
  /** The model's class count, when known: every label must be below it. */
  classes?: number;
}

export interface Dataset {
  x: Tensor;
  labels?: Int32Array;
  samples: number;
}

/**
 * `expected` is the model's per-batch input shape with -1 (or 'N') for the batch axis, and `model` names
 * the model in the mismatch message.
 */
export function loadDataset(req: DatasetRequest, expected: { name: string; dims: number[] }): Dataset {
  let x = readNpy(req.input);
  checkInputShape(x, expected);
  let labels = req.labels ? toLabels(readNpy(req.labels)) : undefined;
  if (req.limit !== undefined && req.limit < x.shape[0]!) x = firstSamples(x, req.limit);
  const used = x.shape[0]!;
  if (labels) {
    // Without --limit the files must pair up exactly; with it, a longer labels file is fine: the first
    // `used` labels go with the samples used (e.g. a full label set with a cut-down input file).
    if (req.limit === undefined ? labels.length !== used : labels.length < used) {
      const limited = req.limit === undefined ? '' : ` (--limit ${req.limit})`;
      throw new SnncError(`${labels.length} labels for ${used} samples${limited} in ${req.input}`, { file: req.labels });
    }
    labels = labels.subarray(0, used);
    if (req.classes !== undefined) checkLabelRange(labels, req.classes, req.labels!);
  }
  return { x: toFloatTensor(x, { divisor: req.divisor }), labels, samples: used };
}

/** A label ≥ the class count can never be predicted: the accuracy would be quietly wrong. */
export function checkLabelRange(labels: Int32Array, classes: number, file: string): void {
  const i = labels.findIndex((label) => label >= classes);
  if (i >= 0) throw new SnncError(`label ${labels[i]} at index ${i} is not a class of a model with ${classes} outputs (0–${classes - 1})`, { file });
}

/** The data must match the model's input in rank and in every fixed dimension. */
function checkInputShape(x: Pick<NpyArray, 'shape' | 'source'>, expected: { name: string; dims: number[] }): void {
  const matches = x.shape.length === expected.dims.length && expected.dims.every((d, i) => d < 0 || d === x.shape[i]);
  if (!matches) {
    const want = `[${expected.dims.map((d, i) => (d >= 0 ? d : i === 0 ? 'N' : '?')).join(', ')}]`;
    throw new SnncError(`shape [${x.shape.join(', ')}] does not match the model input '${expected.name}' ${want}`, {
      file: x.source,
    });
  }
  if (x.shape[0] === 0) throw new SnncError('no samples (the first dimension is 0)', { file: x.source });
}

function firstSamples(x: NpyArray, count: number): NpyArray {
  const perSample = x.data.length / x.shape[0]!;
  const data = (x.data as NpyData).subarray(0, count * perSample) as NpyData;
  return { ...x, shape: [count, ...x.shape.slice(1)], data };
}

/** `--resize`, `--center-crop`, `--mean`, `--std` as commander parses them (image folders). */
export interface ImageFlags {
  resize?: number;
  centerCrop?: number;
  mean?: number[];
  std?: number[];
}

export function imageOptions(o: ImageFlags): ImageOptions {
  return { resize: o.resize, centerCrop: o.centerCrop, mean: o.mean, std: o.std };
}

/** `--shard i/n`: shard i (0-based, as JOB_COMPLETION_INDEX and SLURM_ARRAY_TASK_ID with --array=0-(n−1)) of n. */
export interface Shard {
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1 && index < count && count <= 1_000_000)) {
    throw new SnncError(`--shard ${text}: expected i/n with 0 ≤ i < n, e.g. --shard 0/4 for the first of four shards`);
  }
  return { index, count };
}

/** Shard i of n over `samples`: the contiguous range [⌊samples·i/n⌋, ⌊samples·(i+1)/n⌋). */
export function shardRange(shard: Shard, samples: number): { from: number; to: number } {
  return { from: Math.floor((samples * shard.index) / shard.count), to: Math.floor((samples * (shard.index + 1)) / shard.count) };
}

export interface StreamRequest extends DatasetRequest {
  /** Decoding of an image folder (`--input <dir>`). */
  images?: ImageOptions;
  shard?: Shard;
}

/** A data set read a window at a time: the input stays on disk, labels (small) are in memory. */
export interface StreamDataset {
  source: SampleSource;
  /** Labels of all `samples` used (not only the shard's). */
  labels?: Int32Array;
  /** Samples used: all of the source, or the first `limit`. */
  samples: number;
  /** This run's samples [from, to) (a shard's range, else 0…samples). */
  from: number;
  to: number;
}

/**
 * Opens `req.input` for streaming: a .npy (only its header is read here) or a folder of images; checks the
 * shape against the model and pairs the labels (.npy, a CSV for image folders, or class folders) as
 * loadDataset does. Values are raw: a caller divides while reading (SampleSource.read).
 */
export async function openDataset(req: StreamRequest, expected: { name: string; dims: number[] }): Promise<StreamDataset> {
  let source: SampleSource;
  let labels: Int32Array | undefined;
  if (isDirectory(req.input)) {
    const images = await import('../runtime/data/images.ts');
    const folder = images.listImageFolder(req.input);
    const sampleShape = expected.dims.slice(1);
    if (sampleShape.length !== 3 || sampleShape.some((d) => d < 1)) {
      throw new SnncError(`an image folder feeds a model input of shape [N, C, H, W]; '${expected.name}' is [${expected.dims.join(', ')}]`, { file: req.input });
    }
    images.checkImageOptions(req.images ?? {}, sampleShape[0]!);
    source = new images.ImageSource({ kind: 'images', name: req.input, files: folder.files, sampleShape, options: req.images ?? {} });
    if (req.labels?.toLowerCase().endsWith('.csv')) labels = images.labelsFromCsv(req.labels, readText(req.labels), req.input, folder.files);
    else if (req.labels) labels = toLabels(readNpy(req.labels));
    else labels = folder.labels;
  } else {
    if (req.images && Object.values(req.images).some((v) => v !== undefined)) {
      throw new SnncError('--resize, --center-crop, --mean and --std apply to image folders, not to .npy input', { file: req.input });
    }
    if (req.labels?.toLowerCase().endsWith('.csv')) throw new SnncError('CSV labels go with an image folder (--input <dir>); for .npy input give labels as .npy', { file: req.labels });
    source = await openSource({ kind: 'npy', path: req.input });
    checkInputShape({ shape: [source.samples, ...source.sampleShape], source: req.input }, expected);
    labels = req.labels ? toLabels(readNpy(req.labels)) : undefined;
  }
  if (source.samples === 0) throw new SnncError('no samples', { file: req.input });
  const samples = req.limit !== undefined && req.limit < source.samples ? req.limit : source.samples;
  const labelFile = req.labels ?? req.input;
  if (labels) {
    if (req.limit === undefined ? labels.length !== samples : labels.length < samples) {
      const limited = req.limit === undefined ? '' : ` (--limit ${req.limit})`;
      throw new SnncError(`${labels.length} labels for ${samples} samples${limited} in ${req.input}`, { file: labelFile });
    }
    labels = labels.subarray(0, samples);
    if (req.classes !== undefined) checkLabelRange(labels, req.classes, labelFile);
  }
  let from = 0;
  let to = samples;
  if (req.shard) {
    ({ from, to } = shardRange(req.shard, samples));
    if (from === to) throw new SnncError(`--shard ${req.shard.index}/${req.shard.count}: ${samples} samples leave this shard empty; use at most ${samples} shards`, { file: req.input });
  }
  return { source, labels, samples, from, to };
}

/** How many samples, from the first, the input-scale warning looks at: every shard at the same ones, at most a window. */
export function scaleCheckSamples(samples: number, sampleSize: number): number {
  return Math.min(samples, 1000, windowSamples(sampleSize));
}

/** Samples [from, to) of an opened data set in memory, divided by `divisor` (for commands that need them all at once). */
export async function readAll(data: StreamDataset, divisor = 1): Promise<Dataset> {
  const { source, from, to } = data;
  const x = await source.read(from, to - from, divisor);
  return { x: { dtype: 'float32', dims: [to - from, ...source.sampleShape], data: x }, labels: data.labels?.subarray(from, to), samples: to - from };
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new SnncError(describeFsError(err), { file: path });
  }
}

/**
 * loadDataset for every input `openDataset` takes (.npy or an image folder): only the samples used are read
 * (the first `limit`), into memory, raw (or divided by `req.divisor`).
 */
export async function loadDatasetStreamed(req: StreamRequest, expected: { name: string; dims: number[] }): Promise<Dataset> {
  const data = await openDataset(req, expected);
  try {
    return await readAll(data, req.divisor ?? 1);
  } finally {
    data.source.close();
  }
}
