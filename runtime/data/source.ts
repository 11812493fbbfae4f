/**
 * Samples read a window at a time, so a run's memory does not grow with its data set: a `.npy` is read by
 * positioned reads of the samples asked for (its dtype kept until a window is converted), an image folder
 * is decoded a window at a time (images.ts), an in-memory array is served as it is. A source is described
 * by a plain `SourceSpec` so that a worker thread can open its own reader on the same data (open.ts).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { SnncError } from '../../compiler/errors.ts';
import { describeFsError, DTYPE_INFO, HOST_ORDER, parseNpyHeader, readNpy, swapBytes, type NpyData, type NpyDtype, type NpyHeaderInfo } from '../npy.ts';

/** Image decoding options (torchvision conventions; see images.ts). */
export interface ImageOptions {
  /** Shorter side resized to this many pixels, keeping the aspect ratio. */
  resize?: number;
  /** Central crop, square side in pixels (after the resize). */
  centerCrop?: number;
  /** Per channel: x = (pixel / 255 − mean) / std. Without them, pixels are raw 0…255 (as a uint8 .npy). */
  mean?: number[];
  std?: number[];
}

export type SourceSpec =
  | { kind: 'npy'; path: string }
  /** Samples [first, first + data.length / sampleSize) of a larger run, already in memory. */
  | { kind: 'array'; name: string; data: Float32Array; sampleShape: number[]; first: number }
  | { kind: 'images'; name: string; files: string[]; sampleShape: number[]; options: ImageOptions };

export interface SampleSource {
  /** The file or folder, for messages. */
  readonly name: string;
  /** Samples in the whole source (global indices 0 … samples − 1). */
  readonly samples: number;
  /** One sample's shape (no batch axis). */
  readonly sampleShape: number[];
  readonly sampleSize: number;
  /**
   * Samples [from, from + count) as float32, each value divided by `divisor` (in float64, then rounded once:
   * the same numbers as reading the whole file). NaN or ±Inf is refused with its global index.
   */
  read(from: number, count: number, divisor?: number): Promise<Float32Array>;
  /** Enough to open the same source in another thread. */
  readonly spec: SourceSpec;
  close(): void;
}

/** Windows of about this many bytes of float32 (at least one sample): small next to any model's tables. */
const WINDOW_BYTES = 8 << 20;

export function windowSamples(sampleSize: number): number {
  return Math.max(1, Math.min(1024, Math.floor(WINDOW_BYTES / (4 * sampleSize))));
}

/** Calls `fn` on consecutive windows of samples [from, to), in order; `first` is a window's first global index. */
export async function forEachWindow(
  source: SampleSource,
  from: number,
  to: number,
  fn: (x: Float32Array, first: number, count: number) => void | Promise<void>,
  divisor = 1,
): Promise<void> {
  const step = windowSamples(source.sampleSize);
  for (let first = from; first < to; first += step) {
    const count = Math.min(step, to - first);
    await fn(await source.read(first, count, divisor), first, count);
  }
}


/** Raw values to float32 / divisor, refusing what is not finite in float32 (the index is the sample's global one). */
export function toFloat32(data: NpyData, divisor: number, out: Float32Array, name: string, firstSample: number, sampleShape: number[]): Float32Array {
  for (let i = 0; i < out.length; i++) {
    const value = Number(data[i]!) / divisor;
    out[i] = value;
    if (!Number.isFinite(out[i])) {
      const what = Number.isFinite(value) ? `value ${value} (beyond the float32 range)` : `non-finite value ${value}`;
      throw new SnncError(`${what} at index ${formatSampleIndex(firstSample, i, sampleShape)}`, { file: name });
    }
  }
  return out;
}

function formatSampleIndex(firstSample: number, flat: number, sampleShape: number[]): string {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const index = new Array<number>(sampleShape.length);
  let rest = flat % size;
  for (let d = sampleShape.length - 1; d >= 0; d--) {
    index[d] = rest % sampleShape[d]!;
    rest = Math.floor(rest / sampleShape[d]!);
  }
  return `[${[firstSample + Math.floor(flat / size), ...index].join(', ')}]`;
}

/** The header of a `.npy` file without reading its data. */
export type NpyHeader = NpyHeaderInfo;

export function readNpyHeader(path: string): NpyHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new SnncError(describeFsError(err), { file: path });
  }
  try {
    return headerOf(fd, path);
  } finally {
    closeSync(fd);
  }
}

function headerOf(fd: number, path: string): NpyHeader {
  const size = fstatSync(fd).size;
  // A header is at most a few KB in practice; v2/v3 allow up to 4 GB, so read more if it says so.
  const header = parseNpyHeader(readAt(fd, 0, Math.min(size, 1 << 16), path), path, size);
  if (header !== 'more') return header;
  // The data follows the header, so reading up to the data start is enough: parse the longer prefix.
  const view = readAt(fd, 0, Math.min(size, 12), path);
  const length = view[6] === 1 ? view[8]! | (view[9]! << 8) : new DataView(view.buffer).getUint32(8, true);
  return parseNpyHeader(readAt(fd, 0, Math.min(size, 12 + length), path), path, size) as NpyHeader;
}

function readAt(fd: number, position: number, length: number, path: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let done = 0;
  try {
    while (done < length) {
      const n = readSync(fd, out, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
  } catch (err) {
    throw new SnncError(`cannot read: ${describeFsError(err)}`, { file: path });
  }
  if (done < length) throw new SnncError(`truncated: expected ${length} bytes at offset ${position}, the file ends after ${done}`, { file: path });
  return out;
}

/** A .npy file as a source (the header is read now, samples when asked for). */
export function openNpySource(path: string): SampleSource {
  const header = readNpyHeader(path);
  // Fortran order puts a sample's values far apart in the file: read such (rare) files whole.
  if (header.fortranOrder && header.shape.length > 1) {
    const arr = readNpy(path);
    if (arr.shape.length === 0) throw new SnncError('a 0-d array holds no samples', { file: path });
    const sampleShape = arr.shape.slice(1);
    const data = toFloat32(arr.data, 1, new Float32Array(arr.data.length), path, 0, sampleShape);
    return new ArraySource({ kind: 'array', name: path, data, sampleShape, first: 0 }, { kind: 'npy', path });
  }
  return new NpySource(path, header);
}

class NpySource implements SampleSource {
  readonly samples: number;
  readonly sampleShape: number[];
  readonly sampleSize: number;
  readonly spec: SourceSpec;
  private fd: number;
  private readonly itemSize: number;

  constructor(
    readonly name: string,
    private readonly header: NpyHeader,
  ) {
    if (header.shape.length === 0) throw new SnncError('a 0-d array holds no samples', { file: name });
    this.samples = header.shape[0]!;
    this.sampleShape = header.shape.slice(1);
    this.sampleSize = this.sampleShape.reduce((a, b) => a * b, 1);
    this.itemSize = DTYPE_INFO[header.dtype].itemSize;
    this.spec = { kind: 'npy', path: name };
    this.fd = openSync(name, 'r');
  }

  /** The samples' raw values in their own dtype (host byte order). */
  readRaw(from: number, count: number): NpyData {
    if (from < 0 || count < 0 || from + count > this.samples) throw new Error(`npy source: samples ${from}+${count} outside 0..${this.samples}`);
    const bytes = this.sampleSize * this.itemSize;
    const raw = readAt(this.fd, this.header.dataStart + from * bytes, count * bytes, this.name);
    if (this.header.byteOrder !== HOST_ORDER && this.itemSize > 1) swapBytes(raw, this.itemSize);
    return DTYPE_INFO[this.header.dtype].make(raw.buffer);
  }

  async read(from: number, count: number, divisor = 1): Promise<Float32Array> {
    return toFloat32(this.readRaw(from, count), divisor, new Float32Array(count * this.sampleSize), this.name, from, this.sampleShape);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Samples already in memory (raw values, float32). */
export class ArraySource implements SampleSource {
  readonly name: string;
  readonly samples: number;
  readonly sampleShape: number[];
  readonly sampleSize: number;
  readonly spec: SourceSpec;
  private readonly data: Float32Array;
  private readonly first: number;

  constructor(spec: Extract<SourceSpec, { kind: 'array' }>, reopen?: SourceSpec) {
    this.name = spec.name;
    this.data = spec.data;
    this.first = spec.first;
    this.sampleShape = spec.sampleShape;
    this.sampleSize = spec.sampleShape.reduce((a, b) => a * b, 1);
    this.samples = spec.first + spec.data.length / this.sampleSize;
    this.spec = reopen ?? spec;
  }

  async read(from: number, count: number, divisor = 1): Promise<Float32Array> {
    const lo = (from - this.first) * this.sampleSize;
    if (lo < 0 || from + count > this.samples) throw new Error(`array source: samples ${from}+${count} outside ${this.first}..${this.samples}`);
    const slice = this.data.subarray(lo, lo + count * this.sampleSize);
    if (divisor === 1) return slice;
    return toFloat32(slice, divisor, new Float32Array(slice.length), this.name, from, this.sampleShape);
  }

  /** The spec of samples [from, to) only: what a worker for that range needs to be sent. */
  rangeSpec(from: number, to: number): SourceSpec {
    if (this.spec.kind !== 'array') return this.spec;
    const lo = (from - this.first) * this.sampleSize;
    return { kind: 'array', name: this.name, data: this.data.slice(lo, lo + (to - from) * this.sampleSize), sampleShape: this.sampleShape, first: from };
  }

  close(): void {}
}

/** An in-memory Float32Array of whole samples as a source (what callers that already hold the data pass). */
export function arraySource(data: Float32Array, sampleShape: number[], name = 'input'): ArraySource {
  return new ArraySource({ kind: 'array', name, data, sampleShape, first: 0 });
}

/** The spec a worker simulating samples [from, to) should open (an in-memory array sends only its slice). */
export function specForRange(source: SampleSource, from: number, to: number): SourceSpec {
  return source instanceof ArraySource ? source.rangeSpec(from, to) : source.spec;
}
