/** `snnc diagnose` as users run it (text, --json, bad input) and the warnings of `snnc simulate`. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeIr } from '../../compiler/ir/io.ts';
import { writeNpy } from '../../runtime/npy.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-diagnose-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fx = (name: string) => join('test', 'fixtures', name);

/** input [16] → dense → IF A (θ 2.5) → dense → IF B (θ `thetaB`; 1000 never fires) → dense → readout [4]. */
function twoLayerIr(thetaB: number, divisor = 1) {
  const b = new IrBuilder([16], divisor);
  const A = b.if(b.dense('input', randomArray(1, 8 * 16, 0, 0.25), [8, 16]), 2.5, { id: 'A' });
  const B = b.if(b.dense(A, randomArray(2, 6 * 8, -0.2, 0.5), [6, 8]), thetaB, { id: 'B' });
  return b.build(b.dense(B, randomArray(3, 4 * 6), [4, 6], { id: 'logits' }));
}

const silentIr = join(tmp, 'silent.snn.json');
const balancedIr = join(tmp, 'balanced.snn.json');
const unitX = join(tmp, 'x01.npy');
const byteX = join(tmp, 'x255.npy');
const labels = join(tmp, 'y.npy');

beforeAll(() => {
  writeIr(twoLayerIr(1000), silentIr);
  writeIr(twoLayerIr(1.5), balancedIr);
  writeNpy(unitX, { dtype: 'float32', shape: [12, 16], data: randomArray(9, 12 * 16, 0, 1) });
  writeNpy(byteX, { dtype: 'uint8', shape: [12, 16], data: Uint8Array.from(randomArray(9, 12 * 16, 0, 1), (v) => Math.round(v * 255)) });
  writeNpy(labels, { dtype: 'int64', shape: [12], data: BigInt64Array.from({ length: 12 }, (_, i) => BigInt(i % 4)) });
});

describe('snnc diagnose', () => {
  it('--json: one object with the layers per checked T, the first jump, the readout and the rules', () => {
    const r = snnc('diagnose', silentIr, '--input', unitX, '--labels', labels, '-T', '64', '--json');
    expect(r.status).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(Object.keys(d).sort()).toEqual(
      ['T', 'accuracy', 'checks', 'divisor', 'first_jump', 'input', 'ir', 'labels', 'layers', 'readout', 'rule', 'samples', 'seconds', 'warnings'].sort(),
    );
    expect(d).toMatchObject({ T: 64, samples: 12, checks: [8, 16, 32, 64], divisor: 1, warnings: [] });
    expect(d.layers.map((l: { id: string }) => l.id)).toEqual(['A', 'B']);
    expect(d.layers[1]).toMatchObject({ id: 'B', neurons: 6, threshold: { min: 1000, max: 1000 }, inputs: ['A'] });
    const keys = ['T', 'correlation', 'rms_error', 'relative_error', 'ann_rms', 'ann_max', 'silent', 'saturated', 'clipped', 'ann_active', 'firing_rate', 'ann_mean', 'snn_mean'];
    for (const l of d.layers) {
      expect(l.at.map((m: { T: number }) => m.T)).toEqual([8, 16, 32, 64]);
      for (const m of l.at) expect(Object.keys(m).sort()).toEqual([...keys].sort());
    }
    expect(d.layers[1].at[3]).toMatchObject({ correlation: null, relative_error: 1, silent: 1 });
    expect(d.layers[0].at[3].correlation).toBeGreaterThan(0.9);
    expect(d.first_jump['64']).toMatchObject({ layer: 'B', relative_error: 1 });
    expect(Object.keys(d.accuracy.snn)).toEqual(['8', '16', '32', '64']);
    expect(Object.keys(d.readout).sort()).toEqual(['agreement', 'correlation', 'relative_error']);
  });

  it('prints a table and names the first jump by default', () => {
    const r = snnc('diagnose', silentIr, '--input', unitX, '-T', '16');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/layer\s+neurons\s+θ\s+T\s+correlation\s+rel\. error\s+silent\s+saturated/);
    // B's rows: T = 8, then T = 16 with the mark (rows after a layer's first leave its name out).
    expect(r.stdout).toMatch(/^B +6 +1000 +8 +— +1\.000 +100\.0 %.*\n +16 +— +1\.000 +100\.0 % .*◀ first jump$/m);
    expect(r.stdout).toContain('first error jump at T = 16: B (relative error 1.000');
  });

  it('warns about wrongly scaled input, in --json too', () => {
    const r = snnc('diagnose', balancedIr, '--input', byteX, '-T', '8', '--json');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/snnc: warning: the input looks like 8-bit data.*--input-divisor 255/);
    expect(JSON.parse(r.stdout).warnings).toEqual([expect.stringContaining('--input-divisor 255')]);
  });

  it('bad input: one line, exit 2', () => {
    expectUserError(snnc('diagnose', balancedIr, '--input', join(tmp, 'missing.npy')), 'missing.npy');
    expectUserError(snnc('diagnose', balancedIr, '--input', fx('digits_test_x.npy')), 'does not match the model input');
    expectUserError(snnc('diagnose', join(tmp, 'nope.snn.json'), '--input', unitX), 'nope.snn.json');
    expectUserError(snnc('diagnose', balancedIr, '--input', unitX, '-T', '0'), '-T');
  });

  it('--help states the rule of the first jump', () => {
    const help = snnc('diagnose', '--help').stdout;
    expect(help).toContain('above 0.1 and more than 2×');
    expect(help).toContain('docs/accuracy.md');
  });
});

describe('snnc simulate warnings', () => {
  const json = (r: ReturnType<typeof snnc>) => JSON.parse(r.stdout) as { warnings: string[] };

  it('a layer that never fires: named on stderr and in --json, with what it means for energy', () => {
    const r = snnc('simulate', silentIr, '--input', unitX, '-T', '32', '--json');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/snnc: warning: layer B never fired in 32 steps on 12 samples: .*energy/);
    expect(json(r).warnings).toEqual([expect.stringMatching(/^layer B never fired/)]);
  });

  it('8-bit data with a divisor of 1, and [0, 1] data with a divisor of 255, each with the fix', () => {
    const bytes = snnc('simulate', balancedIr, '--input', byteX, '-T', '8', '--json');
    expect(bytes.status).toBe(0);
    expect(bytes.stderr).toContain('--input-divisor 255');
    expect(json(bytes).warnings.some((w) => /8-bit data.*--input-divisor 255/.test(w))).toBe(true);
    const unit = snnc('simulate', balancedIr, '--input', unitX, '--input-divisor', '255', '-T', '8', '--json');
    expect(unit.status).toBe(0);
    expect(unit.stderr).toMatch(/already in \[0, 1\].*--input-divisor 1/);
    expect(json(unit).warnings.some((w) => /already in \[0, 1\].*divides it by 255/.test(w))).toBe(true);
  });

  it('none on a normal run: the balanced network, and the digits fixture compiled as the README shows', () => {
    const r = snnc('simulate', balancedIr, '--input', unitX, '-T', '16', '--json');
    expect(r.status).toBe(0);
    expect(json(r).warnings).toEqual([]);
    expect(r.stderr).not.toContain('warning');
    const ir = join(tmp, 'digits.snn.json');
    expect(snnc('compile', fx('digits_mlp.onnx'), '--calib', fx('digits_calib_x.npy'), '-o', ir).status).toBe(0);
    const d = snnc('simulate', ir, '--input', fx('digits_test_x.npy'), '--labels', fx('digits_test_y.npy'), '--limit', '50', '--json');
    expect(d.status).toBe(0);
    expect(json(d).warnings).toEqual([]);
    expect(d.stderr).not.toContain('warning');
  });
});
