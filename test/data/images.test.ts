/**
 * Image folders as input (`--input <dir>`): decoding, torchvision's Resize / CenterCrop / Normalize rules,
 * labels from class folders or a CSV, checked on tiny images written here with sharp against values worked
 * out by hand; and a folder of Fashion-MNIST test images giving the same results as the same images as .npy.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageSource, labelsFromCsv, listImageFolder } from '../../runtime/data/images.ts';
import type { ImageOptions } from '../../runtime/data/source.ts';
import { readNpy, toLabels } from '../../runtime/npy.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-images-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const at = (...p: string[]) => join(tmp, ...p);

/** An RGB PNG of width w, height h whose pixel (x, y) is rgb(x, y). */
async function png(path: string, w: number, h: number, rgb: (x: number, y: number) => [number, number, number]): Promise<void> {
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(rgb(x, y), (y * w + x) * 3);
  await sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path);
}

async function decode(files: string[], sampleShape: number[], options: ImageOptions = {}, divisor = 1): Promise<Float32Array> {
  const src = new ImageSource({ kind: 'images', name: tmp, files, sampleShape, options });
  return src.read(0, files.length, divisor);
}

describe('decoding an image into C × H × W values', () => {
  const file = at('grid.png');
  // Pixel (x, y) = (10x + y, 100 + 10x + y, 200 + y): every value tells where it came from.
  beforeAll(() => png(file, 5, 7, (x, y) => [10 * x + y, 100 + 10 * x + y, 200 + y]));

  it('without options: raw pixels, channel-first, as in a uint8 .npy', async () => {
    const x = await decode([file], [3, 7, 5]);
    expect(x[0 * 35 + 2 * 5 + 3]).toBe(32); // c 0, y 2, x 3
    expect(x[1 * 35 + 6 * 5 + 4]).toBe(146); // c 1, y 6, x 4
    expect(x[2 * 35 + 0 * 5 + 0]).toBe(200);
    // The divisor applies while reading, as for .npy.
    expect((await decode([file], [3, 7, 5], {}, 255))[2 * 35]).toBe(Math.fround(200 / 255));
  });

  it('--center-crop: offsets round((size − crop) / 2) with halves to even (torchvision)', async () => {
    // Width 5 → 4: (5 − 4)/2 = 0.5 → 0; height 7 → 4: 1.5 → 2. So the crop is x 0…3, y 2…5.
    const x = await decode([file], [3, 4, 4], { centerCrop: 4 });
    expect(Array.from(x.subarray(0, 4))).toEqual([2, 12, 22, 32]);
    expect(Array.from(x.subarray(12, 16))).toEqual([5, 15, 25, 35]);
    expect(Array.from(x.subarray(32, 36))).toEqual([202, 202, 202, 202]);
  });

  it('--mean/--std: (pixel / 255 − mean) / std in float32, per channel', async () => {
    const mean = [0.5, 0.25, 0];
    const std = [0.25, 0.5, 1];
    const x = await decode([file], [3, 7, 5], { mean, std });
    // c 0, pixel 0 (x 0, y 0): (0 − 0.5) / 0.25 = −2 exactly.
    expect(x[0]).toBe(-2);
    // c 1, pixel 100 + 10·4 + 6 = 146 at (4, 6): (146/255 − 0.25) / 0.5, each step in float32.
    const f = Math.fround;
    expect(x[35 + 6 * 5 + 4]).toBe(f(f(f(146 / 255) - 0.25) / 0.5));
    expect(x[35 + 6 * 5 + 4]).toBeCloseTo((146 / 255 - 0.25) / 0.5, 6);
    // c 2 (mean 0, std 1) is ToTensor alone: pixel / 255.
    expect(x[70 + 3 * 5]).toBe(f(203 / 255));
  });

  it('--resize n: the shorter side becomes n, the longer ⌊n · long / short⌋; a flat colour stays that colour', async () => {
    const flat = at('flat.png');
    await png(flat, 10, 4, () => [40, 80, 120]);
    // 10 × 4 → shorter side 4 → 2, longer ⌊2 · 10 / 4⌋ = 5.
    const x = await decode([flat], [3, 2, 5], { resize: 2 });
    expect(Array.from(x)).toEqual([...Array(10).fill(40), ...Array(10).fill(80), ...Array(10).fill(120)]);
    // A 2 × 2 crop from the middle of it.
    const y = await decode([flat], [3, 2, 2], { resize: 2, centerCrop: 2 });
    expect(Array.from(y)).toEqual([40, 40, 40, 40, 80, 80, 80, 80, 120, 120, 120, 120]);
    // Left half dark, right half light: after halving the size, the left column stays dark and the right light.
    const halves = at('halves.png');
    await png(halves, 8, 8, (px) => (px < 4 ? [0, 0, 0] : [200, 200, 200]));
    const z = await decode([halves], [1, 4, 4], { resize: 4 });
    for (let r = 0; r < 4; r++) {
      expect(z[r * 4]).toBeLessThan(10);
      expect(z[r * 4 + 3]).toBeGreaterThan(190);
    }
  });

  it('a one-channel model gets the grey level', async () => {
    const grey = at('grey.png');
    await png(grey, 2, 2, (x, y) => [50 * x + 100 * y, 50 * x + 100 * y, 50 * x + 100 * y]);
    expect(Array.from(await decode([grey], [1, 2, 2]))).toEqual([0, 50, 100, 150]);
  });
});

describe('folders and labels', () => {
  it('class folders: sorted class names are labels 0, 1, … (an empty one keeps its number, as in ImageFolder\'s class_to_idx); files sorted within', async () => {
    for (const [cls, names] of [['cat', ['b.png', 'a.png']], ['ant', ['z.jpg']], ['bee', []]] as const) {
      mkdirSync(at('classes', cls), { recursive: true });
      for (const n of names) await sharp({ create: { width: 2, height: 2, channels: 3, background: '#808080' } }).toFile(at('classes', cls, n));
    }
    writeFileSync(at('classes', 'cat', 'notes.txt'), 'not an image');
    const folder = listImageFolder(at('classes'));
    expect(folder.files.map((f) => f.slice(at('classes').length + 1))).toEqual(['ant/z.jpg', 'cat/a.png', 'cat/b.png']);
    expect(Array.from(folder.labels!)).toEqual([0, 2, 2]);
  });

  it('a CSV of file,label rows (header optional; name or path relative to the folder)', () => {
    const files = [at('flat', 'x1.png'), at('flat', 'sub', 'x2.png')];
    expect(Array.from(labelsFromCsv('l.csv', 'file,label\nx1.png,3\nsub/x2.png, 7\n', at('flat'), files))).toEqual([3, 7]);
    expect(() => labelsFromCsv('l.csv', 'x1.png,3\n', at('flat'), files)).toThrow('l.csv: no label for sub/x2.png');
    expect(() => labelsFromCsv('l.csv', 'x1.png,3\nsub/x2.png,cat\n', at('flat'), files)).toThrow("line 2: label 'cat'");
  });
});

describe('a folder of Fashion-MNIST test images = the same images as .npy', () => {
  const N = 48;
  const x = readNpy('test/fixtures/fmnist_test_x.npy');
  const y = toLabels(readNpy('test/fixtures/fmnist_test_y.npy'));
  const ir = at('qcfs.snn.json');
  const ok = (r: ReturnType<typeof snnc>) => {
    expect(r.stderr).not.toContain('snnc:');
    expect(r.status).toBe(0);
    return r;
  };
  beforeAll(async () => {
    mkdirSync(at('fm-flat'));
    const csv = ['file,label'];
    for (let i = 0; i < N; i++) {
      const pixels = Buffer.from((x.data as Uint8Array).subarray(i * 784, (i + 1) * 784));
      const name = `img${String(i).padStart(3, '0')}.png`;
      await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(at('fm-flat', name));
      mkdirSync(at('fm-classes', `class${y[i]}`), { recursive: true });
      await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(at('fm-classes', `class${y[i]}`, name));
      csv.push(`${name},${y[i]}`);
    }
    writeFileSync(at('fm.csv'), `${csv.join('\n')}\n`);
    ok(snnc('compile', 'test/fixtures/fmnist_cnn_qcfs.onnx', '-o', ir, '--input-divisor', '255'));
  }, 60_000);

  it('simulate: the same result document (flat folder + CSV), the same accuracy (class folders)', () => {
    const common = ['-T', '8', '--json'];
    const npy = JSON.parse(ok(snnc('simulate', ir, '--input', 'test/fixtures/fmnist_test_x.npy', '--labels', 'test/fixtures/fmnist_test_y.npy', '--limit', String(N), ...common)).stdout);
    const flat = JSON.parse(ok(snnc('simulate', ir, '--input', at('fm-flat'), '--labels', at('fm.csv'), ...common)).stdout);
    const classes = JSON.parse(ok(snnc('simulate', ir, '--input', at('fm-classes'), ...common)).stdout);
    expect(flat.samples).toBe(N);
    expect(flat.accuracy).toEqual(npy.accuracy);
    expect(flat.layers).toEqual(npy.layers);
    expect(flat.sops_per_sample).toBe(npy.sops_per_sample);
    expect(classes.accuracy['8']).toBe(npy.accuracy['8']);
    expect(npy.accuracy['8']).toBeGreaterThan(0.6);
  }, 120_000);

  it('ann: the same accuracy', () => {
    const npy = JSON.parse(ok(snnc('ann', 'test/fixtures/fmnist_cnn_qcfs.onnx', '--input', 'test/fixtures/fmnist_test_x.npy', '--labels', 'test/fixtures/fmnist_test_y.npy', '--limit', String(N), '--input-divisor', '255', '--json')).stdout);
    const dir = JSON.parse(ok(snnc('ann', 'test/fixtures/fmnist_cnn_qcfs.onnx', '--input', at('fm-classes'), '--input-divisor', '255', '--json')).stdout);
    expect(dir.correct).toBe(npy.correct);
    expect(dir.samples).toBe(N);
  }, 60_000);

  it('bad input: a malformed image, a size that does not fit, a missing label, options for .npy', () => {
    mkdirSync(at('bad'));
    writeFileSync(at('bad', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\n this is not a png'));
    expectUserError(snnc('simulate', ir, '--input', at('bad'), '-T', '4'), 'broken.png', 'cannot decode image');
    expectUserError(snnc('simulate', ir, '--input', at('fm-flat'), '--resize', '32', '-T', '4'), 'img000.png', 'after --resize/--center-crop; the model takes 28×28');
    writeFileSync(at('short.csv'), 'img000.png,1\n');
    expectUserError(snnc('simulate', ir, '--input', at('fm-flat'), '--labels', at('short.csv'), '-T', '4'), 'short.csv', 'no label for img001.png');
    expectUserError(snnc('simulate', ir, '--input', 'test/fixtures/fmnist_test_x.npy', '--resize', '32'), 'fmnist_test_x.npy', 'apply to image folders');
    expectUserError(snnc('simulate', ir, '--input', at('fm-flat'), '--mean', '0.5'), '--mean and --std go together');
  }, 60_000);
});
