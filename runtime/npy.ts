/**
 * NumPy `.npy` files: read (format v1/v2/v3, either byte order, C or Fortran order) and write (v1, host byte
 * order, C order). Hand-written because npyjs rejects big-endian data and leaves Fortran data unreordered.
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SnncError } from '../compiler/errors.ts';
import type { Tensor } from '../compiler/graph.ts';

export type NpyDtype =
  | 'bool'
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'int64'
  | 'uint64'
  | 'float32'
  | 'float64';

export type NpyData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

export interface NpyArray {
  dtype: NpyDtype;
  /** C-order shape; [] for a 0-d array. */
  shape: number[];
  /** C-order elements in host byte order. bool is a Uint8Array of 0/1. */
  data: NpyData;
  /** The file path (or name) the array came from, for error messages. */
  source?: string;
}

export interface DtypeInfo {
  /** numpy kind + item size, e.g. 'f4'. */
  code: string;
  itemSize: number;
  make(buffer: ArrayBuffer): NpyData;
}

const DTYPES: Record<NpyDtype, DtypeInfo> = {
  bool: { code: 'b1', itemSize: 1, make: (b) => new Uint8Array(b) },
  uint8: { code: 'u1', itemSize: 1, make: (b) => new Uint8Array(b) },
  int8: { code: 'i1', itemSize: 1, make: (b) => new Int8Array(b) },
  uint16: { code: 'u2', itemSize: 2, make: (b) => new Uint16Array(b) },
  int16: { code: 'i2', itemSize: 2, make: (b) => new Int16Array(b) },
  uint32: { code: 'u4', itemSize: 4, make: (b) => new Uint32Array(b) },
  int32: { code: 'i4', itemSize: 4, make: (b) => new Int32Array(b) },
  int64: { code: 'i8', itemSize: 8, make: (b) => new BigInt64Array(b) },
  uint64: { code: 'u8', itemSize: 8, make: (b) => new BigUint64Array(b) },
  float32: { code: 'f4', itemSize: 4, make: (b) => new Float32Array(b) },
  float64: { code: 'f8', itemSize: 8, make: (b) => new Float64Array(b) },
};

/** Item size and typed-array constructor per dtype. */
export const DTYPE_INFO: Readonly<Record<NpyDtype, DtypeInfo>> = DTYPES;

const DTYPE_BY_CODE = new Map(Object.entries(DTYPES).map(([name, info]) => [info.code, name as NpyDtype]));

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
export const HOST_ORDER: '<' | '>' = endianness() === 'LE' ? '<' : '>';

export function readNpy(path: string): NpyArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new SnncError(describeFsError(err), { file: path });
  }
  return parseNpy(bytes, path);
}

/** Parses `.npy` bytes; `name` (usually the path) prefixes every error. */
export function parseNpy(bytes: Uint8Array, name: string): NpyArray {
  const { byteOrder, dtype, fortranOrder, shape, dataStart } = parseNpyHeader(bytes, name, bytes.length) as NpyHeaderInfo;
  const info = DTYPES[dtype];
  const byteLength = shape.reduce((a, b) => a * b, 1) * info.itemSize;
  // Copy the payload: it starts at an arbitrary offset, and typed arrays need aligned buffers.
  // (new Uint8Array(view) copies; Buffer#slice would not.)
  let payload = new Uint8Array(bytes.subarray(dataStart, dataStart + byteLength));
  if (byteOrder !== HOST_ORDER && info.itemSize > 1) swapBytes(payload, info.itemSize);
  if (fortranOrder && shape.length > 1) payload = fortranToC(payload, shape, info.itemSize);
  return { dtype, shape, data: info.make(payload.buffer), source: name };
}

export interface NpyHeaderInfo {
  dtype: NpyDtype;
  shape: number[];
  fortranOrder: boolean;
  byteOrder: '<' | '>';
  /** Byte offset of the first element. */
  dataStart: number;
}

/**
 * The header of a `.npy` file from its first bytes (`fileSize`: the whole file's, to check that the data
 * is all there); 'more' when `head` ends inside the header. Streamed readers (runtime/data/source.ts)
 * read only this much before positioned reads of the samples they need.
 */
export function parseNpyHeader(head: Uint8Array, name: string, fileSize: number): NpyHeaderInfo | 'more' {
  const fail = (message: string): never => {
    throw new SnncError(message, { file: name });
  };
  if (fileSize < 10 || head.length < 10 || MAGIC.some((b, i) => head[i] !== b)) fail('not a .npy file (missing \\x93NUMPY magic)');
  const major = head[6]!;
  if (major < 1 || major > 3) fail(`unsupported .npy format version ${major}.${head[7]}`);
  // v1 stores the header length as uint16, v2/v3 as uint32 (both little-endian).
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const lengthSize = major === 1 ? 2 : 4;
  if (fileSize < 8 + lengthSize) fail('truncated .npy header');
  if (head.length < 8 + lengthSize) return 'more';
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lengthSize + headerLength;
  if (fileSize < dataStart) fail('truncated .npy header');
  if (head.length < dataStart) return 'more';
  const headerBytes = head.subarray(8 + lengthSize, dataStart);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);

  const { byteOrder, dtype, fortranOrder, shape } = parseHeader(header, fail);
  const byteLength = shape.reduce((a, b) => a * b, 1) * DTYPES[dtype].itemSize;
  const available = fileSize - dataStart;
  if (available < byteLength) {
    fail(`truncated: shape [${shape.join(', ')}] ${dtype} needs ${byteLength} data bytes, file has ${available}`);
  }
  return { byteOrder: byteOrder as '<' | '>', dtype, fortranOrder, shape, dataStart };
}

function parseHeader(header: string, fail: (message: string) => never) {
  // The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
  if (/'descr'\s*:\s*\[/.test(header)) fail('structured (record) dtypes are not supported');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(`malformed .npy header: ${header.trim()}`);

  const m = /^([<>|=])([a-zA-Z]\d+)$/.exec(descr!);
  const dtype = m ? DTYPE_BY_CODE.get(m[2]!) : undefined;
  if (!m || !dtype) fail(`unsupported dtype '${descr}' (supported: ${Object.keys(DTYPES).join(', ')})`);
  // '|' (not applicable) and '=' (native) both mean host order for our purposes.
  const byteOrder = m![1] === '<' || m![1] === '>' ? m![1] : HOST_ORDER;

  const shape = shapeText!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : fail(`malformed shape (${shapeText})`)));
  return { byteOrder, dtype: dtype!, fortranOrder: fortran === 'True', shape };
}

export function swapBytes(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

/** Reorders column-major items (first index fastest) into row-major (last index fastest). */
function fortranToC(src: Uint8Array, shape: number[], itemSize: number): Uint8Array<ArrayBuffer> {
  const rank = shape.length;
  const fStrides = new Array<number>(rank);
  for (let d = 0, s = 1; d < rank; d++) {
    fStrides[d] = s;
    s *= shape[d]!;
  }
  const out = new Uint8Array(src.length);
  const index = new Array<number>(rank).fill(0);
  let fOffset = 0;
  for (let c = 0; c < out.length; c += itemSize) {
    out.set(src.subarray(fOffset * itemSize, (fOffset + 1) * itemSize), c);
    // Advance the C-order index (last dimension fastest) and keep the Fortran offset in step.
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      fOffset += fStrides[d]!;
      if (index[d]! < shape[d]!) break;
      fOffset -= index[d]! * fStrides[d]!;
      index[d] = 0;
    }
  }
  return out;
}

/** Serialises to `.npy` bytes: format 1.0 (2.0 if the header needs it), host byte order, C order. */
export function encodeNpy(arr: NpyArray): Uint8Array {
  const info = DTYPES[arr.dtype];
  const count = arr.shape.reduce((a, b) => a * b, 1);
  if (arr.data.length !== count) {
    throw new Error(`npy: ${arr.data.length} elements do not fill shape [${arr.shape.join(', ')}]`);
  }
  const order = info.itemSize === 1 ? '|' : HOST_ORDER;
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  const dict = `{'descr': '${order}${info.code}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces so the data starts on a 64-byte boundary, as numpy does; the header ends with '\n'.
  const version = dict.length + 1 + 10 > 0xffff ? 2 : 1;
  const prefix = version === 1 ? 10 : 12;
  const headerLength = Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix;
  const header = dict.padEnd(headerLength - 1, ' ') + '\n';

  const data = new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  const out = new Uint8Array(prefix + headerLength + data.length);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(data, prefix + headerLength);
  return out;
}

/** Writes `.npy` atomically: a reader never sees a half-written file, and a failed write leaves none. */
export function writeNpy(path: string, arr: NpyArray): void {
  writeFileAtomic(path, encodeNpy(arr));
}

/** Writes to a temporary file beside `path`, then renames it over `path`. */
export function writeFileAtomic(path: string, contents: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, contents);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new SnncError(`cannot write: ${describeFsError(err)}`, { file: path });
  }
}

export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return err instanceof Error ? err.message : String(err);
}

/** The element at flat index `i` as a JS number (int64 beyond 2^53 loses precision). */
function elementAsNumber(data: NpyData, i: number): number {
  return Number(data[i]!);
}

function formatIndex(flat: number, shape: number[]): string {
  const index = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d]!;
    flat = Math.floor(flat / shape[d]!);
  }
  return `[${index.join(', ')}]`;
}

/**
 * A float32 tensor of the same shape, each element divided by `divisor` (default 1).
 * Throws SnncError naming the file and the first index holding NaN or ±Inf.
 */
export function toFloatTensor(arr: NpyArray, options: { divisor?: number } = {}): Tensor {
  const divisor = options.divisor ?? 1;
  const out = new Float32Array(arr.data.length);
  for (let i = 0; i < out.length; i++) {
    const value = elementAsNumber(arr.data, i) / divisor;
    out[i] = value;
    // A finite float64 beyond ±3.4e38 becomes ±Inf in float32.
    if (!Number.isFinite(out[i])) {
      const what = Number.isFinite(value) ? `value ${value} (beyond the float32 range)` : `non-finite value ${value}`;
      throw new SnncError(`${what} at index ${formatIndex(i, arr.shape)}`, { file: arr.source });
    }
  }
  return { dtype: 'float32', dims: [...arr.shape], data: out };
}

/** Class labels from a 1-D integer array (int64 from PyTorch/numpy, or any narrower integer type). */
export function toLabels(arr: NpyArray): Int32Array {
  const where = { file: arr.source };
  if (arr.dtype === 'bool' || arr.dtype === 'float32' || arr.dtype === 'float64') {
    throw new SnncError(`labels must be integers, got ${arr.dtype}`, where);
  }
  if (arr.shape.length !== 1) throw new SnncError(`labels must be 1-D, got shape [${arr.shape.join(', ')}]`, where);
  const out = new Int32Array(arr.data.length);
  for (let i = 0; i < out.length; i++) {
    const label = elementAsNumber(arr.data, i);
    if (label < 0 || label > 0x7fffffff) throw new SnncError(`label ${label} at index ${i} is out of range`, where);
    out[i] = label;
  }
  return out;
}
