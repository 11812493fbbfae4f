/**
 * Analog (host) nodes in the simulator: matmul of two spike streams, softmax, matmul of softmax and spikes,
 * in both rules, against computations written out here from the recorded spikes; exact work counts; the
 * dense reference with IF neurons after the analog nodes; masks on the q/k edges; `mean`.
 */
import { describe, expect, it } from 'vitest';
import { deriveShape } from '../../compiler/ir/shapes.ts';
import type { IrNode, IrTensor, Shape, SnnIr } from '../../compiler/ir/types.ts';
import { IR_FORMAT, IR_VERSION } from '../../compiler/ir/types.ts';
import { evaluateIr, simulateDense } from '../../runtime/ir/evaluate.ts';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { simulate, type AttentionMode, type SimulationResult } from '../../runtime/snn/simulate.ts';
import { randomArray } from '../helpers/ir-builder.ts';

type NewNode = IrNode extends infer N ? (N extends IrNode ? Omit<N, 'shape' | 'onnx'> : never) : never;

/** A minimal IR builder that knows every kind (the shared helper predates matmul, softmax and mean). */
class Net {
  readonly nodes: IrNode[] = [];
  readonly tensors = new Map<string, IrTensor>();
  private readonly shapes = new Map<string, Shape>();

  constructor(readonly inputShape: Shape) {
    this.shapes.set('input', inputShape);
  }

  tensor(name: string, data: ArrayLike<number>, dims: number[]): string {
    this.tensors.set(name, { dims, data: Float32Array.from(data) });
    return name;
  }

  add(fields: NewNode, declared?: Shape): string {
    const node = { ...fields, onnx: [`/${fields.id}`], shape: [] } as IrNode;
    node.shape = deriveShape(node, node.inputs.map((i) => this.shapes.get(i)!), this.tensors, declared);
    this.nodes.push(node);
    this.shapes.set(node.id, node.shape);
    return node.id;
  }

  dense(id: string, x: string, out: number, inner: number, seed: number, bias = false): string {
    const weight = this.tensor(`${id}.w`, randomArray(seed, out * inner, -0.5, 0.6), [out, inner]);
    const b = bias ? this.tensor(`${id}.b`, randomArray(seed + 1, out, -0.2, 0.3), [out]) : undefined;
    return this.add({ id, kind: 'dense', inputs: [x], weight, bias: b });
  }

  if(id: string, x: string, threshold: number): string {
    return this.add({ id, kind: 'if', inputs: [x], threshold, axis: 0, vInit: 0.5, reset: 'subtract', thresholdSource: 'test', value: id });
  }

  build(output: string): SnnIr {
    return {
      format: IR_FORMAT,
      version: IR_VERSION,
      input: { id: 'input', shape: this.inputShape, divisor: 1 },
      nodes: this.nodes,
      output: { id: output, shape: this.shapes.get(output)! },
      tensors: this.tensors,
      provenance: { source: 'test', sha256: '', snnc: 'test', options: {} },
    };
  }
}

const TOKENS = 3;
const DIM = 4;
const CLASSES = 5;
const THETA = { q: 0.9, k: 0.7, v: 0.8 };
const SCALE = 0.5;

/**
 * input [3,4] → dense → IF q, k, v (θ 0.9, 0.7, 0.8) → s = q·kᵀ (k through a transpose) → affine ×0.5 →
 * softmax over keys → o = softmax·v → reshape [12] → dense(+b) → readout [5]. With `maskQ`, an RSM node
 * with that ratio on the q edge.
 */
function attentionNet(o: { maskQ?: number; ifAfter?: boolean } = {}) {
  const n = new Net([TOKENS, DIM]);
  let q = n.if('attn/q_act', n.dense('attn/q', 'input', DIM, DIM, 1, true), THETA.q);
  const k = n.if('attn/k_act', n.dense('attn/k', 'input', DIM, DIM, 3, true), THETA.k);
  const v = n.if('attn/v_act', n.dense('attn/v', 'input', DIM, DIM, 5, true), THETA.v);
  if (o.maskQ !== undefined) q = n.add({ id: 'attn/q_mask', kind: 'rsm', inputs: [q], ratio: o.maskQ });
  const kT = n.add({ id: 'attn/kT', kind: 'transpose', inputs: [k], perm: [1, 0] });
  const s = n.add({ id: 'attn/s', kind: 'matmul', inputs: [q, kT] });
  const scale = n.tensor('scale', [SCALE], [1]);
  const shift = n.tensor('shift', [0], [1]);
  const scaled = n.add({ id: 'attn/scaled', kind: 'affine', inputs: [s], scale, shift });
  const a = n.add({ id: 'attn/softmax', kind: 'softmax', inputs: [scaled], axis: 1 });
  let out = n.add({ id: 'attn/o', kind: 'matmul', inputs: [a, v] });
  if (o.ifAfter) out = n.if('attn/o_act', out, 0.6);
  const flat = n.add({ id: 'flat', kind: 'reshape', inputs: [out] }, [TOKENS * DIM]);
  return n.build(n.dense('head', flat, CLASSES, TOKENS * DIM, 7, true));
}

const X = randomArray(11, TOKENS * DIM, 0.1, 1.2);

/** Per step, the 0/θ value matrices [3,4] of q, k, v from the recorded spikes (populations in plan order q, k, v). */
function spikeValues(r: SimulationResult, T: number): Array<{ q: number[][]; k: number[][]; v: number[][] }> {
  const { offsets, indices } = r.spikes![0];
  const P = 3;
  return Array.from({ length: T }, (_, t) => {
    const m = (p: number, theta: number) => {
      const out = Array.from({ length: TOKENS }, () => new Array<number>(DIM).fill(0));
      for (let j = offsets[t * P + p]; j < offsets[t * P + p + 1]; j++) out[Math.floor(indices[j] / DIM)][indices[j] % DIM] = theta;
      return out;
    };
    return { q: m(0, THETA.q), k: m(1, THETA.k), v: m(2, THETA.v) };
  });
}

/** softmax(scale·q·kᵀ)·v, written out. */
function attention(q: number[][], k: number[][], v: number[][]): number[][] {
  return q.map((qi) => {
    const scores = k.map((kj) => SCALE * qi.reduce((acc, x, d) => acc + x * kj[d], 0));
    const max = Math.max(...scores);
    const e = scores.map((x) => Math.exp(x - max));
    const z = e.reduce((a, b) => a + b, 0);
    return Array.from({ length: DIM }, (_, d) => e.reduce((acc, w, j) => acc + (w / z) * v[j][d], 0));
  });
}

/** The head: W·vec(o) + b. */
function head(ir: SnnIr, o: number[][]): number[] {
  const W = ir.tensors.get('head.w')!.data;
  const b = ir.tensors.get('head.b')!.data;
  const flat = o.flat();
  return Array.from({ length: CLASSES }, (_, c) => b[c] + flat.reduce((acc, x, e) => acc + W[c * flat.length + e] * x, 0));
}

const sumMatrices = (ms: number[][][]) => ms.reduce((acc, m) => acc.map((row, i) => row.map((x, j) => x + m[i][j])));
const scaleMatrix = (m: number[][], f: number) => m.map((row) => row.map((x) => x * f));

describe('attention on the simulator (3 tokens, 4 features)', () => {
  const T = 24;
  const ir = attentionNet();

  it('accumulated: the readout at every t is the head of softmax(q̄·k̄ᵀ·scale)·v̄ over the running means', async () => {
    const full = await simulate(ir, X, { T, recordSpikes: true, attention: 'accumulated' });
    const steps = spikeValues(full, T);
    // Not vacuous: every population spikes and stays silent sometimes.
    for (const name of ['q', 'k', 'v'] as const) {
      const spikes = steps.flatMap((s) => s[name].flat()).filter((x) => x !== 0).length;
      expect(spikes, name).toBeGreaterThan(T);
      expect(spikes, name).toBeLessThan(T * TOKENS * DIM);
    }
    for (let t = 1; t <= T; t++) {
      const mean = (name: 'q' | 'k' | 'v') => scaleMatrix(sumMatrices(steps.slice(0, t).map((s) => s[name])), 1 / t);
      const expected = head(ir, attention(mean('q'), mean('k'), mean('v')));
      // A run of t steps is the first t steps of the long run (causal, deterministic).
      const r = t === T ? full : await simulate(ir, X, { T: t, attention: 'accumulated' });
      for (let c = 0; c < CLASSES; c++) expect(r.logits[c], `t=${t} class ${c}`).toBeCloseTo(expected[c], 5);
      // Float32 logits: compare the float32 of the exact value.
      for (let c = 0; c < CLASSES; c++) expect(Math.abs(r.logits[c] - expected[c])).toBeLessThan(1e-6 * (1 + Math.abs(expected[c])));
    }
  });

  it("per-step: the readout at every t is the mean over steps of the head of that step's softmax(q·kᵀ·scale)·v", async () => {
    const full = await simulate(ir, X, { T, recordSpikes: true, attention: 'per-step' });
    const steps = spikeValues(full, T);
    const perStep = steps.map((s) => attention(s.q, s.k, s.v));
    for (let t = 1; t <= T; t++) {
      const expected = head(ir, scaleMatrix(sumMatrices(perStep.slice(0, t)), 1 / t));
      const r = t === T ? full : await simulate(ir, X, { T: t, attention: 'per-step' });
      for (let c = 0; c < CLASSES; c++) expect(Math.abs(r.logits[c] - expected[c]), `t=${t} class ${c}`).toBeLessThan(1e-6 * (1 + Math.abs(expected[c])));
    }
    // The two rules differ (the per-step product of spike trains is biased).
    const acc = await simulate(ir, X, { T, attention: 'accumulated' });
    expect(Array.from(acc.logits)).not.toEqual(Array.from(full.logits));
  });

  it('counts products, MACs, softmax ops and host inputs exactly (both rules)', async () => {
    for (const mode of ['per-step', 'accumulated'] as AttentionMode[]) {
      const r = await simulate(ir, X, { T, recordSpikes: true, attention: mode });
      const steps = spikeValues(r, T);
      const nz = (m: number[][]): number[][] => m.map((row) => row.map((x) => (x !== 0 ? 1 : 0)));
      /** Pairs of non-zero factors in A·B ([3,4]·[4,3] as q·kᵀ: A[i][d], B[j][d]). */
      const pairsQK = (a: number[][], b: number[][]) => {
        let n = 0;
        for (let d = 0; d < DIM; d++) n += nz(a).reduce((s, row) => s + row[d], 0) * nz(b).reduce((s, row) => s + row[d], 0);
        return n;
      };
      let products = 0;
      /** The second matmul's products triggered by a v spike of this step (analog × spike: ACs). */
      let analogSpike = 0;
      /** Its products of an analog increment and v's running sums (accumulated rule: analog × analog, MACs). */
      let analogAnalog = 0;
      /** Non-zero output elements of the second matmul (each feeds the 5 head synapses). */
      let outElements = 0;
      const SQ = Array.from({ length: TOKENS }, () => new Array<number>(DIM).fill(0));
      const SK = SQ.map((row) => row.slice());
      const SV = SQ.map((row) => row.slice());
      const count = (m: number[][]) => nz(m).flat().reduce((a: number, b) => a + b, 0);
      const liveColumns = (m: number[][]) => Array.from({ length: DIM }, (_, d) => (m.some((row) => row[d] !== 0) ? 1 : 0)).reduce((a: number, b) => a + b, 0);
      steps.forEach((s, i) => {
        const t = i + 1;
        for (const [S, m] of [[SK, s.k], [SV, s.v]] as const) S.forEach((row, a) => row.forEach((_, d) => (row[d] += m[a][d])));
        if (mode === 'per-step') {
          products += pairsQK(s.q, s.k);
          // softmax (never 0) · v: each of the 3 rows of the softmax meets every non-zero element of v.
          analogSpike += TOKENS * count(s.v);
          // o[i][d] ≠ 0 exactly when column d of v has a spike.
          outElements += TOKENS * liveColumns(s.v);
        } else {
          // q(t)·S_K(t)ᵀ + S_Q(t−1)·k(t)ᵀ; softmax increment (dense) · S_V(t) + S_softmax(t−1) (dense from t = 2) · v(t).
          products += pairsQK(s.q, SK) + pairsQK(SQ, s.k);
          analogAnalog += TOKENS * count(SV);
          analogSpike += t > 1 ? TOKENS * count(s.v) : 0;
          outElements += TOKENS * liveColumns(SV);
        }
        SQ.forEach((row, a) => row.forEach((_, d) => (row[d] += s.q[a][d])));
      });
      // Accumulated rule: y = P(t)/t − P(t−1)/(t−1), one MAC per output element from t = 2.
      const rescale = (elements: number) => (mode === 'accumulated' ? (T - 1) * elements : 0);
      const [mm1, sm, mm2] = r.layers.filter((l) => l.placement === 'host');
      expect([mm1.id, sm.id, mm2.id]).toEqual(['attn/s', 'attn/softmax', 'attn/o']);
      expect(mm1.products_per_sample, mode).toBe(products);
      expect(mm1.macs_per_sample, mode).toBe(rescale(TOKENS * TOKENS));
      expect(sm.softmax_ops_per_sample).toBe(T * TOKENS * TOKENS);
      expect(mm2.products_per_sample).toBe(0);
      expect(mm2.analog_spike_products_per_sample, mode).toBe(analogSpike);
      expect(mm2.spike_driven_per_sample, mode).toBe(analogSpike);
      expect(mm2.macs_per_sample, mode).toBe(analogAnalog + rescale(TOKENS * DIM) + outElements * CLASSES);
      expect(mm1.analog_spike_products_per_sample).toBe(0);
      expect(mm1.spike_driven_per_sample, mode).toBe(products);
      // Host inputs: every q, k, v spike lands on one operand element; the softmax's 9 outputs every step.
      const spikes = (p: number) => r.layers[p].spikes_per_sample;
      expect(r.layers.slice(0, 3).map((l) => l.host_inputs_per_sample)).toEqual([spikes(0), spikes(1), spikes(2)]);
      expect(sm.host_inputs_per_sample).toBe(T * TOKENS * TOKENS);
      // Spikes into host nodes are not SOPs: this network has no synapse fed by spikes.
      expect(r.sops_per_sample).toBe(0);
      expect(r.layers.slice(0, 3).map((l) => l.sops_per_sample)).toEqual([0, 0, 0]);
      expect(r.attention).toBe(mode);
      // Modules come from the structure: without a residual add there is no attention block, whatever the
      // names say (attn/…), so all work is `other` (the block test below has one).
      expect(r.modules.attention.spike_driven + r.modules.mlp.spike_driven).toBe(0);
      expect(r.modules.other.products).toBe(products);
      expect(r.modules.other.analog_spike_products).toBe(analogSpike);
      expect(r.modules.other.macs).toBe(mm1.macs_per_sample + analogAnalog + rescale(TOKENS * DIM) + T * 3 * TOKENS * DIM * DIM + outElements * CLASSES);
      expect(r.modules.other.softmax_ops).toBe(T * TOKENS * TOKENS);
      expect(r.work.spike_driven).toBe(products + analogSpike);
    }
  });

  it('matches the dense reference spike for spike with IF neurons after the attention, both rules, 1 and 2 workers', async () => {
    const net = attentionNet({ ifAfter: true });
    const samples = 4;
    const x = randomArray(12, samples * TOKENS * DIM, 0.1, 1.6);
    for (const mode of ['per-step', 'accumulated'] as AttentionMode[]) {
      const r = await simulate(net, x, { T: 20, recordSpikes: true, attention: mode, workers: 1 });
      const two = await simulate(net, x, { T: 20, recordSpikes: true, attention: mode, workers: 2 });
      expect(Buffer.from(two.logits.buffer).equals(Buffer.from(r.logits.buffer))).toBe(true);
      const { seconds: _a, ...rest1 } = r;
      const { seconds: _b, ...rest2 } = two;
      expect(rest2).toEqual(rest1);
      const pops = r.layers.filter((l) => l.kind === 'if').map((l) => l.id);
      expect(pops).toEqual(['attn/q_act', 'attn/k_act', 'attn/v_act', 'attn/o_act']);
      let fired = 0;
      for (let s = 0; s < samples; s++) {
        const ref = simulateDense(net, x.subarray(s * 12, (s + 1) * 12), 20, { attention: mode });
        const { offsets, indices } = r.spikes![s];
        for (let t = 1; t <= 20; t++) {
          pops.forEach((id, p) => {
            const k = (t - 1) * pops.length + p;
            const got = Array.from(indices.subarray(offsets[k], offsets[k + 1]));
            expect(got, `${mode} sample ${s} step ${t} ${id}`).toEqual(ref.spikes[t - 1].get(id));
            if (p === 3) fired += got.length;
          });
        }
        for (let c = 0; c < CLASSES; c++) expect(r.logits[s * CLASSES + c]).toBeCloseTo(ref.logits[c], 5);
      }
      expect(fired, mode).toBeGreaterThan(20);
      // The output neurons' spikes are synaptic (into the head): SOPs again.
      expect(r.layers[3].sops_per_sample).toBe(r.layers[3].spikes_per_sample * CLASSES);
      expect(r.layers.find((l) => l.id === 'attn/o')!.placement).toBe('host');
    }
  });

  it('converges to the rate-limit evaluation (accumulated rule)', async () => {
    const r = await simulate(ir, X, { T: 2000, attention: 'accumulated' });
    const limit = evaluateIr(ir, X).get('head')!;
    for (let c = 0; c < CLASSES; c++) expect(r.logits[c]).toBeCloseTo(limit[c], 1);
  });

  it('a mask on the q edge drops q spikes before the matmul: ratio 1 leaves no products and no q host inputs', async () => {
    const masked = await simulate(attentionNet({ maskQ: 1 }), X, { T, attention: 'per-step' });
    const s = masked.layers.find((l) => l.id === 'attn/s')!;
    expect(s.products_per_sample).toBe(0);
    expect(masked.layers[0].spikes_per_sample).toBeGreaterThan(0);
    expect(masked.layers[0].host_inputs_per_sample).toBe(0);
    expect(masked.masks[0].spikes_dropped).toBe(masked.masks[0].spikes_arriving);
    // All scores are 0: the softmax is uniform and the output is the mean of v over tokens each step.
    const half = await simulate(attentionNet({ maskQ: 0.5 }), X, { T, attention: 'per-step', seed: 4 });
    const none = await simulate(attentionNet(), X, { T, attention: 'per-step' });
    const products = (r: SimulationResult) => r.layers.find((l) => l.id === 'attn/s')!.products_per_sample;
    expect(products(half)).toBeGreaterThan(0);
    expect(products(half)).toBeLessThan(products(none));
    expect(half.layers[0].host_inputs_per_sample).toBe(half.masks[0].spikes_arriving - half.masks[0].spikes_dropped);
  });

  it('marks the analog nodes for the host and gives them their own regions after the readout', () => {
    const plan = buildPlan(ir);
    expect(plan.analog.map((a) => [a.id, a.kind, a.operands.map((o) => o.spiking)])).toEqual([
      ['attn/s', 'matmul', [true, true]],
      ['attn/softmax', 'softmax', [false]],
      ['attn/o', 'matmul', [false, true]],
    ]);
    expect(plan.readout.offset).toBe(3 * TOKENS * DIM);
    expect(plan.analog[0].operands[0].offset).toBe(plan.readout.offset + CLASSES);
    expect(Array.from(plan.order)).toEqual([0, 1, 2, -2, -3, -4, -1]);
  });
});

describe('mean over axes', () => {
  it('composes into the tables and matches the dense reference', async () => {
    const n = new Net([TOKENS, DIM]);
    const a = n.if('a', n.dense('d', 'input', DIM, DIM, 21, true), 0.5);
    const m = n.add({ id: 'm', kind: 'mean', inputs: [a], axes: [0], keepdims: false });
    const m2 = n.add({ id: 'm2', kind: 'mean', inputs: [a], axes: [1], keepdims: true });
    const flat = n.add({ id: 'flat', kind: 'reshape', inputs: [m2] }, [TOKENS]);
    const cat = n.add({ id: 'cat', kind: 'concat', inputs: [m, flat], axis: 0 });
    const ir = n.build(n.dense('head', cat, 3, DIM + TOKENS, 23, true));
    const x = randomArray(24, 3 * TOKENS * DIM, 0, 1.5);
    const r = await simulate(ir, x, { T: 16, recordSpikes: true });
    // One spike of a[i][d] reaches the head through both means: 3 synapses (the two paths sum per target).
    expect(r.layers[0].sops_per_sample).toBe(r.layers[0].spikes_per_sample * 3);
    for (let s = 0; s < 3; s++) {
      const ref = simulateDense(ir, x.subarray(s * 12, (s + 1) * 12), 16);
      for (let c = 0; c < 3; c++) expect(r.logits[s * 3 + c]).toBeCloseTo(ref.logits[c], 5);
    }
    // The rate limit: the mean of the clipped activations through the head.
    const values = evaluateIr(ir, x.subarray(0, 12));
    const aVals = values.get('a')!;
    const col0 = [0, 1, 2].reduce((acc, i) => acc + aVals[i * DIM], 0) / TOKENS;
    expect(values.get('m')![0]).toBeCloseTo(col0, 12);
    expect(values.get('m2')![1]).toBeCloseTo((aVals[4] + aVals[5] + aVals[6] + aVals[7]) / DIM, 12);
  });
});

/**
 * A hand-sized transformer block: stem → IF x; attention (q, k, v → q·kᵀ → ×0.5 → softmax → ·v → IF o →
 * proj → IF) added back to x; an MLP (fc1 4→8 → IF → fc2 8→4 → IF) added back; head. The names are
 * deliberately backwards (the attention under `mlp/`, the MLP under `attn/`): modules come from the structure.
 */
function blockNet() {
  const n = new Net([TOKENS, DIM]);
  const x = n.if('stem/act', n.dense('stem/fc', 'input', DIM, DIM, 31, true), 0.5);
  const q = n.if('mlp/q_act', n.dense('mlp/q', x, DIM, DIM, 3, true), 0.3);
  const k = n.if('mlp/k_act', n.dense('mlp/k', x, DIM, DIM, 35, true), 0.3);
  const v = n.if('mlp/v_act', n.dense('mlp/v', x, DIM, DIM, 37, true), 0.3);
  const kT = n.add({ id: 'mlp/kT', kind: 'transpose', inputs: [k], perm: [1, 0] });
  const s = n.add({ id: 'mlp/s', kind: 'matmul', inputs: [q, kT] });
  const scaled = n.add({ id: 'mlp/scaled', kind: 'affine', inputs: [s], scale: n.tensor('scale', [SCALE], [1]), shift: n.tensor('shift', [0], [1]) });
  const a = n.add({ id: 'mlp/softmax', kind: 'softmax', inputs: [scaled], axis: 1 });
  const oAct = n.if('mlp/o_act', n.add({ id: 'mlp/o', kind: 'matmul', inputs: [a, v] }), 0.2);
  const proj = n.if('mlp/proj_act', n.dense('mlp/proj', oAct, DIM, DIM, 39, true), 0.2);
  const res1 = n.add({ id: 'res1', kind: 'add', inputs: [x, proj], scales: [1, 1] });
  const f1 = n.if('attn/fc1_act', n.dense('attn/fc1', res1, 2 * DIM, DIM, 41, true), 0.3);
  const f2 = n.if('attn/fc2_act', n.dense('attn/fc2', f1, DIM, 2 * DIM, 43, true), 0.3);
  const res2 = n.add({ id: 'res2', kind: 'add', inputs: [res1, f2], scales: [1, 1] });
  const flat = n.add({ id: 'flat', kind: 'reshape', inputs: [res2] }, [TOKENS * DIM]);
  return n.build(n.dense('head', flat, CLASSES, TOKENS * DIM, 45, true));
}

describe('counting rule on a hand-sized transformer block (every class, per module, literature convention)', () => {
  const T = 24;
  const ir = blockNet();
  const POPS = ['stem/act', 'mlp/q_act', 'mlp/k_act', 'mlp/v_act', 'mlp/o_act', 'mlp/proj_act', 'attn/fc1_act', 'attn/fc2_act'];
  const SIZES = [12, 12, 12, 12, 12, 12, 24, 12];

  it('finds the attention and MLP modules from the residual structure, not the names', async () => {
    const r = await simulate(ir, X, { T });
    const moduleOf = Object.fromEntries(r.layers.map((l) => [l.id, l.module]));
    expect(moduleOf).toEqual({
      'stem/act': 'other',
      'mlp/q_act': 'attention',
      'mlp/k_act': 'attention',
      'mlp/v_act': 'attention',
      'mlp/o_act': 'attention',
      'mlp/proj_act': 'attention',
      'attn/fc1_act': 'mlp',
      'attn/fc2_act': 'mlp',
      'mlp/s': 'attention',
      'mlp/softmax': 'attention',
      'mlp/o': 'attention',
      head: 'other',
    });
  });

  it('counts SOPs, spike-pair products, analog × spike products and MACs by hand, per module (both rules)', async () => {
    for (const mode of ['per-step', 'accumulated'] as AttentionMode[]) {
      const r = await simulate(ir, X, { T, recordSpikes: true, attention: mode });
      expect(r.layers.filter((l) => l.kind === 'if').map((l) => l.id)).toEqual(POPS);
      const { offsets, indices } = r.spikes![0];
      const P = POPS.length;
      /** 0/1 matrix [rows, cols] of population p's spikes at step t (1-based). */
      const at = (p: number, t: number, cols: number) => {
        const m = Array.from({ length: SIZES[p] / cols }, () => new Array<number>(cols).fill(0));
        for (let j = offsets[(t - 1) * P + p]; j < offsets[(t - 1) * P + p + 1]; j++) m[Math.floor(indices[j] / cols)][indices[j] % cols] = 1;
        return m;
      };
      const total = (p: number) => Array.from({ length: T }, (_, i) => offsets[i * P + p + 1] - offsets[i * P + p]).reduce((a, b) => a + b, 0);
      const sp = POPS.map((_, p) => total(p));
      // Not vacuous: every population fires, none fires every neuron every step.
      sp.forEach((c, p) => expect(c, POPS[p]).toBeGreaterThan(0));
      sp.forEach((c, p) => expect(c, POPS[p]).toBeLessThan(T * SIZES[p]));
      const [X_, Q, K, V, O, PR, F1, F2] = [0, 1, 2, 3, 4, 5, 6, 7];
      const count = (m: number[][]) => m.flat().filter((x) => x !== 0).length;
      const pairs = (a: number[][], b: number[][]) => {
        let c = 0;
        const live = (m: number[][], d: number) => m.reduce((s2, row) => s2 + (row[d] !== 0 ? 1 : 0), 0);
        for (let d = 0; d < DIM; d++) c += live(a, d) * live(b, d);
        return c;
      };
      const liveColumns = (m: number[][]) => Array.from({ length: DIM }, (_, d) => (m.some((row) => row[d] !== 0) ? 1 : 0)).reduce((a: number, b) => a + b, 0);
      let products = 0;
      let analogSpike = 0;
      let analogAnalog = 0;
      let outElements = 0;
      const zero = () => Array.from({ length: TOKENS }, () => new Array<number>(DIM).fill(0));
      const [SQ, SK, SV] = [zero(), zero(), zero()];
      const addTo = (S: number[][], m: number[][]) => S.forEach((row, i) => row.forEach((_, d) => (row[d] += m[i][d])));
      for (let t = 1; t <= T; t++) {
        const [q, k, v] = [at(Q, t, DIM), at(K, t, DIM), at(V, t, DIM)];
        addTo(SK, k);
        addTo(SV, v);
        if (mode === 'per-step') {
          products += pairs(q, k);
          analogSpike += TOKENS * count(v);
          outElements += TOKENS * liveColumns(v);
        } else {
          products += pairs(q, SK) + pairs(SQ, k);
          analogAnalog += TOKENS * count(SV);
          analogSpike += t > 1 ? TOKENS * count(v) : 0;
          outElements += TOKENS * liveColumns(SV);
        }
        addTo(SQ, q);
      }
      const rescale = mode === 'accumulated' ? (T - 1) * (TOKENS * TOKENS + TOKENS * DIM) : 0;
      // Synapses, by the module of the receiving layer (x feeds q, k, v; x and proj feed fc1 and the head through the adds).
      const sops = {
        attention: sp[X_] * 3 * DIM + sp[O] * DIM,
        mlp: (sp[X_] + sp[PR]) * 2 * DIM + sp[F1] * DIM,
        other: (sp[X_] + sp[PR] + sp[F2]) * CLASSES,
      };
      const m = r.modules;
      expect([m.attention.sops, m.mlp.sops, m.other.sops], mode).toEqual([sops.attention, sops.mlp, sops.other]);
      expect([m.attention.products, m.mlp.products, m.other.products], mode).toEqual([products, 0, 0]);
      expect([m.attention.analog_spike_products, m.mlp.analog_spike_products, m.other.analog_spike_products], mode).toEqual([analogSpike, 0, 0]);
      expect(m.attention.spike_driven, mode).toBe(sops.attention + products + analogSpike);
      expect(m.mlp.spike_driven, mode).toBe(sops.mlp);
      // MACs: analog × analog products, rescaling and the second matmul's outputs into o (attention); the stem's dense input layer (other).
      expect(m.attention.macs, mode).toBe(analogAnalog + rescale + outElements);
      expect(m.mlp.macs).toBe(0);
      expect(m.other.macs).toBe(T * TOKENS * DIM * DIM);
      expect(m.attention.softmax_ops).toBe(T * TOKENS * TOKENS);
      expect(m.attention.spike_driven_pj).toBeCloseTo(0.9 * m.attention.spike_driven, 6);
      expect(m.attention.energy_45nm_pj).toBeCloseTo(0.9 * m.attention.spike_driven + 4.6 * (m.attention.macs + m.attention.softmax_ops), 6);
      expect(r.work.spike_driven).toBe(sops.attention + sops.mlp + sops.other + products + analogSpike);
      // Literature convention: rate × T × dense size. q·kᵀ charges every q spike for all 3 keys (3·4·3 FLOPs
      // over 12 q elements), attn·v every v spike for all 3 queries; synapses with a uniform fan-out equal the SOPs.
      const qkT = 3 * sp[Q];
      const av = 3 * sp[V];
      expect(m.attention.literature_ac, mode).toBeCloseTo(sops.attention + qkT + av, 6);
      expect(m.mlp.literature_ac).toBeCloseTo(sops.mlp, 6);
      expect(m.other.literature_ac).toBeCloseTo(sops.other, 6);
      expect(m.attention.literature_macs, mode).toBe(outElements);
      expect(m.other.literature_macs).toBe(T * TOKENS * DIM * DIM);
      expect(m.attention.literature_pj).toBeCloseTo(0.9 * m.attention.literature_ac + 4.6 * m.attention.literature_macs, 6);
      // The convention charges at least what the events did on q·kᵀ (equal only if every key spiked every step).
      expect(qkT * DIM).toBeGreaterThanOrEqual(mode === 'per-step' ? products : 0);
      const mm1 = r.layers.find((l) => l.id === 'mlp/s')!;
      expect(mm1.literature_ac_per_sample).toBeCloseTo(qkT, 6);
      expect(r.layers.find((l) => l.id === 'mlp/o')!.literature_ac_per_sample).toBeCloseTo(av, 6);
      expect(r.layers[X_].literature_ac_per_sample).toBeCloseTo(sp[X_] * (3 * DIM + 2 * DIM + CLASSES), 6);
    }
  });
});
