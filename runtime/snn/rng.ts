/**
 * The one PRNG of the simulator: a counter-based hash, so a random number depends only on its
 * coordinates (seed, sample, step, mask, neuron), never on how samples are split across workers or on
 * the order of draws. A target that must reproduce the masks (the virtual chip) calls the same functions.
 */

/** A 32-bit bijective integer mixer (Wellons' "lowbias32"-style finalizer; full avalanche). */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** Hash of (seed, sample, step, mask): the key of one mask's draws at one step of one sample. */
export function maskKey(seed: number, sample: number, step: number, mask: number): number {
  let h = mix32((seed ^ 0x243f6a88) >>> 0);
  h = mix32((h + sample) | 0);
  h = mix32((h + step) | 0);
  return mix32((h + mask) | 0);
}

/**
 * A uniform 32-bit draw for `neuron` under `key`. The Weyl step (odd multiplier) keeps draws of different
 * neurons distinct under one key; mix32 decorrelates them.
 */
export function draw32(key: number, neuron: number): number {
  return mix32((key + Math.imul(neuron, 0x9e3779b9)) | 0);
}

/** A spike on a mask with `ratio` p is dropped when its draw is below p·2³² (p = 1 drops everything). */
export function dropBelow(ratio: number): number {
  return ratio * 4294967296;
}

/** Uniform in [0, 1) from (seed, index): test and benchmark data, drawn with the same generator. */
export function uniform(seed: number, index: number): number {
  return draw32(mix32((seed ^ 0x5be0cd19) >>> 0), index) / 4294967296;
}
