/**
 * NIR import (`snnc import-nir`, targets/nir/import.ts nirToIr) and the LIF side of NIR export:
 * - test/fixtures/lif_mlp.nir, written by NIR's own Python package (fixtures-src/make_nir_lif.py:
 *   Affine → LIF → Linear, snnTorch's conventions), imports as a LIF IR that simulates, maps and runs on the
 *   virtual chip with the simulator's spikes;
 * - export → import keeps the model, the leak, the reset, v(0) and the weights (to float32 precision: the
 *   file stores τ, R and θ as float32);
 * - what the IR cannot express is refused by name.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readIr } from '../../compiler/ir/io.ts';
import type { DenseNode, IfNode, SnnIr } from '../../compiler/ir/types.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import { buildNirGraph, exportNir, NIR_DT } from '../../targets/nir/export.ts';
import { type NirArray, type NirGraph, nirToIr, readNir } from '../../targets/nir/import.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

const root = resolve(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'snnc-nir-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const LIF_NIR = join(root, 'test', 'fixtures', 'lif_mlp.nir');

function snnc(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/snnc.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, SNNC_DEBUG: '', NO_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const nums = (v: unknown): number[] => Array.from((v as NirArray).data as ArrayLike<number>, Number);

describe('a NIR file written by NIR\'s Python package (Affine → LIF → Linear)', () => {
  it('imports as a LIF population (λ = 1 − dt/τ per neuron, reset to zero), simulates, maps and runs on the chip with the same spikes', async () => {
    const graph = await readNir(LIF_NIR);
    expect(graph.nodes.lif1.type).toBe('LIF');
    const { ir, populations, dt, notes } = nirToIr(graph);
    expect(dt).toBe(1e-4);
    expect(notes.join(' ')).toMatch(/no dt recorded/);
    expect(ir.version).toBe(4);
    expect(ir.nodes.map((n) => n.kind)).toEqual(['dense', 'if', 'dense']);
    const lif = ir.nodes[1] as IfNode;
    expect(lif).toMatchObject({ model: 'lif', reset: 'zero', vInit: 0, axis: 0 });
    // beta = linspace(0.80, 0.95, 32) in the script: τ = dt/(1 − β) stored as float32.
    const leak = lif.leak as number[];
    expect(leak.length).toBe(32);
    leak.forEach((l, i) => expect(l).toBeCloseTo(0.8 + (0.15 * i) / 31, 6));
    expect(populations).toEqual([{ id: 'lif1', type: 'LIF', neurons: 32, model: 'lif', leak, reset: 'zero' }]);
    // The first layer's weights exactly as stored; the second's ÷ θ of the IR (a NIR spike is 1, an IR spike θ).
    const fc1 = ir.tensors.get((ir.nodes[0] as DenseNode).weight)!.data;
    expect(Array.from(fc1)).toEqual(nums(graph.nodes.fc1.params.weight));
    const theta = lif.threshold as number[];
    theta.forEach((t) => expect(t).toBeCloseTo(1, 5));
    const fc2 = ir.tensors.get((ir.nodes[2] as DenseNode).weight)!.data;
    nums(graph.nodes.fc2.params.weight).forEach((w, i) => expect(fc2[i]).toBeCloseTo(w / theta[i % 32], 6));

    const input = randomArray(3, 64 * 4, 0, 1);
    const mapped = buildMap(ir, 'x', '0'.repeat(64), loadChipSpec('loihi1'));
    const sim = await simulatePlan(mapped.plan, input, { T: 32, recordSpikes: true, workers: 1 });
    expect(sim.layers[0].spikes_per_sample).toBeGreaterThan(10);
    const chip = runChip(configureFromMap(mapped.doc, ir), input, { T: 32, recordSpikes: true });
    expect(chip.report.reset).toBe('zero');
    chip.spikes!.forEach((c, s) => expect(c.indices, `sample ${s}`).toEqual(sim.spikes![s].indices));
    expect(chip.logits).toEqual(sim.logits);
  });

  it('snnc import-nir writes the IR; snnc simulate and snnc map take it', () => {
    const irFile = join(tmp, 'lif.snn.json');
    const r = snnc('import-nir', LIF_NIR, '-o', irFile, '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ ir_version: 4, dt: 1e-4, populations: [{ id: 'lif1', type: 'LIF', model: 'lif', reset: 'zero' }] });
    expect(readIr(irFile).provenance.options).toMatchObject({ imported_from: 'nir', dt: 1e-4 });
    const s = snnc('simulate', irFile, '--input', 'test/fixtures/digits_test_x.npy', '--labels', 'test/fixtures/digits_test_y.npy', '--limit', '10', '-T', '16', '--json');
    expect(s.status).toBe(0);
    expect(JSON.parse(s.stdout).layers[0].spikes_per_sample).toBeGreaterThan(0);
    const m = snnc('map', irFile, '-o', join(tmp, 'lif.map.json'), '--json');
    expect(m.status).toBe(0);
    // --dt: τ ≈ 1e-3 s..5e-3 s with dt = 1e-2 gives a leak ≤ 0: refused by name, no file written.
    const bad = snnc('import-nir', LIF_NIR, '-o', join(tmp, 'bad.snn.json'), '--dt', '0.01');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^snnc: .*lif_mlp\.nir: NIR node lif1: τ = .* with dt = 0\.01 gives the leak 1 − dt\/τ = .*, not within \(0, 1\]\n$/);
  });
});

describe('export → import', () => {
  function lifIr(reset: 'subtract' | 'zero', leak: number | number[]): SnnIr {
    const b = new IrBuilder([12]);
    const h = b.if(b.dense('input', randomArray(1, 16 * 12, -0.3, 0.7), [16, 12], { bias: randomArray(2, 16, -0.1, 0.1) }), 0.5, { id: 'h', vInit: 0.5 });
    const g = b.if(b.dense(h, randomArray(3, 8 * 16, -0.4, 0.6), [8, 16]), [0.25, 0.5, 1, 2, 0.75, 1.5, 0.5, 1], { id: 'g' });
    const ir = b.build(b.dense(g, randomArray(4, 4 * 8), [4, 8], { id: 'out' }));
    for (const n of ir.nodes) if (n.kind === 'if') Object.assign(n, { model: 'lif', leak: n.id === 'g' ? leak : 0.9, reset });
    return ir;
  }

  for (const [reset, leak] of [['zero', 0.95], ['subtract', [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.75]]] as const) {
    it(`keeps the model, leak, reset (${reset}), v(0), thresholds and weights`, async () => {
      const ir = lifIr(reset, leak as number | number[]);
      const built = buildNirGraph(ir).graph;
      expect(built.nodes.h.type).toBe('LIF');
      expect(built.nodes.h.metadata.reset_mode).toBe(reset);
      // τ = dt/(1 − λ), R = τ/dt (input gain dt·R/τ = 1).
      expect(nums(built.nodes.h.params.tau)[0]).toBe(Math.fround(NIR_DT / (1 - 0.9)));
      expect(nums(built.nodes.h.params.r)[0]).toBeCloseTo(10, 5);
      const file = join(tmp, `rt-${reset}.nir`);
      await exportNir(ir, file);
      const back = nirToIr(await readNir(file)).ir;
      expect(back.nodes.map((n) => [n.id, n.kind])).toEqual(ir.nodes.map((n) => [n.id, n.kind]));
      for (const [a, b] of ir.nodes.map((n, i) => [n, back.nodes[i]] as const)) {
        if (a.kind === 'if') {
          const bb = b as IfNode;
          expect(bb).toMatchObject({ model: 'lif', reset: a.reset, vInit: a.vInit, axis: a.axis });
          const la = [a.leak!].flat();
          const lb = [bb.leak!].flat();
          expect(lb.length).toBe(la.length);
          lb.forEach((l, i) => expect(l).toBeCloseTo(la[i], 6));
          const ta = [a.threshold].flat();
          const tb = [bb.threshold].flat();
          expect(tb.length).toBe(ta.length);
          tb.forEach((t, i) => expect(t / ta[i]).toBeCloseTo(1, 6));
        } else if (a.kind === 'dense') {
          const wa = ir.tensors.get(a.weight)!.data;
          const wb = back.tensors.get((b as DenseNode).weight)!.data;
          expect(wb.length).toBe(wa.length);
          wb.forEach((w, i) => expect(w).toBeCloseTo(wa[i], 6));
          if (a.bias) expect(back.tensors.get((b as DenseNode).bias!)!.data).toEqual(ir.tensors.get(a.bias)!.data);
        }
      }
    });
  }

  it('an IF IR goes out as IF and comes back as IF (no model field), reset by subtraction', async () => {
    const ir = lifIr('subtract', 1);
    for (const n of ir.nodes) {
      if (n.kind === 'if') {
        delete n.model;
        delete n.leak;
      }
    }
    const file = join(tmp, 'if.nir');
    await exportNir(ir, file);
    const back = nirToIr(await readNir(file)).ir;
    expect(back.version).toBe(4);
    for (const n of back.nodes.filter((x): x is IfNode => x.kind === 'if')) {
      expect(n).not.toHaveProperty('model');
      expect(n.reset).toBe('subtract');
    }
  });
});

describe('what the IR cannot express is refused by name', () => {
  const f32 = (shape: number[], v: number[]): NirArray => ({ dtype: '<f4', shape, data: Float32Array.from(v) });
  const i64 = (v: number[]): NirArray => ({ dtype: '<i8', shape: [v.length], data: BigInt64Array.from(v.map(BigInt)) });
  function graph(neuron: NirGraph['nodes'][string], readout = true): NirGraph {
    return {
      version: '1.0.8',
      metadata: {},
      nodes: {
        in: { type: 'Input', params: { shape: i64([2]) }, metadata: {} },
        fc: { type: 'Linear', params: { weight: f32([2, 2], [1, 0, 0, 1]) }, metadata: {} },
        n: neuron,
        ...(readout ? { ro: { type: 'Linear', params: { weight: f32([1, 2], [1, 1]) }, metadata: {} } } : {}),
        out: { type: 'Output', params: { shape: i64([readout ? 1 : 2]) }, metadata: {} },
      },
      edges: readout ? [['in', 'fc'], ['fc', 'n'], ['n', 'ro'], ['ro', 'out']] : [['in', 'fc'], ['fc', 'n'], ['n', 'out']],
    };
  }
  const lif = (extra: Record<string, NirArray> = {}) => ({
    type: 'LIF',
    params: { tau: f32([2], [1e-3, 1e-3]), r: f32([2], [10, 10]), v_leak: f32([2], [0, 0]), v_threshold: f32([2], [1, 1]), v_reset: f32([2], [0, 0]), ...extra },
    metadata: {},
  });

  it('CubaLIF, a non-zero v_leak or v_reset, a spiking output', () => {
    expect(nirToIr(graph(lif())).ir.nodes[1]).toMatchObject({ model: 'lif', reset: 'zero' });
    const cuba = { type: 'CubaLIF', params: {}, metadata: {} };
    expect(() => nirToIr(graph(cuba))).toThrow(/NIR node n: NIR type CubaLIF is not imported: its synaptic current decays with its own τ_syn/);
    expect(() => nirToIr(graph(lif({ v_leak: f32([2], [0.1, 0]) })))).toThrow(/NIR node n: v_leak ≠ 0/);
    expect(() => nirToIr(graph(lif({ v_reset: f32([2], [0.2, 0.2]) })))).toThrow(/NIR node n: v_reset ≠ 0/);
    expect(() => nirToIr(graph(lif(), false))).toThrow(/NIR node out: the output reads n, whose values are spikes/);
  });
});
