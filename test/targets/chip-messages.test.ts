/**
 * The chip's message counting shares work (targets/chip/messages.ts): runs of equal slice kept once per
 * distinct list, a conv route's messages copied between source elements of one pattern (and, for channels
 * without zero weights, between channels of a group), routes merged when their slices interleave, lists
 * counted with how many elements send them. Every element's messages must still be what the composed
 * synapse table gives (tableOf, brute force), whatever order the elements come in and however small the
 * copy budget.
 */
import { describe, expect, it } from 'vitest';
import { type Route, tableOf } from '../../runtime/snn/routes.ts';
import { configureFromMap, type ChipConfig } from '../../targets/chip/simulate.ts';
import { countMessageLists, messageCounter, sharedRuns } from '../../targets/chip/messages.ts';
import { type ChipSpec, loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

/** Conv weights [cout, cinPerGroup, kh, kw] with every weight from input channel `none` zero, and every fifth from `sparse`. */
function withZeros(w: Float32Array, coutPerGroup: number, cinPerGroup: number, taps: number, none: number, sparse: number): Float32Array {
  return w.map((x, k) => {
    const o = Math.floor(k / (cinPerGroup * taps));
    const c = Math.floor(o / coutPerGroup) * cinPerGroup + (Math.floor(k / taps) % cinPerGroup);
    if (c === none) return 0;
    return c === sparse && k % 5 === 0 ? 0 : x;
  });
}

/** A block map on small cores: spatial blocks repeat, some input channels have zero weights, routes of one stream meet in a layer. */
function blockMap(): ChipConfig {
  const b = new IrBuilder([3, 12, 12]);
  const A = b.if(b.conv2d('input', randomArray(31, 8 * 3 * 9, -0.5, 1), [8, 3, 3, 3], { pads: [1, 1, 1, 1] }), 0.6, { vInit: 0.5, id: 'A' });
  // Input channel 1 of B reaches nothing; channel 6 (second group) has some zero weights; the others have none.
  const grouped = withZeros(randomArray(32, 10 * 4 * 9, 0.1, 1), 5, 4, 9, 1, 6);
  const B = b.if(b.conv2d(A, grouped, [10, 4, 3, 3], { pads: [1, 1, 1, 1], groups: 2 }), 0.7, { vInit: 0.5, id: 'B' });
  // C = B's two convs side by side (routes into one layer, whose slices may hold channels of both) plus a conv of A.
  const both = b.concat([b.conv2d(B, randomArray(33, 4 * 10 * 9, -0.5, 1), [4, 10, 3, 3], { pads: [1, 1, 1, 1] }), b.conv2d(B, randomArray(34, 6 * 10, -0.5, 1), [6, 10, 1, 1])], 0);
  const C = b.if(b.add([both, b.conv2d(A, randomArray(35, 10 * 8, 0.1, 1), [10, 8, 1, 1])]), 0.6, { vInit: 0.5, id: 'C' });
  const ir = b.build(b.dense(b.reshape(C, [1440]), randomArray(36, 5 * 1440, -0.3, 1), [5, 1440]));
  const loihi = loadChipSpec('loihi1');
  const limits = structuredClone(loihi.limits);
  limits.neurons.value = 20;
  const small: ChipSpec = { ...loihi, limits };
  return configureFromMap(buildMap(ir, 'x', '0'.repeat(64), small, { partitioner: 'blocks' }).doc, ir);
}

/** Slices a route's targets lie in. */
function slicesOf(r: Route, sliceOf: Int32Array): Set<number> {
  const targets = r.kind === 'table' ? Array.from(r.csr.col) : Array.from({ length: r.kind === 'conv' ? r.twin.cout * r.twin.outPlane : r.targets }, (_, k) => (r.kind === 'conv' ? r.twin.offset : r.offset) + k);
  return new Set(targets.map((t) => sliceOf[t]));
}

describe('message counting with shared runs and copies', () => {
  const cfg = blockMap();

  it('runs are kept once per distinct list, and every line reads its own runs', () => {
    // Brute force: each output position's runs of equal slice over the channels, listed apart.
    let shared = 0;
    for (const st of cfg.plan.streams) {
      for (const r of st.fanout.routes) {
        if (r.kind !== 'conv') continue;
        const { outPlane, cout, offset } = r.twin;
        const runs = sharedRuns(outPlane, cout, offset, 1, outPlane, cfg.sliceOf);
        const distinct = new Set<string>();
        let all = 0;
        for (let p = 0; p < outPlane; p++) {
          const expected: Array<[number, number]> = [];
          for (let o = 0; o < cout; o++) {
            const d = cfg.sliceOf[offset + o * outPlane + p];
            if (expected.length === 0 || expected[expected.length - 1][1] !== d) expected.push([o, d]);
          }
          const list = runs.listOf[p];
          const got = Array.from({ length: runs.ptr[list + 1] - runs.ptr[list] }, (_, k): [number, number] => [runs.from[runs.ptr[list] + k], runs.slice[runs.ptr[list] + k]]);
          expect(got, `${st.id} position ${p}`).toEqual(expected);
          distinct.add(JSON.stringify(expected));
          all += expected.length;
        }
        expect(runs.ptr.length - 1).toBe(distinct.size);
        expect(runs.runs).toBe(all);
        if (distinct.size < outPlane) shared++;
      }
    }
    expect(shared).toBeGreaterThanOrEqual(2);
  });

  it('gives every element the table\'s messages, in index order, in shuffled order, with a tiny copy budget, and for slices that mix layers', () => {
    // The map's slices, and made-up ones: each slice a scatter of neurons from every layer, so a stream's
    // routes reach common slices out of order (merged) and positions have many short runs.
    const S = cfg.sliceLayer.length;
    const scattered = Int32Array.from(cfg.sliceOf, (_, t) => (t * 7 + (t >> 4)) % 23);
    let merged = 0;
    let checked = 0;
    for (const [sliceOf, slices] of [
      [cfg.sliceOf, S],
      [scattered, 23],
    ] as Array<[Int32Array, number]>) {
      cfg.plan.streams.forEach((st, si) => {
        const sets = st.fanout.routes.map((r) => slicesOf(r, sliceOf));
        if (sets.some((a, k) => sets.some((b, l) => l > k && [...a].some((d) => b.has(d))))) merged++;
        const { rowPtr, col } = tableOf(st.fanout);
        const expected = (i: number) => {
          const bySlice = new Map<number, number>();
          for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) bySlice.set(sliceOf[col[j]], (bySlice.get(sliceOf[col[j]]) ?? 0) + 1);
          return [...bySlice].sort((x, y) => x[0] - y[0]);
        };
        const rows = st.fanout.rows;
        // A fixed shuffle: elements of one channel and pattern far apart, channels interleaved.
        const shuffled = Array.from({ length: rows }, (_, i) => (i * 7919 + si) % rows);
        expect(new Set(shuffled).size).toBe(rows);
        const ascending = Array.from({ length: rows }, (_, i) => i);
        const orders: Array<[number[], number | undefined]> = [
          [ascending, undefined],
          [shuffled, undefined],
          [ascending, 3],
        ];
        for (const [order, copied] of orders) {
          const messages = messageCounter(st.fanout, sliceOf, slices, copied);
          for (const i of order) {
            const n = messages.of(i);
            const got = Array.from({ length: n }, (_, g) => [messages.slice[g], messages.synapses[g]]);
            expect(got, `stream ${st.id} element ${i} (copies ${copied ?? 'default'})`).toEqual(expected(i));
            checked += n;
          }
        }
      });
    }
    expect(merged).toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(10000);
  });

  it('totals over a fan-out\'s elements from counted lists equal the table\'s, message by message (any copy budget, slices apart or mixed)', () => {
    const scattered = Int32Array.from(cfg.sliceOf, (_, t) => (t * 7 + (t >> 4)) % 23);
    let lists = 0;
    let messages = 0;
    for (const [sliceOf, slices] of [
      [cfg.sliceOf, cfg.sliceLayer.length],
      [scattered, 23],
    ] as Array<[Int32Array, number]>) {
      for (const st of cfg.plan.streams) {
        // Brute force: per element its messages, per slice the messages in and a sum not linear in the synapses (as synapse words are).
        const { rowPtr, col } = tableOf(st.fanout);
        const perElement = new Int32Array(st.fanout.rows);
        const into = new Float64Array(slices);
        const squares = new Float64Array(slices);
        for (let i = 0; i < st.fanout.rows; i++) {
          const bySlice = new Map<number, number>();
          for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) bySlice.set(sliceOf[col[j]], (bySlice.get(sliceOf[col[j]]) ?? 0) + 1);
          perElement[i] = bySlice.size;
          for (const [d, k] of bySlice) {
            into[d]++;
            squares[d] += k * k;
          }
        }
        for (const copied of [undefined, 3]) {
          const gotElement = new Int32Array(st.fanout.rows);
          const gotInto = new Float64Array(slices);
          const gotSquares = new Float64Array(slices);
          countMessageLists(
            st.fanout,
            sliceOf,
            slices,
            (i, n) => (gotElement[i] += n),
            (slice, synapses, n, times) => {
              lists++;
              for (let g = 0; g < n; g++) {
                if (g > 0) expect(slice[g]).toBeGreaterThan(slice[g - 1]);
                gotInto[slice[g]] += times;
                gotSquares[slice[g]] += times * synapses[g] * synapses[g];
              }
            },
            copied,
          );
          expect(gotElement, `${st.id} per element`).toEqual(perElement);
          expect(gotInto, `${st.id} messages into each slice`).toEqual(into);
          expect(gotSquares, `${st.id} squared synapses into each slice`).toEqual(squares);
        }
        messages += into.reduce((a, b) => a + b, 0);
      }
    }
    // Lists are shared: far fewer visits than messages.
    expect(messages).toBeGreaterThan(10000);
    expect(lists).toBeLessThan(messages / 3);
  });
});
