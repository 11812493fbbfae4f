/**
 * Shards' partial results (`--shard i/n -o part.json`) and their merge (`snnc merge`). A partial holds what
 * the final result is computed from, never the result itself: integer counts (sums over its samples) and
 * per-sample rows, plus a key of everything the numbers depend on (the model file's sha256, T, seed, …).
 * Merging checks that the parts share the key and tile the samples exactly, concatenates them in sample
 * order and finishes the computation the way an unsharded run does, so the merged result is the same bytes
 * whatever the number of shards (sums of integers are exact in float64 below 2^53, and every random draw
 * is keyed by the global sample index: runtime/snn/rng.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SnncError } from '../compiler/errors.ts';
import { describeFsError, writeFileAtomic } from '../runtime/npy.ts';
import type { Shard } from './data.ts';

export const PARTIAL_FORMAT = 'snnc-partial/1';

export interface Partial<D = unknown> {
  format: typeof PARTIAL_FORMAT;
  command: string;
  /** What the numbers depend on: parts merge only when their keys are equal. */
  key: Record<string, unknown>;
  shard: { index: number; count: number };
  /** Samples of the whole run, and this part's range [from, to) of them. */
  samples: number;
  from: number;
  to: number;
  data: D;
}

/** sha256 of a file's bytes (an IR's JSON records its weights' sha256, so this covers them). */
export function fileSha256(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch (err) {
    throw new SnncError(describeFsError(err), { file: path });
  }
}

export function writePartial<D>(path: string, command: string, key: Record<string, unknown>, shard: Shard, run: { samples: number; from: number; to: number }, data: D): void {
  const part: Partial<D> = { format: PARTIAL_FORMAT, command, key, shard: { index: shard.index, count: shard.count }, samples: run.samples, from: run.from, to: run.to, data };
  writeFileAtomic(path, `${JSON.stringify(part)}\n`);
}

/**
 * Reads parts and returns them in sample order, or a one-line error naming the file that does not belong:
 * not a partial, another command or key, another shard count, or a range that overlaps or leaves a gap.
 */
export function readParts(paths: string[]): Array<Partial & { file: string }> {
  if (paths.length === 0) throw new SnncError('snnc merge: no part files given');
  const parts = paths.map((file) => {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new SnncError(err instanceof SyntaxError ? `not JSON: ${err.message}` : describeFsError(err), { file });
    }
    const p = doc as Partial;
    if (!p || typeof p !== 'object' || p.format !== PARTIAL_FORMAT) throw new SnncError(`not a partial result (${PARTIAL_FORMAT}; written by a command run with --shard i/n -o)`, { file });
    const ints = [p.shard?.index, p.shard?.count, p.samples, p.from, p.to];
    if (!ints.every((v) => Number.isInteger(v)) || !(0 <= p.from && p.from < p.to && p.to <= p.samples) || typeof p.command !== 'string' || !p.key || p.data === undefined) {
      throw new SnncError('malformed partial result (shard, samples or range)', { file });
    }
    return { ...p, file };
  });
  const first = parts[0]!;
  const firstKey = JSON.stringify(first.key);
  for (const p of parts.slice(1)) {
    if (p.command !== first.command) throw new SnncError(`a part of 'snnc ${p.command}', but ${first.file} is of 'snnc ${first.command}'`, { file: p.file });
    if (JSON.stringify(p.key) !== firstKey) {
      const field = Object.keys({ ...first.key, ...p.key }).find((k) => JSON.stringify(first.key[k]) !== JSON.stringify(p.key[k]));
      throw new SnncError(`does not belong with ${first.file}: ${field} is ${JSON.stringify(p.key[field!])} here, ${JSON.stringify(first.key[field!])} there`, { file: p.file });
    }
    if (p.samples !== first.samples) throw new SnncError(`covers a run of ${p.samples} samples, ${first.file} one of ${first.samples}`, { file: p.file });
  }
  const sorted = [...parts].sort((a, b) => a.from - b.from || a.to - b.to);
  let at = 0;
  for (const p of sorted) {
    if (p.from < at) throw new SnncError(`samples ${p.from}…${p.to - 1} overlap another part's (the parts so far cover 0…${at - 1}; is a shard given twice?)`, { file: p.file });
    if (p.from > at) throw new SnncError(`samples ${at}…${p.from - 1} are in no part: the part before this one ends at ${at - 1} (a shard is missing)`, { file: p.file });
    at = p.to;
  }
  if (at !== first.samples) {
    const last = sorted[sorted.length - 1]!;
    throw new SnncError(`samples ${at}…${first.samples - 1} of ${first.samples} are in no part (a shard is missing after this one)`, { file: last.file });
  }
  return sorted;
}

/** Typed arrays as plain arrays for JSON (float64 sums of integers print exactly). */
export function toJsonArray(a: ArrayLike<number>): number[] {
  return Array.from(a);
}
