/** `npm test`'s pretest (scripts/ensure-chromium.ts): a no-op with Chromium, an apt-get install as root without it, a hint otherwise. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHROMIUM, INSTALL, ensureChromium, type Environment } from '../scripts/ensure-chromium.ts';

/** A machine with the given executables; `installs` says whether running INSTALL puts Chromium there. */
function machine(files: string[], o: { root?: boolean; installs?: boolean; status?: number; skip?: boolean } = {}) {
  const present = new Set(files);
  const ran: string[] = [];
  const logged: string[] = [];
  const env: Environment = {
    executable: (path) => present.has(path),
    isRoot: o.root ?? false,
    path: '/usr/local/bin:/usr/bin:/bin',
    skipInstall: o.skip ?? false,
    run: (command) => {
      ran.push(command);
      if (o.installs) present.add(CHROMIUM);
      return o.status ?? 0;
    },
    log: (line) => logged.push(line),
  };
  return { env, ran, logged };
}

describe('ensure-chromium (pretest)', () => {
  it('Chromium present: nothing run, nothing printed', () => {
    const m = machine([CHROMIUM, '/usr/bin/apt-get'], { root: true });
    expect(ensureChromium(m.env)).toBe(true);
    expect(m.ran).toEqual([]);
    expect(m.logged).toEqual([]);
  });

  it('missing, as root with apt-get: installs Debian\'s chromium and says so', () => {
    const m = machine(['/usr/bin/apt-get'], { root: true, installs: true });
    expect(ensureChromium(m.env)).toBe(true);
    expect(m.ran).toEqual([INSTALL]);
    expect(INSTALL).toBe('apt-get update -qq && apt-get install -y -qq chromium');
    expect(m.logged[0]).toContain(`${CHROMIUM} is missing; installing`);
    expect(m.logged.at(-1)).toBe(`snnc pretest: installed ${CHROMIUM}`);
  });

  it('missing and not root, no apt-get, skipped or a failed install: one hint, the suite goes on', () => {
    for (const m of [
      machine(['/usr/bin/apt-get']),
      machine([], { root: true }),
      machine(['/usr/bin/apt-get'], { root: true, skip: true }),
    ]) {
      expect(ensureChromium(m.env)).toBe(false);
      expect(m.ran).toEqual([]);
      expect(m.logged).toHaveLength(1);
      expect(m.logged[0]).toMatch(/^snnc pretest: the report's browser test needs Chromium at \/usr\/bin\/chromium .*sudo apt-get install chromium.*\.ci\/run/);
    }
    const failed = machine(['/usr/bin/apt-get'], { root: true, status: 100 });
    expect(ensureChromium(failed.env)).toBe(false);
    expect(failed.logged.at(-1)).toMatch(/^snnc pretest: installing chromium failed \(exit 100\); the report's browser test needs Chromium/);
  });

  it('is npm test\'s pretest, and exits 0 whatever it finds', () => {
    expect(JSON.parse(readFileSync('package.json', 'utf8')).scripts.pretest).toBe('node --import tsx scripts/ensure-chromium.ts');
    // Where Chromium is present this is the no-op; elsewhere (not root) the hint. Never an install from a test.
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/ensure-chromium.ts'], {
      encoding: 'utf8',
      env: { ...process.env, SNNC_SKIP_CHROMIUM_INSTALL: '1' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
  });
});
