/** `snnc compile --calibration-engine auto|ort|js`: validated, ort compiles, and auto keeps the fixtures on js. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectUserError, snnc } from '../helpers/cli.ts';

const fx = (name: string): string => `test/fixtures/${name}`;

function thresholds(irFile: string): number[] {
  const ir = JSON.parse(readFileSync(irFile, 'utf8')) as { nodes: { kind: string; threshold?: number | number[] }[] };
  return ir.nodes.filter((n) => n.kind === 'if').flatMap((n) => [n.threshold!].flat());
}

describe('snnc compile --calibration-engine', () => {
  it('ort compiles; auto gives byte for byte what js gives on a fixture', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'snnc-engine-'));
    const ir = path.join(dir, 'digits.snn.json');
    const compile = (...extra: string[]) => {
      const r = snnc('compile', fx('digits_mlp.onnx'), '--calib', fx('digits_calib_x.npy'), '--per-channel', '-o', ir, ...extra);
      expect(r.stderr).not.toContain('snnc: ');
      expect(r.status).toBe(0);
      return { json: readFileSync(ir, 'utf8'), bin: readFileSync(ir.replace(/\.json$/, '.bin')), thresholds: thresholds(ir) };
    };
    const js = compile('--calibration-engine', 'js');
    const auto = compile();
    expect(auto.json).toBe(js.json);
    expect(auto.bin.equals(js.bin)).toBe(true);
    const ort = compile('--calibration-engine', 'ort');
    expect(ort.bin.equals(js.bin)).toBe(true); // weights do not depend on calibration
    expect(ort.thresholds.length).toBe(js.thresholds.length);
    ort.thresholds.forEach((t, i) => expect(Math.abs(t - js.thresholds[i])).toBeLessThanOrEqual(1e-4 * js.thresholds[i]));
    expect(compile('--calibration-engine', 'ort').json).toBe(ort.json); // deterministic
  });

  it('rejects an unknown engine and documents the choice in --help', () => {
    const r = snnc('compile', fx('digits_mlp.onnx'), '--calib', fx('digits_calib_x.npy'), '-o', 'x.snn.json', '--calibration-engine', 'fast');
    expectUserError(r, '--calibration-engine', 'fast', 'auto, ort, js');
    const help = snnc('compile', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/--calibration-engine <engine>.*onnxruntime.*\(choices: "auto", "ort", "js", default: "auto"\)/);
  });
});
