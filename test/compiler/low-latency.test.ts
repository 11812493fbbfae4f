/**
 * Low-latency conversion (issue 13): `--neuron signed-if`, `--burst k`, `--v-init calibrated` (the v(0) offset
 * pass, compiler/passes/calibrate-v0.ts) and `--low-latency`, which picks the rule and says which.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { IfNode, SnnIr } from '../../compiler/ir/types.ts';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { calibrateV0 } from '../../compiler/passes/calibrate-v0.ts';
import { neuronFields } from '../../compiler/passes/convert-neurons.ts';
import { lowLatencyChoice } from '../../cli/commands/compile.ts';
import { expectUserError, snnc } from '../helpers/cli.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

const tmp = mkdtempSync(join(tmpdir(), 'snnc-lowlat-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const OPTIONS: LowerOptions = { divisor: 255, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {} };

describe('the neuron rule of the convert-neurons pass', () => {
  it('signed-if and bursts become node fields only when used; the plain rule writes none', () => {
    expect(neuronFields({ model: 'if', reset: 'subtract' })).toEqual({ reset: 'subtract' });
    expect(neuronFields({ model: 'if', reset: 'subtract', burst: 1 })).toEqual({ reset: 'subtract' });
    expect(neuronFields({ model: 'signed-if', reset: 'subtract' })).toEqual({ model: 'signed-if', reset: 'subtract' });
    expect(neuronFields({ model: 'if', reset: 'subtract', burst: 4 })).toEqual({ reset: 'subtract', burst: 4 });
    expect(() => neuronFields({ model: 'signed-if', reset: 'zero' })).toThrow(/resets by subtraction/);
    expect(() => neuronFields({ model: 'if', reset: 'zero', burst: 2 })).toThrow(/burst spikes need reset by subtraction/);
    expect(() => neuronFields({ model: 'signed-if', reset: 'subtract', leak: 0.9 })).toThrow(/needs the LIF neuron model/);
  });

  it('on fmnist_cnn_qcfs: every population signed, everything else as the plain compile', () => {
    const graph = loadOnnx('test/fixtures/fmnist_cnn_qcfs.onnx');
    const plain = lower(graph, OPTIONS).ir;
    const signed = lower(graph, { ...OPTIONS, neuron: { model: 'signed-if', reset: 'subtract', burst: 3 } }).ir;
    const pairs = plain.nodes.map((n, i) => [n, signed.nodes[i]] as const);
    for (const [a, b] of pairs) expect(b).toEqual(a.kind === 'if' ? { ...a, model: 'signed-if', burst: 3 } : a);
    expect(pairs.filter(([a]) => a.kind === 'if').length).toBe(3);
  });
});

describe('v(0) offset calibration (compiler/passes/calibrate-v0.ts)', () => {
  /** input [4] → h (ReLU-balanced, θ = 2) → g (QCFS, θ = 1) → k (balanced, θ = [1, 3]) → readout. */
  function ir(): SnnIr {
    const b = new IrBuilder([4]);
    const h = b.if(b.dense('input', randomArray(1, 16), [4, 4]), 2, { id: 'h', vInit: 0.5 });
    const g = b.if(b.dense(h, randomArray(2, 8), [2, 4]), 1, { id: 'g', vInit: 0.5 });
    const k = b.if(b.dense(g, randomArray(3, 4), [2, 2]), [1, 3], { id: 'k', vInit: 0.25 });
    const out = b.build(b.dense(k, randomArray(4, 4), [2, 2]));
    for (const n of out.nodes) if (n.kind === 'if') n.thresholdSource = n.id === 'g' ? 'qcfs λ (L=8)' : 'percentile 99.9';
    return out;
  }

  it('shifts v(0) by deficit × T (in units of θ), layer after layer, each measured after the ones before it moved; QCFS keeps θ/2', async () => {
    const seen: Array<Record<string, number>> = [];
    // The fake measurement: h misses 0.01 of θ at first, k misses 0.02 only once h has moved (and 0 before).
    const measure = async (cur: SnnIr, T: number) => {
      const v = Object.fromEntries(cur.nodes.filter((n): n is IfNode => n.kind === 'if').map((n) => [n.id, n.vInit]));
      seen.push(v);
      expect(T).toBe(16);
      return new Map([['h', v.h === 0.5 ? 0.01 : 0], ['g', 0.5], ['k', v.h === 0.5 ? 0 : -0.005]]);
    };
    const out = await calibrateV0(ir(), measure, 16);
    const v = Object.fromEntries(out.nodes.filter((n): n is IfNode => n.kind === 'if').map((n) => [n.id, n.vInit]));
    // h: 0.5 + 0.01·16 = 0.66; k: 0.25 − 0.005·16 = 0.17; g (QCFS) not calibrated.
    expect(v).toEqual({ h: 0.66, g: 0.5, k: 0.17 });
    expect(seen).toEqual([{ h: 0.5, g: 0.5, k: 0.25 }, { h: 0.66, g: 0.5, k: 0.25 }]);
  });

  it('keeps v(0) within [0, θ]', async () => {
    const out = await calibrateV0(ir(), async () => new Map([['h', 1], ['k', -1]]), 8);
    const v = Object.fromEntries(out.nodes.filter((n): n is IfNode => n.kind === 'if').map((n) => [n.id, n.vInit]));
    expect(v).toEqual({ h: 1, g: 0.5, k: 0 });
  });
});

describe('snnc compile --low-latency', () => {
  it('refuses options it would override, naming them', () => {
    expect(() => lowLatencyChoice({ output: 'x.json', percentile: 99.9, maxpool: 'error', rsm: [], neuron: 'lif', leak: 0.9 })).toThrow(/drop --neuron, --leak/);
    expect(() => lowLatencyChoice({ output: 'x.json', percentile: 99.9, maxpool: 'error', rsm: [], vInit: 'zero' })).toThrow(/drop --v-init/);
    expect(lowLatencyChoice({ output: 'x.json', percentile: 99.9, maxpool: 'error', rsm: [], reset: 'subtract' })).toMatchObject({ model: 'signed-if', vInit: 'half', perChannel: true });
  });

  it('on a QCFS model: signed-if everywhere (file keys in snake_case), and it says so; a conflicting option is a one-line error', () => {
    const file = join(tmp, 'qcfs.snn.json');
    const r = snnc('compile', 'test/fixtures/fmnist_cnn_qcfs.onnx', '-o', file, '--input-divisor', '255', '--low-latency', '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('snnc: --low-latency: picked signed-if neurons');
    expect(JSON.parse(r.stdout).low_latency).toMatch(/second axon per neuron or graded spikes \(Loihi 2, not Loihi 1\)/);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.version).toBe(4);
    const ifs = doc.nodes.filter((n: { kind: string }) => n.kind === 'if');
    expect(ifs.map((n: { model: string; v_init: number }) => [n.model, n.v_init])).toEqual([['signed-if', 0.5], ['signed-if', 0.5], ['signed-if', 0.5]]);
    expect(doc.provenance.options.low_latency).toMatch(/^picked signed-if/);
    // It maps (the mapper counts binary resources); the virtual chip refuses it by the model and the chip.
    const map = join(tmp, 'qcfs.map.json');
    const mapped = snnc('map', file, '-o', map, '--chip', 'loihi2');
    expect(mapped.status, mapped.stderr).toBe(0);
    expectUserError(snnc('chip', map, '--input', 'test/fixtures/fmnist_test_x.npy', '--limit', '2', '-T', '4'), 'population act1 uses the signed-if neuron model: loihi2 has graded spikes, which the virtual chip does not model yet');
    expectUserError(snnc('compile', 'test/fixtures/fmnist_cnn_qcfs.onnx', '-o', join(tmp, 'x.snn.json'), '--low-latency', '--burst', '2'), '--low-latency picks the neuron rule itself: drop --burst');
    expectUserError(snnc('compile', 'test/fixtures/fmnist_cnn_qcfs.onnx', '-o', join(tmp, 'y.snn.json'), '--v-init', 'calibrated'), '--v-init calibrated measures on the calibration set: give one with --calib');
  });
});
