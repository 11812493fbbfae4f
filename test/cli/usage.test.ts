/**
 * How the CLI answers a user's slips and what it tells them: typos named with their likely meaning, one
 * default T everywhere, warnings for limits beyond the data, refusals before slow work, per-sample outputs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../runtime/npy.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';
import { buildModel, randomValues } from '../helpers/onnx-builder.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-usage-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fx = (name: string) => join('test', 'fixtures', name);

describe('an unknown option is named with the option it most likely means', () => {
  it('--inputs: the typo, not the missing --input it stands for', () => {
    expectUserError(snnc('simulate', 'm.snn.json', '--inputs', 'x.npy'), 'unknown option --inputs (did you mean --input?)');
    expectUserError(snnc('ann', 'm.onnx', '--inputs=x.npy'), 'unknown option --inputs (did you mean --input?)');
  });

  it('--lables, --stpes, --calibration, --chiplimit', () => {
    expectUserError(snnc('simulate', 'm.snn.json', '--input', 'x.npy', '--lables', 'y.npy'), 'unknown option --lables (did you mean --labels?)');
    expectUserError(snnc('simulate', 'm.snn.json', '--input', 'x.npy', '--stpes', '4'), '(did you mean --steps?)');
    expectUserError(snnc('compile', 'm.onnx', '-o', 'm.snn.json', '--calibration', 'c.npy'), '(did you mean --calib?)');
    expectUserError(snnc('report', 'm.snn.json', '--input', 'x', '--labels', 'y', '-o', 'r.html', '--chiplimit', '3'), '(did you mean --chip-limit?)');
  });

  it('-t and --timesteps mean -T, in every command that runs the network', () => {
    expectUserError(snnc('simulate', 'm.snn.json', '--input', 'x.npy', '-t', '8'), 'unknown option -t (did you mean -T?)');
    expectUserError(snnc('chip', 'm.map.json', '--input', 'x.npy', '--timesteps', '8'), 'unknown option --timesteps (did you mean -T?)');
    expectUserError(snnc('report', 'm.snn.json', '--input', 'x', '--labels', 'y', '-o', 'r.html', '-t', '8'), '(did you mean -T?)');
    expectUserError(snnc('demo', '--time-steps', '8'), '(did you mean -T?)');
  });

  it('nothing close: the flag alone; an unknown command on one line too', () => {
    expectUserError(snnc('simulate', 'm.snn.json', '--input', 'x.npy', '--zzzzzzzz'), 'unknown option --zzzzzzzz');
    expectUserError(snnc('simualte'), "unknown command 'simualte' (did you mean simulate?)");
  });
});

describe('one default T', () => {
  it('is 32 for simulate, chip, report and demo, and --help says so', () => {
    for (const command of ['simulate', 'chip', 'report', 'demo']) {
      const help = snnc(command, '--help').stdout;
      expect(help, command).toMatch(/-T, --steps <T>\s+time steps \(default: 32\)/);
    }
  });
});

describe('snnc simulate on the digits MLP', () => {
  const ir = join(tmp, 'digits.snn.json');
  beforeAll(() => {
    expect(snnc('compile', fx('digits_mlp.onnx'), '--calib', fx('digits_calib_x.npy'), '-o', ir).status).toBe(0);
  });

  it('runs T = 32 by default', () => {
    const r = snnc('simulate', ir, '--input', fx('digits_test_x.npy'), '--limit', '4', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).T).toBe(32);
  });

  it('--logits and --predictions: per sample, consistent with the accuracy table', () => {
    const logits = join(tmp, 'snn_logits.npy');
    const predictions = join(tmp, 'snn_pred.npy');
    const r = snnc('simulate', ir, '--input', fx('digits_test_x.npy'), '--labels', fx('digits_test_y.npy'), '-T', '12', '--limit', '50', '--logits', logits, '--predictions', predictions, '--json');
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.checkpoints).toEqual([1, 2, 4, 8, 12]);
    const l = readNpy(logits);
    const p = readNpy(predictions);
    expect(l).toMatchObject({ dtype: 'float32', shape: [50, 10] });
    expect(p).toMatchObject({ dtype: 'int32', shape: [50, 5] });
    const labels = readNpy(fx('digits_test_y.npy')).data;
    s.checkpoints.forEach((t: number, k: number) => {
      let correct = 0;
      for (let i = 0; i < 50; i++) if (p.data[i * 5 + k] === Number(labels[i])) correct++;
      expect(correct / 50, `T = ${t}`).toBeCloseTo(s.accuracy[String(t)], 10);
    });
    // The last column is the argmax of the logits at T.
    for (let i = 0; i < 50; i++) {
      const row = Array.from(l.data.subarray(i * 10, (i + 1) * 10) as Float32Array);
      expect(p.data[i * 5 + 4]).toBe(row.indexOf(Math.max(...row)));
    }
  });

  it('--limit beyond the data and --workers beyond the cores: one warning line each, and the run goes on', () => {
    const r = snnc('simulate', ir, '--input', fx('digits_test_x.npy'), '-T', '2', '--limit', '20000', '--workers', String(availableParallelism() + 1), '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).samples).toBe(360);
    expect(r.stderr).toMatch(/^snnc: warning: --limit 20000: \S+digits_test_x.npy has only 360 samples; using all of them$/m);
    expect(r.stderr).toMatch(/^snnc: warning: --workers \d+: this machine has \d+ cores/m);
  });

  it('compile --calib-limit beyond the calibration set: a warning, and all of it is used', () => {
    const r = snnc('compile', fx('digits_mlp.onnx'), '--calib', fx('digits_calib_x.npy'), '--calib-limit', '100000', '-o', join(tmp, 'all.snn.json'), '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).calibration.samples).toBe(512);
    expect(r.stderr).toMatch(/^snnc: warning: --calib-limit 100000: \S+digits_calib_x.npy has only 512 samples; using all of them$/m);
  });

  it('no warning when the limit fits', () => {
    const r = snnc('simulate', ir, '--input', fx('digits_test_x.npy'), '-T', '2', '--limit', '20', '--workers', '1', '--json');
    expect(r.stderr).not.toContain('warning');
  });
});

/** Conv → Relu → MaxPool → Flatten → Gemm on a 1×4×4 input. */
function maxPoolModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', dims: ['N', 1, 4, 4] }],
    outputs: [{ name: 'y', dims: ['N', 3] }],
    initializers: [
      { name: 'w', dims: [2, 1, 3, 3], data: randomValues(18, 1) },
      { name: 'fc', dims: [8, 3], data: randomValues(24, 2) },
    ],
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] }, name: '/conv/Conv' },
      { op: 'Relu', inputs: ['c'], outputs: ['r'], name: '/act/Relu' },
      { op: 'MaxPool', inputs: ['r'], outputs: ['p'], attrs: { kernel_shape: [2, 2], strides: [2, 2] }, name: '/pool/MaxPool' },
      { op: 'Flatten', inputs: ['p'], outputs: ['f'], name: '/flatten/Flatten' },
      { op: 'Gemm', inputs: ['f', 'fc'], outputs: ['y'], name: '/fc/Gemm' },
    ],
  });
}

describe('refusals come before calibration', () => {
  it('MaxPool without --maxpool avg is refused before the calibration data is read', () => {
    const model = join(tmp, 'maxpool.onnx');
    writeFileSync(model, maxPoolModel());
    // The calibration file does not exist: reading it would be a different error.
    expectUserError(snnc('compile', model, '--calib', join(tmp, 'missing.npy'), '-o', join(tmp, 'mp.snn.json')), 'maxpool.onnx', '/pool/MaxPool', 'pass --maxpool avg');
  });
});
