/**
 * The transformer fixtures (test/fixtures/TRANSFORMERS.md) through loader + executor: logits of the first 256
 * test samples against onnxruntime-web and the PyTorch reference, and the exact test-set accuracies.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../compiler/graph.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { runBatched } from '../../runtime/ann/execute.ts';
import { argmaxRows, rowErrors } from '../../runtime/metrics.ts';
import { readNpy, toFloatTensor, toLabels } from '../../runtime/npy.ts';

ort.env.logLevel = 'error';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const SAMPLES = 256;
const CLASSES = 10;

interface Fixture {
  model: string;
  correct: number;
  /**
   * Rows where onnxruntime may differ from us by more than 1e-4. digits_mst row 99 sits exactly on a QCFS
   * level boundary at blocks.0.attn.attn_v_act (TRANSFORMERS.md): float32 summation order decides the side of
   * the floor. onnxruntime lands on the other side than torch (8.6e-2, same prediction, batch 1 too); this
   * executor lands on torch's side (7e-7 from the reference), so the reference check has no outlier.
   */
  ortOutliers: number[];
}

const FIXTURES: Fixture[] = [
  { model: 'digits_mst', correct: 344, ortOutliers: [99] },
  { model: 'digits_mst_rsm', correct: 324, ortOutliers: [] },
  { model: 'digits_ssa', correct: 345, ortOutliers: [] },
];

const rowErrorsOf = (a: ArrayLike<number>, b: ArrayLike<number>, rows: number): number[] => rowErrors(a, b, CLASSES).slice(0, rows);
const argmax = (data: ArrayLike<number>, row: number): number => argmaxRows(Array.prototype.slice.call(data, row * CLASSES, (row + 1) * CLASSES) as number[], CLASSES)[0];

const inputs = (): Tensor => toFloatTensor(readNpy(fixture('digits8x8_test_x.npy')));
const labels = toLabels(readNpy(fixture('digits8x8_test_y.npy')));

describe.each(FIXTURES)('$model', (f) => {
  const graph = loadOnnx(fixture(`${f.model}.onnx`));
  const all = inputs();
  const logits = runBatched(graph, all).data;

  it('reproduces the reference logits (first 256 rows) and onnxruntime (all 360 rows) within 1e-4', async () => {
    const reference = readNpy(fixture(`${f.model}_ref_logits.npy`));
    expect(reference.shape).toEqual([SAMPLES, CLASSES]);
    const ref = reference.data as Float32Array;
    expect(Math.max(...rowErrorsOf(logits, ref, SAMPLES))).toBeLessThanOrEqual(1e-4);
    for (let s = 0; s < SAMPLES; s++) expect(argmax(logits, s), `row ${s}`).toBe(argmax(ref, s));

    const session = await ort.InferenceSession.create(readFileSync(fixture(`${f.model}.onnx`)));
    const ortLogits = (await session.run({ input: new ort.Tensor('float32', all.data as Float32Array, all.dims) })).logits.data as Float32Array;
    await session.release();
    const errors = rowErrorsOf(logits, ortLogits, labels.length);
    expect(errors.flatMap((e, row) => (e > 1e-4 ? [row] : []))).toEqual(f.ortOutliers);
    for (let s = 0; s < labels.length; s++) expect(argmax(logits, s), `row ${s}`).toBe(argmax(ortLogits, s));
  }, 60_000);

  it(`classifies ${f.correct}/360 test samples correctly`, () => {
    let correct = 0;
    for (let s = 0; s < labels.length; s++) if (argmax(logits, s) === labels[s]) correct++;
    expect(correct).toBe(f.correct);
  });
});
