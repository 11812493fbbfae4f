/**
 * The CLI as users run it: a subprocess (through tsx, so no build is needed), checking stdout, stderr
 * and exit codes.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runCommand } from '../../cli/common.ts';
import { SnncError } from '../../compiler/errors.ts';
import { readNpy, writeNpy } from '../../runtime/npy.ts';
import { expectUserError, root, snnc } from '../helpers/cli.ts';

const fixture = (name: string) => join('test', 'fixtures', name);
const tmp = mkdtempSync(join(tmpdir(), 'snnc-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A one-node model whose op no part of snnc knows. */
function unknownOpModel(): Uint8Array {
  const { onnx } = onnxProto;
  const value = (name: string) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 4 }] } } },
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [{ name: 'mystery', opType: 'Frobnicate', input: ['x'], output: ['y'] }],
      input: [value('x')],
      output: [value('y')],
    },
  }).finish();
}

describe('snnc --help', () => {
  it('lists the commands', () => {
    const result = snnc('--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('inspect');
    expect(result.stdout).toContain('ann');
  });

  it('rejects a bad option value as a usage error', () => {
    expectUserError(snnc('ann', fixture('digits_mlp.onnx'), '--input', 'x.npy', '--limit', '0'), '--limit');
  });
});

describe('snnc inspect', () => {
  it('--json summarises digits_mlp', () => {
    const result = snnc('inspect', fixture('digits_mlp.onnx'), '--json');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.ops).toEqual({ BatchNormalization: 2, Flatten: 1, Gemm: 3, Relu: 2 });
    // Gemm 64→128, 128→64, 64→10 (weights + biases) and two BatchNorms (4 vectors each).
    const gemm = 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10;
    const batchNorm = 4 * 128 + 4 * 64;
    expect(summary.parameters).toBe(gemm + batchNorm);
    expect(summary.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: ['N', 64] }]);
    expect(summary.outputs).toEqual([{ name: 'logits', dtype: 'float32', shape: ['N', 10] }]);
    expect(summary.nodes).toHaveLength(8);
    const firstGemm = summary.nodes.find((n: { op: string }) => n.op === 'Gemm');
    expect(firstGemm.parameters).toBe(64 * 128 + 128);
    expect(firstGemm.outputs[0].shape).toEqual(['N', 128]);
  });

  it('prints tables without --json', () => {
    const result = snnc('inspect', fixture('fmnist_cnn_relu.onnx'));
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Conv 3');
    expect(result.stdout).toMatch(/input\s+float32\s+\[N, 1, 28, 28\]/);
    expect(result.stdout).toContain('[N, 16, 28, 28]');
  });

  it('rejects an unknown file type', () => {
    expectUserError(snnc('inspect', fixture('README.md')), 'README.md', 'unknown file type');
  });
});

describe('snnc ann', () => {
  it('--json reproduces the digits accuracy (353/360)', () => {
    const result = snnc('ann', fixture('digits_mlp.onnx'), '--input', fixture('digits_test_x.npy'), '--labels', fixture('digits_test_y.npy'), '--json');
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.samples).toBe(360);
    expect(report.correct).toBe(353);
    expect(report.accuracy).toBeCloseTo(353 / 360, 12);
    expect(report.seconds).toBeGreaterThan(0);
  });

  it('--logits writes float32 logits matching the PyTorch reference', () => {
    const out = join(tmp, 'fmnist_logits.npy');
    const result = snnc(
      'ann', fixture('fmnist_cnn_relu.onnx'), '--input', fixture('fmnist_test_x.npy'), '--input-divisor', '255',
      '--limit', '256', '--batch-size', '100', '--logits', out, '--json',
    );
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ samples: 256, accuracy: null, correct: null, logits: out });
    const logits = readNpy(out);
    const reference = readNpy(fixture('fmnist_cnn_relu_ref_logits.npy'));
    expect(logits.dtype).toBe('float32');
    expect(logits.shape).toEqual([256, 10]);
    let maxDiff = 0;
    for (let i = 0; i < logits.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(Number(logits.data[i]) - Number(reference.data[i])));
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('prints a human summary', () => {
    const result = snnc('ann', fixture('digits_mlp.onnx'), '--input', fixture('digits_test_x.npy'), '--labels', fixture('digits_test_y.npy'), '--limit', '100');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/samples\s+100/);
    expect(result.stdout).toMatch(/accuracy\s+\d+\.\d\d % \(\d+\/100\)/);
  });
});

describe('errors: one line, exit 2, no stack trace, no output file', () => {
  it('a missing model', () => {
    expectUserError(snnc('inspect', 'no/such/model.onnx'), 'no/such/model.onnx');
    expectUserError(snnc('ann', 'no/such/model.onnx', '--input', fixture('digits_test_x.npy')), 'no/such/model.onnx');
  });

  it('a missing input file', () => {
    expectUserError(snnc('ann', fixture('digits_mlp.onnx'), '--input', 'no/such/x.npy'), 'no/such/x.npy');
  });

  it('a truncated model', () => {
    const model = join(tmp, 'truncated.onnx');
    const bytes = readFileSync(join(root, fixture('digits_mlp.onnx')));
    writeFileSync(model, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expectUserError(snnc('inspect', model), model);
    const logits = join(tmp, 'truncated_logits.npy');
    expectUserError(snnc('ann', model, '--input', fixture('digits_test_x.npy'), '--logits', logits), model);
    expect(existsSync(logits)).toBe(false);
  });

  it('an unsupported op', () => {
    const model = join(tmp, 'mystery.onnx');
    writeFileSync(model, unknownOpModel());
    const x = join(tmp, 'mystery_x.npy');
    writeNpy(x, { dtype: 'float32', shape: [2, 4], data: new Float32Array(8) });
    expectUserError(snnc('inspect', model), model, 'Frobnicate');
    expectUserError(snnc('ann', model, '--input', x), model, 'Frobnicate');
  });

  it('NaN in the input data, naming the file and the index', () => {
    const x = join(tmp, 'nan_x.npy');
    const data = new Float32Array(3 * 64);
    data[64 + 5] = NaN;
    writeNpy(x, { dtype: 'float32', shape: [3, 64], data });
    const logits = join(tmp, 'nan_logits.npy');
    expectUserError(snnc('ann', fixture('digits_mlp.onnx'), '--input', x, '--logits', logits), x, 'NaN', '[1, 5]');
    expect(existsSync(logits)).toBe(false);
  });

  it('an input whose shape does not match the model', () => {
    const logits = join(tmp, 'shape_logits.npy');
    const result = snnc('ann', fixture('digits_mlp.onnx'), '--input', fixture('fmnist_calib_x.npy'), '--logits', logits);
    expectUserError(result, fixture('fmnist_calib_x.npy'), '[512, 1, 28, 28]', '[N, 64]');
    expect(existsSync(logits)).toBe(false);
  });

  it('labels that do not match the samples', () => {
    const args = ['ann', fixture('digits_mlp.onnx'), '--input', fixture('digits_test_x.npy')];
    expectUserError(snnc(...args, '--labels', fixture('fmnist_test_y.npy')), fixture('fmnist_test_y.npy'), '10000 labels for 360 samples');
  });

  it('a --logits path in a missing folder fails before running', () => {
    const logits = join(tmp, 'no-such-folder', 'logits.npy');
    expectUserError(snnc('ann', fixture('digits_mlp.onnx'), '--input', fixture('digits_test_x.npy'), '--logits', logits), logits);
  });

  it('no run above left a temporary file behind', () => {
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('runCommand', () => {
  async function outcome(body: () => void) {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await runCommand(body);
      return { exitCode: process.exitCode, stderr: write.mock.calls.map((c) => String(c[0])).join('') };
    } finally {
      write.mockRestore();
      process.exitCode = undefined;
    }
  }

  it('reports a SnncError as one line with exit code 2', async () => {
    const result = await outcome(() => {
      throw new SnncError('bad\nthing', { file: 'f.onnx' });
    });
    expect(result).toEqual({ exitCode: 2, stderr: 'snnc: f.onnx: bad\\x0athing\n' });
  });

  it('reports any other error as a one-line internal error with exit code 70', async () => {
    const result = await outcome(() => {
      throw new TypeError('x is undefined');
    });
    expect(result.exitCode).toBe(70);
    expect(result.stderr).toMatch(/^snnc: internal error: TypeError: x is undefined \(run with SNNC_DEBUG=1 for the stack trace\)\n$/);
  });
});

describe('README', () => {
  it('lists every op the ANN executor supports', async () => {
    const { SUPPORTED_OPS } = await import('../../runtime/ann/execute.ts');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Supported ONNX ops'), readme.indexOf('## Layout'));
    const listed = new Set(section.match(/\b[A-Z][A-Za-z]+\b/g));
    expect([...SUPPORTED_OPS].filter((op) => !listed.has(op))).toEqual([]);
  });
});
