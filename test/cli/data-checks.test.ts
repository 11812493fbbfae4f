/**
 * Data checks through the CLI: labels against the class count and the samples used (`--limit` accepts a
 * longer labels file), and non-finite outputs of `ann` (inside the model) and `simulate` (the readout).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeIr } from '../../compiler/ir/io.ts';
import { readNpy, writeNpy } from '../../runtime/npy.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';
import { IrBuilder } from '../helpers/ir-builder.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fx = (name: string) => join('test', 'fixtures', name);
const MLP = fx('digits_mlp.onnx');

/** The last stderr line (progress lines come first) of a user error; nothing on stdout. */
function lastErrorLine(r: ReturnType<typeof snnc>): string {
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).not.toMatch(/\bat .*:\d+:\d+/);
  return r.stderr.trimEnd().split('\n').pop()!;
}

/** The first `n` digits test images as their own file (the labels file keeps all 360). */
function firstImages(n: number): string {
  const x = readNpy(fx('digits_test_x.npy'));
  const file = join(tmp, `x${n}.npy`);
  writeNpy(file, { dtype: 'float32', shape: [n, 64], data: Float32Array.from(x.data.subarray(0, n * 64) as Float32Array) });
  return file;
}

describe('labels and --limit', () => {
  const y = fx('digits_test_y.npy'); // 360 labels

  it('ann: with --limit, a labels file longer than the samples used is fine (the first labels are used)', () => {
    const x20 = firstImages(20);
    const limited = snnc('ann', MLP, '--input', x20, '--labels', y, '--limit', '20', '--json');
    expect(limited.stderr).not.toContain('snnc: ');
    expect(limited.status).toBe(0);
    const reference = snnc('ann', MLP, '--input', fx('digits_test_x.npy'), '--labels', y, '--limit', '20', '--json');
    expect(JSON.parse(limited.stdout).correct).toBe(JSON.parse(reference.stdout).correct);
    expect(JSON.parse(limited.stdout).samples).toBe(20);
  });

  it('ann: without --limit the counts must match; with it, fewer labels than samples used are refused', () => {
    const x20 = firstImages(20);
    expectUserError(snnc('ann', MLP, '--input', x20, '--labels', y), 'digits_test_y.npy', '360 labels for 20 samples in');
    const y5 = join(tmp, 'y5.npy');
    writeNpy(y5, { dtype: 'int64', shape: [5], data: new BigInt64Array([0n, 1n, 2n, 3n, 4n]) });
    expectUserError(snnc('ann', MLP, '--input', x20, '--labels', y5, '--limit', '10'), 'y5.npy', '5 labels for 10 samples (--limit 10) in');
  });

  it('simulate: with --limit, a longer labels file is fine', () => {
    const ir = join(tmp, 'mlp.snn.json');
    expect(snnc('compile', MLP, '-o', ir, '--calib', fx('digits_calib_x.npy'), '--calib-limit', '64').status).toBe(0);
    const r = snnc('simulate', ir, '--input', firstImages(10), '--labels', y, '--limit', '10', '-T', '8', '--json');
    expect(r.stderr).not.toContain('snnc: ');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).samples).toBe(10);
  });
});

describe('snnc simulate', () => {
  let ir: string;
  let x: string;
  beforeAll(() => {
    // input [4] → fc1 → if → fc2 [2]: weights of 3e38 are finite, but the readout they accumulate is not.
    const b = new IrBuilder([4]);
    const h = b.dense('input', new Float32Array(12).fill(3e38), [3, 4], { id: 'fc1' });
    const a = b.if(h, 1, { id: 'act' });
    ir = join(tmp, 'huge.snn.json');
    writeIr(b.build(b.dense(a, new Float32Array(6).fill(3e38), [2, 3], { id: 'fc2' })), ir);
    x = join(tmp, 'ones.npy');
    writeNpy(x, { dtype: 'float32', shape: [3, 4], data: new Float32Array(12).fill(1) });
  });

  it('a label ≥ the class count is refused', () => {
    const y = join(tmp, 'y-big.npy');
    writeNpy(y, { dtype: 'int64', shape: [3], data: new BigInt64Array([0n, 2n, 1n]) });
    expectUserError(snnc('simulate', ir, '--input', x, '--labels', y, '-T', '2'), 'y-big.npy', 'label 2 at index 1 is not a class of a model with 2 outputs (0–1)');
  });

  it('non-finite logits are refused, naming the IR and the input, and nothing is written', () => {
    const logits = join(tmp, 'huge-logits.npy');
    const predictions = join(tmp, 'huge-predictions.npy');
    const r = snnc('simulate', ir, '--input', x, '-T', '4', '--logits', logits, '--predictions', predictions);
    expect(lastErrorLine(r)).toMatch(/^snnc: .*huge\.snn\.json: SNN output Infinity at \[0, 0\] on the samples of .*ones\.npy: the values overflow float32 inside the network$/);
    expect(readdirSync(tmp)).not.toContain('huge-logits.npy');
    expect(readdirSync(tmp)).not.toContain('huge-predictions.npy');
  });
});

describe('snnc ann', () => {
  it('an overflow inside the model that later layers turn into finite logits is refused at its node', () => {
    const x = join(tmp, 'huge.npy');
    writeNpy(x, { dtype: 'float32', shape: [4, 64], data: new Float32Array(256).fill(3.4e38) });
    const logits = join(tmp, 'mlp-logits.npy');
    const line = lastErrorLine(snnc('ann', MLP, '--input', x, '--logits', logits));
    expect(line).toMatch(
      /^snnc: test\/fixtures\/digits_mlp\.onnx: node \/fc1\/Gemm \(Gemm\): output \S+ holds -?Infinity at \[\d+, \d+\] in the batch of samples 0–3 of .*huge\.npy: the values overflow float32 inside the model$/,
    );
    expect(readdirSync(tmp)).not.toContain('mlp-logits.npy');
  });
});
