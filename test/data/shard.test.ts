/**
 * Sharded runs: `--shard i/n -o part.json` on simulate, ann, chip and report, then `snnc merge`, must give the bytes one
 * unsharded run writes with `-o` (issue 17). With RSM the masks are drawn per (seed, global sample index,
 * step): a shard that keyed them by its local index would draw other masks and the merge would differ.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../runtime/npy.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-shard-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fx = (name: string) => join('test', 'fixtures', name);
const at = (name: string) => join(tmp, name);

function ok(r: ReturnType<typeof snnc>) {
  expect(r.stderr).not.toContain('snnc:');
  expect(r.status).toBe(0);
  return r;
}

/** Runs shards 0…n−1 (in a scrambled order), merges them listed backwards, returns the merged bytes. */
function shardAndMerge(command: string, model: string, args: string[], n: number, name: string, extra: (i: number) => string[] = () => []): string {
  const parts = Array.from({ length: n }, (_, i) => at(`${name}-part-${i}.json`));
  for (const i of [...Array(n).keys()].reverse()) ok(snnc(command, model, ...args, '--shard', `${i}/${n}`, '-o', parts[i]!, ...extra(i)));
  ok(snnc('merge', ...[...parts].reverse(), '-o', at(`${name}-merged.json`)));
  return readFileSync(at(`${name}-merged.json`), 'utf8');
}

describe('simulate --shard i/n + merge = one run, byte for byte', () => {
  const qcfs = at('qcfs.snn.json');
  const mst = at('mst_rsm.snn.json');
  beforeAll(() => {
    ok(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', qcfs, '--input-divisor', '255'));
    ok(snnc('compile', fx('digits_mst_rsm.onnx'), '-o', mst, '--rsm', 'blocks.*/attn/MatMul=0.75', '--rsm', 'blocks.*/attn/Softmax=0.75'));
  }, 60_000);

  it('without masks (fmnist QCFS CNN, 3 shards, one of them on 2 workers)', () => {
    const args = ['--input', fx('fmnist_test_x.npy'), '--labels', fx('fmnist_test_y.npy'), '-T', '8', '--limit', '101'];
    ok(snnc('simulate', qcfs, ...args, '-o', at('qcfs-one.json'), '--logits', at('qcfs-logits.npy')));
    const one = readFileSync(at('qcfs-one.json'), 'utf8');
    const merged = shardAndMerge('simulate', qcfs, args, 3, 'qcfs', (i) => [...(i === 1 ? ['--workers', '2'] : []), '--logits', at(`qcfs-logits-${i}.npy`)]);
    expect(merged).toBe(one);
    // Each shard writes its own rows of --logits: together, the one run's.
    const rows = [0, 1, 2].flatMap((i) => Array.from(readNpy(at(`qcfs-logits-${i}.npy`)).data as Float32Array));
    expect(rows).toEqual(Array.from(readNpy(at('qcfs-logits.npy')).data as Float32Array));
    expect(rows.length).toBe(101 * 10);
    const doc = JSON.parse(one);
    expect(doc.samples).toBe(101);
    expect(doc.seconds).toBeUndefined();
    // The merged document is the --json one without its timings and per-sample file names.
    const json = JSON.parse(ok(snnc('simulate', qcfs, ...args, '--json')).stdout);
    for (const k of ['seconds', 'images_per_second', 'sops_per_second', 'cpu_seconds', 'sops_per_cpu_second', 'logits', 'predictions']) {
      expect(k in json).toBe(true);
      delete json[k];
    }
    expect(doc).toEqual(json);
  }, 120_000);

  it('with RSM (digits_mst_rsm, masks on q, k and the scores), for 3 and for 1 shard', () => {
    const args = ['--input', fx('digits8x8_test_x.npy'), '--labels', fx('digits8x8_test_y.npy'), '-T', '16', '--limit', '60', '--seed', '7'];
    ok(snnc('simulate', mst, ...args, '-o', at('mst-one.json')));
    const one = readFileSync(at('mst-one.json'), 'utf8');
    const doc = JSON.parse(one);
    // The masks really drop spikes, so a wrongly keyed draw would change the counts.
    expect(doc.masks.length).toBeGreaterThan(0);
    expect(doc.masks.every((m: { spikes_dropped: number }) => m.spikes_dropped > 0)).toBe(true);
    expect(shardAndMerge('simulate', mst, args, 3, 'mst3')).toBe(one);
    expect(shardAndMerge('simulate', mst, args, 1, 'mst1')).toBe(one);
    // Another seed draws other masks: a different result, and its parts do not merge with these.
    ok(snnc('simulate', mst, ...args.slice(0, -1), '8', '--shard', '2/3', '-o', at('mst-seed8.json')));
    expectUserError(snnc('merge', at('mst3-part-0.json'), at('mst3-part-1.json'), at('mst-seed8.json'), '-o', at('bad.json')), 'mst-seed8.json', 'seed is 8 here, 7 there');
  }, 180_000);
});

describe('ann --shard i/n + merge = one run', () => {
  it('fmnist QCFS CNN, 3 shards', () => {
    const args = ['--input', fx('fmnist_test_x.npy'), '--labels', fx('fmnist_test_y.npy'), '--input-divisor', '255', '--limit', '200', '--batch-size', '32'];
    ok(snnc('ann', fx('fmnist_cnn_qcfs.onnx'), ...args, '-o', at('ann-one.json')));
    const one = readFileSync(at('ann-one.json'), 'utf8');
    expect(shardAndMerge('ann', fx('fmnist_cnn_qcfs.onnx'), args, 3, 'ann')).toBe(one);
    const doc = JSON.parse(one);
    expect(doc.samples).toBe(200);
    expect(doc.correct).toBeGreaterThan(150);
  }, 120_000);
});

describe('report --shard i/n + merge = the one-run HTML page, byte for byte', () => {
  it('fmnist QCFS CNN with a map (shard 0 runs the virtual chip)', () => {
    const qcfs = at('qcfs.snn.json');
    ok(snnc('map', qcfs, '--chip', 'loihi1', '-o', at('qcfs.map.json')));
    const args = ['--input', fx('fmnist_test_x.npy'), '--labels', fx('fmnist_test_y.npy'), '-T', '8', '--limit', '61', '--chip-limit', '25', '--map', at('qcfs.map.json')];
    ok(snnc('report', qcfs, ...args, '-o', at('report-one.html')));
    const one = readFileSync(at('report-one.html'), 'utf8');
    expect(one).toContain('<html');
    expect(shardAndMerge('report', qcfs, args, 3, 'report', () => [])).toBe(one);
  }, 180_000);

  it('digits_mst_rsm: SNN and SNN with masks', () => {
    const mst = at('mst_rsm.snn.json');
    const args = ['--input', fx('digits8x8_test_x.npy'), '--labels', fx('digits8x8_test_y.npy'), '-T', '8', '--limit', '40', '--seed', '3'];
    ok(snnc('report', mst, ...args, '-o', at('mst-report-one.html'), '--json'));
    const one = readFileSync(at('mst-report-one.html'), 'utf8');
    const json = JSON.parse(ok(snnc('report', mst, ...args, '-o', at('mst-report-again.html'), '--json')).stdout);
    expect(json.snn_rsm).not.toBeNull();
    expect(shardAndMerge('report', mst, args, 3, 'mst-report')).toBe(one);
  }, 180_000);
});

describe('chip --shard i/n + merge = one chip run, byte for byte', () => {
  // The chip's latencies and route energies are not integers (3.5 ns, 8.4 pJ, …): they are summed per sample
  // and then in sample order, so the parts' per-sample subtotals merge into one run's bits.
  const qcfs = at('chip-qcfs.snn.json');
  const rsm = at('chip-rsm.snn.json');
  const mst = at('chip-mst.snn.json');
  const fm = ['--input', fx('fmnist_test_x.npy'), '--labels', fx('fmnist_test_y.npy'), '-T', '8', '--limit', '31'];
  const digits = ['--input', fx('digits8x8_test_x.npy'), '--labels', fx('digits8x8_test_y.npy'), '-T', '8', '--limit', '12', '--seed', '7'];
  beforeAll(() => {
    ok(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', qcfs, '--input-divisor', '255'));
    ok(snnc('map', qcfs, '--chip', 'loihi1', '-o', at('chip-qcfs.map.json')));
    ok(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', rsm, '--input-divisor', '255', '--rsm', 'conv2=0.5'));
    // The SANA-FE preset's hop energies are fractional: route energies are summed in spike order.
    ok(snnc('map', rsm, '--chip', 'loihi1-sanafe', '-o', at('chip-rsm.map.json')));
    ok(snnc('compile', fx('digits_mst_rsm.onnx'), '-o', mst, '--rsm', 'blocks.*/attn/MatMul=0.75'));
    ok(snnc('map', mst, '--chip', 'loihi1', '-o', at('chip-mst.map.json')));
  }, 120_000);

  it('fmnist QCFS CNN on loihi1 without masks, for 3 shards and for 1; -o is --json without its wall time', () => {
    const map = at('chip-qcfs.map.json');
    ok(snnc('chip', map, ...fm, '-o', at('chip-one.json')));
    const one = readFileSync(at('chip-one.json'), 'utf8');
    expect(shardAndMerge('chip', map, fm, 3, 'chip3')).toBe(one);
    expect(shardAndMerge('chip', map, fm, 1, 'chip1')).toBe(one);
    const doc = JSON.parse(one);
    expect(doc.samples).toBe(31);
    expect(Number.isInteger(doc.latency.per_inference_ns * 31)).toBe(false);
    const json = JSON.parse(ok(snnc('chip', map, ...fm, '--json')).stdout);
    expect(typeof json.seconds).toBe('number');
    delete json.seconds;
    expect(doc).toEqual(json);
  }, 180_000);

  it('with RSM: the CNN on the SANA-FE preset and digits_mst_rsm (host nodes) on loihi1; masks keyed by the global sample index', () => {
    const cases: Array<[string, string[], string]> = [
      [at('chip-rsm.map.json'), [...fm, '--seed', '5'], 'chip-rsm'],
      [at('chip-mst.map.json'), digits, 'chip-mst'],
    ];
    for (const [map, args, name] of cases) {
      ok(snnc('chip', map, ...args, '-o', at(`${name}-one.json`)));
      const one = readFileSync(at(`${name}-one.json`), 'utf8');
      const doc = JSON.parse(one);
      // The masks really drop spikes: masks keyed by a shard's local index would change the counts.
      expect(doc.masks.length).toBeGreaterThan(0);
      expect(doc.masks.every((m: { spikes_dropped: number }) => m.spikes_dropped > 0)).toBe(true);
      expect(shardAndMerge('chip', map, args, 3, name), name).toBe(one);
    }
    expect(JSON.parse(readFileSync(at('chip-mst-one.json'), 'utf8')).host_nodes.latency_ns).toBeGreaterThan(0);
  }, 240_000);

  it('--workers n (threads, each with its own chip, merged as shards are) = one thread, byte for byte; also inside a shard', () => {
    // 3 uneven ranges on the CNN (3 threads on a 2-core machine warn, and still give the same bytes), 2 on the others.
    const cases: Array<[string, string[], string, string]> = [
      [at('chip-qcfs.map.json'), fm, 'threads-qcfs', '3'],
      [at('chip-rsm.map.json'), [...fm, '--seed', '5'], 'threads-rsm', '2'],
      [at('chip-mst.map.json'), digits, 'threads-mst', '2'],
    ];
    for (const [map, args, name, workers] of cases) {
      ok(snnc('chip', map, ...args, '--workers', '1', '-o', at(`${name}-1.json`)));
      expect(snnc('chip', map, ...args, '--workers', workers, '-o', at(`${name}-${workers}.json`)).status).toBe(0);
      expect(readFileSync(at(`${name}-${workers}.json`), 'utf8'), `${name}, ${workers} workers`).toBe(readFileSync(at(`${name}-1.json`), 'utf8'));
    }
    // A shard run on 2 threads writes the partial result of one thread: its merge is the one run.
    const map = at('chip-qcfs.map.json');
    const parts = ['0/2', '1/2'].map((shard, i) => {
      ok(snnc('chip', map, ...fm, '--shard', shard, '--workers', '2', '-o', at(`threads-part-${i}.json`)));
      return at(`threads-part-${i}.json`);
    });
    ok(snnc('merge', ...parts, '-o', at('threads-merged.json')));
    expect(readFileSync(at('threads-merged.json'), 'utf8')).toBe(readFileSync(at('threads-qcfs-1.json'), 'utf8'));
  }, 240_000);

  it('refuses parts of another map, a gap, an overlap, another command; --trace and no -o with --shard', () => {
    const map = at('chip-changing.map.json');
    const args = ['--input', fx('fmnist_test_x.npy'), '-T', '4', '--limit', '9'];
    const part = (name: string, shard: string) => {
      ok(snnc('chip', map, ...args, '--shard', shard, '-o', at(name)));
      return at(name);
    };
    ok(snnc('map', qcfs, '--chip', 'loihi1', '-o', map));
    const p0 = part('k0.json', '0/3');
    const p1 = part('k1.json', '1/3');
    expectUserError(snnc('merge', p0, p1, '-o', at('m.json')), 'k1.json', 'samples 6…8 of 9 are in no part');
    expectUserError(snnc('merge', p0, p0, p1, '-o', at('m.json')), 'k0.json', 'overlap');
    ok(snnc('simulate', qcfs, ...args, '--shard', '2/3', '-o', at('k2-simulate.json')));
    expectUserError(snnc('merge', p0, p1, at('k2-simulate.json'), '-o', at('m.json')), 'k2-simulate.json', "a part of 'snnc simulate'");
    // The same path mapped again for another chip: its parts do not merge with the old ones.
    ok(snnc('map', qcfs, '--chip', 'loihi1-sanafe', '-o', map));
    const p2 = part('k2.json', '2/3');
    expectUserError(snnc('merge', p0, p1, p2, '-o', at('m.json')), 'k2.json', 'does not belong with', 'map_sha256');
    ok(snnc('map', qcfs, '--chip', 'loihi1', '-o', map));
    ok(snnc('merge', p0, p1, part('k2.json', '2/3'), '-o', at('m.json')));
    ok(snnc('map', qcfs, '--chip', 'loihi1-sanafe', '-o', map));
    expectUserError(snnc('merge', p0, p1, at('k2.json'), '-o', at('m2.json')), 'chip-changing.map.json', 'is not the map the parts were run on');
    expectUserError(snnc('chip', map, ...args, '--shard', '0/2'), '-o part-0.json');
    expectUserError(snnc('chip', map, ...args, '--shard', '0/2', '-o', at('t.json'), '--json', '--trace'), '--trace with --shard');
  }, 180_000);
});

describe('parts that do not belong together, and bad --shard', () => {
  const qcfs = at('qcfs.snn.json');
  const args = ['--input', fx('fmnist_test_x.npy'), '-T', '4', '--limit', '30'];
  const part = (name: string, shard: string, ...extra: string[]) => {
    ok(snnc('simulate', qcfs, ...args, '--shard', shard, '-o', at(name), ...extra));
    return at(name);
  };

  it('a gap, an overlap, another T, another command, not a part', () => {
    const p0 = part('e0.json', '0/3');
    const p2 = part('e2.json', '2/3');
    expectUserError(snnc('merge', p0, p2, '-o', at('m.json')), 'e2.json', 'samples 10…19 are in no part');
    expectUserError(snnc('merge', p0, p0, '-o', at('m.json')), 'e0.json', 'overlap');
    expectUserError(snnc('merge', p0, part('e1.json', '1/3'), '-o', at('m.json')), 'e2.json'.replace('e2', 'e1'), 'samples 20…29 of 30 are in no part');
    const t8 = part('t8.json', '1/3', '-T', '8');
    expectUserError(snnc('merge', p0, t8, p2, '-o', at('m.json')), 't8.json', 'T is 8 here, 4 there');
    ok(snnc('ann', fx('fmnist_cnn_qcfs.onnx'), '--input', fx('fmnist_test_x.npy'), '--limit', '30', '--shard', '1/3', '-o', at('ann1.json')));
    expectUserError(snnc('merge', p0, at('ann1.json'), p2, '-o', at('m.json')), 'ann1.json', "a part of 'snnc ann'");
    writeFileSync(at('junk.json'), '{"hello": 1}');
    expectUserError(snnc('merge', at('junk.json'), '-o', at('m.json')), 'junk.json', 'not a partial result');
  }, 120_000);

  it('parts of another IR (same path, recompiled), and an IR changed after the parts were written', () => {
    const ir = at('changing.snn.json');
    const partArgs = (name: string) => ['simulate', ir, ...args, '--shard', name === 'c0.json' ? '0/2' : '1/2', '-o', at(name)];
    ok(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', ir, '--input-divisor', '255'));
    ok(snnc(...partArgs('c0.json')));
    ok(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', ir, '--input-divisor', '255', '--rsm', 'conv2=0.5'));
    ok(snnc(...partArgs('c1.json')));
    expectUserError(snnc('merge', at('c0.json'), at('c1.json'), '-o', at('m.json')), 'c1.json', 'does not belong with', 'ir_sha256');
    // Both parts of the current IR merge; once the IR changes again, the merge refuses it by name.
    ok(snnc('simulate', ir, ...args, '--shard', '0/2', '-o', at('c0.json')));
    ok(snnc('merge', at('c0.json'), at('c1.json'), '-o', at('m.json')));
    ok(snnc('compile', fx('fmnist_cnn_qcfs.onnx'), '-o', ir, '--input-divisor', '255'));
    expectUserError(snnc('merge', at('c0.json'), at('c1.json'), '-o', at('m2.json')), 'changing.snn.json', 'is not the IR the parts were simulated with');
  }, 120_000);

  it('--shard syntax, a shard without -o, an empty shard', () => {
    for (const bad of ['3/3', '1', 'a/b', '-1/2', '0/0']) expectUserError(snnc('simulate', qcfs, ...args, '--shard', bad, '-o', at('x.json')), `--shard ${bad}`);
    expectUserError(snnc('simulate', qcfs, ...args, '--shard', '0/2'), '-o part-0.json');
    expectUserError(snnc('simulate', qcfs, ...args, '--shard', '40/50', '-o', at('x.json')), 'fmnist_test_x.npy', 'this shard empty');
  }, 60_000);
});
