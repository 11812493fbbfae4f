/** Shared pieces of the fuzz tests: a deterministic xorshift32 (a failing mutant replays from its seed) and JSON leaf paths. */

/** Deterministic xorshift32: the same seed gives the same stream of mutants. */
export function rng(seed: number) {
  // Neighbouring small seeds would start neighbouring streams: scramble the seed, skip the first outputs.
  let s = Math.imul(seed, 2654435761) >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
  for (let i = 0; i < 8; i++) next();
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}
export type Rng = ReturnType<typeof rng>;

/** Every path to a leaf (number, string, boolean, null) or to an array inside a JSON document: the fields a mutant changes. */
export function leaves(value: unknown, at: string[] = [], out: string[][] = []): string[][] {
  if (value !== null && typeof value === 'object') {
    if (Array.isArray(value) && at.length) out.push(at);
    for (const [k, v] of Object.entries(value)) leaves(v, [...at, k], out);
  } else out.push(at);
  return out;
}
