/**
 * Pad as PyTorch exports it (an all-zero or zero Pad before AveragePool, a zero Pad before Conv) folds into
 * the reader's pads: the converted network computes what the ONNX model computes, and simulates. Every Pad
 * that cannot be folded exactly is refused by name, before calibration.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import type { AnnGraph, Tensor } from '../../compiler/graph.ts';
import { lower, lowerAnn, type LowerOptions } from '../../compiler/lower.ts';
import { loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { activationStats } from '../../runtime/ann/calibrate.ts';
import { runBatched } from '../../runtime/ann/execute.ts';
import { evaluateIr } from '../../runtime/ir/evaluate.ts';
import { writeNpy } from '../../runtime/npy.ts';
import { simulate } from '../../runtime/snn/simulate.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';
import type { InitializerSpec, ModelSpec, NodeSpec } from '../helpers/onnx-builder.ts';
import { buildModel, randomTensor, randomValues } from '../helpers/onnx-builder.ts';

const OPTIONS: LowerOptions = {
  divisor: 1, percentile: 100, perChannel: false, vInit: 0, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {},
};
const tmp = mkdtempSync(join(tmpdir(), 'snnc-pad-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let seed = 1;
const W = (name: string, dims: number[], scale = 1): InitializerSpec => ({
  name, dims, data: randomValues(dims.reduce((a, b) => a * b, 1), seed++, -scale, scale),
});
const I64 = (name: string, values: number[]): InitializerSpec => ({ name, dims: [values.length], data: values, dtype: 'int64' });

/** The nodes of `Pad(x) → op`, named as PyTorch names them. */
function padThen(module: string, x: string, pads: string, op: NodeSpec): NodeSpec[] {
  return [
    { op: 'Pad', inputs: [x, pads], outputs: [`${module}_padded`], attrs: { mode: 'constant' }, name: `/${module}/Pad` },
    { ...op, inputs: [`${module}_padded`, ...op.inputs], name: `/${module}/${op.op}` },
  ];
}

/**
 * What PyTorch exports at opset 13 for a small CNN with nn.AvgPool2d(2) (all-zero Pad), a padded conv written
 * as F.pad + Conv, a residual add, nn.AvgPool2d(3, 1, padding=1) (zero Pad, count_include_pad), a concat and a
 * global-average-pool head. At opset 18 one Pad names its axes.
 */
function torchLikeCnn(opset: number): ModelSpec {
  const axes = opset >= 18;
  return {
    opset,
    inputs: [{ name: 'x', dims: ['N', 2, 8, 8] }],
    outputs: [{ name: 'y', dims: ['N', 3] }],
    initializers: [
      W('w1', [4, 2, 3, 3]), W('b1', [4], 0.1), W('w2', [4, 4, 3, 3], 0.5), W('b2', [4], 0.1), W('fc', [3, 8]), W('fcb', [3], 0.1),
      I64('zero', [0, 0, 0, 0, 0, 0, 0, 0]), I64('one', [0, 0, 1, 1, 0, 0, 1, 1]), I64('one_hw', [1, 1, 1, 1]), I64('hw', [2, 3]),
    ],
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1] }, name: '/conv1/Conv' },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'], name: '/act1/Relu' },
      ...padThen('pool1', 'r1', 'zero', { op: 'AveragePool', inputs: [], outputs: ['p1'], attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] } }),
      {
        op: 'Pad', inputs: axes ? ['p1', 'one_hw', '', 'hw'] : ['p1', 'one'], outputs: ['p1_padded'], attrs: { mode: 'constant' }, name: '/conv2/Pad',
      },
      { op: 'Conv', inputs: ['p1_padded', 'w2', 'b2'], outputs: ['c2'], name: '/conv2/Conv' },
      { op: 'Relu', inputs: ['c2'], outputs: ['r2'], name: '/act2/Relu' },
      { op: 'Add', inputs: ['r2', 'p1'], outputs: ['s'], name: '/Add' },
      ...padThen('pool2', 's', 'one', { op: 'AveragePool', inputs: [], outputs: ['p2'], attrs: { kernel_shape: [3, 3], strides: [1, 1] } }),
      { op: 'Concat', inputs: ['p2', 'r2'], outputs: ['cat'], attrs: { axis: 1 }, name: '/Concat' },
      { op: 'GlobalAveragePool', inputs: ['cat'], outputs: ['gap'], name: '/gap/GlobalAveragePool' },
      { op: 'Flatten', inputs: ['gap'], outputs: ['f'], name: '/Flatten' },
      { op: 'Gemm', inputs: ['f', 'fc', 'fcb'], outputs: ['y'], attrs: { transB: 1 }, name: '/fc/Gemm' },
    ],
  };
}

const load = (spec: ModelSpec, path = 'model.onnx'): AnnGraph => loadOnnxBytes(buildModel(spec), { path });

/** Thresholds at the maximum activation of the samples themselves: clip(x, 0, θ) is then ReLU on them. */
function lowerOn(graph: AnnGraph, x: Tensor, opts: Partial<LowerOptions> = {}) {
  return lower(graph, { ...OPTIONS, ...opts }, (requests) => activationStats(graph, x, requests, { percentile: 100 }));
}

describe('a PyTorch-style CNN with Pad nodes', () => {
  for (const opset of [13, 18]) {
    it(`opset ${opset}: the Pads fold into the pools and the conv, and the IR computes the ONNX model's logits`, () => {
      const graph = load(torchLikeCnn(opset));
      const x = randomTensor([16, 2, 8, 8], 7, 0, 1);
      const { ir } = lowerOn(graph, x);
      const byId = new Map(ir.nodes.map((n) => [n.id, n]));
      expect(byId.get('pool1')).toMatchObject({ kind: 'avgpool2d', pads: [0, 0, 0, 0], countIncludePad: false });
      expect(byId.get('conv2')).toMatchObject({ kind: 'conv2d', pads: [1, 1, 1, 1] });
      expect(byId.get('pool2')).toMatchObject({ kind: 'avgpool2d', pads: [1, 1, 1, 1], countIncludePad: true });
      expect(ir.nodes.some((n) => n.onnx.some((name) => name.endsWith('/Pad')))).toBe(false);

      const ann = runBatched(graph, x);
      const perSample = 2 * 8 * 8;
      let worst = 0;
      for (let s = 0; s < 16; s++) {
        const logits = evaluateIr(ir, x.data.subarray(s * perSample, (s + 1) * perSample)).get(ir.output.id)!;
        logits.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - ann.data[s * 3 + k]))));
      }
      expect(worst).toBeLessThan(1e-5);
    });
  }

  it('compiles and simulates: the SNN logits approach the ANN logits as T grows', async () => {
    const graph = load(torchLikeCnn(13));
    const x = randomTensor([8, 2, 8, 8], 11, 0, 1);
    const { ir } = lowerOn(graph, x);
    const ann = runBatched(graph, x);
    const error = async (T: number) => {
      const r = await simulate(ir, x.data as Float32Array, { T, workers: 1 });
      return r.logits.reduce((sum, v, i) => sum + Math.abs(v - ann.data[i]), 0) / r.logits.length;
    };
    const [short, long] = [await error(8), await error(256)];
    expect(long).toBeLessThan(short);
    expect(long).toBeLessThan(0.05);
  });

  it('snnc inspect, ann, compile and simulate run the exported file', () => {
    const model = join(tmp, 'torch_like.onnx');
    const xFile = join(tmp, 'x.npy');
    writeFileSync(model, buildModel(torchLikeCnn(13)));
    writeNpy(xFile, { dtype: 'float32', shape: [8, 2, 8, 8], data: randomValues(8 * 128, 3, 0, 1) });
    expect(JSON.parse(snnc('inspect', model, '--json').stdout).ops.Pad).toBe(3);
    expect(snnc('ann', model, '--input', xFile, '--json').status).toBe(0);
    const ir = join(tmp, 'torch_like.snn.json');
    const compiled = snnc('compile', model, '--calib', xFile, '-o', ir);
    expect(compiled.stderr).not.toContain('snnc:');
    expect(compiled.status).toBe(0);
    expect(JSON.parse(snnc('simulate', ir, '--input', xFile, '-T', '8', '--json').stdout).samples).toBe(8);
  });
});

/** x [N, 2, 6, 6] → Pad(pads, mode, value) → `then` (AveragePool k2 s2 unless given) → y. */
function padModel(pads: number[], then: Partial<NodeSpec> = {}, padAttrs: Record<string, string> = {}, extra: InitializerSpec[] = [], padInputs: string[] = []): ModelSpec {
  const op = then.op ?? 'AveragePool';
  return {
    inputs: [{ name: 'x', dims: ['N', 2, 6, 6] }],
    outputs: [{ name: 'y' }],
    initializers: [I64('p', pads), ...extra],
    nodes: [
      { op: 'Pad', inputs: ['x', 'p', ...padInputs], outputs: ['padded'], attrs: { mode: 'constant', ...padAttrs }, name: '/pool/Pad' },
      { op, inputs: ['padded', ...(then.inputs ?? [])], outputs: ['y'], attrs: then.attrs ?? { kernel_shape: [2, 2], strides: [2, 2] }, name: `/pool/${op}` },
    ],
  };
}

/** The SnncError lowering throws, with its message. */
function refusal(spec: ModelSpec): string {
  try {
    lowerAnn(load(spec, 'pad.onnx'), OPTIONS);
  } catch (e) {
    if (e instanceof SnncError) return e.message;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('Pads that cannot be folded exactly are refused by name', () => {
  it('reflect and edge padding, a non-zero fill, a crop', () => {
    expect(refusal(padModel([0, 0, 1, 1, 0, 0, 1, 1], {}, { mode: 'reflect' }))).toBe(
      'pad.onnx: node /pool/Pad (Pad): Pad mode reflect has no spiking conversion: only a constant zero Pad of H and W is supported, folded into the next Conv, AveragePool or MaxPool',
    );
    expect(refusal(padModel([0, 0, 1, 1, 0, 0, 1, 1], {}, { mode: 'edge' }))).toContain('Pad mode edge has no spiking conversion');
    expect(refusal(padModel([0, 0, 1, 1, 0, 0, 1, 1], {}, {}, [{ name: 'v', dims: [], data: [0.5] }], ['v']))).toContain('Pad with the value 0.5');
    expect(refusal(padModel([0, 0, -1, 0, 0, 0, 0, 0]))).toContain('negative pads (a crop)');
  });

  it('padding of the channel axis', () => {
    expect(refusal(padModel([0, 1, 0, 0, 0, 0, 0, 0]))).toContain('pads more than H and W of an [N, C, H, W] value');
  });

  it('a Pad read by anything but a Conv, AveragePool or MaxPool', () => {
    expect(refusal(padModel([0, 0, 1, 1, 0, 0, 1, 1], { op: 'Relu', attrs: {} }))).toBe(
      'pad.onnx: node /pool/Pad (Pad): its padding cannot be folded into Relu node /pool/Relu: snnc folds a zero Pad only into a following Conv, AveragePool or MaxPool',
    );
  });

  it('an AveragePool with count_include_pad=0 and pads of its own', () => {
    const own = { attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } };
    expect(refusal(padModel([0, 0, 1, 1, 0, 0, 1, 1], own))).toContain('count_include_pad=0 cannot be folded');
    // With count_include_pad=1 every zero counts either way: folded.
    const included = lowerAnn(load(padModel([0, 0, 1, 1, 0, 0, 1, 1], { attrs: { ...own.attrs, count_include_pad: 1 } })), OPTIONS);
    expect(included.nodes[0]).toMatchObject({ kind: 'avgpool2d', pads: [2, 2, 2, 2], countIncludePad: true });
  });

  it('a MaxPool takes the Pad into its pads, and --maxpool avg averages over them as zeros', () => {
    const graph = load(padModel([0, 0, 1, 0, 0, 0, 0, 1], { op: 'MaxPool' }));
    expect(lowerAnn(graph, OPTIONS).nodes[0]).toMatchObject({ kind: 'maxpool2d', pads: [1, 0, 0, 1] });
    expect(lower(graph, { ...OPTIONS, maxpool: 'avg' }).ir.nodes[0]).toMatchObject({ kind: 'avgpool2d', pads: [1, 0, 0, 1], countIncludePad: true });
  });

  it('an all-zero Pad is only a new name, whatever its mode and reader', () => {
    const ir = lowerAnn(load(padModel([0, 0, 0, 0, 0, 0, 0, 0], { op: 'Relu', attrs: {} }, { mode: 'reflect' })), OPTIONS);
    expect(ir.nodes.map((n) => n.kind)).toEqual(['relu']);
  });

  it('before calibration', () => {
    const model = join(tmp, 'reflect.onnx');
    writeFileSync(model, buildModel(padModel([0, 0, 1, 1, 0, 0, 1, 1], {}, { mode: 'reflect' })));
    expectUserError(snnc('compile', model, '--calib', join(tmp, 'missing.npy'), '-o', join(tmp, 'r.snn.json')), 'reflect.onnx', '/pool/Pad', 'Pad mode reflect');
  });
});
