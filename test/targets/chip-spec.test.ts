/**
 * Chip specs are data: the presets validate against schemas/chip.schema.json, every constant names its
 * source, and the synapse-memory and barrier rules compute what their sources say.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { barrierNs, checkChipSpec, chipPresets, coresPerChip, EVENTS, fitsCore, LIMITS, loadChipSpec, RESOURCE_MODELS, resourceModel, synapseWords, type Use } from '../../targets/chip-spec.ts';
import { ROUTERS, routerOf } from '../../targets/chip/routers.ts';
import { slotPosition, xyRoute } from '../../targets/map/route.ts';
import { tempFolder } from './helpers.ts';

const dir = tempFolder();

describe('chip specs', () => {
  it('ships loihi1 (Davies 2018 Table 2) and loihi1-sanafe (SANA-FE), each constant with its source', () => {
    expect(chipPresets()).toEqual(expect.arrayContaining(['loihi1', 'loihi1-sanafe']));
    for (const name of ['loihi1', 'loihi1-sanafe']) {
      const spec = loadChipSpec(name);
      expect(coresPerChip(spec)).toBe(128);
      expect(LIMITS.map((l) => spec.limits[l].value)).toEqual([1024, 4096, 4096, 16384]);
      for (const l of LIMITS) expect(spec.limits[l].source).toMatch(/Davies 2018|SANA-FE/);
      for (const e of EVENTS) expect(spec.events[e].source.length, e).toBeGreaterThan(10);
    }
    const davies = loadChipSpec('loihi1');
    expect(davies.events.synaptic_op).toMatchObject({ energy_pj: 23.6, latency_ns: 3.5 });
    expect(davies.events.neuron_active).toMatchObject({ energy_pj: 81, latency_ns: 8.4 });
    expect(davies.events.neuron_inactive).toMatchObject({ energy_pj: 52, latency_ns: 5.3 });
    expect(davies.events.hop_ns).toMatchObject({ energy_pj: 4.0, latency_ns: 6.5 });
    const sanafe = loadChipSpec('loihi1-sanafe');
    expect(sanafe.events.neuron_active.energy_pj).toBeCloseTo(51.2 + 21.6, 10);
    expect(sanafe.events.hop_ns.energy_pj).toBe(4.2);
  });

  it('lists the multi-chip systems each chip is sold in, smallest first, each with its source; bad lists are refused naming the file', () => {
    const chips = (name: string) => loadChipSpec(name).boards!.map((b) => [b.name, b.chips_x * b.chips_y]);
    const loihi1 = [['Kapoho Bay', 2], ['Nahuku 8', 8], ['Nahuku 32', 32], ['Pohoiki Beach', 64], ['Pohoiki Springs', 768]];
    expect(chips('loihi1')).toEqual(loihi1);
    expect(chips('loihi1-sanafe')).toEqual(loihi1);
    expect(chips('loihi2')).toEqual([['Oheo Gulch', 1], ['Kapoho Point', 8], ['Hala Point', 1152]]);
    // The chip counts are published; how the chips tile a 2-D mesh is not, and says so.
    for (const b of [...loadChipSpec('loihi1').boards!, ...loadChipSpec('loihi2').boards!].filter((b) => b.chips_x > 1 && b.chips_y > 1)) expect(b.source, b.name).toMatch(/ASSUMPTION/);
    const spec = loadChipSpec('loihi1');
    expect(spec.board).toBeUndefined();
    const [kapoho, nahuku8] = spec.boards!;
    expect(() => checkChipSpec({ ...spec, boards: [nahuku8, kapoho] }, 'x.json')).toThrow(/^x.json: boards\[1\] \(Kapoho Bay\): 2 chips, not more than the 8 of boards\[0\] \(Nahuku 8\): list the systems smallest first$/);
    expect(() => checkChipSpec({ ...spec, boards: [kapoho, { ...nahuku8, chips_x: 2048, chips_y: 1024 }] }, 'x.json')).toThrow(/^x.json: boards\[1\] \(Nahuku 8\): 2048 x 1024 chips, more than the 1048576 snnc supports$/);
    const { boards: _b, ...neither } = spec;
    expect(() => checkChipSpec(neither, 'x.json')).toThrow(/^x.json: does not match the chip schema at \(root\): must have required property 'boards'$/);
    // An old spec with one board (and a map file's spec, whose board is the one it was placed on) still loads.
    const old = join(dir, 'old.json');
    writeFileSync(old, JSON.stringify({ ...neither, board: { chips_x: 8, chips_y: 4, source: 'Nahuku: 32 chips' } }));
    expect(loadChipSpec(old).board).toEqual({ chips_x: 8, chips_y: 4, source: 'Nahuku: 32 chips' });
  });

  it('counts synapse memory as nengo-loihi does: 64-synapse groups of 10 header bits + 18 bits each, in 64-bit words', () => {
    const spec = loadChipSpec('loihi1');
    expect(synapseWords(0, spec)).toBe(0);
    expect(synapseWords(1, spec)).toBe(1); // 28 bits
    expect(synapseWords(3, spec)).toBe(1); // 64 bits exactly
    expect(synapseWords(4, spec)).toBe(2);
    expect(synapseWords(64, spec)).toBe(19); // 1162 bits
    expect(synapseWords(65, spec)).toBe(20);
    expect(synapseWords(128, spec)).toBe(38);
  });

  it('interpolates the barrier between 113 ns (1 tile) and 465 ns (32 tiles)', () => {
    const spec = loadChipSpec('loihi1');
    expect(barrierNs(spec, 1)).toBe(113);
    expect(barrierNs(spec, 32)).toBe(465);
    expect(barrierNs(spec, 16.5)).toBeCloseTo(289, 10);
    expect(barrierNs(loadChipSpec('loihi1-sanafe'), 9)).toBe(299);
  });

  it('loads a spec file by path and rejects a broken one with the reason', () => {
    const spec = loadChipSpec('loihi1');
    const file = join(dir, 'mychip.json');
    writeFileSync(file, JSON.stringify({ ...spec, name: 'mychip', limits: { ...spec.limits, neurons: { value: 512, source: 'a smaller core' } } }));
    expect(loadChipSpec(file).limits.neurons.value).toBe(512);
    expect(() => loadChipSpec('loihi3')).toThrow(/unknown chip 'loihi3': presets are .*loihi1/);
    const { events: _e, ...noEvents } = spec;
    expect(() => checkChipSpec(noEvents, 'x.json')).toThrow(/x.json: does not match the chip schema at \(root\): must have required property 'events'/);
    expect(() => checkChipSpec({ ...spec, barrier: { ...spec.barrier, tiles: [1, 2, 3] } }, 'x.json')).toThrow(/3 tile counts but 2 latencies/);
    const narrow = { ...spec, synapse_encoding: { ...spec.synapse_encoding, index_bits: 8 } };
    expect(() => checkChipSpec(narrow, 'x.json')).toThrow(/8 index bits cannot address 1024 neurons/);
  });

  it('names its router and resource model; the schema lists exactly the registered ones', () => {
    const schema = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'schemas', 'chip.schema.json'), 'utf8'));
    expect(schema.properties.mesh.properties.routing.enum).toEqual(Object.keys(ROUTERS));
    expect(schema.properties.resource_model.enum).toEqual(Object.keys(RESOURCE_MODELS));
    const l1 = loadChipSpec('loihi1');
    const l2 = loadChipSpec('loihi2');
    // XY: 3 tiles east then 1 north on one chip (tiles of 4 cores, 8 tiles a row).
    const route = routerOf(l1).route(l1, slotPosition(l1, 0), slotPosition(l1, 4 * (8 + 3)));
    expect([route.ew, route.ns, route.chip, route.links.length]).toEqual([3, 1, 0, 4]);
    // Placed on a 3 x 2 board: hops in closed form and link loads from differences, against walking every route.
    const board = { ...l1, board: { chips_x: 3, chips_y: 2, source: 'test' } };
    const positions = Array.from({ length: 40 }, (_, k) => slotPosition(board, (k * 97) % (6 * 128)));
    const placed = routerOf(board).place(board, positions);
    const walked = new Map<number, number>();
    const h = new Int32Array(3);
    for (let a = 0; a < positions.length; a++) {
      for (let b = 0; b < positions.length; b++) {
        const r = xyRoute(board, positions[a], positions[b]);
        placed.hops(a, b, h);
        expect([...h], `${a} -> ${b}`).toEqual([r.ew, r.ns, r.chip]);
        const count = 1 + ((a * 7 + b) % 3);
        placed.addLinks(a, b, count);
        for (const l of r.links) walked.set(l, (walked.get(l) ?? 0) + count);
      }
    }
    expect(new Map([...placed.linkLoads()].sort((x, y) => x[0] - y[0]))).toEqual(new Map([...walked].sort((x, y) => x[0] - y[0])));
    expect(walked.size).toBeGreaterThan(50);
    expect(() => routerOf({ ...l1, mesh: { ...l1.mesh, routing: 'torus' } })).toThrow(/unknown routing 'torus' in chip loihi1: routers are xy/);
    // By default: fixed limits without a memory block, shared memory with one; named explicitly, the same.
    expect(resourceModel(l1)).toBe(RESOURCE_MODELS.limits);
    expect(resourceModel(l2)).toBe(RESOURCE_MODELS['shared-memory']);
    expect(resourceModel({ ...l2, resource_model: 'limits' })).toBe(RESOURCE_MODELS.limits);
    // 8,192 neurons and 17,000 words fit Loihi 2's limits but not its shared memory: only the shared model says so.
    const u: Use = [8192, 10, 10, 17000];
    const caps = LIMITS.map((x) => l2.limits[x].value) as Use;
    expect(fitsCore(u, caps, l2)).toBe(false);
    expect(fitsCore(u, caps, { ...l2, resource_model: 'limits' })).toBe(true);
    expect(resourceModel(l2).overflow(u, caps, l2)).toMatch(/^needs \d+ bits of shared core memory, more than the \d+ of a loihi2 core \(by \d+\)$/);
    const caps1 = LIMITS.map((x) => l1.limits[x].value) as Use;
    expect(resourceModel(l1).overflow([1025, 0, 0, 0], caps1, l1)).toBe('needs 1025 neurons, more than the 1024 of a loihi1 core (by 1)');
    expect(() => checkChipSpec({ ...l1, resource_model: 'shared-memory' }, 'x.json')).toThrow(/x.json: resource_model 'shared-memory' needs a memory block/);
  });
});

