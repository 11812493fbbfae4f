/**
 * Loading a data set for a command: samples from .npy (checked against the model's input shape), optional
 * labels (one per sample; with a limit, at least one per sample used), an optional limit, scaling, and a
 * NaN/Inf check. Shared by ann, compile (calibration) and simulate, so each reports bad data the same way.
 */
import { SnncError } from '../compiler/errors.ts';
import type { Tensor } from '../compiler/graph.ts';
import { readNpy, toFloatTensor, toLabels, type NpyArray, type NpyData } from '../runtime/npy.ts';

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
function checkInputShape(x: NpyArray, expected: { name: string; dims: number[] }): void {
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
