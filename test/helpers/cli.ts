/** Running the CLI as users do: a subprocess through tsx (no build needed), with stdout, stderr and exit code. */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { expect } from 'vitest';

export const root = resolve(import.meta.dirname, '..', '..');

export function snnc(...args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'cli/snnc.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, SNNC_DEBUG: '', NO_COLOR: '1' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A user error: exit 2, nothing on stdout, one `snnc: ` line on stderr containing every fragment, no stack. */
export function expectUserError(result: ReturnType<typeof snnc>, ...fragments: string[]): void {
  expect(result.stderr).toMatch(/^snnc: [^\n]*\n$/);
  expect(result.stderr).not.toMatch(/\bat .*:\d+:\d+/);
  for (const fragment of fragments) expect(result.stderr).toContain(fragment);
  expect(result.stdout).toBe('');
  expect(result.status).toBe(2);
}
