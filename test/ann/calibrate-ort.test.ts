/**
 * The onnxruntime calibrator (runtime/ann/calibrate-ort.ts) gives the reference executor's statistics up to
 * float32 rounding, on a trained fixture and on small models whose requested values are a graph input, an
 * intermediate and a graph output, with external data and with a fixed batch. Its choice rule is checked too.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../compiler/graph.ts';
import { lowerAnn } from '../../compiler/lower.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { calibrationRequests } from '../../compiler/passes/convert-neurons.ts';
import { activationStats, type LayerStats, type StatsRequest } from '../../runtime/ann/calibrate.ts';
import {
  AUTO_ORT_MIN_WORK,
  calibrationWork,
  chooseCalibrationEngine,
  ortActivationStats,
} from '../../runtime/ann/calibrate-ort.ts';
import { readNpy, toFloatTensor } from '../../runtime/npy.ts';
import { buildModel, randomTensor, randomValues } from '../helpers/onnx-builder.ts';

const { onnx } = onnxProto;
const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

function expectClose(got: Map<string, LayerStats>, want: Map<string, LayerStats>, rtol: number): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [value, w] of want) {
    const g = got.get(value)!;
    expect(g.channels.length, value).toBe(w.channels.length);
    for (const [a, b] of [[g.layer, w.layer], ...g.channels.map((c, i) => [c, w.channels[i]])]) {
      expect(Math.abs(a - b), `${value}: ${a} vs ${b}`).toBeLessThanOrEqual(rtol * Math.abs(b));
    }
  }
}

describe('ortActivationStats', () => {
  it('matches the reference executor on fmnist_cnn_relu within float32 rounding', async () => {
    const file = fixture('fmnist_cnn_relu.onnx');
    const graph = loadOnnx(file);
    const requests = calibrationRequests(lowerAnn(graph, { divisor: 255, snncVersion: 'test', recorded: {} }));
    expect(requests.length).toBe(3);
    const x = toFloatTensor(readNpy(fixture('fmnist_calib_x.npy')), { divisor: 255 });
    for (const percentile of [99.9, 100]) {
      const js = activationStats(graph, x, requests, { percentile });
      const ort = await ortActivationStats(file, graph, x, requests, { percentile, threads: 1 });
      expectClose(ort, js, 1e-4);
      expect(ort.get(requests[0].value)!.channels.length).toBe(16);
    }
    // The statistics do not depend on the batch size or the thread count.
    const a = await ortActivationStats(file, graph, x, requests, { percentile: 99, batchSize: 7, threads: 1 });
    const b = await ortActivationStats(file, graph, x, requests, { percentile: 99, batchSize: 64, threads: 2 });
    expect([...a]).toEqual([...b]);
  });

  // x [N, 6] → Gemm → h1 → Relu → a1 → Gemm → h2 → Relu → y (the graph output).
  const W1 = randomValues(8 * 6, 1);
  const W2 = randomValues(5 * 8, 2);
  const spec = (batch: number | string) => ({
    inputs: [{ name: 'x', dims: [batch, 6] }],
    outputs: [{ name: 'y', dims: [batch, 5] }],
    initializers: [
      { name: 'W1', dims: [8, 6], data: W1 },
      { name: 'b1', dims: [8], data: randomValues(8, 3, -0.2, 0.2) },
      { name: 'W2', dims: [5, 8], data: W2 },
      { name: 'b2', dims: [5], data: randomValues(5, 4, -0.2, 0.2) },
    ],
    nodes: [
      { op: 'Gemm', inputs: ['x', 'W1', 'b1'], outputs: ['h1'], attrs: { transB: 1 } },
      { op: 'Relu', inputs: ['h1'], outputs: ['a1'] },
      { op: 'Gemm', inputs: ['a1', 'W2', 'b2'], outputs: ['h2'], attrs: { transB: 1 } },
      { op: 'Relu', inputs: ['h2'], outputs: ['y'] },
    ],
  });
  const requests: StatsRequest[] = [
    { value: 'x', axis: 0 },
    { value: 'a1', axis: 0 },
    { value: 'y', axis: 0 },
  ];

  it('takes a graph input, an intermediate and a graph output; external data; a fixed batch', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'snnc-ort-calib-'));
    const bytes = buildModel(spec('N'));
    const plain = path.join(dir, 'plain.onnx');
    writeFileSync(plain, bytes);

    // The same model with its weights in a side file.
    const model = onnx.ModelProto.decode(bytes);
    const chunks: Buffer[] = [Buffer.alloc(12, 0xcd)];
    let offset = 12;
    for (const t of model.graph!.initializer!) {
      const raw = Buffer.from(Float32Array.from(t.floatData!).buffer);
      t.floatData = [];
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.externalData = [
        { key: 'location', value: 'weights.bin' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.length) },
      ];
      chunks.push(raw);
      offset += raw.length;
    }
    writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(chunks));
    const external = path.join(dir, 'external.onnx');
    writeFileSync(external, onnx.ModelProto.encode(model).finish());

    const x: Tensor = randomTensor([20, 6], 5);
    const graph = loadOnnx(plain);
    const js = activationStats(graph, x, requests, { percentile: 95 });
    const fromPlain = await ortActivationStats(plain, graph, x, requests, { percentile: 95, batchSize: 6, threads: 1 });
    expectClose(fromPlain, js, 1e-5);
    expect(fromPlain.get('x')).toEqual(js.get('x')); // the input itself: no arithmetic, identical
    const fromExternal = await ortActivationStats(external, loadOnnx(external), x, requests, { percentile: 95, threads: 1 });
    expect([...fromExternal]).toEqual([...fromPlain]);

    // A fixed batch: the whole set in runs of that size.
    const fixed = path.join(dir, 'fixed.onnx');
    writeFileSync(fixed, buildModel(spec(20)));
    const fromFixed = await ortActivationStats(fixed, loadOnnx(fixed), x, requests, { percentile: 95, threads: 1 });
    expect([...fromFixed]).toEqual([...fromPlain]);
  });

  it('names the file in a one-line error when onnxruntime cannot run the model', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'snnc-ort-calib-'));
    const file = path.join(dir, 'm.onnx');
    writeFileSync(file, buildModel(spec('N')));
    const graph = loadOnnx(file);
    // Data of the wrong width reaches onnxruntime (the CLI checks shapes before; this is the last line of defence).
    const x: Tensor = randomTensor([4, 7], 5);
    await expect(ortActivationStats(file, graph, x, requests, { percentile: 99, threads: 1 })).rejects.toThrow(
      /m\.onnx: onnxruntime failed on calibration samples 0–3 \(/,
    );
  });
});

describe('calibration engine choice', () => {
  it('counts MACs and picks ort only for large calibration work', () => {
    const graph = loadOnnx(fixture('fmnist_cnn_relu.onnx'));
    const requests = calibrationRequests(lowerAnn(graph, { divisor: 255, snncVersion: 'test', recorded: {} }));
    const work = calibrationWork(graph, requests);
    // Conv 1→16 (28×28), 16→32 (14×14), 32→64 (7×7), all 3×3, and a 64→10 Gemm.
    expect(work.macsPerSample).toBe(28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 7 * 7 * 64 * 32 * 9 + 64 * 10);
    expect(work.valuesPerSample).toBe(16 * 28 * 28 + 32 * 14 * 14 + 64 * 7 * 7);
    // The bundled calibration set (512 images) stays on the reference executor, with a wide margin.
    expect(work.macsPerSample * 512).toBeLessThan(AUTO_ORT_MIN_WORK / 10);
    expect(chooseCalibrationEngine('auto', work, 512)).toBe('js');
    expect(chooseCalibrationEngine('auto', work, Math.ceil(AUTO_ORT_MIN_WORK / work.macsPerSample))).toBe('ort');
    expect(chooseCalibrationEngine('ort', work, 1)).toBe('ort');
    expect(chooseCalibrationEngine('js', work, 1e9)).toBe('js');
  });
});
