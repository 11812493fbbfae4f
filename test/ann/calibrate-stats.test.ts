/** The selection-based percentile equals the sorting reference exactly, and the collector's layout is right. */
import { describe, expect, it } from 'vitest';
import { ActivationCollector, percentile, percentileInPlace, percentileOfParts } from '../../runtime/ann/calibrate.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('percentileInPlace', () => {
  it('equals percentile on random data, duplicates, NaNs and tiny sets', () => {
    const rand = lcg(7);
    const ps = [0, 1e-3, 25, 50, 99, 99.9, 99.99, 100, 33.3333];
    for (const n of [1, 2, 3, 5, 17, 100, 1001, 65537]) {
      for (const kind of ['uniform', 'few', 'sorted', 'reversed', 'nan'] as const) {
        const values = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          values[i] = kind === 'few' ? Math.floor(rand() * 4) + 0.5 : kind === 'sorted' ? i / 7 : kind === 'reversed' ? (n - i) / 3 : rand() * 10 - 2;
          if (kind === 'nan' && rand() < 0.05) values[i] = NaN;
        }
        for (const p of ps) {
          const want = percentile(values, p);
          const got = percentileInPlace(values.slice(), p);
          expect(Object.is(got, want) || got === want, `n=${n} ${kind} p=${p}: ${got} vs ${want}`).toBe(true);
        }
      }
    }
    expect(percentileInPlace(new Float32Array(0), 99)).toBe(0);
  });
});

describe('percentileOfParts', () => {
  it('equals percentile of the concatenation, by radix selection on large sets', () => {
    const rand = lcg(11);
    for (const [n, kind] of [[70_000, 'uniform'], [200_001, 'signed'], [131_072, 'few'], [100_000, 'nan'], [300, 'uniform']] as const) {
      const values = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        values[i] = kind === 'few' ? Math.floor(rand() * 3) / 4 : kind === 'signed' ? (rand() - 0.5) * 1e3 : rand() * 7 + 1e-3;
        if (kind === 'nan' && rand() < 0.01) values[i] = NaN;
        if (kind === 'signed' && rand() < 0.01) values[i] = i % 2 ? Infinity : -Infinity;
      }
      const cut = [0, Math.floor(n / 3), Math.floor(n / 2), n];
      for (const p of [0, 0.5, 50, 99, 99.9, 100]) {
        const want = percentile(values, p);
        const parts = cut.slice(1).map((end, i) => values.slice(cut[i], end));
        const got = percentileOfParts(parts, p);
        expect(Object.is(got, want) || got === want, `n=${n} ${kind} p=${p}: ${got} vs ${want}`).toBe(true);
      }
    }
    expect(percentileOfParts([new Float32Array(0), new Float32Array(0)], 50)).toBe(0);
  });
});

describe('ActivationCollector', () => {
  it('gathers non-zero values per channel along the requested axis, over batches', () => {
    // Two batches of [2, 3, 2] (batch, channel, position), channel axis 0 within the sample.
    const c = new ActivationCollector([{ value: 'a', axis: 0 }]);
    c.add('a', Float32Array.from([1, 0, 2, 3, 0, 0, /* sample 2 */ 4, 5, 0, 6, 7, 0]), [2, 3, 2]);
    c.add('a', Float32Array.from([8, 0, 0, 0, 9, 10, /* sample 2 */ 0, 0, 0, 0, 0, 11]), [2, 3, 2]);
    const s = c.finish(100).get('a')!;
    expect(s.channels).toEqual([8, 6, 11]); // channel 0: 1,4,5,8; 1: 2,3,6; 2: 7,9,10,11
    expect(s.layer).toBe(11);
    const d = new ActivationCollector([{ value: 'a', axis: 0 }]);
    d.add('a', Float32Array.from([1, 0, 2, 3, 0, 0, 4, 5, 0, 6, 7, 0, 8, 0, 0, 0, 9, 10, 0, 0, 0, 0, 0, 11]), [4, 3, 2]);
    const t = d.finish(50).get('a')!;
    expect(t.layer).toBe(percentile(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 50));
    expect(t.channels).toEqual([4.5, 3, 9.5]);
  });
});
