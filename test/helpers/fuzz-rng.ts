/** Deterministic xorshift32 for the fuzz tests, so a failing mutant can be replayed from its seed. */
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
