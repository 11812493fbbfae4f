/**
 * ANN → SNN end to end on the trained fixtures: the spiking network must keep the ANN's accuracy (the
 * ANN executor on the same samples is the oracle), and RSM must drop the asked share of spikes with
 * exactly reproducible masks. Subsets keep the suite fast; docs/accuracy.md has the full test sets.
 */
import { describe, expect, it } from 'vitest';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { activationStats } from '../../runtime/ann/calibrate.ts';
import { runBatched } from '../../runtime/ann/execute.ts';
import { accuracyOf } from '../../runtime/metrics.ts';
import { readNpy, toFloatTensor, toLabels } from '../../runtime/npy.ts';
import { simulate } from '../../runtime/snn/simulate.ts';

const FIX = 'test/fixtures';
const OPTIONS: LowerOptions = {
  divisor: 1, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {},
};

function data(name: string, n: number) {
  const x = readNpy(`${FIX}/${name}_test_x.npy`);
  const per = x.data.length / x.shape[0];
  const raw = Float32Array.from(x.data.subarray(0, n * per) as ArrayLike<number>);
  const labels = toLabels(readNpy(`${FIX}/${name}_test_y.npy`)).subarray(0, n);
  return { raw, labels, dims: [n, ...x.shape.slice(1)] };
}

function annAccuracy(model: string, raw: Float32Array, dims: number[], divisor: number, labels: Int32Array): number {
  const logits = runBatched(loadOnnx(`${FIX}/${model}.onnx`), { dtype: 'float32', dims, data: raw.map((v) => v / divisor) });
  return accuracyOf(logits.data, labels);
}

describe('converted networks keep the ANN accuracy', () => {
  it('fmnist_cnn_qcfs (QCFS thresholds, no calibration): T=64 within 2 pp, T=32 within 5 pp of the ANN on 400 images', async () => {
    const { raw, labels, dims } = data('fmnist', 400);
    const { ir } = lower(loadOnnx(`${FIX}/fmnist_cnn_qcfs.onnx`), { ...OPTIONS, divisor: 255 });
    const r = await simulate(ir, raw, { T: 64, labels });
    const ann = annAccuracy('fmnist_cnn_qcfs', raw, dims, 255, labels);
    expect(r.accuracy!['64']).toBeGreaterThanOrEqual(ann - 0.02);
    expect(r.accuracy!['32']).toBeGreaterThanOrEqual(ann - 0.05);
    // Accuracy grows with T: the early steps are a poor estimate of the rates.
    expect(r.accuracy!['64']).toBeGreaterThan(r.accuracy!['4'] + 0.1);
  });

  it('digits_mlp (99.9-percentile balancing on the calibration set): T=128 within 1 pp of the ANN on the full test set', async () => {
    const { raw, labels, dims } = data('digits', 360);
    const graph = loadOnnx(`${FIX}/digits_mlp.onnx`);
    const calib = toFloatTensor(readNpy(`${FIX}/digits_calib_x.npy`));
    const { ir } = lower(graph, OPTIONS, (requests) => activationStats(graph, calib, requests, { percentile: 99.9 }));
    const r = await simulate(ir, raw, { T: 128, labels });
    expect(r.accuracy!['128']).toBeGreaterThanOrEqual(annAccuracy('digits_mlp', raw, dims, 1, labels) - 0.01);
  });
});

describe('random spike masking on a trained network', () => {
  const run = async (seed: number) => {
    const { raw } = data('fmnist', 24);
    const { ir } = lower(loadOnnx(`${FIX}/fmnist_cnn_qcfs.onnx`), { ...OPTIONS, divisor: 255, rsm: [{ pattern: 'conv[23]', ratio: 0.5 }] });
    return simulate(ir, raw, { T: 32, seed, workers: 1 });
  };

  it('drops half of the spikes on each masked edge, and only masked spikes cost nothing', async () => {
    const r = await run(1);
    expect(r.masks.map((m) => `${m.from}->${m.to}`)).toEqual(['act1->conv2', 'act2->conv3']);
    for (const m of r.masks) {
      expect(m.spikes_arriving).toBeGreaterThan(1000);
      expect(Math.abs(m.spikes_dropped / m.spikes_arriving - 0.5)).toBeLessThan(0.01);
      // act1 and act2 feed only their masked edge: every SOP they cause is a delivered survivor's.
      const layer = r.layers.find((l) => l.id === m.from)!;
      expect(m.sops_delivered).toBeCloseTo(layer.sops_per_sample, 6);
      expect(m.spikes_arriving).toBeCloseTo(layer.spikes_per_sample, 6);
    }
  });

  it('the same seed gives identical results, another seed different masks', async () => {
    const [a, b, c] = [await run(7), await run(7), await run(8)];
    expect(Array.from(b.logits)).toEqual(Array.from(a.logits));
    expect(b.masks).toEqual(a.masks);
    expect(c.masks[0].spikes_dropped).not.toBe(a.masks[0].spikes_dropped);
  });
});
