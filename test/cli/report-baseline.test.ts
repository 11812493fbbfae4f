/**
 * The ANN baseline of `snnc report`: the ONNX model, except for an IR compiled with `--maxpool avg`, whose
 * SNN approximates another network; then the baseline is that converted network evaluated in floating point,
 * and the report says so (stderr note, a warning in the page, `ann_baseline` in the JSON).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readIr } from '../../compiler/ir/io.ts';
import { loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { runBatched } from '../../runtime/ann/execute.ts';
import { evaluateIr } from '../../runtime/ir/evaluate.ts';
import { accuracyOf } from '../../runtime/metrics.ts';
import { writeNpy } from '../../runtime/npy.ts';
import { snnc } from '../helpers/cli.ts';
import { buildModel, randomTensor, randomValues } from '../helpers/onnx-builder.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-baseline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Conv → Relu → `pool` (2×2) → Flatten → Gemm on a 1×6×6 input, 4 classes. */
function cnn(pool: 'MaxPool' | 'AveragePool'): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', dims: ['N', 1, 6, 6] }],
    outputs: [{ name: 'y', dims: ['N', 4] }],
    initializers: [
      { name: 'w', dims: [3, 1, 3, 3], data: randomValues(27, 5) },
      { name: 'fc', dims: [27, 4], data: randomValues(108, 6) },
    ],
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] }, name: '/conv/Conv' },
      { op: 'Relu', inputs: ['c'], outputs: ['r'], name: '/act/Relu' },
      { op: pool, inputs: ['r'], outputs: ['p'], attrs: { kernel_shape: [2, 2], strides: [2, 2] }, name: `/pool/${pool}` },
      { op: 'Flatten', inputs: ['p'], outputs: ['f'], name: '/flatten/Flatten' },
      { op: 'Gemm', inputs: ['f', 'fc'], outputs: ['y'], name: '/fc/Gemm' },
    ],
  });
}

const SAMPLES = 40;
const x = randomTensor([SAMPLES, 1, 6, 6], 9, 0, 1);
const xFile = join(tmp, 'x.npy');
writeNpy(xFile, { dtype: 'float32', shape: x.dims, data: x.data as Float32Array });

/** Compiles `pool`'s model, labels the samples with the ONNX model's own predictions, runs the report. */
function reportOn(pool: 'MaxPool' | 'AveragePool', compileArgs: string[] = []) {
  const bytes = cnn(pool);
  const model = join(tmp, `${pool}.onnx`);
  writeFileSync(model, bytes);
  const logits = runBatched(loadOnnxBytes(bytes, { path: model }), x);
  const labels = Int32Array.from({ length: SAMPLES }, (_, s) => {
    const row = Array.from(logits.data.subarray(s * 4, (s + 1) * 4));
    return row.indexOf(Math.max(...row));
  });
  const yFile = join(tmp, `${pool}_y.npy`);
  writeNpy(yFile, { dtype: 'int32', shape: [SAMPLES], data: labels });
  const ir = join(tmp, `${pool}.snn.json`);
  const compiled = snnc('compile', model, '--calib', xFile, '--maxpool', 'avg', ...compileArgs, '-o', ir);
  expect(compiled.status, compiled.stderr).toBe(0);
  const r = snnc('report', ir, '--input', xFile, '--labels', yFile, '-T', '8', '--limit', '1000', '-o', join(tmp, `${pool}.html`), '--json');
  expect(r.status, r.stderr).toBe(0);
  return { r, data: JSON.parse(r.stdout), ir, labels };
}

describe('the warnings of snnc report', () => {
  it('say when data in [0, 1] meets an IR that divides by 255, as snnc simulate does', () => {
    const { data } = reportOn('AveragePool', ['--input-divisor', '255']);
    expect(data.warnings.some((w: string) => /--input-divisor 1/.test(w))).toBe(true);
    expect(reportOn('AveragePool').data.warnings.some((w: string) => /--input-divisor/.test(w))).toBe(false);
  });
});

describe('the ANN baseline of snnc report', () => {
  it('compiled with --maxpool avg: the converted network, labelled, with the ONNX accuracy kept', () => {
    const { r, data, ir, labels } = reportOn('MaxPool');
    expect(data.ann_baseline.network).toBe('converted');
    expect(data.ann_baseline.onnx_accuracy).toBe(1);
    // Independently: the IR evaluated sample by sample.
    const loaded = readIr(ir);
    const converted = Array.from({ length: SAMPLES }, (_, s) => [...evaluateIr(loaded, x.data.subarray(s * 36, (s + 1) * 36)).get(loaded.output.id)!]).flat();
    expect(data.ann.accuracy).toBe(accuracyOf(converted, labels));
    expect(data.warnings[0]).toBe(data.ann_baseline.note);
    expect(data.ann_baseline.note).toContain('is the converted network (compiled with --maxpool avg');
    expect(data.ann_baseline.note).toContain('the ONNX model with MaxPool scores 100.00 %');
    expect(r.stderr).toMatch(/^snnc: note: ANN baseline [\d.]+ % is the converted network/m);
  });

  it('without a MaxPool: the ONNX model, no note', () => {
    const { r, data } = reportOn('AveragePool');
    expect(data.ann_baseline).toEqual({ network: 'onnx', onnx_accuracy: 1, note: null });
    expect(data.ann.accuracy).toBe(1);
    expect(r.stderr).not.toContain('note');
    // --limit 1000 on 40 samples: all of them, with a warning.
    expect(data.snn.samples).toBe(SAMPLES);
    expect(r.stderr).toMatch(/^snnc: warning: --limit 1000: \S+x.npy has only 40 samples; using all of them$/m);
  });
});
