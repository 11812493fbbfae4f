/**
 * The simulator's WebAssembly kernels (runtime/snn/wasm/kernels.wat) against plain JavaScript loops written
 * from their specification, bit for bit: the neuron update (ranges that exercise its 4-, 2- and 1-neuron paths, IF and LIF,
 * the chip's per-core runs of it,
 * subtract and zero reset, currents of both signs and exact zeros), the conv delivery over channel counts
 * that exercise its 8-wide, 2-wide and scalar paths, the dense delivery, the offset table delivery, the SOP
 * sum, the remap, the analog input through a conv twin, and the target-stationary conv delivery (gatherConv).
 */
import { describe, expect, it } from 'vitest';
import type { Conv2dNode, IrTensor } from '../../compiler/ir/types.ts';
import { type ConvTable, convTable } from '../../runtime/snn/conv-table.ts';
import { gatherOf, gatherTables } from '../../runtime/snn/engine.ts';
import { addValues, type ConvRoute, fanoutOf } from '../../runtime/snn/routes.ts';
import { instantiateKernels, MemoryLayout, writeEntries } from '../../runtime/snn/wasm/kernels.ts';
import { randomArray } from '../helpers/ir-builder.ts';

const bits = (a: Float64Array) => Array.from(new BigUint64Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));

/**
 * The reference neuron update, neuron by neuron (engine.ts before the kernels): the currents and membranes after
 * it, the spiking neurons (i − from) and each neuron's outcome (spiked; no spike but a non-zero current; neither).
 */
function ruleByNeuron(from: number, end: number, a: Record<'cur' | 'base' | 'v' | 'theta' | 'leak', Float64Array>, subtract: number) {
  const [rc, rv] = [Float64Array.from(a.cur), Float64Array.from(a.v)];
  const list: number[] = [];
  const outcome: Array<'fired' | 'active' | 'inactive'> = [];
  for (let i = from; i < end; i++) {
    const c = rc[i];
    let x = a.leak[i] * rv[i] + c;
    rc[i] = a.base[i];
    if (x >= a.theta[i]) {
      x = subtract ? x - a.theta[i] : 0;
      list.push(i - from);
      outcome.push('fired');
    } else outcome.push(c !== 0 ? 'active' : 'inactive');
    rv[i] = x;
  }
  return { rc, rv, list, outcome };
}

describe('integrate', () => {
  for (const [from, end] of [[0, 1], [3, 4], [0, 6], [1, 8], [0, 64], [5, 106], [2, 2]]) {
    // unit = 1: the IF path that does not read the leaks (all 1 then).
    for (const [leakLo, subtract, unit] of [[1, 1, 0], [1, 1, 1], [1, 0, 1], [0.7, 1, 0], [0.8, 0, 0]]) {
      it(`neurons [${from}, ${end}), leak ≥ ${leakLo}${unit ? ' (unit)' : ''}, ${subtract ? 'subtract' : 'zero'} reset`, () => {
        const n = end + 3;
        const layout = new MemoryLayout();
        const at = { cur: layout.reserve(8 * n), base: layout.reserve(8 * n), v: layout.reserve(8 * n), theta: layout.reserve(8 * n), leak: layout.reserve(8 * n), list: layout.reserve(4 * n), out: layout.reserve(8) };
        const k = instantiateKernels(layout.size);
        const buf = k.memory.buffer;
        const view = (o: number) => new Float64Array(buf, o, n);
        const [cur, base, v, theta, leak] = [view(at.cur), view(at.base), view(at.v), view(at.theta), view(at.leak)];
        const c0 = randomArray(1 + from, n, -0.6, 1.2);
        for (let i = 0; i < n; i += 4) c0[i] = 0;
        cur.set(c0);
        base.set(randomArray(2 + end, n, -0.1, 0.3));
        v.set(randomArray(3, n, -0.5, 1));
        theta.set(randomArray(4, n, 0.2, 1));
        leak.set(randomArray(5, n, leakLo, 1));
        const { rc, rv, list, outcome } = ruleByNeuron(from, end, { cur, base, v, theta, leak }, subtract);
        const active = outcome.filter((o) => o === 'active').length;
        const ns = k.integrate(at.cur, at.base, at.v, at.theta, at.leak, unit, subtract, from, end, at.list, at.out, 0, 0, 1, 0, 1);
        expect(ns).toBe(list.length);
        expect(Array.from(new Int32Array(buf, at.list, ns))).toEqual(list);
        expect(new Float64Array(buf, at.out, 1)[0]).toBe(active);
        expect(bits(cur)).toEqual(bits(rc));
        expect(bits(v)).toEqual(bits(rv));
      });
    }
  }
});

describe('integrateCores', () => {
  // The chip's update: runs of neurons per core (lengths 1 to 9, cores revisited), each run through integrate's SIMD paths.
  for (const [leakLo, subtract, unit] of [[1, 1, 0], [1, 1, 1], [0.7, 1, 0], [0.8, 0, 0]]) {
    it(`per-core counts and spikes = the rule neuron by neuron, leak ≥ ${leakLo}${unit ? ' (unit)' : ''}, ${subtract ? 'subtract' : 'zero'} reset`, () => {
      const [from, end, cores] = [3, 140, 6];
      const n = end + 2;
      const layout = new MemoryLayout();
      const at = {
        cur: layout.reserve(8 * n), base: layout.reserve(8 * n), v: layout.reserve(8 * n), theta: layout.reserve(8 * n), leak: layout.reserve(8 * n),
        list: layout.reserve(4 * n), coreOf: layout.reserve(4 * n), act: layout.reserve(8 * cores), spk: layout.reserve(8 * cores),
      };
      const k = instantiateKernels(layout.size);
      const buf = k.memory.buffer;
      const view = (o: number) => new Float64Array(buf, o, n);
      const [cur, base, v, theta, leak] = [view(at.cur), view(at.base), view(at.v), view(at.theta), view(at.leak)];
      const c0 = randomArray(11, n, -0.6, 1.2);
      for (let i = 0; i < n; i += 5) c0[i] = 0;
      cur.set(c0);
      base.set(randomArray(12, n, -0.1, 0.3));
      v.set(randomArray(13, n, -0.5, 1));
      theta.set(randomArray(14, n, 0.2, 1));
      leak.set(randomArray(15, n, leakLo, 1));
      const coreOf = new Int32Array(buf, at.coreOf, n);
      const lengths = randomArray(16, n, 1, 10);
      for (let i = 0, r = 0; i < n; r++) for (let j = 0; j < Math.floor(lengths[r]) && i < n; j++) coreOf[i++] = (r * 5) % cores;
      const { rc, rv, list, outcome } = ruleByNeuron(from, end, { cur, base, v, theta, leak }, subtract);
      const [rAct, rSpk] = [new Float64Array(cores), new Float64Array(cores)];
      outcome.forEach((o, k) => {
        if (o === 'fired') rSpk[coreOf[from + k]]++;
        if (o !== 'inactive') rAct[coreOf[from + k]]++;
      });
      const ns = k.integrateCores(at.cur, at.base, at.v, at.theta, at.leak, from, end, at.list, at.coreOf, at.act, at.spk, subtract, unit);
      expect(ns).toBe(list.length);
      expect(Array.from(new Int32Array(buf, at.list, ns))).toEqual(list);
      expect(Array.from(new Float64Array(buf, at.act, cores))).toEqual(Array.from(rAct));
      expect(Array.from(new Float64Array(buf, at.spk, cores))).toEqual(Array.from(rSpk));
      expect(bits(cur)).toEqual(bits(rc));
      expect(bits(v)).toEqual(bits(rv));
    });
  }
});

/** A kernels' memory holding copies of `arrays` and zeroed `scratch` regions (bytes), with their byte offsets by name. */
function withArrays<A extends Record<string, Int32Array | Float64Array>, S extends Record<string, number>>(arrays: A, scratch: S) {
  const layout = new MemoryLayout();
  const at = {} as Record<keyof A | keyof S, number>;
  for (const [name, a] of Object.entries(arrays)) at[name as keyof A] = layout.reserve(a.byteLength);
  for (const [name, bytes] of Object.entries(scratch)) at[name as keyof S] = layout.reserve(bytes);
  const k = instantiateKernels(layout.size);
  for (const [name, a] of Object.entries(arrays)) {
    const view = a instanceof Int32Array ? new Int32Array(k.memory.buffer, at[name as keyof A], a.length) : new Float64Array(k.memory.buffer, at[name as keyof A], a.length);
    view.set(a);
  }
  return { k, at };
}

describe('deliverConv', () => {
  for (const cpg of [1, 3, 8, 13, 16, 34, 40]) {
    it(`${cpg} output channels per group`, () => {
      // A made-up twin: 2 groups of 3 input channels (1 group of 6 for an odd cout), 5 source positions, 4 output positions, 3 taps.
      const groups = cpg % 2 === 1 ? 1 : 2;
      const [cinPerGroup, plane, outPlane, taps] = [6 / groups, 5, 4, 3];
      const cin = cinPerGroup * groups;
      const cout = cpg * groups;
      const posPtr = Int32Array.from([0, 2, 3, 3, 6, 8]);
      const posOut = Int32Array.from([0, 1, 1, 0, 2, 3, 3, 2]);
      const posTap = Int32Array.from([0, 2, 1, 0, 1, 2, 0, 1]);
      const weights = Float64Array.from(randomArray(7, cin * taps * cpg, -1, 1));
      const spikes = Int32Array.from([0, 3, 4, 6, 8, 14, 21, 29]);
      const { k, at } = withArrays({ spikes, posPtr, posOut, posTap, weights }, { cur: 8 * cout * outPlane, acc: 8 * cout * outPlane });
      const buf = k.memory.buffer;
      const cur = new Float64Array(buf, at.cur, cout * outPlane);
      cur.set(randomArray(8, cur.length));
      const ref = Float64Array.from(cur);
      for (const i of spikes) {
        const c = Math.floor(i / plane);
        const s = i % plane;
        const g = Math.floor(c / cinPerGroup);
        for (let q = posPtr[s]; q < posPtr[s + 1]; q++) {
          for (let o = 0; o < cpg; o++) ref[(g * cpg + o) * outPlane + posOut[q]] += weights[(c * taps + posTap[q]) * cpg + o];
        }
      }
      const start = Float64Array.from(cur);
      k.deliverConv(at.spikes, spikes.length, at.cur, at.acc, at.posPtr, at.posOut, at.posTap, at.weights, plane, outPlane, cinPerGroup, cpg, cout, taps);
      expect(bits(cur)).toEqual(bits(ref));
      // The simulator's variant: pairs as byte offsets, staged by hand.
      cur.set(start);
      new Int32Array(buf, at.posOut, posOut.length).set(posOut.map((o) => o * cout * 8));
      new Int32Array(buf, at.posTap, posTap.length).set(posTap.map((t) => t * cpg * 8));
      k.stage(at.cur, at.acc, cout, outPlane, 1);
      k.scatterConvB(at.spikes, spikes.length, at.acc, at.posPtr, at.posOut, at.posTap, at.weights, plane, cinPerGroup, cpg, taps);
      k.stage(at.cur, at.acc, cout, outPlane, 0);
      expect(bits(cur)).toEqual(bits(ref));
    });
  }
});

describe('list kernels', () => {
  it('deliverDense, addEntriesAt, sumAt and remapList match their loops', () => {
    const [inner, out, rows] = [4, 5, 3];
    const weights = randomArray(9, inner * out, -1, 1);
    const col = Int32Array.from([2, 7, 1, 14, 3, 3, 0]);
    const val = randomArray(10, col.length, -1, 1);
    const rowPtr = Int32Array.from([0, 2, 2, 5, 7]);
    const list = Int32Array.from([0, 2, 3, 5, 9, 11]);
    const table = Int32Array.from({ length: 12 }, (_, i) => i * 1000003);
    const remap = Int32Array.from({ length: 12 }, (_, i) => (i % 3 === 1 ? -1 : 11 - i));
    const layout = new MemoryLayout();
    const at = {
      w: layout.reserve(4 * weights.length), cur: layout.reserve(8 * rows * out), list: layout.reserve(4 * list.length), rows: layout.reserve(4 * 4),
      entries: layout.reserve(8 * col.length), rowPtr: layout.reserve(4 * rowPtr.length), table: layout.reserve(4 * table.length), remap: layout.reserve(4 * remap.length), out: layout.reserve(4 * list.length),
    };
    const k = instantiateKernels(layout.size);
    const buf = k.memory.buffer;
    new Float32Array(buf, at.w, weights.length).set(weights);
    new Int32Array(buf, at.list, list.length).set(list);
    new Int32Array(buf, at.rows, 3).set([0, 2, 3]);
    new Int32Array(buf, at.rowPtr, rowPtr.length).set(rowPtr);
    new Int32Array(buf, at.table, table.length).set(table);
    new Int32Array(buf, at.remap, remap.length).set(remap);
    writeEntries(buf, at.entries, 0, col, val);
    const cur = new Float64Array(buf, at.cur, rows * out);
    cur.set(randomArray(11, cur.length));
    const ref = Float64Array.from(cur);
    const dense = [0, 2, 3, 5, 9, 11];
    for (const m of dense) {
      const row = Math.floor(m / inner);
      for (let o = 0; o < out; o++) ref[row * out + o] += weights[(m % inner) * out + o];
    }
    k.deliverDense(at.list, list.length, inner, out, at.w, at.cur);
    expect(bits(cur)).toEqual(bits(ref));
    for (const r of [0, 2, 3]) for (let j = rowPtr[r]; j < rowPtr[r + 1]; j++) ref[col[j]] += val[j];
    k.addEntriesAt(at.rows, 3, at.rowPtr, at.entries, at.cur);
    expect(bits(cur)).toEqual(bits(ref));
    expect(k.sumAt(at.list, list.length, at.table)).toBe(list.reduce((a, i) => a + table[i], 0));
    const kept = k.remapList(at.list, list.length, at.remap, at.out);
    expect(Array.from(new Int32Array(buf, at.out, kept))).toEqual(Array.from(list, (i) => remap[i]).filter((m) => m >= 0));
  });
});

describe('addConvValues', () => {
  for (const [divisor, remapped] of [[1, false], [255, true]] as const) {
    it(`the analog input through a conv twin as addValues adds it (divisor ${divisor}${remapped ? ', remapped' : ''})`, () => {
      // 2 groups of 2 input channels, 5 source positions, 4 output positions, 3 taps, 3 outputs per group.
      const [cinPerGroup, cpg, plane, outPlane, taps, offset] = [2, 3, 5, 4, 3, 7];
      const twin: ConvTable = {
        plane, outPlane, width: 5, outWidth: 4, cinPerGroup, coutPerGroup: cpg, cout: 2 * cpg, taps, offset,
        posPtr: Int32Array.from([0, 2, 3, 3, 6, 8]), posOut: Int32Array.from([0, 1, 1, 0, 2, 3, 3, 2]), posTap: Int32Array.from([0, 2, 1, 0, 1, 2, 0, 1]),
        weights: randomArray(12, 4 * taps * cpg, -1, 1),
      };
      for (let i = 0; i < twin.weights.length; i += 5) twin.weights[i] = 0;
      const rows = remapped ? 4 * plane + 3 : 4 * plane;
      const remap = remapped ? Int32Array.from({ length: rows }, (_, i) => (i % 4 === 3 || i >= 4 * plane ? -1 : (i * 7) % (4 * plane))) : null;
      const route: ConvRoute = { kind: 'conv', twin, remap, category: 0, fanOut: new Int32Array(rows) };
      const x = randomArray(13, rows, -200, 255);
      for (let i = 0; i < rows; i += 3) x[i] = 0;
      const n = offset + 2 * cpg * outPlane + 2;
      const ref = Float64Array.from(randomArray(14, n));
      const layout = new MemoryLayout();
      const at = {
        x: layout.reserve(4 * rows), cur: layout.reserve(8 * n), remap: layout.reserve(4 * rows), w: layout.reserve(4 * twin.weights.length),
        posPtr: layout.reserve(4 * 6), posOut: layout.reserve(4 * 8), posTap: layout.reserve(4 * 8), acc: layout.reserve(8 * 2 * cpg * outPlane),
      };
      const k = instantiateKernels(layout.size);
      const buf = k.memory.buffer;
      new Float32Array(buf, at.x, rows).set(x);
      if (remap) new Int32Array(buf, at.remap, rows).set(remap);
      new Float32Array(buf, at.w, twin.weights.length).set(twin.weights);
      new Int32Array(buf, at.posPtr, 6).set(twin.posPtr);
      new Int32Array(buf, at.posOut, 8).set(twin.posOut);
      new Int32Array(buf, at.posTap, 8).set(twin.posTap);
      const cur = new Float64Array(buf, at.cur, n);
      cur.set(ref);
      addValues(fanoutOf(rows, [route]), x, 0, divisor, ref);
      // Staged channel-last around the kernel, as the engine does.
      k.stage(at.cur + 8 * offset, at.acc, 2 * cpg, outPlane, 1);
      k.addConvValues(at.x, rows, divisor, remap ? at.remap : -1, at.w, at.posPtr, at.posOut, at.posTap, plane, cinPerGroup, cpg, 2 * cpg, taps, at.acc);
      k.stage(at.cur + 8 * offset, at.acc, 2 * cpg, outPlane, 0);
      expect(bits(cur)).toEqual(bits(ref));
    });
  }
});

describe('gatherConv', () => {
  // Real twins (3×3 stride 2 pad 1, where source positions reach 1, 2 or 4 output positions: padded pairs;
  // 1×1; 3×3 stride 1) over channel counts that exercise its 16-wide, 2-wide and scalar paths.
  const cases: Array<[string, number, number, number, number, number]> = [
    // name, kernel, stride, pad, cout, cin
    ['3×3 stride 2', 3, 2, 1, 16, 3],
    ['3×3 stride 2', 3, 2, 1, 35, 4],
    ['1×1', 1, 1, 0, 40, 5],
    ['3×3 stride 1', 3, 1, 1, 18, 2],
  ];
  for (const [name, kernel, stride, pad, cout, cin] of cases) {
    it(`${name}, ${cout} output channels: scatterConvB's sums bit for bit, also for lists that repeat and step back`, () => {
      const [h, w] = [5, 7];
      const oh = Math.floor((h + 2 * pad - kernel) / stride) + 1;
      const ow = Math.floor((w + 2 * pad - kernel) / stride) + 1;
      const node = { shape: [cout, oh, ow], strides: [stride, stride], pads: [pad, pad, pad, pad], dilations: [1, 1], groups: 1 } as unknown as Conv2dNode;
      const weight = { dims: [cout, cin, kernel, kernel], data: randomArray(9, cout * cin * kernel * kernel, -1, 1) } as unknown as IrTensor;
      const twin = convTable(node, [cin, h, w], weight, Float64Array.from({ length: cin }, (_, c) => 0.5 + c), [], 0);
      const plane = h * w;
      // Ascending spikes; then a remapped-style list: repeats (a pooling prefix) and a step back to channel 0.
      const ascending = Array.from({ length: cin * plane }, (_, i) => i).filter((i) => (i * 7919) % 5 < 2);
      const lists = [ascending, [...ascending, ...ascending.slice(0, 9)].sort((a, b) => a - b), [...ascending.slice(5), 0, 1, plane + 3, 0]];
      const maxShare = 4; // the most times one element appears in these lists
      const g = gatherOf({ kind: 'conv', twin, remap: null } as unknown as Parameters<typeof gatherOf>[0])!;
      expect(g).not.toBeNull();
      const cap = g.cap * maxShare;
      const [out4, tapB, inc] = gatherTables(twin, g.maxq);
      const weights = Float64Array.from(twin.weights);
      for (const spikes of lists) {
        const { k, at } = withArrays(
          { spikes: Int32Array.from(spikes), weights, out4, tapB, inc, posPtr: twin.posPtr, posOutB: twin.posOut.map((o) => o * cout * 8), posTapB: twin.posTap.map((t) => t * cout * 8) },
          { acc: 8 * cout * twin.outPlane, cur: 8 * cout * twin.outPlane, ptrs: 4 * (twin.outPlane + g.maxq), bucket: cap * twin.outPlane + 4 },
        );
        const buf = k.memory.buffer;
        const acc = new Float64Array(buf, at.acc, cout * twin.outPlane);
        acc.set(randomArray(10, acc.length, -1, 1));
        const start = Float64Array.from(acc);
        // The reference: each spike's weights added to each output position it reaches, in list order.
        const ref = Float64Array.from(start);
        for (const i of spikes) {
          const c = Math.floor(i / plane);
          const s = i % plane;
          for (let q = twin.posPtr[s]; q < twin.posPtr[s + 1]; q++) {
            for (let o = 0; o < cout; o++) ref[twin.posOut[q] * cout + o] += weights[(c * twin.taps + twin.posTap[q]) * cout + o];
          }
        }
        // gatherConv reads and writes the currents channel-first, scatterConvB channel-last (staged).
        k.stage(at.cur, at.acc, cout, twin.outPlane, 0);
        k.gatherConv(at.spikes, spikes.length, at.cur, at.out4, at.tapB, at.inc, g.maxq, at.weights, plane, cout, twin.taps, twin.outPlane, at.ptrs, at.bucket, cap);
        k.stage(at.cur, at.acc, cout, twin.outPlane, 1);
        expect(bits(acc)).toEqual(bits(ref));
        acc.set(start);
        k.scatterConvB(at.spikes, spikes.length, at.acc, at.posPtr, at.posOutB, at.posTapB, at.weights, plane, cin, cout, twin.taps);
        expect(bits(acc)).toEqual(bits(ref));
      }
    });
  }
});
