/** `snnc report` on a masked IR with a core map: every section is measured, and bad input fails cleanly. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReportData } from '../../report/types.ts';
import { chartIds } from '../../report/render.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-report-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fx = (name: string) => join('test', 'fixtures', name);

describe('snnc report', () => {
  const ir = join(tmp, 'digits.snn.json');
  const map = join(tmp, 'digits.map.json');
  const html = join(tmp, 'report.html');

  it('measures ANN, SNN with and without masks, three energy models and the chip', () => {
    expect(snnc('compile', fx('digits_mlp.onnx'), '--calib', fx('digits_calib_x.npy'), '--rsm', 'fc2=0.25', '-o', ir).status).toBe(0);
    expect(snnc('map', ir, '--chip', 'loihi1', '-o', map).status).toBe(0);
    const r = snnc('report', ir, '--input', fx('digits_test_x.npy'), '--labels', fx('digits_test_y.npy'), '--map', map, '--limit', '60', '--chip-limit', '10', '-T', '24', '-o', html, '--json');
    expect(r.status, r.stderr).toBe(0);
    const data = JSON.parse(r.stdout) as ReportData;
    expect(data.snn.samples).toBe(60);
    expect(Object.keys(data.snn.accuracy_per_T)).toEqual(['1', '2', '4', '8', '16', '24']);
    expect(data.snn_rsm).not.toBeNull();
    // Masking act1's spikes into fc2 (ratio 0.25) removes about a quarter of act1's SOPs.
    const sops = (run: ReportData['snn']) => run.layers.find((l) => l.id === 'act1')!.sops_per_sample;
    expect(sops(data.snn_rsm!) / sops(data.snn)).toBeGreaterThan(0.6);
    expect(sops(data.snn_rsm!) / sops(data.snn)).toBeLessThan(0.9);
    expect(data.energy.map((m) => m.name)).toEqual(['45 nm', 'loihi1', 'loihi1-sanafe']);
    // The 45 nm SNN figure is the counts times the published constants.
    const nm45 = data.energy[0];
    expect(nm45.snn_per_inference).toBeCloseTo(data.snn.sops_per_sample * 0.9 + data.snn.macs_per_sample * 4.6, 3);
    expect(nm45.ann_per_inference).toBeCloseTo(data.ann.macs_per_sample * 4.6, 3);
    // With the constant input layer evaluated once per inference instead of at each of the 24 steps.
    expect(data.snn.macs_per_sample).toBe(64 * 128 * 24);
    expect(nm45.snn_input_once_per_inference).toBeCloseTo(data.snn.sops_per_sample * 0.9 + 64 * 128 * 4.6, 3);
    expect(data.ann.macs_per_sample).toBe(64 * 128 + 128 * 64 + 64 * 10);
    expect(data.chip?.name).toBe('loihi1');
    const page = readFileSync(html, 'utf8');
    for (const id of chartIds(data)) expect(page).toContain(`id="${id}"`);
    expect(page).toContain('45 nm, input layer computed once per image');
  });

  it('refuses a map made for another IR, and leaves no report behind', () => {
    const other = join(tmp, 'other.snn.json');
    expect(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '--input-divisor', '255', '-o', other).status).toBe(0);
    const out = join(tmp, 'never.html');
    expectUserError(snnc('report', other, '--input', fx('fmnist_test_x.npy'), '--labels', fx('fmnist_test_y.npy'), '--map', map, '-o', out), 'the map was made for');
    expect(existsSync(out)).toBe(false);
  });
});
