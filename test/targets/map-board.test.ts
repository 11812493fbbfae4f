/**
 * Boards: `snnc map --board CxR` maps onto a board of C × R chips (the map embeds it), a mapping that needs
 * more chips is refused naming the excess and --board, and the report gives chips, tiles, cores, the links that
 * carry traffic (and those between chips) and the chip hops — checked against routes walked link by link. The
 * near-neighbour traffic placer (thousands of cores) puts each core on its own slot and beats sequential.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ChipSpec, coresPerChip, loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import { type CoreEdge, placeNear, PLACERS, spikeHops } from '../../targets/map/place.ts';
import { slotPosition, xyRoute } from '../../targets/map/route.ts';
import { tableOf } from '../../runtime/snn/routes.ts';
import { compileFixture, root, saveIr, tempFolder } from './helpers.ts';

const dir = tempFolder();
const NO_SHA = '0'.repeat(64);

function snnc(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/snnc.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, SNNC_DEBUG: '', NO_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** loihi1 with 2 tiles of 2 cores per chip, so that fmnist_cnn_qcfs spans many chips. */
function tinyChips(chips_x: number, chips_y: number): ChipSpec {
  const spec = loadChipSpec('loihi1');
  return { ...spec, mesh: { ...spec.mesh, tiles_x: 2, tiles_y: 1, cores_per_tile: 2 }, board: { chips_x, chips_y, source: 'test' } };
}

describe('boards, links and hops', () => {
  const ir = compileFixture('fmnist_cnn_qcfs');

  it('refuses a mapping larger than the board, with the count, the excess and --board', () => {
    expect(() => buildMap(ir, 'x', NO_SHA, tinyChips(2, 2))).toThrow(/the mapping needs \d+ chips \(\d+ cores\) but a loihi1 board holds 4 \(by \d+\); --board CxR maps onto a larger board \(this one is 2 x 2\)/);
  });

  it('counts the links that carry traffic, those between chips and the chip hops, as the XY routes walk them', () => {
    const { doc, plan } = buildMap(ir, 'x', NO_SHA, tinyChips(4, 4));
    expect(doc.totals.chips).toBeGreaterThan(4);
    // Recount from the slots: every core pair with traffic, its XY route link by link.
    const used = new Set<number>();
    const between = new Set<number>();
    let chipHops = 0;
    const slot = (c: number) => slotPosition(doc.chip, doc.cores[c].slot);
    const traffic = new Map<string, number>();
    // Messages per core pair, from the plan's tables: one per (source neuron, stream, destination slice) on another core.
    const layerOffset = new Map<string, number>([...plan.pops.map((p) => [p.id, p.offset] as [string, number]), [plan.readout.id, plan.readout.offset]]);
    const sliceOf = new Int32Array(plan.currentSize).fill(-1);
    doc.slices.forEach((s, k) => {
      for (const [a, b] of s.ranges) for (let t = a; t < b; t++) sliceOf[layerOffset.get(s.layer)! + t] = k;
    });
    for (const stream of plan.streams) {
      const { rowPtr, col } = tableOf(stream.fanout);
      const offset = plan.pops[stream.pop].offset;
      for (let i = 0; i + 1 < rowPtr.length; i++) {
        const from = doc.slices[sliceOf[offset + i]].core;
        const slices = new Set<number>();
        for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) slices.add(sliceOf[col[j]]);
        for (const d of slices) {
          const to = doc.slices[d].core;
          if (to !== from) traffic.set(`${from},${to}`, (traffic.get(`${from},${to}`) ?? 0) + 1);
        }
      }
    }
    for (const [key, messages] of traffic) {
      const [a, b] = key.split(',').map(Number);
      const r = xyRoute(doc.chip, slot(a), slot(b));
      chipHops += messages * r.chip;
      for (const l of r.links) used.add(l);
      if (r.chip > 0) for (const l of r.links) if (crosses(doc.chip, l)) between.add(l);
    }
    expect(doc.totals.links).toEqual({ used: used.size, inter_chip: between.size });
    expect(doc.totals.links!.inter_chip).toBeGreaterThan(0);
    expect(doc.traffic.chip_hops).toBeCloseTo(chipHops, 6);
  });

  it('snnc map --board CxR maps onto that board and the map embeds it; a malformed board is a one-line error', () => {
    const irFile = saveIr(ir, dir, 'fmnist');
    const out = join(dir, 'fmnist.map.json');
    const r = snnc('map', irFile, '--chip', 'loihi1', '--board', '3x2', '-o', out);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/board 3 x 2 chips \(1 in use, \d+ tiles, \d+ cores\): \d+ mesh links carry traffic, 0 of them between chips/);
    expect(JSON.parse(readFileSync(out, 'utf8')).chip.board).toMatchObject({ chips_x: 3, chips_y: 2 });
    const bad = snnc('map', irFile, '--chip', 'loihi1', '--board', '3by2', '-o', out);
    expect(bad.stderr).toMatch(/^snnc: [^\n]*--board 3by2: expected columns x rows of chips, e.g. --board 16x8\n$/);
    expect(bad.status).toBe(2);
  });

  it('the near-neighbour placer: every core on its own slot of the chips in use, fewer spike-hops than sequential', () => {
    const spec = loadChipSpec('loihi1');
    const cores = 600;
    // Traffic along a chain of cores plus a few long links, as layer-to-layer traffic is.
    const edges: CoreEdge[] = [];
    for (let c = 0; c + 1 < cores; c++) edges.push({ from: c, to: c + 1, messages: 10 + (c % 7) });
    for (let c = 0; c + 97 < cores; c += 13) edges.push({ from: c, to: c + 97, messages: 3 });
    const slots = Math.ceil(cores / coresPerChip(spec)) * coresPerChip(spec);
    const placed = placeNear(cores, slots, edges, spec);
    expect(new Set(placed).size).toBe(cores);
    expect(Math.max(...placed)).toBeLessThan(slots);
    const sequential = PLACERS.sequential({ cores, edges, spec });
    expect(spikeHops(spec, placed, edges)).toBeLessThan(spikeHops(spec, sequential, edges));
  });
});

/** Whether link l joins tiles of two different chips. */
function crosses(spec: ChipSpec, l: number): boolean {
  const width = spec.board!.chips_x * spec.mesh.tiles_x;
  const tile = Math.floor(l / 4);
  const x = tile % width;
  const y = Math.floor(tile / width);
  const dir = l % 4;
  const [x2, y2] = dir === 0 ? [x + 1, y] : dir === 1 ? [x - 1, y] : dir === 2 ? [x, y + 1] : [x, y - 1];
  return Math.floor(x / spec.mesh.tiles_x) !== Math.floor(x2 / spec.mesh.tiles_x) || Math.floor(y / spec.mesh.tiles_y) !== Math.floor(y2 / spec.mesh.tiles_y);
}
