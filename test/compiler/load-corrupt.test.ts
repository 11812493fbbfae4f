import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { SnncError } from '../../compiler/errors.ts';
import { inferShapes } from '../../compiler/shapes.ts';
import { lowerAnn } from '../../compiler/lower.ts';

const FIXTURE = 'test/fixtures/fmnist_cnn_qcfs.onnx';
const bytes = readFileSync(FIXTURE);

/** Deterministic xorshift32, so a failing case can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

/** A damaged model must either load and lower (a flipped weight byte is still a valid model) or fail with a SnncError. */
function outcome(damaged: Uint8Array): 'loaded' | 'clean error' {
  try {
    const graph = loadOnnxBytes(damaged, { path: 'damaged.onnx', baseDir: 'test/fixtures' });
    // What loads must also survive the next stages' first look, or fail there just as cleanly.
    inferShapes(graph, 2);
    lowerAnn(graph, { divisor: 1, snncVersion: 'test', recorded: {} });
    return 'loaded';
  } catch (e) {
    if (!(e instanceof SnncError)) throw new Error(`not a clean error: ${(e as Error).stack}`);
    expect(e.message.startsWith('damaged.onnx: ')).toBe(true);
    expect(e.message).not.toContain('\n');
    return 'clean error';
  }
}

describe('damaged ONNX files', () => {
  it('every truncation fails with a one-line error naming the file', () => {
    const random = rng(1);
    const cuts = [0, 1, 2, 5, 10, 50, 100, bytes.length - 1];
    for (let i = 0; i < 150; i++) cuts.push(Math.floor(random() * bytes.length));
    const results = cuts.map((n) => outcome(bytes.subarray(0, n)));
    // A truncation may by chance end on a message boundary and still decode; most must not.
    expect(results.filter((r) => r === 'clean error').length).toBeGreaterThan(cuts.length * 0.9);
  });

  it('byte flips load or fail cleanly, never crash', () => {
    const random = rng(2);
    let errors = 0;
    for (let i = 0; i < 300; i++) {
      const damaged = Uint8Array.from(bytes);
      const flips = 1 + Math.floor(random() * 4);
      for (let k = 0; k < flips; k++) damaged[Math.floor(random() * damaged.length)] ^= 1 + Math.floor(random() * 255);
      if (outcome(damaged) === 'clean error') errors++;
    }
    expect(errors).toBeGreaterThan(0);
  });

  it('flips in the header are caught', () => {
    for (let pos = 0; pos < 64; pos++) {
      const damaged = Uint8Array.from(bytes);
      damaged[pos] = 0xff;
      outcome(damaged);
    }
  });
});
