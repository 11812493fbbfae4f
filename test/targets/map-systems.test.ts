/**
 * Multi-chip systems: a chip spec lists the systems it is sold in, smallest first, and `snnc map` places onto
 * the smallest that holds the mapping (over the `auto` layouts: the smallest system first, then the layouts
 * in order); `--board CxR` forces a board; a mapping larger than the largest system is refused with the
 * excess; an old spec with one `board` still maps onto it; the map embeds the chosen board and the virtual
 * chip runs on it. Chips here have 4 cores (2 tiles of 2) so that fmnist_cnn_qcfs spans several.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { type Board, type ChipSpec, coresPerChip, loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap, readMap } from '../../targets/map/map-file.ts';
import { snnc } from '../helpers/cli.ts';
import { compileFixture, samples, saveIr, tempFolder } from './helpers.ts';

const dir = tempFolder();
const NO_SHA = '0'.repeat(64);

const A: Board = { name: 'A', chips_x: 2, chips_y: 2, source: 'test: 4 chips' };
const B: Board = { name: 'B', chips_x: 3, chips_y: 2, source: 'test: 6 chips' };
const C: Board = { name: 'C', chips_x: 4, chips_y: 2, source: 'test: 8 chips' };
const D: Board = { name: 'D', chips_x: 4, chips_y: 4, source: 'test: 16 chips' };
const SYSTEMS = [A, B, C, D];
const HUGE: Board = { chips_x: 64, chips_y: 64, source: 'test: a board larger than any mapping here' };

/** loihi1 with 4 cores per chip, sold in `boards` (or, for an old spec, on one `board`). */
function smallChip(systems: { boards?: Board[]; board?: Board }): ChipSpec {
  const { board: _b, boards: _l, ...loihi } = loadChipSpec('loihi1');
  return { ...loihi, mesh: { ...loihi.mesh, tiles_x: 2, tiles_y: 1, cores_per_tile: 2 }, ...systems };
}

/** The independent answer: the first system (smallest first) with at least ceil(cores / cores per chip) chips. */
function smallestHolding(systems: Board[], cores: number, spec: ChipSpec): Board | undefined {
  const chips = Math.ceil(cores / coresPerChip(spec));
  return systems.find((b) => b.chips_x * b.chips_y >= chips);
}

describe('multi-chip systems', () => {
  const ir = compileFixture('fmnist_cnn_qcfs');
  // Each layout on one board larger than any system: its cores and chips, whatever the board.
  const blocks = buildMap(ir, 'x', NO_SHA, smallChip({ board: HUGE }), { synapses: 'discrete', partitioner: 'blocks' }).doc.totals;
  const discrete = buildMap(ir, 'x', NO_SHA, smallChip({ board: HUGE }), { synapses: 'discrete' }).doc.totals;
  const population = buildMap(ir, 'x', NO_SHA, smallChip({ board: HUGE }), { synapses: 'population', outputAxons: 'neuron' }).doc.totals;

  it('a mapping beyond the first system lands on the next one that holds it, with the cores it takes on any board', () => {
    const spec = smallChip({ boards: SYSTEMS });
    const { doc } = buildMap(ir, 'x', NO_SHA, spec, { synapses: 'discrete', partitioner: 'blocks' });
    expect(blocks.chips).toBeGreaterThan(8); // more than A, B and C hold: chips on a second row of D
    expect(doc.chip.board).toEqual(smallestHolding(SYSTEMS, blocks.cores, spec));
    expect(doc.chip.board.name).toBe('D');
    expect(doc.chip.boards).toEqual(SYSTEMS);
    // A larger board adds no cores and no chips.
    expect([doc.totals.cores, doc.totals.chips]).toEqual([blocks.cores, blocks.chips]);
    // The cores lie on the chosen board's mesh: chip k is at column k mod chips_x, row k div chips_x.
    for (const c of doc.cores) {
      expect(Math.floor(c.tile[0] / 2), `core ${c.core}`).toBe(c.chip % doc.chip.board.chips_x);
      expect(c.tile[1], `core ${c.core}`).toBe(Math.floor(c.chip / doc.chip.board.chips_x));
    }
  });

  it('over the auto layouts, the smallest system first: population synapses on a smaller system beat discrete ones on a larger', () => {
    const spec = smallChip({ boards: SYSTEMS });
    const onDiscrete = smallestHolding(SYSTEMS, discrete.cores, spec)!;
    const onPopulation = smallestHolding(SYSTEMS, population.cores, spec)!;
    // The fixture and the systems are chosen so that the two layouts need different systems.
    expect([onDiscrete.name, onPopulation.name]).toEqual(['C', 'B']);
    const { doc, notes } = buildMap(ir, 'x', NO_SHA, spec);
    expect(doc.options.synapses).toBe('population');
    expect(doc.chip.board).toEqual(B);
    expect(doc.totals.cores).toBe(population.cores);
    // Discrete synapses (greedy: mapped to the end) wait on C while population ones fit B.
    expect(doc.discrete).toEqual({ cores: discrete.cores, chips: discrete.chips });
    expect(doc.layers.every((l) => typeof l.cores_discrete === 'number')).toBe(true);
    expect(notes[0]).toBe(`population synapses: with discrete ones, the mapping takes ${discrete.cores} cores on ${discrete.chips} chips, which needs C (4 x 2 chips); B (3 x 2 chips) holds this one`);
    // On a single board that holds both, the first layout that fits is kept, as before.
    expect(buildMap(ir, 'x', NO_SHA, smallChip({ board: C })).doc.options.synapses).toBe('discrete');
    // A network that fits the first system takes it, whatever the layouts.
    expect(buildMap(compileFixture('digits_mlp'), 'x', NO_SHA, spec).doc.chip.board).toEqual(A);
  });

  it('block layouts stop as soon as they cannot fit the system tried: what was kept, and what was only bounded', () => {
    const spec = smallChip({ boards: SYSTEMS });
    const { doc, notes } = buildMap(ir, 'x', NO_SHA, spec, { partitioner: 'blocks' });
    expect([doc.options.synapses, doc.chip.board.name, doc.totals.cores]).toEqual(['population', 'B', population.cores]);
    // Discrete blocks were only found to need more than B: a lower bound, above B's 6 chips and at most what they take.
    const bound = /^the mapping needs at least (\d+) chips, more than B \(3 x 2 chips\) holds \(not counted on larger systems\)$/.exec(doc.discrete?.refused ?? '');
    expect(bound, doc.discrete?.refused).not.toBeNull();
    expect(Number(bound![1])).toBeGreaterThan(6);
    expect(Number(bound![1])).toBeLessThanOrEqual(blocks.chips);
    expect(notes[0]).toBe(`population synapses: with discrete ones, the mapping needs at least ${bound![1]} chips, more than B (3 x 2 chips) holds`);
    // With nothing between one chip and D, discrete blocks are kept on D: the map they give when asked for alone.
    const gap = smallChip({ boards: [{ name: 'Solo', chips_x: 1, chips_y: 1, source: 'test' }, D] });
    const kept = buildMap(ir, 'x', NO_SHA, gap, { partitioner: 'blocks' });
    const direct = buildMap(ir, 'x', NO_SHA, gap, { partitioner: 'blocks', synapses: 'discrete' });
    expect(kept.doc.chip.board).toEqual(D);
    expect(kept.doc).toEqual(direct.doc);
  });

  it('a mapping larger than the largest system is refused with the need, the largest system and the excess', () => {
    const small: Board = { name: 'Tiny', chips_x: 1, chips_y: 1, source: 'test' };
    const pair: Board = { name: 'Pair', chips_x: 2, chips_y: 1, source: 'test' };
    const spec = smallChip({ boards: [small, pair] });
    // The auto layouts' refusal names the layout counted to the end (population output axons): its chips, from its own cores.
    const last = buildMap(ir, 'x', NO_SHA, smallChip({ board: HUGE }), { synapses: 'population', outputAxons: 'population' }).doc.totals;
    expect(() => buildMap(ir, 'x', NO_SHA, spec)).toThrow(
      `the mapping needs ${last.chips} chips (${last.cores} cores) but the largest loihi1 system, Pair (2 x 1 chips), holds 2 (by ${last.chips - 2}); --board CxR maps onto a larger board`,
    );
  });

  it('snnc map: the smallest system by default, --board forces one, an old spec with one board maps onto it; the virtual chip runs the map', async () => {
    const irFile = saveIr(ir, dir, 'fmnist');
    const systems = join(dir, 'systems.json');
    writeFileSync(systems, JSON.stringify(smallChip({ boards: SYSTEMS })));
    const old = join(dir, 'old.json');
    writeFileSync(old, JSON.stringify(smallChip({ board: { chips_x: 3, chips_y: 3, source: 'test: an old spec' } })));
    const out = join(dir, 'fmnist.map.json');

    const r = snnc('map', irFile, '--chip', systems, '-o', out, '--synapses', 'discrete', '--partitioner', 'blocks');
    expect(r.status).toBe(0);
    const board = smallestHolding(SYSTEMS, blocks.cores, smallChip({}))!;
    expect(r.stdout).toContain(`board: ${board.name} (${board.chips_x} x ${board.chips_y} chips), the smallest loihi1 system that holds ${blocks.chips} chips (of A: 4, B: 6, C: 8, D: 16 chips)`);
    // The map embeds the chosen board; readMap checks every core's chip and tile against it; the chip gives the simulator's spikes.
    const loaded = readMap(out);
    expect(loaded.doc.chip.board).toEqual(board);
    const input = samples('fmnist_test_x.npy', 'fmnist_test_y.npy', 1).input;
    const chip = runChip(configureFromMap(loaded.doc, loaded.ir), input, { T: 8, recordSpikes: true });
    const sim = await simulatePlan(buildMap(ir, 'x', NO_SHA, smallChip({ board: HUGE }), { synapses: 'discrete', partitioner: 'blocks' }).plan, input, { T: 8, recordSpikes: true, workers: 1 });
    expect(chip.spikes!.map((s) => [...s.indices])).toEqual(sim.spikes!.map((s) => [...s.indices]));
    expect(chip.report.counts.chip_hop).toBeGreaterThan(0);

    const forced = snnc('map', irFile, '--chip', systems, '--board', '5x2', '-o', out, '--synapses', 'discrete', '--partitioner', 'blocks', '--json');
    const json = JSON.parse(forced.stdout);
    expect(json.board).toMatchObject({ chips_x: 5, chips_y: 2 });
    expect(json.board.source).toContain("the spec's systems: A: 4, B: 6, C: 8, D: 16 chips");
    expect(readMap(out).doc.chip.board).toEqual(json.board);

    const fromOld = snnc('map', irFile, '--chip', old, '-o', out, '--synapses', 'discrete', '--partitioner', 'blocks');
    expect(fromOld.stdout).toContain(`board: 3 x 3 chips (the spec's only board), ${blocks.chips} chips in use`);
    expect(readMap(out).doc.chip.board).toEqual({ chips_x: 3, chips_y: 3, source: 'test: an old spec' });

    const tooSmall = join(dir, 'too-small.json');
    writeFileSync(tooSmall, JSON.stringify(smallChip({ boards: [{ name: 'Solo', chips_x: 1, chips_y: 1, source: 'test' }] })));
    const refused = snnc('map', irFile, '--chip', tooSmall, '-o', out);
    expect(refused.status).toBe(2);
    // One error line, the last of stderr (progress lines may come before it): the IR, the only system and the excess.
    const lines = refused.stderr.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('snnc: '))).toEqual([lines[lines.length - 1]]);
    const m = /^snnc: \S*fmnist\.snn\.json: the mapping needs (\d+) chips \(\d+ cores\) but the only loihi1 system, Solo \(1 x 1 chips\), holds 1 \(by (\d+)\); --board CxR maps onto a larger board$/.exec(lines[lines.length - 1]);
    expect(m, lines[lines.length - 1]).not.toBeNull();
    expect(Number(m![2])).toBe(Number(m![1]) - 1);
    expect(refused.stderr).not.toMatch(/\bat .*:\d+:\d+/);
  });
});
