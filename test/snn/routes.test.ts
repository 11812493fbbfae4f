/**
 * Structured routes (runtime/snn/routes.ts) against the composed tables of every synapse they replace
 * (buildPlan with `structured: false`, the simulator as it was before routes): on every bundled fixture and on
 * hand-built chains (avgpool → conv, global pool → dense, residual adds with scales, concat shifts, tokens
 * through a dense layer), the explicit table a route stands for is the composed table entry for entry, and
 * the simulation gives the same spikes at every step, the same logits bit for bit and the same SOP counts.
 */
import { describe, expect, it } from 'vitest';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { activationStats } from '../../runtime/ann/calibrate.ts';
import { readNpy, toFloatTensor } from '../../runtime/npy.ts';
import { gatherOf } from '../../runtime/snn/engine.ts';
import { buildPlan, type NetworkPlan } from '../../runtime/snn/plan.ts';
import { type Fanout, tableOf } from '../../runtime/snn/routes.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

const FIX = 'test/fixtures';
const OPTIONS: LowerOptions = {
  divisor: 1, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {},
};

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSameTable(a: Fanout, b: Fanout): void {
  const ta = tableOf(a);
  const tb = tableOf(b);
  expect(bytes(ta.rowPtr).equals(bytes(tb.rowPtr))).toBe(true);
  expect(bytes(ta.col).equals(bytes(tb.col))).toBe(true);
  expect(bytes(ta.val).equals(bytes(tb.val))).toBe(true);
  expect(Array.from(a.fanOut)).toEqual(Array.from(tb.rowPtr.slice(1)).map((p, i) => p - tb.rowPtr[i]));
}

/** Routes vs composed tables: same tables, then the same simulation bit for bit. */
async function expectSameAsTables(ir: SnnIr, input: Float32Array, T: number, kinds: string[]): Promise<NetworkPlan> {
  const plan = buildPlan(ir);
  const reference = buildPlan(ir, { structured: false });
  const used = new Set(plan.streams.flatMap((s) => s.fanout.routes.map((r) => r.kind)).concat(plan.input.routes.map((r) => r.kind)));
  for (const k of kinds) expect(used).toContain(k);
  expectSameTable(plan.input, reference.input);
  plan.streams.forEach((s, i) => expectSameTable(s.fanout, reference.streams[i].fanout));
  plan.analog.forEach((a, i) => expectSameTable(a.fanout, reference.analog[i].fanout));
  const opts = { T, seed: 5, recordSpikes: true, workers: 1 };
  const fast = await simulatePlan(plan, input, opts);
  const plain = await simulatePlan(reference, input, opts);
  const spikes = fast.spikes!.reduce((n, r) => n + r.indices.length, 0);
  expect(spikes).toBeGreaterThan(0);
  fast.spikes!.forEach((r, s) => {
    expect(bytes(r.indices).equals(bytes(plain.spikes![s].indices))).toBe(true);
    expect(bytes(r.offsets).equals(bytes(plain.spikes![s].offsets))).toBe(true);
  });
  expect(bytes(fast.logits).equals(bytes(plain.logits))).toBe(true);
  expect(fast.layers).toEqual(plain.layers);
  expect(fast.masks).toEqual(plain.masks);
  expect(fast.sops_per_sample).toBe(plain.sops_per_sample);
  return plan;
}

function samples(file: string, n: number): Float32Array {
  const x = readNpy(`${FIX}/${file}`);
  return Float32Array.from(x.data.subarray(0, (n * x.data.length) / x.shape[0]) as ArrayLike<number>);
}

describe('structured routes reproduce the composed tables', () => {
  it('fmnist_cnn_qcfs: conv routes (the input and every conv), a pooled dense head', async () => {
    const { ir } = lower(loadOnnx(`${FIX}/fmnist_cnn_qcfs.onnx`), { ...OPTIONS, divisor: 255 });
    await expectSameAsTables(ir, samples('fmnist_test_x.npy', 6), 24, ['conv']);
  });

  it('fmnist_cnn_relu (balanced thresholds, a mask)', async () => {
    const graph = loadOnnx(`${FIX}/fmnist_cnn_relu.onnx`);
    const calib = toFloatTensor(readNpy(`${FIX}/fmnist_calib_x.npy`));
    const opts = { ...OPTIONS, divisor: 255, rsm: [{ pattern: 'conv2', ratio: 0.3 }] };
    const scaled = { dtype: 'float32' as const, dims: [32, ...calib.dims.slice(1)], data: Float32Array.from(calib.data.subarray(0, 32 * 784) as ArrayLike<number>, (v) => v / 255) };
    const { ir } = lower(graph, opts, (requests) => activationStats(graph, scaled, requests, { percentile: 99.9 }));
    expect(ir.nodes.some((n) => n.kind === 'rsm')).toBe(true);
    await expectSameAsTables(ir, samples('fmnist_test_x.npy', 4), 24, ['conv']);
  });

  it('digits_mlp: dense routes', async () => {
    const graph = loadOnnx(`${FIX}/digits_mlp.onnx`);
    const calib = toFloatTensor(readNpy(`${FIX}/digits_calib_x.npy`));
    const { ir } = lower(graph, OPTIONS, (requests) => activationStats(graph, calib, requests, { percentile: 99.9 }));
    await expectSameAsTables(ir, samples('digits_test_x.npy', 8), 32, ['dense']);
  });

  for (const name of ['digits_mst', 'digits_swin']) {
    it(`${name}: tokens through dense routes, analog nodes' outputs`, async () => {
      const { ir } = lower(loadOnnx(`${FIX}/${name}.onnx`), OPTIONS);
      await expectSameAsTables(ir, samples(name === 'digits_swin' ? 'digits8x8_test_x.npy' : 'digits_test_x.npy', 3), 16, ['dense']);
    });
  }

  it('hand-built chains: avgpool → conv, residual add with scales, channel concat, global pool → dense', async () => {
    const b = new IrBuilder([3, 8, 8]);
    const a = b.if(b.conv2d('input', randomArray(1, 6 * 27, -0.5, 1), [6, 3, 3, 3], { pads: [1, 1, 1, 1], bias: randomArray(2, 6, 0, 0.2) }), [0.5, 0.6, 0.7, 0.8, 0.9, 1], { vInit: 0.5, axis: 0, id: 'A' });
    const a2 = b.if(b.conv2d('input', randomArray(9, 6 * 27, -0.5, 1), [6, 3, 3, 3], { pads: [1, 1, 1, 1], strides: [2, 2] }), 0.4, { vInit: 0.5, id: 'A2' });
    const c1 = b.conv2d(b.avgpool(a, [2, 2], { strides: [2, 2] }), randomArray(3, 4 * 6 * 9, -0.6, 1), [4, 6, 3, 3], { pads: [1, 1, 1, 1] });
    const c2 = b.conv2d(a2, randomArray(4, 4 * 6, -0.6, 1), [4, 6, 1, 1]);
    const B = b.if(b.add([c1, c2], [1, 0.75]), 0.7, { vInit: 0.5 });
    const cat = b.concat([b.conv2d(B, randomArray(5, 2 * 4 * 9, -0.5, 1), [2, 4, 3, 3], { pads: [1, 1, 1, 1] }), b.conv2d(a, randomArray(6, 3 * 6, -0.5, 1), [3, 6, 1, 1], { strides: [2, 2] })], 0);
    const C = b.if(cat, 0.6, { vInit: 0.5 });
    const flat = b.reshape(b.avgpool(C, [4, 4]), [5]);
    const ir = b.build(b.dense(flat, randomArray(7, 4 * 5), [4, 5], { bias: [0, 0.1, -0.1, 0.05] }));
    const plan = await expectSameAsTables(ir, randomArray(8, 5 * 3 * 64, 0, 1.5), 32, ['conv', 'dense']);
    // A reaches B through the pool (a remapped twin) and C straight through a 1×1 conv shifted by the concat.
    const routes = plan.streams.find((s) => s.id === 'A')!.fanout.routes;
    expect(routes.map((r) => (r.kind === 'conv' ? `conv${r.remap ? '+remap' : ''}` : r.kind))).toEqual(['conv+remap', 'conv']);
    expect(plan.streams.find((s) => s.id === 'A2')!.fanout.routes.map((r) => r.kind)).toEqual(['conv']);
  });

  it('gathered convs (≥ 16 output channels): a pooled source reaching a position up to four times, two routes adding into one target', async () => {
    const b = new IrBuilder([3, 8, 8]);
    const a = b.if(b.conv2d('input', randomArray(41, 6 * 27, -0.5, 1), [6, 3, 3, 3], { pads: [1, 1, 1, 1] }), 0.5, { vInit: 0.5, id: 'A' });
    const a2 = b.if(b.conv2d('input', randomArray(42, 5 * 27, -0.5, 1), [5, 3, 3, 3], { pads: [1, 1, 1, 1], strides: [2, 2] }), 0.4, { vInit: 0.5, id: 'A2' });
    const c1 = b.conv2d(b.avgpool(a, [2, 2], { strides: [2, 2] }), randomArray(43, 18 * 6 * 9, -0.6, 1), [18, 6, 3, 3], { pads: [1, 1, 1, 1] });
    const c2 = b.conv2d(a2, randomArray(44, 18 * 5 * 9, -0.6, 1), [18, 5, 3, 3], { pads: [1, 1, 1, 1] });
    const B = b.if(b.add([c1, c2], [1, 0.5]), 0.7, { vInit: 0.5, id: 'B' });
    const ir = b.build(b.dense(b.reshape(b.avgpool(B, [4, 4]), [18]), randomArray(45, 3 * 18), [3, 18]));
    const plan = await expectSameAsTables(ir, randomArray(46, 4 * 3 * 64, 0, 1.5), 32, ['conv', 'dense']);
    const into = (id: string) => plan.streams.find((s) => s.id === id)!.fanout.routes[0];
    const pooled = into('A');
    expect(pooled.kind === 'conv' && pooled.remap !== null).toBe(true);
    // Both are delivered target-stationary; the pooled one's buckets hold four entries per source element.
    for (const r of [pooled, into('A2')]) expect(r.kind === 'conv' && gatherOf(r)).toBeTruthy();
    const g = gatherOf(pooled as Parameters<typeof gatherOf>[0])!;
    expect(g.cap).toBe(4 * 6 * 9 * 4);
  });

  it('tokens: a dense layer read through the residual stream and a token norm (transpose, per-channel affine, transpose) is a dense route', async () => {
    // Swin's patch merging → reduction → residual x → norm1 → act_in, at toy size: [6 tokens, 4] → dense → [6, 5].
    const b = new IrBuilder([6, 4]);
    const a = b.if(b.dense('input', randomArray(31, 4 * 4, -0.5, 1), [4, 4], { bias: randomArray(32, 4, 0, 0.3) }), 0.5, { vInit: 0.5, id: 'A' });
    const skip = b.if(b.dense('input', randomArray(33, 5 * 4, -0.5, 1), [5, 4]), 0.6, { vInit: 0.5, id: 'S' });
    const x = b.add([b.dense(a, randomArray(34, 5 * 4, -0.7, 1), [5, 4]), skip], [0.75, 1]);
    const norm = (v: string, seed: number) => b.transpose(b.affine(b.transpose(v, [1, 0]), randomArray(seed, 5, 0.3, 1.7), randomArray(seed + 1, 5, -0.2, 0.2), [5, 1]), [1, 0]);
    const B = b.if(norm(x, 35), 0.4, { vInit: 0.5, id: 'B' });
    // And one more residual + norm down the stream, as the next block's input.
    const C = b.if(norm(b.add([x, b.dense(B, randomArray(37, 5 * 5, -0.5, 1), [5, 5])]), 38), 0.5, { vInit: 0.5, id: 'C' });
    const ir = b.build(b.dense(b.reshape(C, [30]), randomArray(40, 3 * 30), [3, 30]));
    const plan = await expectSameAsTables(ir, randomArray(41, 4 * 24, 0, 1.5), 24, ['dense']);
    // A reaches B and C through the dense layer, the adds and the norms: two dense routes, no table.
    expect(plan.streams.find((s) => s.id === 'A')!.fanout.routes.map((r) => r.kind)).toEqual(['dense', 'dense']);
    // S reaches them with no weighted op in between: composed tables, as before.
    expect(plan.streams.find((s) => s.id === 'S')!.fanout.routes.map((r) => r.kind)).toEqual(['table', 'table']);
  });

  for (const countIncludePad of [true, false]) {
    it(`overlapping avgpool 3×3 stride 2 pad 1 (count_include_pad ${countIncludePad}) → conv: one composed twin`, async () => {
      const b = new IrBuilder([2, 11, 10]);
      const a = b.if(b.conv2d('input', randomArray(21, 4 * 18, -0.5, 1), [4, 2, 3, 3], { pads: [1, 1, 1, 1] }), [0.5, 0.7, 0.6, 0.9], { vInit: 0.5, axis: 0, id: 'A' });
      const pooled = b.avgpool(a, [3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad });
      const B = b.if(b.conv2d(pooled, randomArray(22, 5 * 4 * 9, -0.6, 1), [5, 4, 3, 3], { pads: [1, 1, 1, 1] }), 0.7, { vInit: 0.5 });
      const ir = b.build(b.dense(b.reshape(B, [5 * 6 * 5]), randomArray(23, 3 * 150), [3, 150]));
      const plan = await expectSameAsTables(ir, randomArray(24, 4 * 220, 0, 1.5), 24, ['conv']);
      const route = plan.streams.find((s) => s.id === 'A')!.fanout.routes;
      expect(route.map((r) => r.kind)).toEqual(['conv']);
    });
  }

  it('MobileNet-style linear bottleneck: depthwise → 1×1 projection → residual add → 1×1 expansion, one composed twin', async () => {
    const b = new IrBuilder([3, 6, 6]);
    const x = b.conv2d('input', randomArray(31, 4 * 27, -0.5, 1), [4, 3, 3, 3], { pads: [1, 1, 1, 1], id: 'stem' });
    const E = b.if(b.conv2d(x, randomArray(32, 8 * 4, -0.5, 1), [8, 4, 1, 1]), 0.6, { vInit: 0.5, id: 'E' });
    const D = b.if(b.conv2d(E, randomArray(33, 8 * 9, -0.5, 1), [8, 1, 3, 3], { pads: [1, 1, 1, 1], groups: 8 }), 0.5, { vInit: 0.5, id: 'D' });
    const project = b.conv2d(D, randomArray(34, 4 * 8, -0.5, 1), [4, 8, 1, 1], { bias: randomArray(35, 4, 0, 0.1) });
    const y = b.add([project, x], [1, 1]);
    const E2 = b.if(b.conv2d(y, randomArray(36, 6 * 4, -0.5, 1), [6, 4, 1, 1]), 0.6, { vInit: 0.5, id: 'E2' });
    const ir = b.build(b.dense(b.reshape(b.avgpool(E2, [6, 6]), [6]), randomArray(37, 3 * 6), [3, 6]));
    const plan = await expectSameAsTables(ir, randomArray(38, 4 * 108, 0, 1.5), 24, ['conv']);
    expect(plan.streams.find((s) => s.id === 'D')!.fanout.routes.map((r) => r.kind)).toEqual(['conv']);
  });

  it('a source that reaches one target by two paths is composed into one table', async () => {
    const b = new IrBuilder([2, 6, 6]);
    const a = b.if(b.conv2d('input', randomArray(11, 2 * 18, -0.5, 1), [2, 2, 3, 3], { pads: [1, 1, 1, 1] }), 0.5, { vInit: 0.5 });
    const skip = b.add([b.conv2d(a, randomArray(12, 2 * 18, -0.5, 1), [2, 2, 3, 3], { pads: [1, 1, 1, 1] }), a]);
    const B = b.if(skip, 0.8, { vInit: 0.5 });
    const ir = b.build(b.dense(b.reshape(B, [72]), randomArray(13, 3 * 72), [3, 72]));
    const plan = await expectSameAsTables(ir, randomArray(14, 4 * 72, 0, 1.5), 24, ['table']);
    expect(plan.streams[0].fanout.routes.map((r) => r.kind)).toEqual(['table']);
  });
});
