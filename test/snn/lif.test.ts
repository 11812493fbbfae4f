/**
 * Neurons as data (issue 16): the `if` node's `model` (if | lif with a leak λ) and `reset` (subtract | zero),
 * one parameterised update in the simulator and the virtual chip. The LIF rule against hand-computed spike
 * trains and a plain reference loop; the chip against the simulator on a LIF network that resets to zero;
 * the IR file: version 2 only when a population needs it, version 1 (and old IRs) read as before;
 * `snnc compile --neuron lif --leak λ --reset zero` through the pass list.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readIr, writeIr } from '../../compiler/ir/io.ts';
import type { IfNode, SnnIr } from '../../compiler/ir/types.ts';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { simulate, simulatePlan } from '../../runtime/snn/simulate.ts';
import { configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap } from '../../targets/map/map-file.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';
import { legacyIrDoc } from '../helpers/legacy-ir.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-lif-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Sets the neuron rule of every IF node of an IR built by IrBuilder. */
function withRule(ir: SnnIr, rule: { leak?: number | number[]; reset?: 'subtract' | 'zero' }): SnnIr {
  for (const n of ir.nodes) {
    if (n.kind !== 'if') continue;
    if (rule.leak !== undefined) Object.assign(n, { model: 'lif', leak: rule.leak } satisfies Partial<IfNode>);
    if (rule.reset) n.reset = rule.reset;
  }
  return ir;
}

/** input [1] → neuron (θ, vInit) → dense 1×1 (w = 1) → readout. */
function oneNeuron(theta: number, rule: { leak?: number; reset?: 'subtract' | 'zero' }, vInit = 0): SnnIr {
  const b = new IrBuilder([1]);
  const s = b.if('input', theta, { vInit });
  return withRule(b.build(b.dense(s, [1], [1, 1])), rule);
}

function spikeSteps(record: { offsets: Int32Array }, T: number): number[] {
  const steps: number[] = [];
  for (let t = 1; t <= T; t++) if (record.offsets[t] > record.offsets[t - 1]) steps.push(t);
  return steps;
}

describe('LIF neuron: v ← λ·v + I, spike at v ≥ θ, then v − θ or 0', () => {
  it('reset by subtraction keeps the remainder, which then leaks (λ = 0.9, θ = 1, I = 0.7)', async () => {
    // v: .7 | 1.33↓.33 | .997 | 1.5973↓.5973 | 1.23757↓.23757 | .913813 | 1.5224317↓.5224317 | 1.17018853↓.17… | .853… | 1.4681…↓
    const r = await simulate(oneNeuron(1, { leak: 0.9 }), Float32Array.of(0.7), { T: 10, recordSpikes: true });
    expect(spikeSteps(r.spikes![0], 10)).toEqual([2, 4, 5, 7, 8, 10]);
  });

  it('reset to zero forgets it (same neuron: v .7 | 1.33↓0 | .7 | 1.33↓0 …)', async () => {
    const r = await simulate(oneNeuron(1, { leak: 0.9, reset: 'zero' }), Float32Array.of(0.7), { T: 10, recordSpikes: true });
    expect(spikeSteps(r.spikes![0], 10)).toEqual([2, 4, 6, 8, 10]);
  });

  it('the leak acts on the membrane before the current is added: v(0) = θ/2 with no current decays, never fires', async () => {
    // I = 0.3, λ = 0.5, v(0) = 0.5: v1 = .25 + .3 = .55, then .575, .5875 … → .6 from below: no spike. IF (λ = 1) fires at step 2.
    const lif = await simulate(oneNeuron(1, { leak: 0.5 }, 0.5), Float32Array.of(0.3), { T: 16, recordSpikes: true });
    expect(spikeSteps(lif.spikes![0], 16)).toEqual([]);
    const ifn = await simulate(oneNeuron(1, {}, 0.5), Float32Array.of(0.3), { T: 16, recordSpikes: true });
    expect(spikeSteps(ifn.spikes![0], 16)[0]).toBe(2);
  });

  it('λ = 1 is IF, bit for bit; reset to zero of an IF neuron (λ = 1) drops the remainder', async () => {
    const input = randomArray(3, 8 * 4, 0, 1);
    const b = () => {
      const x = new IrBuilder([8]);
      const h = x.if(x.dense('input', randomArray(4, 16 * 8, -0.3, 0.8), [16, 8]), 0.6, { vInit: 0.5 });
      return x.build(x.dense(h, randomArray(5, 4 * 16), [4, 16]));
    };
    const plain = await simulate(b(), input, { T: 24, recordSpikes: true, workers: 1 });
    const lif1 = await simulate(withRule(b(), { leak: 1 }), input, { T: 24, recordSpikes: true, workers: 1 });
    expect(lif1.spikes).toEqual(plain.spikes);
    expect(lif1.logits).toEqual(plain.logits);
    // I = 0.75, θ = 1: subtract fires 3 of 4 steps, zero every other step.
    const zero = await simulate(oneNeuron(1, { reset: 'zero' }), Float32Array.of(0.75), { T: 8, recordSpikes: true });
    expect(spikeSteps(zero.spikes![0], 8)).toEqual([2, 4, 6, 8]);
    const sub = await simulate(oneNeuron(1, {}), Float32Array.of(0.75), { T: 8, recordSpikes: true });
    expect(spikeSteps(sub.spikes![0], 8)).toEqual([2, 3, 4, 6, 7, 8]);
  });

  it('per-channel leaks over a population: every spike equals a plain reference loop of the rule', async () => {
    const leak = [0.5, 0.8, 0.95, 1];
    for (const reset of ['subtract', 'zero'] as const) {
      const x = new IrBuilder([6]);
      const h = x.if(x.dense('input', randomArray(7, 4 * 6, -0.2, 0.9), [4, 6], { bias: [0.05, 0, 0.1, -0.02] }), [0.7, 0.9, 1.1, 0.5], { vInit: 0.25 });
      const ir = withRule(x.build(x.dense(h, [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], [4, 4])), { leak, reset });
      const input = randomArray(8, 6, 0, 1);
      const T = 40;
      const r = await simulate(ir, input, { T, recordSpikes: true, workers: 1 });
      // Reference: the currents of the dense layer in float64, summed as the simulator does (bias, then inputs in order).
      const w = ir.tensors.get((ir.nodes[0] as { weight: string }).weight)!.data;
      const bias = ir.tensors.get((ir.nodes[0] as { bias: string }).bias)!.data;
      const theta = [0.7, 0.9, 1.1, 0.5];
      const expected: number[][] = [];
      const v = theta.map((t) => 0.25 * t);
      for (let t = 1; t <= T; t++) {
        const fired: number[] = [];
        for (let o = 0; o < 4; o++) {
          let i = bias[o];
          for (let k = 0; k < 6; k++) i += input[k] * w[o * 6 + k];
          v[o] = leak[o] * v[o] + i;
          if (v[o] >= theta[o]) {
            fired.push(o);
            v[o] = reset === 'subtract' ? v[o] - theta[o] : 0;
          }
        }
        expected.push(fired);
      }
      const rec = r.spikes![0];
      const got = Array.from({ length: T }, (_, t) => Array.from(rec.indices.subarray(rec.offsets[t], rec.offsets[t + 1])));
      expect(got, reset).toEqual(expected);
      expect(expected.flat().length).toBeGreaterThan(20);
    }
  });

  it('the plan carries λ per neuron and the reset per population; a bad rule is refused by name', () => {
    const x = new IrBuilder([4]);
    const h = x.if(x.dense('input', randomArray(1, 16), [4, 4]), 1, { id: 'h' });
    const ir = withRule(x.build(x.dense(h, randomArray(2, 8), [2, 4])), { leak: [0.5, 0.6, 0.7, 0.8], reset: 'zero' });
    const plan = buildPlan(ir);
    expect(Array.from(plan.leak.subarray(0, 4))).toEqual([0.5, 0.6, 0.7, 0.8]);
    expect(Array.from(plan.leak.subarray(4))).toEqual([1, 1]);
    expect(plan.pops[0]).toMatchObject({ model: 'lif', reset: 'zero' });
    (ir.nodes[1] as IfNode).leak = [0.5, 0.6];
    expect(() => buildPlan(ir)).toThrow(/2 leaks do not fit axis 0 of \[4\]/);
    (ir.nodes[1] as IfNode).leak = 1.5;
    expect(() => buildPlan(ir)).toThrow(/leak 1.5 is not within \(0, 1\]/);
  });
});

describe('the virtual chip runs the same rule', () => {
  it('a LIF network that resets to zero: every spike of every step equals the simulator (loihi1, native reset)', async () => {
    const b = new IrBuilder([16]);
    const h = b.if(b.dense('input', randomArray(1, 48 * 16, -0.2, 0.6), [48, 16]), 0.5, { id: 'h', vInit: 0.5 });
    const g = b.if(b.dense(h, randomArray(3, 24 * 48, -0.3, 0.5), [24, 48]), 0.7, { id: 'g' });
    const ir = withRule(b.build(b.dense(g, randomArray(4, 10 * 24), [10, 24], { id: 'out' })), { leak: 0.85, reset: 'zero' });
    (ir.nodes.find((n) => n.id === 'g') as IfNode).leak = 0.97;
    const input = randomArray(5, 16 * 6, 0, 1);
    const spec = loadChipSpec('loihi1');
    const mapped = buildMap(ir, 'x', '0'.repeat(64), spec);
    const chip = runChip(configureFromMap(mapped.doc, ir), input, { T: 32, recordSpikes: true });
    const sim = await simulatePlan(mapped.plan, input, { T: 32, recordSpikes: true, workers: 1 });
    expect(chip.spikes!.length).toBe(6);
    chip.spikes!.forEach((c, s) => {
      expect(c.offsets, `sample ${s}`).toEqual(sim.spikes![s].offsets);
      expect(c.indices, `sample ${s}`).toEqual(sim.spikes![s].indices);
    });
    expect(chip.logits).toEqual(sim.logits);
    expect(sim.spikes!.reduce((n, r) => n + r.indices.length, 0)).toBeGreaterThan(100);
    // The IR's reset is the chip's default, and Loihi 1's native one.
    expect(chip.report.reset).toBe('zero');
    expect(chip.report.reset_note).toMatch(/native neuron/);
    // An override still applies to every population, and changes the spikes.
    const sub = runChip(configureFromMap(mapped.doc, ir), input, { T: 32, recordSpikes: true, reset: 'subtract' });
    expect(sub.report.reset).toBe('subtract');
    expect(sub.report.reset_note).toMatch(/overriding the IR/);
    expect(sub.spikes!.map((r) => r.indices.length)).not.toEqual(chip.spikes!.map((r) => r.indices.length));
  });
});

describe('the IR file', () => {
  function smallIr(): SnnIr {
    const b = new IrBuilder([4]);
    const h = b.if(b.dense('input', randomArray(1, 16), [4, 4]), [0.5, 0.6, 0.7, 0.8], { id: 'h' });
    return b.build(b.dense(h, randomArray(2, 8), [2, 4]));
  }

  it('an IF IR is written (version 4, snake_case keys) with no model field; a LIF or zero-reset IR with its rule, and both read back', () => {
    const file = join(tmp, 'if.snn.json');
    writeIr(smallIr(), file);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.version).toBe(4);
    expect(doc.nodes[1]).toMatchObject({ v_init: expect.any(Number), threshold_source: expect.any(String) });
    expect(doc.nodes[1]).not.toHaveProperty('vInit');
    expect(doc.nodes[1]).not.toHaveProperty('model');
    expect(doc.nodes[1]).not.toHaveProperty('leak');
    expect(readIr(file).nodes[1]).toMatchObject({ kind: 'if', reset: 'subtract' });

    const lif = withRule(smallIr(), { leak: [0.9, 0.8, 0.7, 1], reset: 'zero' });
    const lifFile = join(tmp, 'lif.snn.json');
    writeIr(lif, lifFile);
    const lifDoc = JSON.parse(readFileSync(lifFile, 'utf8'));
    expect(lifDoc.version).toBe(4);
    const back = readIr(lifFile);
    expect(back.version).toBe(4);
    expect(back.nodes[1]).toMatchObject({ kind: 'if', model: 'lif', leak: [0.9, 0.8, 0.7, 1], reset: 'zero' });

    const zeroOnly = withRule(smallIr(), { reset: 'zero' });
    writeIr(zeroOnly, join(tmp, 'zero.snn.json'));
    expect(JSON.parse(readFileSync(join(tmp, 'zero.snn.json'), 'utf8')).nodes[1]).toMatchObject({ reset: 'zero' });
  });

  it('reads a version-1 IR written before neuron models as IF; refuses a version-1 file that claims a LIF neuron, a leak without lif, a leak out of range', () => {
    // What every snnc before neuron models wrote: version 1, camelCase keys, reset "subtract", no model.
    const file = join(tmp, 'old.snn.json');
    writeIr(smallIr(), file);
    const old = JSON.stringify(legacyIrDoc(JSON.parse(readFileSync(file, 'utf8')), 1), null, 1);
    writeFileSync(file, old);
    expect(old).toMatch(/"version": 1,/);
    expect(old).toMatch(/"vInit": /);
    const ir = readIr(file);
    expect(buildPlan(ir).pops[0]).toMatchObject({ model: 'if', reset: 'subtract' });

    const edit = (f: (doc: { version: number; nodes: Array<Record<string, unknown>> }) => void) => {
      const doc = JSON.parse(old);
      f(doc);
      writeFileSync(file, JSON.stringify(doc));
      return () => readIr(file);
    };
    expect(edit((d) => Object.assign(d.nodes[1], { model: 'lif', leak: 0.9 }))).toThrow(/node h is a LIF or reset-to-zero population, which needs version 2/);
    expect(edit((d) => Object.assign(d.nodes[1], { leak: 0.9 }))).toThrow(/old\.snn\.json/);
    expect(edit((d) => ((d.version = 2), Object.assign(d.nodes[1], { model: 'lif', leak: 1.2 })))).toThrow(/leak/);
    expect(edit((d) => ((d.version = 2), Object.assign(d.nodes[1], { model: 'lif' })))).toThrow(/old\.snn\.json/);
    expect(edit((d) => ((d.version = 2), Object.assign(d.nodes[1], { model: 'lif', leak: [0.9, 0.9] })))).toThrow(/2 leaks do not fit axis 0 of \[4\]/);
    const upgraded = edit((d) => ((d.version = 2), Object.assign(d.nodes[1], { model: 'lif', leak: 0.9, reset: 'zero' })))();
    expect(upgraded.version).toBe(4);
    expect(upgraded.nodes[1]).toMatchObject({ model: 'lif', leak: 0.9, reset: 'zero', vInit: expect.any(Number) });
    // `model: "if"` spelled out reads as the default and is not written back.
    expect(edit((d) => Object.assign(d.nodes[1], { model: 'if' }))().nodes[1]).not.toHaveProperty('model');
  });
});

describe('snnc compile --neuron lif --leak λ --reset zero (the pass option)', () => {
  const OPTIONS: LowerOptions = {
    divisor: 255, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {},
  };

  it('gives every population the rule; without it the IR is exactly the IF one', () => {
    const graph = loadOnnx('test/fixtures/fmnist_cnn_qcfs.onnx');
    const plain = lower(graph, OPTIONS).ir;
    const lif = lower(graph, { ...OPTIONS, neuron: { model: 'lif', leak: 0.95, reset: 'zero' } }).ir;
    const ifs = plain.nodes.filter((n): n is IfNode => n.kind === 'if');
    const lifs = lif.nodes.filter((n): n is IfNode => n.kind === 'if');
    expect(lifs.length).toBe(ifs.length);
    for (const [a, b] of ifs.map((n, i) => [n, lifs[i]] as const)) {
      expect(a).not.toHaveProperty('model');
      expect(b).toEqual({ ...a, model: 'lif', leak: 0.95, reset: 'zero' });
    }
    expect(lower(graph, { ...OPTIONS, neuron: { model: 'if', reset: 'subtract' } }).ir.nodes).toEqual(plain.nodes);
    expect(() => lower(graph, { ...OPTIONS, neuron: { model: 'lif', reset: 'subtract' } })).toThrow(/needs a leak/);
    expect(() => lower(graph, { ...OPTIONS, neuron: { model: 'if', leak: 0.9, reset: 'subtract' } })).toThrow(/needs the LIF neuron model/);
  });
});
