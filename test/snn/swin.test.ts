/**
 * Swin-style MST (test/fixtures/TRANSFORMERS.md, digits_swin): fused qkv with reshape/permute and qkv[0..2]
 * (Gather on a dynamic tensor whose batch axis is axis 1), windows with the batch folded into the window axis,
 * shifted windows (torch.roll = Slice + Concat) with Swin's mask, and the relative-position bias (a constant
 * Gather on the table, folded at load time). Plus the `select` IR kind on a hand-built graph.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../compiler/graph.ts';
import type { IrNode, SnnIr } from '../../compiler/ir/types.ts';
import { loadOnnx, loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { importOnnx } from '../../compiler/onnx/to-ir.ts';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { executeGraph, runBatched } from '../../runtime/ann/execute.ts';
import { evaluateIr, evaluateLinear } from '../../runtime/ir/evaluate.ts';
import { argmaxRows, rowErrors } from '../../runtime/metrics.ts';
import { readNpy, toFloatTensor, toLabels } from '../../runtime/npy.ts';
import { linearOp, SparseVec } from '../../runtime/snn/linear.ts';
import { simulate } from '../../runtime/snn/simulate.ts';
import { buildNirGraph } from '../../targets/nir/export.ts';
import { buildModel, randomValues } from '../helpers/onnx-builder.ts';

const FIX = 'test/fixtures';
const OPTIONS: LowerOptions = {
  divisor: 1, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {},
};
const N = 360;

describe('digits_swin (windows, shifted windows + mask, fused qkv, relative-position bias)', () => {
  const graph = loadOnnx(`${FIX}/digits_swin.onnx`);
  const input = toFloatTensor(readNpy(`${FIX}/digits8x8_test_x.npy`));
  const labels = toLabels(readNpy(`${FIX}/digits8x8_test_y.npy`));
  const logits = runBatched(graph, input).data as Float32Array;
  const annCorrect = Array.from(argmaxRows(logits, 10)).filter((p, i) => p === labels[i]).length;

  it('the ANN executor reproduces the torch reference logits within 1e-4', () => {
    const ref = readNpy(`${FIX}/digits_swin_ref_logits.npy`);
    expect(ref.shape).toEqual([256, 10]);
    const errors = rowErrors(logits, ref.data as Float32Array, 10).slice(0, 256);
    expect(Math.max(...errors)).toBeLessThanOrEqual(1e-4);
    expect(annCorrect / N).toBeGreaterThanOrEqual(0.9);
  });

  it('compiles: select nodes for qkv[i] and the rolls, the bias table and the mask as constant currents', () => {
    const { ir } = lower(graph, OPTIONS);
    const kinds = (re: RegExp) => ir.nodes.filter((n) => re.test(n.id)).map((n) => n.kind);
    expect(kinds(/^blocks\.0\/attn\/Gather/)).toEqual(['select', 'select', 'select']);
    expect(kinds(/^blocks\.1\/Slice/)).toEqual(Array(8).fill('select'));
    // The rel-pos bias (block 0) and bias + shift mask (block 1) sit between the score neurons and the softmax.
    const chain = (block: number) => {
      const byId = new Map(ir.nodes.map((n) => [n.id, n]));
      const out: string[] = [];
      let n: IrNode | undefined = byId.get(`blocks.${block}/attn/Softmax`);
      while (n && n.kind !== 'if') {
        n = byId.get(n.inputs[0]);
        if (n) out.unshift(n.kind);
      }
      return out;
    };
    expect(chain(0)).toEqual(['if', 'bias']);
    expect(chain(1)).toEqual(['if', 'bias', 'reshape', 'bias', 'reshape']);
    const mask = ir.nodes.find((n) => n.id === 'blocks.1/attn/Add_1');
    expect(mask?.kind === 'bias' && Array.from(ir.tensors.get(mask.value)!.data).filter((v) => v === -100).length).toBe(28); // Swin's mask for 4×4 tokens, window 2, shift 1
    expect(ir.nodes.filter((n) => n.kind === 'if')).toHaveLength(21);
    // NIR has no gather/slice node: the export refuses every select (named among the first, counted after).
    const selects = ir.nodes.filter((n) => n.kind === 'select').length;
    expect(selects).toBe(14);
    expect(() => buildNirGraph(ir)).toThrow(new RegExp(`^cannot export to NIR: .*\\b${selects} select\\b`));
  });

  it('SNN with accumulated attention at T = 64 is within 1 pp of the ANN on all 360 samples', async () => {
    const { ir } = lower(graph, OPTIONS);
    const r = await simulate(ir, input.data as Float32Array, { T: 64, labels, attention: 'accumulated' });
    expect(r.samples).toBe(N);
    expect(Math.abs(r.accuracy!['64'] - annCorrect / N)).toBeLessThanOrEqual(0.01);
    const host = r.layers.filter((l) => l.placement === 'host');
    expect(host.map((l) => l.kind)).toEqual(['matmul', 'softmax', 'matmul', 'matmul', 'softmax', 'matmul']);
    // 2 blocks × 4 windows × 2 heads × 4×4 scores, every step.
    expect(r.modules.attention.softmax_ops).toBe(64 * 2 * 4 * 2 * 16);
    expect(r.modules.attention.products).toBeGreaterThan(0);
  }, 40_000);
});

describe('select (Slice, Split, Gather with constant indices on a dynamic tensor)', () => {
  const I64 = (name: string, dims: number[], data: number[]) => ({ name, dims, data, dtype: 'int64' as const });
  const model = (extra: Parameters<typeof buildModel>[0]['nodes'] = []) =>
    loadOnnxBytes(
      buildModel({
        inputs: [{ name: 'x', dims: ['N', 4, 6] }],
        outputs: [{ name: 'y' }],
        initializers: [
          I64('st', [2], [1, 0]), I64('en', [2], [4, 6]), I64('ax', [2], [1, 2]), I64('sp', [2], [1, 2]),
          I64('g', [], [-2]), I64('split', [2], [2, 4]), I64('two', [3], [-1, 2, 6]), I64('flat', [2], [-1, 12]), I64('one', [], [1]),
        ],
        nodes: [
          { op: 'Slice', inputs: ['x', 'st', 'en', 'ax', 'sp'], outputs: ['s'], name: '/slice/Slice' },
          { op: 'Gather', inputs: ['x', 'g'], outputs: ['g1'], attrs: { axis: 1 }, name: '/gather/Gather' },
          { op: 'Split', inputs: ['x', 'split'], outputs: ['a', 'b'], attrs: { axis: 2 }, name: '/split/Split' },
          // MST's fused qkv pattern: fold the batch into axis 0, move it to axis 1, take qkv[1].
          { op: 'Reshape', inputs: ['x', 'two'], outputs: ['w'], name: '/win/Reshape' },
          { op: 'Transpose', inputs: ['w'], outputs: ['wt'], attrs: { perm: [1, 0, 2] }, name: '/win/Transpose' },
          { op: 'Gather', inputs: ['wt', 'one'], outputs: ['w1'], attrs: { axis: 0 }, name: '/win/Gather' },
          { op: 'Reshape', inputs: ['w1', 'flat'], outputs: ['w2'], name: '/win/Reshape_1' },
          ...['s', 'g1', 'a', 'b'].map((v) => ({ op: 'Flatten', inputs: [v], outputs: [`${v}f`], name: `/${v}/Flatten` })),
          { op: 'Concat', inputs: ['sf', 'g1f', 'af', 'bf', 'w2'], outputs: ['y'], attrs: { axis: 1 }, name: '/cat/Concat' },
          ...extra,
        ],
        opset: 13,
      }),
      { path: 'select.onnx', baseDir: '.' },
    );

  it('lowers to select nodes whose scatter map, dense evaluation and the ANN executor agree', () => {
    const graph = model();
    const ir: SnnIr = importOnnx(graph, { divisor: 1, snncVersion: 'test', options: {} });
    const selects = ir.nodes.filter((n) => n.kind === 'select');
    expect(selects.map((n) => [n.id, n.shape])).toEqual([
      ['slice', [3, 3]], ['gather', [6]], ['split', [4, 2]], ['split_1', [4, 4]], ['win/Gather', [2, 6]],
    ]);
    const batch = 3;
    const x: Tensor = { dtype: 'float32', dims: [batch, 4, 6], data: randomValues(batch * 24, 7) };
    const ann = executeGraph(graph, { x }).get('y')!;
    expect(ann.dims).toEqual([batch, 9 + 6 + 8 + 16 + 12]);
    const shapes = new Map<string, number[]>([[ir.input.id, ir.input.shape], ...ir.nodes.map((n): [string, number[]] => [n.id, n.shape])]);
    for (let s = 0; s < batch; s++) {
      const sample = x.data.subarray(s * 24, (s + 1) * 24);
      const values = evaluateIr(ir, sample);
      const y = values.get(ir.output.id)!;
      expect(Array.from(y)).toEqual(Array.from(ann.data.subarray(s * y.length, (s + 1) * y.length)));
      for (const n of selects) {
        const inShape = shapes.get(n.inputs[0])!;
        const src = values.get(n.inputs[0])!;
        const dense = evaluateLinear(n, [src], [inShape], ir.tensors);
        // Scatter, one input element at a time and all at once.
        const op = linearOp(n, [inShape], ir.tensors);
        expect(op.macs).toBe(0);
        const all = new SparseVec(src.length);
        const out = new SparseVec(dense.length);
        src.forEach((v, e) => all.add(e, v + 10)); // + 10: no zeros, every element is touched
        op.scatter(0, all, out);
        expect(Array.from(out.val)).toEqual(Array.from(dense, (v) => v + 10));
        for (let e = 0; e < src.length; e++) {
          const one = new SparseVec(src.length);
          const hit = new SparseVec(dense.length);
          one.add(e, 1);
          op.scatter(0, one, hit);
          const index = ir.tensors.get(n.kind === 'select' ? n.index : '')!.data;
          const expected = Array.from(index).flatMap((i, o) => (i === e ? [o] : []));
          expect(Array.from(hit.idx.subarray(0, hit.count)).sort((a, b) => a - b)).toEqual(expected);
        }
      }
    }
  });

  it('refuses computed indices and selections across the batch axis with one-line errors', () => {
    const dyn = loadOnnxBytes(
      buildModel({
        inputs: [{ name: 'x', dims: ['N', 4] }],
        outputs: [{ name: 'y' }],
        initializers: [{ name: 'table', dims: [5, 3], data: randomValues(15, 3) }],
        nodes: [
          { op: 'Cast', inputs: ['x'], outputs: ['i'], attrs: { to: 7 }, name: '/c/Cast' },
          { op: 'Gather', inputs: ['table', 'i'], outputs: ['y'], attrs: { axis: 0 }, name: '/g/Gather' },
        ],
        opset: 13,
      }),
      { path: 'dyn.onnx', baseDir: '.' },
    );
    expect(() => importOnnx(dyn, { divisor: 1, snncVersion: 'test', options: {} })).toThrow(
      /^dyn\.onnx: node \/g\/Gather \(Gather\): Gather with computed \(non-constant\) indices is not supported$/,
    );
    const acrossBatch = loadOnnxBytes(
      buildModel({
        inputs: [{ name: 'x', dims: ['N', 4] }],
        outputs: [{ name: 'y' }],
        initializers: [I64('st', [1], [0]), I64('en', [1], [1]), I64('ax', [1], [0])],
        nodes: [
          { op: 'Slice', inputs: ['x', 'st', 'en', 'ax'], outputs: ['y'], name: '/s/Slice' },
        ],
        opset: 13,
      }),
      { path: 'batch.onnx', baseDir: '.' },
    );
    expect(() => importOnnx(acrossBatch, { divisor: 1, snncVersion: 'test', options: {} })).toThrow(/^batch\.onnx: node \/s\/Slice \(Slice\): value y does not keep one batch axis/);
  });
});
