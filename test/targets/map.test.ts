/**
 * The trained fixtures map onto loihi1 close to the lower bound on cores; a profile-driven placement cuts
 * spike-hops well below the sequential baseline; the map file is validated on write and read and refuses
 * an IR that changed since mapping.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { LIMITS, loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap, profileRates, readMap, sha256, writeMap } from '../../targets/map/map-file.ts';
import { PLACERS, spikeHops } from '../../targets/map/place.ts';
import { slotPosition } from '../../targets/map/route.ts';
import { compileFixture, recount, samples, saveIr, tempFolder } from './helpers.ts';

const spec = loadChipSpec('loihi1');
const dir = tempFolder();
const fmnist = compileFixture('fmnist_cnn_qcfs');
const digits = compileFixture('digits_mlp');

describe('fixtures on loihi1', () => {
  it('fmnist_cnn_qcfs: cores ≤ 1.15 × the lower bound, every core within all four limits', () => {
    const { doc } = buildMap(fmnist, 'x', '0'.repeat(64), spec);
    const t = doc.totals;
    expect(t.cores).toBeLessThanOrEqual(1.15 * t.lower_bound.cores);
    expect(t.cores).toBeGreaterThanOrEqual(t.lower_bound.cores);
    // Synapse memory binds the conv layers (synapse memory and input axons bind first on Loihi: Davies et al. 2018).
    expect(doc.layers.find((l) => l.id === 'act2')!.binding).toBe('synapse_words');
    expect(doc.layers.find((l) => l.id === 'act3')!.binding).toBe('synapse_words');
    const use = recount(buildPlan(fmnist), doc);
    use.forEach((u, c) => LIMITS.forEach((l, r) => expect(u[r], `core ${c} ${l}`).toBeLessThanOrEqual(spec.limits[l].value)));
    expect(t.routing_entries).toBe(use.reduce((a, u) => a + u[2], 0));
    // One core per slot, all on one chip.
    expect(new Set(doc.cores.map((c) => c.slot)).size).toBe(t.cores);
    expect(t.chips).toBe(1);
  });

  it('digits_mlp: one core, the lower bound', () => {
    const { doc } = buildMap(digits, 'x', '0'.repeat(64), spec);
    expect(doc.totals.cores).toBe(1);
    expect(doc.totals.lower_bound.cores).toBe(1);
  });

  it('with a profile, spike-hops per inference are at least 30 % below the sequential placement', async () => {
    const { input } = samples('fmnist_test_x.npy', 'fmnist_test_y.npy', 16);
    const rates = await profileRates(buildPlan(fmnist), input, 16, 0);
    const { doc } = buildMap(fmnist, 'x', '0'.repeat(64), spec, { rates });
    const hops = doc.traffic.spike_hops;
    expect(doc.traffic.weighting).toBe('profile');
    expect(hops.placed).toBeLessThanOrEqual(0.7 * hops.sequential);
    // The figures are Σ messages × Manhattan tile distance over the map's own core positions.
    expect(hops.reduction).toBeCloseTo(1 - hops.placed / hops.sequential, 12);
  });

  it('placement strategies share one signature; sequential puts core k on slot k', () => {
    const edges = [
      { from: 0, to: 5, messages: 10 },
      { from: 5, to: 9, messages: 4 },
    ];
    const seq = PLACERS.sequential({ cores: 10, edges, spec });
    expect([...seq]).toEqual([...Array(10).keys()]);
    const placed = PLACERS.traffic({ cores: 10, edges, spec });
    expect(new Set(placed).size).toBe(10);
    expect(spikeHops(spec, placed, edges)).toBe(0); // three cores that talk share a tile
    expect(spikeHops(spec, seq, edges)).toBe(10 * 1 + 4 * 1);
    expect(slotPosition(spec, 5)).toMatchObject({ chip: 0, x: 1, y: 0, core: 1 });
  });
});

describe('the map file', () => {
  const irFile = saveIr(digits, dir, 'digits');
  const mapFile = join(dir, 'digits.map.json');
  const irText = readFileSync(irFile);

  it('is validated when written and read, and references the IR by a relative path', () => {
    const { doc } = buildMap(digits, relative(dir, irFile), sha256(irText), spec, { quantize: 'per-group' });
    writeMap(doc, mapFile);
    const loaded = readMap(mapFile);
    expect(loaded.doc.ir.file).toBe('digits.snn.json');
    expect(loaded.doc.totals).toEqual(doc.totals);
    expect(loaded.doc.quantization!.groups.every((g) => g.stream !== null)).toBe(true);
    expect(loaded.ir.nodes.map((n) => n.id)).toEqual(digits.nodes.map((n) => n.id));
  });

  it('refuses a map that breaks its schema, and an IR changed since mapping', () => {
    const text = readFileSync(mapFile, 'utf8');
    const broken = join(dir, 'broken.map.json');
    writeFileSync(broken, text.replace('"format": "snnc-map"', '"format": "other"'));
    expect(() => readMap(broken)).toThrow(/does not match the map schema at \/format/);
    const doc = JSON.parse(text);
    doc.ir.sha256 = 'f'.repeat(64);
    writeFileSync(broken, JSON.stringify(doc));
    expect(() => readMap(broken)).toThrow(/digits.snn.json changed since it was mapped/);
    const bad = buildMap(digits, 'digits.snn.json', sha256(irText), spec).doc;
    bad.cores[0].use.neurons = -1;
    expect(() => writeMap(bad, broken)).toThrow(/map schema at \/cores\/0\/use\/neurons/);
  });
});
