/**
 * Image folders as samples: PNG/JPEG decoded by sharp (libvips), resized and cropped by torchvision's
 * rules, a window of images at a time. Resize(n): the shorter side becomes n and the longer one
 * int(n · long / short), bilinear with antialiasing (libvips' linear reduction; PIL's filter differs in its
 * last digits, so pixels may differ by one level from torchvision's). CenterCrop(c): the offsets are
 * round((size − c) / 2) with Python's round-half-to-even. Normalisation follows ToTensor + Normalize in
 * float32: x = (pixel / 255 − mean) / std, each step rounded to float32. Without mean and std, a pixel is
 * its raw value 0…255, as in a uint8 .npy, and the IR's input divisor applies as it would there.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import sharp from 'sharp';
import { SnncError } from '../../compiler/errors.ts';
import { toFloat32, type ImageOptions, type SampleSource, type SourceSpec } from './source.ts';

const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;

/** Images decoded at once: libvips threads each decode, so a handful in flight keeps both cores busy. */
const IN_FLIGHT = 8;

export interface ImageFolder {
  /** Image files in sample order. */
  files: string[];
  /** From the class-folder layout (sorted folder names → 0, 1, …); undefined for a flat folder. */
  labels?: Int32Array;
  classes?: string[];
}

/**
 * Lists `dir`: images directly in it (a flat folder, sorted by name), or one sub-folder per class with its
 * images inside (torchvision's ImageFolder: classes sorted, class i = label i, files sorted within).
 */
export function listImageFolder(dir: string): ImageFolder {
  const entries = readdirNames(dir);
  const images = entries.filter((e) => IMAGE_EXTENSIONS.test(e) && isFile(join(dir, e)));
  const classDirs = entries.filter((e) => isDirectory(join(dir, e)));
  const perClass = classDirs.map((c) => readdirNames(join(dir, c)).filter((e) => IMAGE_EXTENSIONS.test(e) && isFile(join(dir, c, e))));
  const withImages = classDirs.filter((_, i) => perClass[i]!.length > 0);
  if (images.length > 0 && withImages.length > 0) {
    throw new SnncError(`holds both images and class folders with images (${images[0]} and ${withImages[0]}/): use one layout`, { file: dir });
  }
  if (images.length > 0) return { files: images.map((f) => join(dir, f)) };
  if (withImages.length === 0) throw new SnncError('no .png/.jpg/.jpeg images in the folder or in class sub-folders', { file: dir });
  const files: string[] = [];
  const labels: number[] = [];
  classDirs.forEach((c, k) => {
    for (const f of perClass[k]!) {
      files.push(join(dir, c, f));
      labels.push(k);
    }
  });
  return { files, labels: Int32Array.from(labels), classes: classDirs };
}

/**
 * Labels for a flat folder from a CSV: `file,label` rows (a header row is skipped), `file` relative to the
 * folder (or just its name); every image needs one.
 */
export function labelsFromCsv(csvPath: string, text: string, dir: string, files: string[]): Int32Array {
  const byName = new Map<string, number>();
  const rows = text.split(/\r?\n/);
  rows.forEach((row, i) => {
    if (row.trim() === '') return;
    const cells = row.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (cells.length < 2) throw new SnncError(`line ${i + 1}: expected file,label`, { file: csvPath });
    const label = cells[cells.length - 1]!;
    if (!/^\d+$/.test(label)) {
      if (i === 0) return; // header
      throw new SnncError(`line ${i + 1}: label '${label}' is not a non-negative integer`, { file: csvPath });
    }
    byName.set(cells.slice(0, -1).join(',').replaceAll('\\', '/'), Number(label));
  });
  const out = new Int32Array(files.length);
  files.forEach((f, i) => {
    const rel = relative(dir, f).split(sep).join('/');
    const label = byName.get(rel) ?? byName.get(rel.split('/').pop()!);
    if (label === undefined) throw new SnncError(`no label for ${rel}`, { file: csvPath });
    if (label > 0x7fffffff) throw new SnncError(`label ${label} for ${rel} is out of range`, { file: csvPath });
    out[i] = label;
  });
  return out;
}

export function checkImageOptions(o: ImageOptions, channels: number): void {
  for (const [flag, v] of [['--resize', o.resize], ['--center-crop', o.centerCrop]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new SnncError(`${flag} ${v}: expected a positive integer`);
  }
  if ((o.mean === undefined) !== (o.std === undefined)) throw new SnncError('--mean and --std go together');
  for (const [flag, v] of [['--mean', o.mean], ['--std', o.std]] as const) {
    if (v === undefined) continue;
    if (v.length !== channels && v.length !== 1) throw new SnncError(`${flag}: ${v.length} values for a model input of ${channels} channels`);
    if (v.some((x) => !Number.isFinite(x)) || (flag === '--std' && v.some((x) => x <= 0))) throw new SnncError(`${flag} ${v.join(',')}: expected finite numbers${flag === '--std' ? ' above 0' : ''}`);
  }
}

export class ImageSource implements SampleSource {
  readonly name: string;
  readonly samples: number;
  readonly sampleShape: number[];
  readonly sampleSize: number;
  readonly spec: SourceSpec;
  private readonly files: string[];
  private readonly options: ImageOptions;

  constructor(spec: Extract<SourceSpec, { kind: 'images' }>) {
    this.name = spec.name;
    this.files = spec.files;
    this.options = spec.options;
    this.samples = spec.files.length;
    if (spec.sampleShape.length !== 3 || (spec.sampleShape[0] !== 1 && spec.sampleShape[0] !== 3)) {
      throw new SnncError(`image folders feed models with a [1 or 3, H, W] input; this one takes [${spec.sampleShape.join(', ')}]`, { file: spec.name });
    }
    this.sampleShape = spec.sampleShape;
    this.sampleSize = spec.sampleShape.reduce((a, b) => a * b, 1);
    this.spec = spec;
  }

  async read(from: number, count: number, divisor = 1): Promise<Float32Array> {
    const out = new Float32Array(count * this.sampleSize);
    for (let lo = 0; lo < count; lo += IN_FLIGHT) {
      const n = Math.min(IN_FLIGHT, count - lo);
      const settled = await Promise.allSettled(Array.from({ length: n }, (_, k) => this.decodeInto(from + lo + k, out.subarray((lo + k) * this.sampleSize, (lo + k + 1) * this.sampleSize))));
      // Decodes finish in any order; the error reported is the first image's in file order, so it is the same every run.
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    if (divisor !== 1) toFloat32(out, divisor, out, this.name, from, this.sampleShape);
    return out;
  }

  /** One image as C×H×W float32 (raw pixels, or normalised with mean/std). */
  private async decodeInto(index: number, out: Float32Array): Promise<void> {
    const file = this.files[index]!;
    const [C, H, W] = this.sampleShape as [number, number, number];
    const { resize, centerCrop, mean, std } = this.options;
    let pixels: Buffer;
    let channels: number;
    try {
      const image = sharp(file, { failOn: 'error' });
      const meta = await image.metadata();
      let w = meta.width;
      let h = meta.height;
      let pipeline = C === 1 ? image.greyscale() : image.removeAlpha().toColourspace('srgb');
      if (resize !== undefined) {
        // torchvision Resize(int): the shorter side becomes `resize`, the other int(resize · long / short).
        [w, h] = w <= h ? [resize, Math.floor((resize * h) / w)] : [Math.floor((resize * w) / h), resize];
        pipeline = pipeline.resize(w, h, { fit: 'fill', kernel: 'linear' });
      }
      if (centerCrop !== undefined) {
        if (w < centerCrop || h < centerCrop) throw new SnncError(`is ${w}×${h} after resizing, smaller than --center-crop ${centerCrop}`, { file });
        pipeline = pipeline.extract({ left: roundHalfEven((w - centerCrop) / 2), top: roundHalfEven((h - centerCrop) / 2), width: centerCrop, height: centerCrop });
        w = h = centerCrop;
      }
      if (w !== W || h !== H) {
        const how = resize === undefined && centerCrop === undefined ? ' (--resize and --center-crop make it fit)' : ' after --resize/--center-crop';
        throw new SnncError(`image is ${w}×${h}${how}; the model takes ${W}×${H}`, { file });
      }
      const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
      pixels = data;
      channels = info.channels;
    } catch (e) {
      if (e instanceof SnncError) throw e;
      const message = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
      throw new SnncError(`cannot decode image: ${message}`, { file });
    }
    const plane = H * W;
    if (pixels.length !== plane * channels || (channels !== C && channels !== 1)) {
      throw new SnncError(`decoded to ${channels} channels, the model takes ${C}`, { file });
    }
    for (let c = 0; c < C; c++) {
      const src = channels === 1 ? 0 : c;
      const m = mean ? Math.fround(mean[mean.length === 1 ? 0 : c]!) : 0;
      const s = std ? Math.fround(std[std.length === 1 ? 0 : c]!) : 1;
      for (let p = 0; p < plane; p++) {
        const pixel = pixels[p * channels + src]!;
        out[c * plane + p] = mean ? Math.fround(Math.fround(Math.fround(pixel / 255) - m) / s) : pixel;
      }
    }
  }

  close(): void {}
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function readdirNames(dir: string): string[] {
  try {
    // Code-unit order: the same on every machine and locale.
    return readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch (err) {
    throw new SnncError(`cannot list: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: dir });
  }
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
