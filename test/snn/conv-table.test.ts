/**
 * The conv twin (runtime/snn/conv-table.ts, delivered by the WebAssembly kernel) against the composed table
 * it stands for (buildPlan with `structured: false`): the same network simulated with and without the twins must give the same spikes at every step, the
 * same logits bit for bit and the same SOP counts, over strides, asymmetric pads, dilation, groups, an odd
 * number of output channels (the kernel's scalar tail), zero weights, per-channel thresholds and masks.
 */
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { simulatePlan } from '../../runtime/snn/simulate.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

interface ConvCase {
  name: string;
  cin: number;
  cout: number;
  groups?: number;
  strides?: [number, number];
  pads?: [number, number, number, number];
  dilations?: [number, number];
  kernel?: [number, number];
  /** Per-channel thresholds on the source population. */
  perChannel?: boolean;
  mask?: number;
}

const H = 9;

/** input [cin, 9, 9] → IF A → (mask) → the conv under test → IF B → conv 1×1 readout. */
function network(c: ConvCase) {
  const b = new IrBuilder([c.cin, H, H]);
  const theta = c.perChannel ? Array.from({ length: c.cin }, (_, i) => 0.6 + 0.2 * i) : 0.8;
  const a = b.if('input', theta, { id: 'A', vInit: 0.5, axis: 0 });
  const src = c.mask === undefined ? a : b.rsm(a, c.mask, 'mask');
  const [kh, kw] = c.kernel ?? [3, 3];
  const groups = c.groups ?? 1;
  const weights = randomArray(5, c.cout * (c.cin / groups) * kh * kw, -0.4, 0.9);
  for (let i = 0; i < weights.length; i += 7) weights[i] = 0;
  const conv = b.conv2d(src, weights, [c.cout, c.cin / groups, kh, kw], {
    strides: c.strides,
    pads: c.pads,
    dilations: c.dilations,
    groups,
    bias: randomArray(6, c.cout, -0.05, 0.1),
    id: 'conv',
  });
  const spikes = b.if(conv, 1, { id: 'B', vInit: 0.5 });
  return b.build(b.conv2d(spikes, randomArray(7, 3 * c.cout, -1, 1), [3, c.cout, 1, 1], { id: 'readout' }));
}


const CASES: ConvCase[] = [
  { name: '3×3 stride 1 pad 1, 5 output channels (odd: scalar tail)', cin: 3, cout: 5, pads: [1, 1, 1, 1] },
  { name: '3×3 stride 2, asymmetric pads, dilation 2', cin: 2, cout: 8, strides: [2, 2], pads: [1, 0, 2, 1], dilations: [2, 2] },
  { name: '2×3 kernel, stride (1, 2), per-channel thresholds', cin: 4, cout: 6, kernel: [2, 3], strides: [1, 2], perChannel: true },
  { name: 'groups 2 (3 output channels per group)', cin: 4, cout: 6, groups: 2, pads: [1, 1, 1, 1] },
  { name: 'depthwise (1 output channel per group)', cin: 4, cout: 4, groups: 4, pads: [1, 1, 1, 1] },
  { name: 'masked at 0.5', cin: 3, cout: 8, strides: [2, 2], pads: [1, 1, 1, 1], mask: 0.5 },
];

describe('conv twin', () => {
  for (const c of CASES) {
    it(`${c.name}: same spikes, logits and SOPs as the CSR`, async () => {
      const ir = network(c);
      const plan = buildPlan(ir);
      const stream = plan.streams.find((s) => s.id === (c.mask === undefined ? 'A' : 'mask'))!;
      expect(stream.conv).not.toBeNull();
      const samples = 4;
      const input = randomArray(9, samples * c.cin * H * H, 0, 1.2);
      const opts = { T: 24, seed: 3, recordSpikes: true, workers: 1 };
      const fast = await simulatePlan(plan, input, opts);
      const plain = await simulatePlan(buildPlan(ir, { structured: false }), input, opts);
      expect(fast.spikes!.length).toBe(samples);
      const spikes = fast.spikes!.reduce((n, r) => n + r.indices.length, 0);
      expect(spikes).toBeGreaterThan(samples * 24 * 10);
      fast.spikes!.forEach((r, s) => {
        expect(Buffer.from(r.indices.buffer, r.indices.byteOffset, r.indices.byteLength).equals(Buffer.from(plain.spikes![s].indices.buffer, plain.spikes![s].indices.byteOffset, plain.spikes![s].indices.byteLength))).toBe(true);
        expect(r.offsets).toEqual(plain.spikes![s].offsets);
      });
      expect(fast.logits).toEqual(plain.logits);
      expect(fast.layers.map((l) => l.sops_per_sample)).toEqual(plain.layers.map((l) => l.sops_per_sample));
      expect(fast.masks).toEqual(plain.masks);
    });
  }

  it('is not built when θ varies within a channel (a composed table serves), and the network still simulates', async () => {
    const b = new IrBuilder([2, 4, 4]);
    const a = b.if('input', [0.5, 0.7, 0.9, 1.1], { id: 'A', axis: 1 });
    const conv = b.conv2d(a, randomArray(3, 2 * 2 * 9), [2, 2, 3, 3], { pads: [1, 1, 1, 1], id: 'conv' });
    const plan = buildPlan(b.build(b.conv2d(b.if(conv, 1), randomArray(4, 2), [1, 2, 1, 1])));
    expect(plan.streams[0].conv).toBeNull();
    const r = await simulatePlan(plan, randomArray(8, 2 * 32, 0, 1), { T: 8, workers: 1 });
    expect(r.layers[0].spikes_per_sample).toBeGreaterThan(0);
  });
});
