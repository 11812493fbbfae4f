/**
 * The readout on the host (`snnc map --readout host|auto`): a readout neuron that hears more sources than a
 * core has input axons (a transformer head that hears every token) cannot be placed by any slicing, so the
 * host takes it. The cores then hold every other layer; the virtual chip still produces the simulator's
 * spikes and logits, and the readout's synaptic operations move to the host's count (one host operation per
 * non-zero weight, one value in per spike that reaches it).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '../../runtime/npy.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap, readMap } from '../../targets/map/map-file.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { compileFixture, root, samples, saveIr, tempFolder } from './helpers.ts';

const NO_SHA = '0'.repeat(64);
const loihi1 = loadChipSpec('loihi1');

/** 8 inputs → 5000 IF neurons → a readout of 3 classes that hears all 5000 (more than loihi1's 4096 input axons). */
function wideHead() {
  const b = new IrBuilder([8]);
  const a = b.if(b.dense('input', randomArray(21, 5000 * 8, -0.2, 0.6), [5000, 8]), 0.5, { id: 'a' });
  return b.build(b.dense(a, randomArray(22, 3 * 5000, -0.01, 0.01), [3, 5000], { id: 'head' }));
}

describe('the readout on the host', () => {
  it('fmnist_cnn_qcfs, --readout host: the same spikes and logits as the simulator; the readout’s synaptic ops are the host’s operations', async () => {
    const ir = compileFixture('fmnist_cnn_qcfs');
    const { input } = samples('fmnist_test_x.npy', 'fmnist_test_y.npy', 3);
    const T = 16;
    const host = buildMap(ir, 'x', NO_SHA, loihi1, { readout: 'host' });
    const cores = buildMap(ir, 'x', NO_SHA, loihi1, { readout: 'cores' });
    // The map: no readout layer on cores, the readout listed as the host's node.
    expect(host.doc.layers.map((l) => l.kind)).not.toContain('readout');
    expect(cores.doc.layers.at(-1)!.kind).toBe('readout');
    expect(host.doc.host!.nodes).toEqual([{ id: 'fc', kind: 'readout', size: 10, operands: [] }]);
    expect(host.doc.totals.neurons).toBe(cores.doc.totals.neurons - 10);

    const onHost = runChip(configureFromMap(host.doc, ir), input, { T, recordSpikes: true });
    const onCores = runChip(configureFromMap(cores.doc, ir), input, { T, recordSpikes: true });
    const sim = await simulatePlan(host.plan, input, { T, recordSpikes: true, workers: 1 });
    expect(onHost.logits).toEqual(sim.logits);
    expect(onHost.logits).toEqual(onCores.logits);
    onHost.spikes!.forEach((r, s) => expect(r.indices).toEqual(sim.spikes![s].indices));

    // What the cores' readout did, the host does: core synaptic ops fall by exactly the host's operations.
    const h = onHost.report.host_nodes!;
    expect(h.nodes.map((n) => [n.id, n.kind])).toEqual([['fc', 'readout']]);
    expect(h.ops).toBeGreaterThan(0);
    expect(h.by_class.readout_ops).toBe(h.ops);
    expect(onHost.report.counts.synaptic_op + h.ops).toBeCloseTo(onCores.report.counts.synaptic_op, 6);
    // One value in per act3 spike (each reaches the readout through the pool), none out.
    const act3 = sim.layers.find((l) => l.id === 'act3')!;
    expect(h.values_in).toBeCloseTo(act3.spikes_per_sample, 6);
    expect(h.values_out).toBe(0);
    expect(h.latency_ns).toBeGreaterThan(0);
  });

  it('auto: a head no core can take goes to the host, with a note; --readout cores refuses it in one line', async () => {
    const ir = wideHead();
    expect(() => buildMap(ir, 'x', NO_SHA, loihi1, { readout: 'cores', synapses: 'discrete' })).toThrow(/neuron head\[0\] receives spikes from 5000 source neurons: more than the 4096 input axons of a loihi1 core \(by 904\); no slicing can place it \(the readout can run on the host: --readout host\)/);
    const auto = buildMap(ir, 'x', NO_SHA, loihi1, { synapses: 'discrete' });
    expect(auto.doc.host!.nodes.map((n) => n.kind)).toEqual(['readout']);
    expect(auto.notes).toEqual(['readout head on the host: on cores, neuron head[0] receives spikes from 5000 source neurons: more than the 4096 input axons of a loihi1 core (by 904); no slicing can place it']);
    const input = randomArray(23, 4 * 8, 0, 1);
    const chip = runChip(configureFromMap(auto.doc, ir), input, { T: 8 });
    const sim = await simulatePlan(auto.plan, input, { T: 8, workers: 1 });
    expect(chip.logits).toEqual(sim.logits);
    expect(chip.report.host_nodes!.ops).toBeGreaterThan(0);
  });

  it('the map file round-trips (its schema knows the readout node) and snnc chip runs it from the CLI', () => {
    const dir = tempFolder();
    const ir = wideHead();
    const irFile = saveIr(ir, dir, 'wide');
    const mapFile = join(dir, 'wide.map.json');
    const m = spawnSync('npx', ['tsx', 'cli/snnc.ts', 'map', irFile, '--chip', 'loihi1', '--synapses', 'discrete', '-o', mapFile], { cwd: root, encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    expect(m.stderr).toMatch(/note: readout head on the host/);
    expect(m.stdout).toMatch(/host nodes: 1 \(readout\) off the neuromorphic cores/);
    expect(readMap(mapFile).doc.host!.nodes[0].kind).toBe('readout');
    const x = join(dir, 'x.npy');
    writeNpy(x, { dtype: 'float32', shape: [2, 8], data: randomArray(24, 16, 0, 1) });
    const c = spawnSync('npx', ['tsx', 'cli/snnc.ts', 'chip', mapFile, '--input', x, '-T', '4'], { cwd: root, encoding: 'utf8' });
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/host share: 1 host node on the embedded processors/);
    expect(c.stdout).toMatch(/head +readout/);
    // --readout cores on the same IR: the one-line refusal, exit 2.
    const refused = spawnSync('npx', ['tsx', 'cli/snnc.ts', 'map', irFile, '--chip', 'loihi1', '--synapses', 'discrete', '--readout', 'cores', '-o', join(dir, 'no.map.json')], { cwd: root, encoding: 'utf8' });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^snnc: [^\n]*wide\.snn\.json[^\n]*neuron head\[0\] receives spikes from 5000 source neurons[^\n]*--readout host\)\n$/);
  });
});
