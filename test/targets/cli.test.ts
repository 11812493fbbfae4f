/**
 * `snnc map` and `snnc chip` as users run them (subprocesses through tsx): the map names each layer's
 * binding limit and the placement figures, the chip's JSON report matches its schema, and user errors are
 * one line with exit 2.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateDocument } from '../../compiler/schema.ts';
import { compileFixture, fixture, limitNetwork, root, saveIr, tempFolder } from './helpers.ts';

const dir = tempFolder();

function snnc(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/snnc.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, SNNC_DEBUG: '', NO_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectUserError(r: ReturnType<typeof snnc>, ...fragments: string[]): void {
  expect(r.stderr).toMatch(/^snnc: [^\n]*\n$/);
  for (const f of fragments) expect(r.stderr).toContain(f);
  expect(r.stdout).toBe('');
  expect(r.status).toBe(2);
}

describe('snnc map and snnc chip', () => {
  const irFile = saveIr(compileFixture('digits_mlp'), dir, 'digits');
  const mapFile = join(dir, 'digits.map.json');

  it('map: writes a validated map and prints cores, the lower bound, the binding limit and spike-hops', () => {
    const r = snnc('map', irFile, '--chip', 'loihi1-sanafe', '--profile', fixture('digits_test_x.npy'), '--profile-limit', '16', '--quantize', 'per-group', '-o', mapFile);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/cores: 1 on 1 tile of 1 chip; lower bound 1/);
    expect(r.stdout).toMatch(/spike-hops per inference: traffic placement 0, sequential placement 0 \(every message stays within its tile\)/);
    expect(r.stdout).toMatch(/quantisation: per-group, 8-bit mantissa/);
    const doc = JSON.parse(readFileSync(mapFile, 'utf8'));
    validateDocument('map', doc, mapFile);
    expect(doc.ir.file).toBe('digits.snn.json');
    expect(doc.options.profile).toMatchObject({ samples: 16, T: 32 });
  });

  it('map: names the binding limit of a layer that breaks the input-axon limit', () => {
    const file = saveIr(limitNetwork('input_axons').ir, dir, 'wide');
    const r = snnc('map', file, '-o', join(dir, 'wide.map.json'));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^wide\s+if\s+6\s+2\s+2\s+input axons/m);
  });

  it('chip --json: a report valid against its schema, with accuracy, energy, latency and the busiest core', () => {
    const r = snnc('chip', mapFile, '--input', fixture('digits_test_x.npy'), '--labels', fixture('digits_test_y.npy'), '-T', '16', '--limit', '40', '--json', '--trace');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    validateDocument('chip-report', report, 'stdout');
    expect(report.samples).toBe(40);
    expect(report.accuracy['16']).toBeGreaterThan(0.8);
    expect(report.chip.name).toBe('loihi1-sanafe');
    expect(report.quantization.mode).toBe('per-group');
    expect(report.energy.per_inference.chip.total_pj).toBeGreaterThan(0);
    expect(report.trace).toHaveLength(40);
  });

  it('chip: prints the energy of both models with their sources, and the latency in ns and cycles', () => {
    const r = snnc('chip', mapFile, '--input', fixture('digits_test_x.npy'), '-T', '8', '--limit', '5');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/loihi1-sanafe event table/);
    expect(r.stdout).toMatch(/SANA-FE arch\/loihi\.yaml/);
    expect(r.stdout).toMatch(/Horowitz, ISSCC 2014/);
    expect(r.stdout).toMatch(/per inference = [\d,]+ cycles at 1000 MHz/);
    expect(r.stdout).toMatch(/busiest core: 0/);
  });

  it('user errors are one line with exit 2', () => {
    expectUserError(snnc('map', irFile, '--chip', 'loihi9', '-o', join(dir, 'x.map.json')), "unknown chip 'loihi9'", 'loihi1, loihi1-sanafe');
    expectUserError(snnc('map', irFile, '--quantize', 'per-bit', '-o', join(dir, 'x.map.json')), 'per-core or per-group');
    expectUserError(snnc('chip', mapFile, '--input', fixture('digits_test_x.npy'), '--trace'), '--trace', '--json');
    expectUserError(snnc('chip', join(dir, 'none.map.json'), '--input', fixture('digits_test_x.npy')), 'no such file');
  });
});
