/**
 * The streamed .npy source: any window of samples read by positioned reads equals the same samples of the
 * whole file read at once (the oracle: readNpy + toFloatTensor), for every byte order, format version and
 * dtype; bad data is refused with the sample's global index, also from a simulator worker thread.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSource } from '../../runtime/data/open.ts';
import { forEachWindow, windowSamples } from '../../runtime/data/source.ts';
import { readNpy, toFloatTensor, writeNpy } from '../../runtime/npy.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-stream-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const at = (name: string) => join(tmp, name);

/** A .npy written by hand: `descr`, C-order shape, payload bytes as given; format 1 or 2. */
function npyFile(path: string, descr: string, shape: number[], payload: Uint8Array, major = 1, fortran = false): void {
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const prefix = major === 1 ? 10 : 12;
  const headerLength = Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix;
  const out = new Uint8Array(prefix + headerLength + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  out.set(new TextEncoder().encode(dict.padEnd(headerLength - 1, ' ') + '\n'), prefix);
  out.set(payload, prefix + headerLength);
  writeFileSync(path, out);
}

describe('windows of a .npy = the same samples of the whole file', () => {
  const shape = [37, 2, 3];
  const n = 37 * 6;
  const cases: Array<[string, string, (v: DataView, i: number, x: number) => void, number, number]> = [
    ['uint8', '|u1', (v, i, x) => v.setUint8(i, x % 256), 1, 1],
    ['float32 big-endian, format 2', '>f4', (v, i, x) => v.setFloat32(4 * i, x * 0.37 - 20, false), 4, 2],
    ['int16 little-endian', '<i2', (v, i, x) => v.setInt16(2 * i, x * 131 - 9000, true), 2, 1],
    ['float64 big-endian', '>f8', (v, i, x) => v.setFloat64(8 * i, Math.sin(x) * 1e3, false), 8, 1],
  ];
  for (const [name, descr, put, size, major] of cases) {
    it(name, async () => {
      const payload = new Uint8Array(n * size);
      const view = new DataView(payload.buffer);
      for (let i = 0; i < n; i++) put(view, i, (i * 7919) % 1009);
      const file = at(`${name.replace(/\W+/g, '_')}.npy`);
      npyFile(file, descr, shape, payload, major);
      const whole = toFloatTensor(readNpy(file), { divisor: 3 }).data as Float32Array;
      const raw = toFloatTensor(readNpy(file)).data as Float32Array;
      const source = await openSource({ kind: 'npy', path: file });
      expect(source.samples).toBe(37);
      expect(source.sampleShape).toEqual([2, 3]);
      for (const [from, count] of [[0, 37], [0, 1], [36, 1], [5, 17], [20, 3]] as const) {
        expect(Array.from(await source.read(from, count, 3))).toEqual(Array.from(whole.subarray(from * 6, (from + count) * 6)));
      }
      // forEachWindow visits [from, to) in order, each window starting at its global index (raw values: divisor 1).
      const seen: number[] = [];
      await forEachWindow(source, 4, 33, (x, first, count) => {
        expect(x.length).toBe(count * 6);
        expect(Array.from(x)).toEqual(Array.from(raw.subarray(first * 6, (first + count) * 6)));
        seen.push(first, count);
      });
      expect(seen[0]).toBe(4);
      expect(seen.filter((_, k) => k % 2 === 1).reduce((a, b) => a + b, 0)).toBe(29);
      source.close();
    });
  }

  it('a Fortran-order file (read whole, then served from memory) gives the C-order samples', async () => {
    const c = Float32Array.from({ length: 24 }, (_, i) => i * 1.5);
    // C-order [4, 2, 3] written column-major: element (a, b, d) at a + 4·b + 8·d.
    const f = new Float32Array(24);
    for (let a = 0; a < 4; a++) for (let b = 0; b < 2; b++) for (let d = 0; d < 3; d++) f[a + 4 * b + 8 * d] = c[a * 6 + b * 3 + d]!;
    npyFile(at('fortran.npy'), '<f4', [4, 2, 3], new Uint8Array(f.buffer), 1, true);
    const source = await openSource({ kind: 'npy', path: at('fortran.npy') });
    expect(Array.from(await source.read(1, 2))).toEqual(Array.from(c.subarray(6, 18)));
  });

  it('windows hold about 8 MB of float32 and at most 1024 samples', () => {
    expect(windowSamples(784)).toBe(1024);
    expect(windowSamples(3 * 224 * 224)).toBe(13);
    expect(windowSamples(1e8)).toBe(1);
  });

  it('a truncated file and a non-finite value are refused with the file and the global index', async () => {
    npyFile(at('short.npy'), '<f4', [10, 4], new Uint8Array(4 * 39));
    await expect(openSource({ kind: 'npy', path: at('short.npy') })).rejects.toThrow(/short\.npy: truncated: shape \[10, 4\] float32 needs 160 data bytes, file has 156/);
    const x = new Float32Array(40);
    x[7 * 4 + 2] = NaN;
    writeNpy(at('nan.npy'), { dtype: 'float32', shape: [10, 4], data: x });
    const source = await openSource({ kind: 'npy', path: at('nan.npy') });
    expect(Array.from(await source.read(0, 7))).toEqual(Array(28).fill(0));
    await expect(source.read(5, 4)).rejects.toThrow(/nan\.npy: non-finite value NaN at index \[7, 2\]/);
  });
});

describe('bad data met by a simulator worker thread', () => {
  it('is a one-line user error naming the file and the sample, not an internal error', () => {
    const ir = at('digits.snn.json');
    expect(snnc('compile', 'test/fixtures/digits_mlp.onnx', '--calib', 'test/fixtures/digits_calib_x.npy', '-o', ir).status).toBe(0);
    const x = readNpy('test/fixtures/digits_test_x.npy');
    const data = Float32Array.from(x.data as Float32Array).subarray(0, 200 * 64);
    data[150 * 64 + 9] = Infinity;
    writeNpy(at('inf.npy'), { dtype: 'float32', shape: [200, 64], data });
    expectUserError(snnc('simulate', ir, '--input', at('inf.npy'), '-T', '4', '--workers', '2'), 'inf.npy', 'non-finite value Infinity at index [150, 9]');
    // Two bad samples far apart, so that either thread may meet its own first: the lower one is reported, every run,
    // as one thread would report it (the threads' blocks in flight end before the error is chosen).
    data[150 * 64 + 9] = 1;
    data[20 * 64 + 3] = NaN;
    data[190 * 64 + 1] = -Infinity;
    writeNpy(at('two.npy'), { dtype: 'float32', shape: [200, 64], data });
    for (const workers of ['1', '2', '2']) {
      expectUserError(snnc('simulate', ir, '--input', at('two.npy'), '-T', '64', '--workers', workers), 'two.npy', 'non-finite value NaN at index [20, 3]');
    }
  }, 60_000);
});
