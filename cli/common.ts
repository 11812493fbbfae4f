/**
 * What every command shares: error reporting and exit codes, JSON and table output, output files, progress.
 * Kept free of heavy imports: `snnc --help` loads this file.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SnncError, oneLine } from '../compiler/errors.ts';

/** A user error (bad input, unsupported model): `snnc: <message>`. Usage errors from commander use it too. */
export const EXIT_USER_ERROR = 2;
/** A bug: EX_SOFTWARE from sysexits.h. */
export const EXIT_INTERNAL_ERROR = 70;

const debug = process.env.SNNC_DEBUG === '1';

/** Runs a command's body: SnncError becomes one stderr line and exit 2, anything else exit 70. */
export async function runCommand(body: () => Promise<void> | void): Promise<void> {
  try {
    await body();
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof SnncError) {
    process.stderr.write(`snnc: ${oneLine(err.message)}\n`);
    if (debug) process.stderr.write(`${err.stack}\n`);
    return EXIT_USER_ERROR;
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const hint = debug ? '' : ' (run with SNNC_DEBUG=1 for the stack trace)';
  process.stderr.write(`snnc: internal error: ${oneLine(message)}${hint}\n`);
  if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return EXIT_INTERNAL_ERROR;
}

/** `snnc … | head` closes stdout early: that is not an error worth a stack trace. */
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Formats rows as columns separated by two spaces. Columns listed in `rightAlign` (numbers) are
 * right-aligned; trailing spaces are trimmed.
 */
export function formatTable(rows: string[][], rightAlign: ReadonlySet<number> = new Set()): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (rightAlign.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** 12345678 → "12,345,678". */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * Fails fast, before any work is done, if `path` cannot be an output file: its folder must exist and
 * the path must not be a folder. The file itself is written atomically later (see writeFileAtomic).
 */
export function checkOutputPath(path: string): void {
  const folder = dirname(resolve(path));
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new SnncError(`cannot write: folder ${folder} does not exist`, { file: path });
  }
  if (existsSync(path) && statSync(path).isDirectory()) throw new SnncError('cannot write: is a directory', { file: path });
}

export { writeFileAtomic } from '../runtime/npy.ts';

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** How often a line is written when stderr is not a terminal (CI logs, pipes). */
const PLAIN_PROGRESS_INTERVAL_MS = 5000;

/**
 * A progress reporter on stderr (never stdout, which may carry JSON). On a terminal it is a cli-progress bar
 * redrawn synchronously (the runtime loops without yielding, so timer-driven redraws would never run).
 * Elsewhere it writes a plain line at most every 5 s and one at the end: cli-progress's noTTYOutput mode
 * is timer-driven too and would print only the first and last state.
 */
export async function createProgress(label: string): Promise<Progress> {
  if (!process.stderr.isTTY) return plainProgress(label);
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} | {rate} | {duration_formatted} elapsed, eta {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let start = Date.now();
  return {
    update(done, total) {
      start = startOf(start, started, done);
      const rate = { rate: rateText(done, (Date.now() - start) / 1000).replace(/^, /, '') };
      if (!started) {
        bar.start(total, done, rate);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, rate);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/**
 * A progress is timed from when it was made, or from its first update when that reports nothing done yet: a
 * stage that starts after others (map's quantisation) says so with a first update at 0.
 */
function startOf(start: number, updated: boolean, done: number): number {
  return !updated && done === 0 ? Date.now() : start;
}

/** Samples (images) per second so far, once there is something to measure. */
function rateText(done: number, seconds: number): string {
  if (done === 0 || seconds < 0.05) return '';
  const rate = done / seconds;
  return `, ${rate >= 100 ? Math.round(rate) : rate.toPrecision(3)}/s`;
}

function plainProgress(label: string): Progress {
  let start = Date.now();
  let updated = false;
  let lastWriteAt = 0;
  let latest: [number, number] | undefined;
  let written: [number, number] | undefined;
  const write = () => {
    const [done, total] = latest!;
    const elapsed = (Date.now() - start) / 1000;
    process.stderr.write(`${label}: ${done}/${total} (${Math.floor((100 * done) / total)} %, ${elapsed.toFixed(1)} s${rateText(done, elapsed)})\n`);
    lastWriteAt = Date.now();
    written = latest;
  };
  return {
    update(done, total) {
      start = startOf(start, updated, done);
      updated = true;
      latest = [done, total];
      if (Date.now() - lastWriteAt >= PLAIN_PROGRESS_INTERVAL_MS) write();
    },
    stop() {
      // The final count, unless it was just written or the run failed part-way.
      if (latest && latest !== written && latest[0] === latest[1]) write();
    },
  };
}
