/**
 * The IR records which calibration engine computed its thresholds (`provenance.calibration.engine`); an IR
 * compiled without calibration has no `calibration` at all (so the bundled QCFS IR keeps its bytes), and
 * an IR written before the field existed still reads.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readIr } from '../../compiler/ir/io.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-provenance-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fx = (name: string) => join('test', 'fixtures', name);

function compile(model: string, out: string, ...extra: string[]): { provenance: { calibration?: Record<string, unknown> } } {
  const r = snnc('compile', fx(model), '-o', join(tmp, out), ...extra);
  expect(r.stderr).not.toContain('snnc: ');
  expect(r.status).toBe(0);
  return JSON.parse(readFileSync(join(tmp, out), 'utf8'));
}

describe('provenance.calibration.engine', () => {
  const calib = ['--calib', fx('digits_calib_x.npy'), '--calib-limit', '64'];

  it('js and ort are recorded; readIr reads it', () => {
    expect(compile('digits_mlp.onnx', 'js.snn.json', ...calib, '--calibration-engine', 'js').provenance.calibration).toEqual({ file: fx('digits_calib_x.npy'), samples: 64, engine: 'js' });
    expect(compile('digits_mlp.onnx', 'auto.snn.json', ...calib).provenance.calibration!.engine).toBe('js'); // auto: the fixture is small
    expect(compile('digits_mlp.onnx', 'ort.snn.json', ...calib, '--calibration-engine', 'ort').provenance.calibration!.engine).toBe('ort');
    expect(readIr(join(tmp, 'ort.snn.json')).provenance.calibration!.engine).toBe('ort');
  });

  it('no calibration, no field: a QCFS model with or without --calib', () => {
    expect(compile('fmnist_cnn_qcfs.onnx', 'qcfs.snn.json', '--input-divisor', '255').provenance.calibration).toBeUndefined();
    const qcfs = compile('fmnist_cnn_qcfs.onnx', 'qcfs-calib.snn.json', '--input-divisor', '255', '--calib', fx('fmnist_calib_x.npy'));
    expect(qcfs.provenance.calibration!.engine).toBeUndefined();
  });

  it('an IR without the field still reads; an unknown engine is refused by the schema', () => {
    const doc = JSON.parse(readFileSync(join(tmp, 'js.snn.json'), 'utf8'));
    copyFileSync(join(tmp, 'js.snn.bin'), join(tmp, 'old.snn.bin'));
    doc.weights.file = 'old.snn.bin';
    delete doc.provenance.calibration.engine;
    writeFileSync(join(tmp, 'old.snn.json'), JSON.stringify(doc));
    expect(readIr(join(tmp, 'old.snn.json')).provenance.calibration).toEqual({ file: fx('digits_calib_x.npy'), samples: 64 });
    doc.provenance.calibration.engine = 'gpu';
    writeFileSync(join(tmp, 'gpu.snn.json'), JSON.stringify(doc));
    expectUserError(snnc('inspect', join(tmp, 'gpu.snn.json')), 'gpu.snn.json', '/provenance/calibration/engine');
  });
});
