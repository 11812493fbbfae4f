/**
 * `npm test`'s pretest: the report's browser test (test/report/browser.test.ts) renders in headless Chromium
 * at /usr/bin/chromium. Present: nothing to do. Missing, as root with apt-get (a fresh Debian machine or
 * container, as in CI): install Debian's `chromium` package, saying so on stderr. Otherwise, or if the
 * install fails: one line saying what to do, and the suite runs anyway (that test then fails with its own
 * message; every other test passes without Chromium). Never fails `npm test` itself.
 * SNNC_SKIP_CHROMIUM_INSTALL=1 skips the install (an offline machine where apt-get would only time out).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const CHROMIUM = '/usr/bin/chromium';
export const INSTALL = 'apt-get update -qq && apt-get install -y -qq chromium';
const HINT =
  `the report's browser test needs Chromium at ${CHROMIUM} and will fail without it: install it (Debian: sudo apt-get install chromium; ` +
  `Ubuntu: sudo ln -s "$(command -v chromium-browser)" ${CHROMIUM}) or run .ci/run as root`;

export interface Environment {
  executable(path: string): boolean;
  isRoot: boolean;
  /** The PATH to look for apt-get in. */
  path: string;
  skipInstall: boolean;
  /** Runs a shell command, its output on stderr; returns its exit code. */
  run(command: string): number;
  log(line: string): void;
}

/** What the pretest does; returns whether Chromium is there afterwards. */
export function ensureChromium(env: Environment): boolean {
  if (env.executable(CHROMIUM)) return true;
  const aptGet = env.path.split(delimiter).some((dir) => dir && env.executable(join(dir, 'apt-get')));
  if (!env.isRoot || !aptGet || env.skipInstall) {
    env.log(`snnc pretest: ${HINT}`);
    return false;
  }
  env.log(`snnc pretest: ${CHROMIUM} is missing; installing Debian's chromium package for the report's browser test: ${INSTALL}`);
  const status = env.run(INSTALL);
  if (status === 0 && env.executable(CHROMIUM)) {
    env.log(`snnc pretest: installed ${CHROMIUM}`);
    return true;
  }
  env.log(`snnc pretest: installing chromium failed (exit ${status}); ${HINT}`);
  return false;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  ensureChromium({
    executable,
    isRoot: process.getuid?.() === 0,
    path: process.env.PATH ?? '',
    skipInstall: Boolean(process.env.SNNC_SKIP_CHROMIUM_INSTALL),
    run: (command) => {
      const r = spawnSync('sh', ['-c', `${command} >&2`], {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        timeout: 15 * 60_000,
      });
      return r.status ?? 1;
    },
    log: (line) => process.stderr.write(`${line}\n`),
  });
}
