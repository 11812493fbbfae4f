/**
 * Lowering ONNX to the spiking IR, checked against independent oracles: the PyTorch reference logits
 * (the BN-folded IR evaluated as an analog network must reproduce them), the λ values documented with the
 * fixtures, and hand-built graphs for the error paths.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import { loadOnnx, loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { lower, lowerAnn, type LowerOptions } from '../../compiler/lower.ts';
import { readIr, writeIr } from '../../compiler/ir/io.ts';
import type { IrNode, Shape, SnnIr } from '../../compiler/ir/types.ts';
import { evaluateLinear } from '../../runtime/ir/evaluate.ts';
import { readNpy, toFloatTensor } from '../../runtime/npy.ts';
import { buildModel, randomValues } from '../helpers/onnx-builder.ts';

const FIX = 'test/fixtures';
const OPTIONS: LowerOptions = {
  divisor: 1, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {},
};

/** The lowered ANN-level IR run as an analog network: linear nodes by the IR evaluator, activations by their formulas. */
function evaluateAnalog(ir: SnnIr, sample: Float32Array): Float64Array {
  const values = new Map<string, Float64Array>([[ir.input.id, Float64Array.from(sample, (v) => v / ir.input.divisor)]]);
  const shapes = new Map<string, Shape>([[ir.input.id, ir.input.shape]]);
  for (const n of ir.nodes) {
    const inputs = n.inputs.map((x) => values.get(x)!);
    values.set(n.id, evaluateNode(n, inputs, n.inputs.map((x) => shapes.get(x)!), ir));
    shapes.set(n.id, n.shape);
  }
  return values.get(ir.output.id)!;
}

function evaluateNode(n: IrNode, inputs: Float64Array[], shapes: Shape[], ir: SnnIr): Float64Array {
  if (n.kind === 'relu') return inputs[0].map((v) => Math.max(0, v));
  if (n.kind === 'qcfs') {
    const { lambda: lam, levels: L } = n as { lambda: number; levels: number };
    return inputs[0].map((v) => lam * Math.min(1, Math.max(0, Math.floor((v / lam) * L + 0.5) / L)));
  }
  return evaluateLinear(n, inputs, shapes, ir.tensors);
}

describe('lowering the fixtures', () => {
  it('fmnist_cnn_qcfs: QCFS sites become IF neurons with θ = λ and v(0) = θ/2', () => {
    const { ir } = lower(loadOnnx(`${FIX}/fmnist_cnn_qcfs.onnx`), { ...OPTIONS, divisor: 255 });
    expect(ir.nodes.map((n) => `${n.id}:${n.kind}`)).toEqual([
      'conv1:conv2d', 'act1:if', 'conv2:conv2d', 'act2:if', 'conv3:conv2d', 'act3:if', 'pool:avgpool2d', 'flatten:reshape', 'fc:dense',
    ]);
    const thresholds = ir.nodes.filter((n) => n.kind === 'if').map((n) => n.kind === 'if' && [n.threshold, n.vInit]);
    // λ values from the fixtures' README (rounded there to 6 significant digits).
    const documented = [1.20861, 1.53801, 6.98718];
    thresholds.forEach((t, i) => {
      expect((t as [number, number])[0]).toBeCloseTo(documented[i], 4);
      expect((t as [number, number])[1]).toBe(0.5);
    });
    // The BN nodes were folded: their names now sit on the convolutions.
    expect(ir.nodes[0].onnx).toEqual(['/conv1/Conv', '/bn1/BatchNormalization']);
  });

  for (const [model, data, divisor] of [
    ['digits_mlp', 'digits_test_x', 1],
    ['fmnist_cnn_relu', 'fmnist_test_x', 255],
    ['fmnist_cnn_qcfs', 'fmnist_test_x', 255],
  ] as const) {
    it(`${model}: the BN-folded IR, run as an analog network, reproduces the PyTorch logits`, () => {
      const ir = lowerAnn(loadOnnx(`${FIX}/${model}.onnx`), { divisor, snncVersion: 'test', recorded: {} });
      expect(ir.nodes.some((n) => n.kind === 'batchnorm')).toBe(false);
      const x = toFloatTensor(readNpy(`${FIX}/${data}.npy`));
      const ref = readNpy(`${FIX}/${model}_ref_logits.npy`).data as Float32Array;
      const per = x.data.length / x.dims[0];
      let worst = 0;
      let flips = 0;
      for (let s = 0; s < 16; s++) {
        const logits = evaluateAnalog(ir, (x.data as Float32Array).subarray(s * per, (s + 1) * per));
        const diff = Math.max(...logits.map((v, c) => Math.abs(v - ref[s * 10 + c])));
        // QCFS has a Floor: a value on a step's edge may land on the other side (documented in the ANN tests).
        if (diff > 1e-4) flips++;
        worst = Math.max(worst, diff);
      }
      if (model === 'fmnist_cnn_qcfs') expect(flips).toBeLessThanOrEqual(1);
      else expect(worst).toBeLessThan(1e-4);
    });
  }

  it('writes the same bytes for the same inputs, and reads back what it wrote', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'snnc-ir-'));
    const compileTo = (file: string) => {
      const { ir } = lower(loadOnnx(`${FIX}/digits_mlp.onnx`), OPTIONS, () => new Map([
        ['/act1/Relu_output_0', { layer: 2.5, channels: [] }],
        ['/act2/Relu_output_0', { layer: 4, channels: [] }],
      ]));
      writeIr(ir, file);
      return ir;
    };
    const ir = compileTo(path.join(dir, 'a.snn.json'));
    compileTo(path.join(dir, 'b.snn.json'));
    const a = readFileSync(path.join(dir, 'a.snn.json'), 'utf8');
    expect(readFileSync(path.join(dir, 'b.snn.json'), 'utf8')).toBe(a.replace('"a.snn.bin"', '"b.snn.bin"'));
    expect(readFileSync(path.join(dir, 'a.snn.bin')).equals(readFileSync(path.join(dir, 'b.snn.bin')))).toBe(true);
    const back = readIr(path.join(dir, 'a.snn.json'));
    expect(back.nodes).toEqual(ir.nodes);
    expect([...back.tensors.keys()].sort()).toEqual([...ir.tensors.keys()].sort());
    for (const [k, t] of ir.tensors) expect(back.tensors.get(k)!.data).toEqual(t.data);
  });

  it('a weights file that does not match its IR is refused', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'snnc-ir-'));
    const { ir } = lower(loadOnnx(`${FIX}/fmnist_cnn_qcfs.onnx`), OPTIONS);
    const file = path.join(dir, 'm.snn.json');
    writeIr(ir, file);
    const bin = readFileSync(path.join(dir, 'm.snn.bin'));
    bin[100] ^= 0xff;
    writeFileSync(path.join(dir, 'm.snn.bin'), bin);
    expect(() => readIr(file)).toThrow(/does not match/);
  });
});

describe('lowering errors name the node and the pattern', () => {
  const errorOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(SnncError);
      return (e as Error).message;
    }
    throw new Error('expected an error');
  };

  it('LayerNorm and GELU are recognised', () => {
    expect(errorOf(() => lower(loadOnnx(`${FIX}/tiny_layernorm.onnx`), OPTIONS))).toMatch(/LayerNorm at node .*ReduceMean.*replace it by BatchNorm as MST does/);
    expect(errorOf(() => lower(loadOnnx(`${FIX}/tiny_gelu.onnx`), OPTIONS))).toMatch(/GELU at node .*replace it by ReLU or a QCFS activation/);
  });

  it('ReLU without a calibration set asks for --calib', () => {
    expect(errorOf(() => lower(loadOnnx(`${FIX}/digits_mlp.onnx`), OPTIONS))).toMatch(/node \/act1\/Relu \(relu\): ReLU needs threshold balancing: give a calibration set with --calib/);
  });

  const maxpoolModel = () =>
    loadOnnxBytes(
      buildModel({
        inputs: [{ name: 'x', dims: ['N', 2, 4, 4] }],
        outputs: [{ name: 'y' }],
        initializers: [{ name: 'w', dims: [2, 2, 3, 3], data: randomValues(36, 1) }],
        nodes: [
          { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] }, name: '/conv/Conv' },
          { op: 'Relu', inputs: ['c'], outputs: ['r'], name: '/act/Relu' },
          { op: 'MaxPool', inputs: ['r'], outputs: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2] }, name: '/pool/MaxPool' },
        ],
      }),
      { path: 'maxpool.onnx' },
    );
  const stats = () => new Map([['r', { layer: 1, channels: [1, 1] }]]);

  it('MaxPool is refused unless converted explicitly, with a warning', () => {
    expect(errorOf(() => lower(maxpoolModel(), OPTIONS, stats))).toMatch(/node \/pool\/MaxPool \(MaxPool\): MaxPool has no exact spiking equivalent; pass --maxpool avg/);
    const { ir, warnings } = lower(maxpoolModel(), { ...OPTIONS, maxpool: 'avg' }, stats);
    expect(ir.nodes.map((n) => n.kind)).toEqual(['conv2d', 'if', 'avgpool2d']);
    expect(warnings).toHaveLength(1);
  });

  it('--rsm that matches nothing, or masks an analog edge, is an error', () => {
    const model = loadOnnx(`${FIX}/fmnist_cnn_qcfs.onnx`);
    expect(errorOf(() => lower(model, { ...OPTIONS, rsm: [{ pattern: 'nope*', ratio: 0.5 }] }))).toMatch(/--rsm nope\*: matches no layer \(synaptic layers: conv1, conv2, conv3, fc\)/);
    expect(errorOf(() => lower(model, { ...OPTIONS, rsm: [{ pattern: 'conv1', ratio: 0.5 }] }))).toMatch(/comes from the analog input, not from spiking neurons/);
  });

  it('--rsm inserts one mask per matched spiking edge', () => {
    const { ir } = lower(loadOnnx(`${FIX}/fmnist_cnn_qcfs.onnx`), { ...OPTIONS, rsm: [{ pattern: 'conv[23]', ratio: 0.5 }] });
    const masks = ir.nodes.filter((n) => n.kind === 'rsm');
    expect(masks.map((m) => [m.inputs[0], m.kind === 'rsm' && m.ratio])).toEqual([['act1', 0.5], ['act2', 0.5]]);
    expect(ir.nodes.find((n) => n.id === 'conv2')!.inputs).toEqual([masks[0].id]);
  });
});
