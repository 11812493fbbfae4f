/** `snnc compile`, `inspect` on an IR and `simulate` as users run them, on the small digits fixture. */
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectUserError, snnc } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-compile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fx = (name: string) => join('test', 'fixtures', name);

describe('compile → inspect → simulate', () => {
  const ir = join(tmp, 'digits.snn.json');

  it('compile writes the IR and its weights, and summarises on stderr (JSON on stdout with --json)', () => {
    const r = snnc('compile', fx('digits_mlp.onnx'), '--calib', fx('digits_calib_x.npy'), '-o', ir, '--json');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.neurons).toBe(128 + 64);
    expect(summary.calibration).toEqual({ file: fx('digits_calib_x.npy'), samples: 512 });
    expect(summary.layers.filter((l: { kind: string }) => l.kind === 'if').map((l: { id: string }) => l.id)).toEqual(['act1', 'act2']);
    expect(r.stderr).toContain('wrote');
    expect(existsSync(join(tmp, 'digits.snn.bin'))).toBe(true);
  });

  it('inspect shows populations, synapses and fan-out of the IR', () => {
    const r = snnc('inspect', ir, '--json');
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.format).toBe('snn-ir');
    // Dense layers: every neuron reaches every neuron of the next layer.
    expect(s.synapses).toBe(64 * 128 + 128 * 64 + 64 * 10);
    const act1 = s.populations.find((p: { id: string }) => p.id === 'act1');
    expect(act1.fan_out).toEqual({ mean: 64, max: 64 });
    expect(act1.fan_in).toEqual({ mean: 64, max: 64 });
  });

  it('simulate reports accuracy at 1, 2, 4, … T and per-layer counts', () => {
    const r = snnc('simulate', ir, '--input', fx('digits_test_x.npy'), '--labels', fx('digits_test_y.npy'), '-T', '40', '--limit', '100', '--json');
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(Object.keys(s.accuracy)).toEqual(['1', '2', '4', '8', '16', '32', '40']);
    expect(s.samples).toBe(100);
    expect(s.accuracy['40']).toBeGreaterThan(0.9);
    const sops = s.layers.reduce((n: number, l: { sops_per_sample: number }) => n + l.sops_per_sample, 0);
    expect(s.sops_per_sample).toBeCloseTo(sops, 6);
    // Progress on stderr (not a TTY: plain lines): the plan's sources, then the samples; stdout stays JSON.
    expect(r.stderr).toMatch(/^plan: 3\/3 \(100 %/m); // the input and two IF populations
    expect(r.stderr).toMatch(/^simulate: 100\/100 \(100 %/m);
    expect(r.stderr.indexOf('plan:')).toBeLessThan(r.stderr.indexOf('simulate:'));
  });
});

describe('bad input: one line, exit 2, nothing written', () => {
  it('a ReLU model without --calib', () => {
    const out = join(tmp, 'nocalib.snn.json');
    expectUserError(snnc('compile', fx('digits_mlp.onnx'), '-o', out), 'digits_mlp.onnx', '/act1/Relu', 'give a calibration set with --calib');
    expect(existsSync(out)).toBe(false);
  });

  it('an --rsm that matches nothing, and a malformed one', () => {
    expectUserError(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', join(tmp, 'x.snn.json'), '--rsm', 'conv9=0.5'), '--rsm conv9: matches no layer');
    expectUserError(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', join(tmp, 'x.snn.json'), '--rsm', 'conv2'), 'expected <layer-or-glob>=<ratio>');
  });

  it('LayerNorm names the pattern and the fix', () => {
    expectUserError(snnc('compile', fx('tiny_layernorm.onnx'), '-o', join(tmp, 'ln.snn.json')), 'tiny_layernorm.onnx', 'LayerNorm at node', 'replace it by BatchNorm as MST does');
  });

  it('an IR whose weights file is gone, and data of the wrong shape', () => {
    const ir = join(tmp, 'lonely.snn.json');
    expect(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', ir, '--input-divisor', '255').status).toBe(0);
    expectUserError(snnc('simulate', ir, '--input', fx('digits_test_x.npy')), 'digits_test_x.npy', 'does not match the model input');
    unlinkSync(join(tmp, 'lonely.snn.bin'));
    expectUserError(snnc('simulate', ir, '--input', fx('fmnist_test_x.npy')), 'lonely.snn.json', 'weights file lonely.snn.bin not found');
  });

  it('an output folder that does not exist', () => {
    const before = readdirSync(tmp).length;
    expectUserError(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', join(tmp, 'nope', 'x.snn.json')), 'does not exist');
    expect(readdirSync(tmp).length).toBe(before);
  });
});
