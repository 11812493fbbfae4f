/**
 * Transformers on the chip: `snnc map` puts the fixed-weight layers on neuromorphic cores and the host
 * nodes (spike-pair matmuls, softmax) on a host processor; the virtual chip then reproduces the functional
 * simulator's spikes exactly, and reports the host's share (operations, values moved, energy and time)
 * apart from the cores'. Few samples, small T: the fixtures are the digits transformers of
 * test/fixtures/TRANSFORMERS.md.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { validateDocument } from '../../compiler/schema.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { readNpy, toLabels, writeNpy } from '../../runtime/npy.ts';
import type { SpikeRecord } from '../../runtime/snn/engine.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { collectReport } from '../../cli/report-data.ts';
import { renderReport } from '../../report/render.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap, type MapOptions } from '../../targets/map/map-file.ts';
import type { HostOption } from '../../targets/map/host.ts';
import { compileFixture, fixture, root, saveIr, tempFolder } from './helpers.ts';

const NO_SHA = '0'.repeat(64);
const OPTIONS: LowerOptions = { divisor: 1, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {} };
const compile = (model: string, rsm: LowerOptions['rsm'] = []) => lower(loadOnnx(fixture(`${model}.onnx`)), { ...OPTIONS, rsm }).ir;
const x = readNpy(fixture('digits8x8_test_x.npy'));
/** The first n digits test images (8 × 8). */
const images = (n: number) => Float32Array.from((x.data as Float32Array).subarray(0, 64 * n));

function expectSameSpikes(chip: SpikeRecord[], sim: SpikeRecord[]): void {
  expect(chip.length).toBe(sim.length);
  chip.forEach((c, s) => {
    expect(c.offsets, `sample ${s} offsets`).toEqual(sim[s].offsets);
    expect(c.indices, `sample ${s} spikes`).toEqual(sim[s].indices);
  });
}

async function compare(ir: SnnIr, input: Float32Array, T: number, host: HostOption, attention: 'accumulated' | 'per-step' = 'accumulated', seed = 0, options: MapOptions = {}) {
  const mapped = buildMap(ir, 'x', NO_SHA, loadChipSpec('loihi1'), { host, ...options });
  const chip = runChip(configureFromMap(mapped.doc, ir), input, { T, seed, recordSpikes: true, attention });
  const sim = await simulatePlan(mapped.plan, input, { T, seed, recordSpikes: true, workers: 1, attention });
  return { chip, sim, doc: mapped.doc };
}

describe('transformer IRs on the virtual chip', () => {
  const mst = compile('digits_mst');

  it('digits_mst: every spike of every step equals the simulator’s, with the host share reported apart (3 images, T = 12)', async () => {
    const T = 12;
    const { chip, sim, doc } = await compare(mst, images(3), T, 'embedded');
    expectSameSpikes(chip.spikes!, sim.spikes!);
    expect(chip.logits).toEqual(sim.logits);
    expect(chip.spikes![0].indices.length).toBeGreaterThan(1000);
    // The map: layers on cores, the six host nodes placed on the embedded processors.
    expect(doc.host!.placement).toBe('embedded');
    expect(doc.host!.nodes.map((n) => n.kind)).toEqual(['matmul', 'softmax', 'matmul', 'matmul', 'softmax', 'matmul']);
    expect(doc.totals.cores).toBeGreaterThan(1);

    const h = chip.report.host_nodes!;
    const spec = loadChipSpec('loihi1');
    const e = spec.host!.embedded!;
    // The host's work is the simulator's count of the attention module, class by class.
    const att = sim.modules.attention;
    expect(h.by_class.spike_pair_products).toBeCloseTo(att.products, 6);
    expect(h.by_class.softmax_ops).toBe(att.softmax_ops);
    expect(h.by_class.softmax_ops).toBe(T * 2 * 2 * 16 * 16);
    // Values in: here every spike of q, k, v and the scores reaches exactly one host operand element.
    const toHost = sim.layers.filter((l) => /attn\/(q|k|v|attn)_act$/.test(l.id)).reduce((a, l) => a + l.spikes_per_sample, 0);
    expect(h.values_in).toBeCloseTo(toHost, 6);
    // Values out: the softmax's output stays on the host (it feeds attn·v); each matmul sends at most one
    // value per compartment of its 512-neuron target per step.
    for (const n of h.nodes) {
      if (n.kind === 'softmax') expect(n.values_out).toBe(0);
      else expect(n.values_out).toBeLessThanOrEqual(T * 512);
    }
    expect(h.values_out).toBeGreaterThan(0);
    // Energy and time from the spec's constants, by hand.
    expect(h.energy_pj.total).toBeCloseTo(h.ops * e.op.energy_pj + (h.values_in + h.values_out) * e.transfer.energy_pj, 3);
    expect(h.latency_ns).toBeCloseTo((h.ops / e.processors.value) * e.op.latency_ns + (h.values_in + h.values_out) * e.transfer.latency_ns, 3);
    expect(h.energy_share).toBeCloseTo(h.energy_pj.total / (h.energy_pj.total + chip.report.energy.per_inference.chip.total_pj), 9);
    expect(h.latency_share).toBeGreaterThan(0);
    expect(h.latency_share).toBeLessThan(1);
    // The cores' synaptic ops are the simulator's SOPs: nothing routed to the host is charged to a core.
    expect(chip.report.counts.synaptic_op).toBe(sim.sops_per_sample);
  }, 60_000);

  it('digits_mst off-chip, per-step rule, with MST’s masks on q, k and scores: same spikes, same drops; the host costs change with the placement', async () => {
    const ir = compile('digits_mst', [
      { pattern: 'blocks.*/attn/MatMul', ratio: 0.75 },
      { pattern: 'blocks.*/attn/Softmax', ratio: 0.75 },
    ]);
    const input = images(2);
    const off = await compare(ir, input, 10, 'off-chip', 'per-step', 5);
    expectSameSpikes(off.chip.spikes!, off.sim.spikes!);
    expect(off.chip.report.masks.map((m) => m.spikes_dropped)).toEqual(off.sim.masks.map((m) => m.spikes_dropped));
    expect(off.chip.report.masks.some((m) => m.spikes_dropped > 0)).toBe(true);
    const h = off.chip.report.host_nodes!;
    expect(h.placement).toBe('off-chip');
    const o = loadChipSpec('loihi1').host!.off_chip!;
    expect(h.energy_pj.total).toBeCloseTo(h.ops * o.op.energy_pj + (h.values_in + h.values_out) * o.transfer.energy_pj, 3);
    expect(h.op.source).toMatch(/Horowitz|ASSUMPTION/);
    expect(h.transfer.source).toMatch(/ASSUMPTION/);
  }, 60_000);

  it('digits_mst with per-group quantised weights: the simulator’s spikes on the same plan (quantised cores, host routes as they are)', async () => {
    const { chip, sim, doc } = await compare(mst, images(2), 8, 'embedded', 'accumulated', 0, { quantize: 'per-group' });
    expect(doc.quantization!.stats.synapses).toBeGreaterThan(0);
    expectSameSpikes(chip.spikes!, sim.spikes!);
    expect(chip.logits).toEqual(sim.logits);
  }, 60_000);

  for (const [model, partitioner] of [['digits_swin', 'blocks'], ['digits_ssa', 'blocks'], ['digits_swin', 'greedy']] as const) {
    it(`${model} (${partitioner} partitioner): every spike of every step equals the simulator’s (2 images, T = 8)`, async () => {
      const { chip, sim } = await compare(compile(model), images(2), 8, 'embedded', 'accumulated', 0, { partitioner });
      expectSameSpikes(chip.spikes!, sim.spikes!);
      expect(chip.logits).toEqual(sim.logits);
      expect(chip.report.host_nodes!.ops).toBeGreaterThan(0);
    }, 60_000);
  }

  it('every preset prices its host processors, each constant with its source or marked as an assumption', () => {
    for (const name of ['loihi1', 'loihi1-sanafe', 'loihi2']) {
      const spec = loadChipSpec(name);
      for (const where of ['embedded', 'off_chip'] as const) {
        const p = spec.host![where]!;
        for (const c of [p.processors, p.op, p.transfer]) expect(c.source, `${name} ${where}`).toMatch(/Davies 2018|Intel|Horowitz|ASSUMPTION/);
        // Constants that no publication gives are marked as such.
        expect(p.transfer.source).toMatch(/^ASSUMPTION/);
      }
      expect(spec.host!.embedded!.processors.value).toBe(name === 'loihi2' ? 6 : 3);
    }
  });

  it('refuses a chip spec without a host processor, naming the host nodes', () => {
    const spec = loadChipSpec('loihi1');
    delete spec.host;
    expect(() => buildMap(mst, 'x', NO_SHA, spec)).toThrow(/blocks\.0\/attn\/MatMul.*\(matmul\).*host processor/);
    const embeddedOnly = loadChipSpec('loihi1');
    delete embeddedOnly.host!.off_chip;
    expect(() => buildMap(mst, 'x', NO_SHA, embeddedOnly, { host: 'off-chip' })).toThrow(/no 'off-chip' one.*--host embedded/);
  });
});

describe('the report of a transformer map', () => {
  it('charges the host nodes to the chip energy models, in each preset’s host costs, and the trace accounts for the host’s turns', async () => {
    const ir = compile('digits_mst');
    const { doc } = buildMap(ir, 'mst.snn.json', NO_SHA, loadChipSpec('loihi1'));
    const input = images(2);
    const labels = toLabels(readNpy(fixture('digits8x8_test_y.npy'))).subarray(0, 2);
    const quiet = async () => ({ update() {}, stop() {} });
    const out = await collectReport({
      ir, irFile: 'mst.snn.json', ann: loadOnnx(fixture('digits_mst.onnx')), x: input, labels, samples: 2, evaluation: { input: 'x', labels: 'y' }, T: 8, seed: 0,
      map: { file: 'mst.map.json', loaded: { doc, ir, irFile: 'mst.snn.json' } }, chipSamples: 2, snncVersion: 'test', progress: quiet as never,
    });
    const chip = out.chip!;
    const h = chip.host_nodes!;
    const model = (name: string) => out.data.energy.find((m) => m.name === name)!;
    expect(model('loihi1').snn_per_inference).toBeCloseTo(chip.energy.per_inference.chip.total_pj + h.energy_pj.total, 3);
    expect(model('loihi1').source).toMatch(/host nodes on the embedded processors/);
    // The chip view shows the host's share apart from the cores'.
    expect(out.data.chip!.host).toEqual({ placement: 'embedded', nodes: 6, energy_pj: h.energy_pj.total, energy_share: h.energy_share, latency_ns: h.latency_ns, latency_share: h.latency_share });
    expect(renderReport(out.data)).toMatch(/host nodes[^<]*<\/t[dh]>\s*<td[^>]*>6 on the embedded processors/);
    // loihi1-sanafe prices the same events with its own table, the host with its own host block.
    const sanafe = loadChipSpec('loihi1-sanafe').host!.embedded!;
    expect(model('loihi1-sanafe').snn_per_inference).toBeGreaterThan(h.ops * sanafe.op.energy_pj);

    // The trace: each step is its phases plus the barrier; the host's turns are phases of their own.
    const traced = runChip(configureFromMap(doc, ir), input.subarray(0, 64), { T: 4, trace: true });
    const steps = traced.report.trace![0];
    let host = 0;
    for (const st of steps) {
      expect(st.phases.reduce((a, p) => a + p.ns, 0) + st.barrier_ns).toBeCloseTo(st.ns, 6);
      host += st.phases.filter((p) => doc.host!.nodes.some((n) => n.id === p.layer)).reduce((a, p) => a + p.ns, 0);
    }
    expect(host).toBeCloseTo(traced.report.host_nodes!.latency_ns, 6);
  }, 120_000);
});

describe('snnc map --host and snnc chip on a transformer', () => {
  const dir = tempFolder();
  const snnc = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/snnc.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, SNNC_DEBUG: '', NO_COLOR: '1' } });

  it('maps digits_mst off-chip and prints the host share; the JSON report validates', () => {
    const irFile = saveIr(compile('digits_mst'), dir, 'mst');
    const mapFile = join(dir, 'mst.map.json');
    const m = snnc('map', irFile, '--chip', 'loihi1', '--host', 'off-chip', '-o', mapFile);
    expect(m.stderr).not.toMatch(/internal error/);
    expect(m.status).toBe(0);
    expect(m.stdout).toMatch(/host nodes: 6 \(4 matmul, 2 softmax\) off the neuromorphic cores, on an off-chip host/);
    validateDocument('map', JSON.parse(readFileSync(mapFile, 'utf8')), mapFile);
    const xFile = join(dir, 'x2.npy');
    writeNpy(xFile, { ...x, dtype: 'float32', shape: [2, ...x.shape.slice(1)], data: images(2) });
    const c = snnc('chip', mapFile, '--input', xFile, '-T', '8', '--json');
    expect(c.stderr).not.toMatch(/internal error/);
    expect(c.status).toBe(0);
    const doc = JSON.parse(c.stdout);
    validateDocument('chip-report', doc, 'chip report');
    expect(doc.host_nodes.placement).toBe('off-chip');
    expect(doc.host_nodes.nodes).toHaveLength(6);
    const text = snnc('chip', mapFile, '--input', xFile, '-T', '8');
    expect(text.stdout).toMatch(/host share: 6 host nodes on an off-chip host/);
    expect(text.stdout).toMatch(/ASSUMPTION/);
    expect(text.stdout).toMatch(/blocks\.1\/attn\/Softmax\s+softmax\s+[\d,]+\s+0\s/);
    // Same inputs, same map: byte-identical.
    const again = join(dir, 'mst2.map.json');
    expect(snnc('map', irFile, '--chip', 'loihi1', '--host', 'off-chip', '-o', again).status).toBe(0);
    expect(readFileSync(again, 'utf8')).toBe(readFileSync(mapFile, 'utf8'));
  }, 120_000);

  it('--host on an IR without host nodes is a one-line user error naming the file', () => {
    const irFile = saveIr(compileFixture('digits_mlp'), dir, 'mlp');
    const r = snnc('map', irFile, '--chip', 'loihi1', '--host', 'embedded', '-o', join(dir, 'bad.map.json'));
    expect(r.stderr).toMatch(/^snnc: [^\n]*mlp\.snn\.json[^\n]*--host embedded: the IR has no host nodes[^\n]*\n$/);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(2);
  });
});
