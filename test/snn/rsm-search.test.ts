/**
 * `snnc rsm-search` on digits_mst_rsm (small: 48 validation samples of the training split, T = 8, one ratio):
 * the sites it finds are the attention module's maskable nodes; the ratios it picks keep the budget and lower
 * the energy; and compiling those flags and simulating again reproduces exactly the accuracy and energy it
 * reports (the search's bookkeeping checked against an independent run). The full-size run is in
 * docs/transformers.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { searchRsm } from '../../cli/commands/rsm-search.ts';
import { readIr } from '../../compiler/ir/io.ts';
import { insertRsm, parseRsmSpec } from '../../compiler/passes/insert-rsm.ts';
import { readNpy } from '../../runtime/npy.ts';
import { simulate } from '../../runtime/snn/simulate.ts';

const F = 'test/fixtures';
const dir = mkdtempSync(join(tmpdir(), 'snnc-rsm-search-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rsm-search', () => {
  it('finds per-site ratios within the budget that lower the spike-driven energy, and its flags reproduce its numbers', async () => {
    const irPath = join(dir, 'mstrsm.snn.json');
    execFileSync('npx', ['tsx', 'cli/snnc.ts', 'compile', `${F}/digits_mst_rsm.onnx`, '-o', irPath], { stdio: 'ignore' });
    const opts = { input: `${F}/digits8x8_calib_x.npy`, labels: `${F}/digits8x8_calib_y.npy`, steps: 8, limit: 48, seed: 0, workers: 1, grid: '0.75', budget: 2 };
    const r = await searchRsm(irPath, opts);
    // Sites: per block q, k, v, q·kᵀ, the softmax after the score neurons and proj (attn·v's softmax input is analog).
    expect(r.steps.map((s) => s.site).sort()).toEqual(
      ['q', 'k', 'v', 'MatMul', 'Softmax', 'proj'].flatMap((n) => [`blocks.0/attn/${n}`, `blocks.1/attn/${n}`]).sort(),
    );
    expect(r.runs).toBeLessThanOrEqual(1 + 2 * 12);
    expect(Object.keys(r.ratios).length).toBeGreaterThan(0);
    expect(r.chosen.accuracy).toBeGreaterThanOrEqual(r.unmasked.accuracy - 0.02);
    expect(r.chosen.spike_driven_pj).toBeLessThan(r.unmasked.spike_driven_pj);
    // Energy never rises along the way; each step's accuracy is within budget.
    let last = r.unmasked.spike_driven_pj;
    for (const s of r.steps) {
      expect(s.spike_driven_pj).toBeLessThanOrEqual(last);
      expect(s.accuracy).toBeGreaterThanOrEqual(r.unmasked.accuracy - 0.02);
      last = s.spike_driven_pj;
    }
    // The printed flags, compiled and simulated independently of the search.
    const specs = r.flags.map((f) => parseRsmSpec(f.replace(/^--rsm '(.*)'$/, '$1')));
    const x = readNpy(opts.input);
    const labels = Int32Array.from(readNpy(opts.labels).data as ArrayLike<number>, Number).subarray(0, 48);
    const again = await simulate(insertRsm(readIr(irPath), specs), (x.data as Float32Array).subarray(0, 48 * 64), { T: 8, labels, workers: 1 });
    expect(again.accuracy!['8']).toBe(r.chosen.accuracy);
    expect(again.work.spike_driven_pj).toBe(r.chosen.spike_driven_pj);
    expect(again.modules.attention.spike_driven_pj).toBe(r.chosen.attention_spike_driven_pj);

    // Bad input: a one-line error naming what is wrong, before any simulation.
    await expect(searchRsm(irPath, { ...opts, grid: '0.5,1.5' })).rejects.toThrow(/--grid 0\.5,1\.5: expected comma-separated ratios in \(0, 1\)/);
    await expect(searchRsm(irPath, { ...opts, sites: ['blocks.0/attn/Softmax_nope'] })).rejects.toThrow(/--sites .*matches no node/);
    await expect(searchRsm(irPath, { ...opts, sites: ['blocks.0/attn/MatMul_1'] })).rejects.toThrow(/MatMul_1 has an input that is not spikes/);
    const masked = join(dir, 'masked.snn.json');
    execFileSync('npx', ['tsx', 'cli/snnc.ts', 'compile', `${F}/digits_mst_rsm.onnx`, '-o', masked, '--rsm', 'blocks.0/attn/MatMul=0.5'], { stdio: 'ignore' });
    await expect(searchRsm(masked, opts)).rejects.toThrow(/already has masks: give rsm-search the IR compiled without --rsm/);
  });
});
