/**
 * snnc outside its clone, as the README's set-up describes: the installed command (dist/, built by `npm ci`)
 * runs from another folder, and the README says how to get it there and what the test suite needs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from '../helpers/cli.ts';

const elsewhere = mkdtempSync(join(tmpdir(), 'snnc-elsewhere-'));
afterAll(() => rmSync(elsewhere, { recursive: true, force: true }));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const setUp = readme.slice(readme.indexOf('## Set-up'), readme.indexOf('## The main job'));

describe('snnc from another folder', () => {
  it('npx --prefix <clone> snnc runs the built command, with paths relative to the folder it runs in', () => {
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
    const r = spawnSync('npx', ['--prefix', root, 'snnc', '--version'], { cwd: elsewhere, encoding: 'utf8' });
    expect(r.stdout.trim(), r.stderr).toBe(version);
    const missing = spawnSync('npx', ['--prefix', root, 'snnc', 'inspect', 'model.onnx'], { cwd: elsewhere, encoding: 'utf8' });
    expect(missing.stderr).toContain('snnc: model.onnx');
  });

  it('the README says how: npm link, a prefix install, npx --prefix', () => {
    expect(setUp).toContain('npm link');
    expect(setUp).toContain('npm install -g --prefix');
    expect(setUp).toContain('npx --prefix');
  });

  it('the README says what the tests need beyond npm ci: Chromium for the browser test, or .ci/run', () => {
    const tests = readme.slice(readme.indexOf('## Tests'), readme.indexOf('## Performance'));
    expect(tests).toContain('/usr/bin/chromium');
    expect(tests).toContain('apt-get install chromium');
    expect(tests).toContain('.ci/run');
  });
});
