import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import { encodeNpy, parseNpy, readNpy, toFloatTensor, toLabels, writeNpy, type NpyArray } from '../../runtime/npy.ts';

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'snnc-npy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Builds a .npy file by hand: magic, version, header length, padded header dict, raw payload bytes. */
function npyBytes(dict: string, payload: Uint8Array, major = 1): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const headerLength = Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix;
  const header = new TextEncoder().encode(dict.padEnd(headerLength - 1, ' ') + '\n');
  const out = new Uint8Array(prefix + headerLength + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  out.set(header, prefix);
  out.set(payload, prefix + headerLength);
  return out;
}

function expectSnncError(fn: () => unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SnncError);
  for (const fragment of fragments) expect((caught as Error).message).toContain(fragment);
}

describe('writeNpy / readNpy round trip', () => {
  const cases: NpyArray[] = [
    { dtype: 'bool', shape: [4], data: new Uint8Array([1, 0, 0, 1]) },
    { dtype: 'uint8', shape: [2, 3], data: new Uint8Array([0, 1, 2, 253, 254, 255]) },
    { dtype: 'int8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    { dtype: 'uint16', shape: [2], data: new Uint16Array([0, 65535]) },
    { dtype: 'int16', shape: [2], data: new Int16Array([-32768, 32767]) },
    { dtype: 'uint32', shape: [2], data: new Uint32Array([0, 4294967295]) },
    { dtype: 'int32', shape: [2, 2], data: new Int32Array([-2147483648, -1, 0, 2147483647]) },
    { dtype: 'int64', shape: [3], data: new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]) },
    { dtype: 'uint64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
    { dtype: 'float32', shape: [2, 1, 2], data: new Float32Array([1.5, -0, Infinity, 3.4e38]) },
    { dtype: 'float64', shape: [3], data: new Float64Array([Math.PI, -1e-300, NaN]) },
    { dtype: 'float32', shape: [], data: new Float32Array([7]) },
    { dtype: 'int64', shape: [0, 3], data: new BigInt64Array(0) },
  ];
  for (const arr of cases) {
    it(`${arr.dtype} [${arr.shape.join(', ')}]`, () => {
      const path = join(tmp, `rt-${arr.dtype}-${arr.shape.join('x')}.npy`);
      writeNpy(path, arr);
      const back = readNpy(path);
      expect(back.dtype).toBe(arr.dtype);
      expect(back.shape).toEqual(arr.shape);
      expect(back.data).toEqual(arr.data);
      expect(back.source).toBe(path);
    });
  }

  it('aligns the data to 64 bytes with a header numpy accepts', () => {
    const bytes = encodeNpy({ dtype: 'float32', shape: [1], data: new Float32Array([1]) });
    const header = new TextDecoder('latin1').decode(bytes.subarray(10, 128));
    expect(header).toBe(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }`.padEnd(117, ' ') + '\n');
    expect(bytes.length).toBe(128 + 4);
  });

  it('overwrites an existing file and leaves no temporary files behind', () => {
    const dir = mkdtempSync(join(tmp, 'atomic-'));
    const path = join(dir, 'out.npy');
    writeFileSync(path, 'old');
    writeNpy(path, { dtype: 'uint8', shape: [1], data: new Uint8Array([9]) });
    expect(readNpy(path).data).toEqual(new Uint8Array([9]));
    expect(readdirSync(dir)).toEqual(['out.npy']);
  });

  it('reports a write failure as SnncError naming the file', () => {
    const path = join(tmp, 'no-such-dir', 'out.npy');
    expectSnncError(() => writeNpy(path, { dtype: 'uint8', shape: [1], data: new Uint8Array(1) }), path, 'cannot write');
  });
});

describe('parseNpy', () => {
  it('byte-swaps big-endian data', () => {
    const f32 = new Uint8Array(8);
    new DataView(f32.buffer).setFloat32(0, 1.25, false);
    new DataView(f32.buffer).setFloat32(4, -2.5, false);
    const a = parseNpy(npyBytes(`{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }`, f32), 'be.npy');
    expect(a.data).toEqual(new Float32Array([1.25, -2.5]));

    const i8 = new Uint8Array(8);
    new DataView(i8.buffer).setBigInt64(0, -3n, false);
    const b = parseNpy(npyBytes(`{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }`, i8), 'be.npy');
    expect(b.data).toEqual(new BigInt64Array([-3n]));
  });

  it('reorders Fortran-order data to C order', () => {
    // numpy: a = np.arange(6, dtype='<i4').reshape(2, 3); np.asfortranarray(a) stores 0 3 1 4 2 5.
    const payload = new Uint8Array(new Int32Array([0, 3, 1, 4, 2, 5]).buffer);
    const a = parseNpy(npyBytes(`{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }`, payload), 'f.npy');
    expect(a.shape).toEqual([2, 3]);
    expect(a.data).toEqual(new Int32Array([0, 1, 2, 3, 4, 5]));

    // Rank 3: element (i, j, k) of shape (2, 3, 2) sits at i + 2j + 6k in Fortran order.
    const shape = [2, 3, 2];
    const fortran = new Float64Array(12);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 2; k++) fortran[i + 2 * j + 6 * k] = 100 * i + 10 * j + k;
    const b = parseNpy(
      npyBytes(`{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 2), }`, new Uint8Array(fortran.buffer)),
      'f3.npy',
    );
    expect(b.shape).toEqual(shape);
    expect(Array.from(b.data as Float64Array)).toEqual([0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121]);
  });

  it('reads format versions 2 and 3', () => {
    const payload = new Uint8Array([7, 8]);
    for (const major of [2, 3]) {
      const a = parseNpy(npyBytes(`{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }`, payload, major), 'v.npy');
      expect(a.data).toEqual(payload);
    }
  });

  it('rejects truncated files, naming the file', () => {
    const full = encodeNpy({ dtype: 'float32', shape: [4, 4], data: new Float32Array(16) });
    expectSnncError(() => parseNpy(full.subarray(0, full.length - 1), 'cut.npy'), 'cut.npy', 'truncated', '64 data bytes');
    expectSnncError(() => parseNpy(full.subarray(0, 40), 'cut.npy'), 'cut.npy', 'truncated .npy header');
    expectSnncError(() => parseNpy(full.subarray(0, 5), 'cut.npy'), 'cut.npy', 'not a .npy file');
  });

  it('rejects structured and unknown dtypes', () => {
    const structured = `{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }`;
    expectSnncError(() => parseNpy(npyBytes(structured, new Uint8Array(8)), 's.npy'), 's.npy', 'structured');
    const half = `{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }`;
    expectSnncError(() => parseNpy(npyBytes(half, new Uint8Array(2)), 'h.npy'), 'h.npy', "unsupported dtype '<f2'");
  });

  it('reports a missing file', () => {
    const path = join(tmp, 'missing.npy');
    expectSnncError(() => readNpy(path), path, 'no such file');
  });
});

describe('fixtures', () => {
  const expected: Record<string, [string, number[]]> = {
    'fmnist_test_x.npy': ['uint8', [10000, 1, 28, 28]],
    'fmnist_test_y.npy': ['int64', [10000]],
    'fmnist_calib_x.npy': ['uint8', [512, 1, 28, 28]],
    'digits_test_x.npy': ['float32', [360, 64]],
    'digits_test_y.npy': ['int64', [360]],
    'digits_calib_x.npy': ['float32', [512, 64]],
    'digits_mlp_ref_logits.npy': ['float32', [256, 10]],
  };
  for (const [file, [dtype, shape]] of Object.entries(expected)) {
    it(`${file} is ${dtype} [${shape.join(', ')}]`, () => {
      const a = readNpy(join(fixtures, file));
      expect(a.dtype).toBe(dtype);
      expect(a.shape).toEqual(shape);
      expect(a.data.length).toBe(shape.reduce((x, y) => x * y, 1));
    });
  }

  it('labels are in 0..9', () => {
    const labels = toLabels(readNpy(join(fixtures, 'fmnist_test_y.npy')));
    expect(labels.length).toBe(10000);
    expect(Math.min(...labels)).toBe(0);
    expect(Math.max(...labels)).toBe(9);
  });

  it('an encoded fixture is byte-identical to the numpy-written file', () => {
    const path = join(fixtures, 'digits_test_y.npy');
    expect(Buffer.from(encodeNpy(readNpy(path))).equals(readFileSync(path))).toBe(true);
  });
});

describe('toFloatTensor', () => {
  it('converts and divides', () => {
    const t = toFloatTensor({ dtype: 'uint8', shape: [1, 3], data: new Uint8Array([0, 51, 255]) }, { divisor: 255 });
    expect(t.dtype).toBe('float32');
    expect(t.dims).toEqual([1, 3]);
    expect(t.data).toEqual(new Float32Array([0, 0.2, 1]));
  });

  it('names the file and the first non-finite index', () => {
    const arr: NpyArray = { dtype: 'float32', shape: [2, 3], data: new Float32Array([0, 1, 2, 3, NaN, Infinity]), source: 'x.npy' };
    expectSnncError(() => toFloatTensor(arr), 'x.npy', 'NaN', 'index [1, 1]');
  });
});

describe('toLabels', () => {
  it('accepts integer arrays', () => {
    expect(toLabels({ dtype: 'int64', shape: [3], data: new BigInt64Array([2n, 0n, 9n]) })).toEqual(new Int32Array([2, 0, 9]));
    expect(toLabels({ dtype: 'uint8', shape: [2], data: new Uint8Array([1, 3]) })).toEqual(new Int32Array([1, 3]));
  });

  it('rejects floats, 2-D arrays and negative labels', () => {
    const where = { source: 'y.npy' };
    expectSnncError(() => toLabels({ ...where, dtype: 'float32', shape: [1], data: new Float32Array(1) }), 'y.npy', 'integers');
    expectSnncError(() => toLabels({ ...where, dtype: 'int32', shape: [1, 1], data: new Int32Array(1) }), 'y.npy', '1-D');
    expectSnncError(() => toLabels({ ...where, dtype: 'int32', shape: [1], data: new Int32Array([-1]) }), 'y.npy', 'label -1');
  });
});
