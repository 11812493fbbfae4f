/**
 * Partitioning under the four per-core limits: a synthetic layer that breaks one limit on its own is split
 * so that every core fits every limit (recounted by brute force from the plan), and the map names that
 * limit as the one that binds. A neuron no slicing can place is refused with the limit and the excess.
 */
import { describe, expect, it } from 'vitest';
import type { IrNode } from '../../compiler/ir/types.ts';
import { buildPlan } from '../../runtime/snn/plan.ts';
import { LIMITS, type LimitName, loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap, GREEDY_MAX_SYNAPSES } from '../../targets/map/map-file.ts';
import { chipNetwork, lowerBound } from '../../targets/map/partition.ts';
import { IrBuilder } from '../helpers/ir-builder.ts';
import { limitNetwork, recount, wordsFor } from './helpers.ts';
import { tableOf } from '../../runtime/snn/routes.ts';

const spec = loadChipSpec('loihi1');
const NO_SHA = '0'.repeat(64);

/** What the whole layer would need as one slice, counted from the plan (output axons against the final slicing). */
function asOneSlice(limit: LimitName, layer: string, ir: ReturnType<typeof limitNetwork>['ir']): { need: number; others: Record<LimitName, number> } {
  const plan = buildPlan(ir);
  const { doc } = buildMap(ir, 'x', NO_SHA, spec);
  const pop = plan.pops.find((p) => p.id === layer) ?? { offset: plan.readout.offset, size: plan.readout.size, streams: [] as number[] };
  const inside = (c: number) => c >= pop.offset && c < pop.offset + pop.size;
  let inAxons = 0;
  let words = 0;
  for (const s of plan.streams) {
    const { rowPtr, col } = tableOf(s.fanout);
    for (let i = 0; i + 1 < rowPtr.length; i++) {
      let n = 0;
      for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) if (inside(col[j])) n++;
      if (n > 0) {
        inAxons++;
        words += wordsFor(n, spec);
      }
    }
  }
  const outAxons = doc.layers.find((l) => l.id === layer)!.use.output_axons;
  const use: Record<LimitName, number> = { neurons: pop.size, input_axons: inAxons, output_axons: outAxons, synapse_words: words };
  const others = { ...use };
  return { need: use[limit], others };
}

describe('a layer that breaks one limit on its own', () => {
  for (const limit of LIMITS) {
    it(`is split under ${limit.replace('_', ' ')}, which the map names as binding`, () => {
      const { ir, target } = limitNetwork(limit);
      const plan = buildPlan(ir);
      const { doc } = buildMap(ir, 'x', NO_SHA, spec);
      const layer = doc.layers.find((l) => l.id === target)!;
      const cap = spec.limits[limit].value;

      // As one slice, the layer needs more than a core has of this limit, and fits every other limit.
      const { need, others } = asOneSlice(limit, target, ir);
      expect(need).toBeGreaterThan(cap);
      for (const other of LIMITS) if (other !== limit) expect(others[other], other).toBeLessThanOrEqual(spec.limits[other].value);

      expect(layer.binding).toBe(limit);
      expect(layer.slices).toBeGreaterThanOrEqual(Math.ceil(need / cap));
      // Every closed slice of the layer stopped at this limit.
      for (const s of doc.slices.filter((x) => x.layer === target && x.closed_by !== null)) expect(s.closed_by).toBe(limit);

      // Every core fits all four limits, by an independent recount that also matches the map's figures.
      const use = recount(plan, doc);
      use.forEach((u, c) => {
        LIMITS.forEach((l, r) => {
          expect(u[r], `core ${c} ${l}`).toBeLessThanOrEqual(spec.limits[l].value);
          expect(doc.cores[c].use[l], `core ${c} ${l}`).toBe(u[r]);
        });
      });
      // Each neuron of each layer is in exactly one slice.
      for (const l of doc.layers) {
        const seen = new Uint8Array(l.neurons);
        for (const s of doc.slices.filter((x) => x.layer === l.id)) for (const [a, b] of s.ranges) for (let t = a; t < b; t++) seen[t]++;
        expect(seen.every((x) => x === 1)).toBe(true);
      }
      // The lower bound is a bound.
      expect(doc.totals.cores).toBeGreaterThanOrEqual(doc.totals.lower_bound.cores);
    });
  }

  it('refuses a neuron whose fan-in exceeds the input axons of a core, with the excess', () => {
    const b = new IrBuilder([4]);
    const a = b.if(b.dense('input', new Float32Array(5000 * 4).fill(0.1), [5000, 4]), 1, { id: 'a' });
    const ir = b.build(b.dense(a, new Float32Array(2 * 5000).fill(0.01), [2, 5000], { id: 'out' }));
    expect(() => buildMap(ir, 'x', NO_SHA, spec, { readout: 'cores' })).toThrow(/neuron out\[0\] receives spikes from 5000 source neurons: more than the 4096 input axons of a loihi1 core \(by 904\)/);
  });

  it('gives a lower bound that the neuron-limited network attains', () => {
    const { ir } = limitNetwork('neurons');
    const net = chipNetwork(ir, buildPlan(ir));
    const lb = lowerBound(net.plan, net.pops, spec);
    expect(lb.by_limit.neurons).toBe(Math.ceil((16 + 3000 + 4) / 1024));
    expect(buildMap(ir, 'x', NO_SHA, spec).doc.totals.cores).toBe(lb.cores);
  });

  it('puts host nodes (a product of two spike tensors) on a host processor, and refuses them by name on a chip without one', () => {
    const b = new IrBuilder([4, 8]);
    const q = b.if('input', 0.5, { id: 'q' });
    const kt = b.transpose(q, [1, 0], 'kt');
    const ir = b.build(kt);
    ir.nodes.push({ id: 'scores', kind: 'matmul', inputs: [q, kt], shape: [4, 4], onnx: ['scores'] } as IrNode);
    ir.nodes.push({ id: 'flat', kind: 'reshape', inputs: ['scores'], shape: [16], onnx: ['flat'] } as IrNode);
    ir.output = { id: 'flat', shape: [16] };
    const mapped = buildMap(ir, 'x', NO_SHA, spec).doc;
    expect(mapped.host).toEqual({ placement: 'embedded', nodes: [{ id: 'scores', kind: 'matmul', size: 16, operands: [32, 32] }] });
    // The cores hold q and the readout only.
    expect(mapped.layers.map((l) => l.id)).toEqual(['q', 'flat']);
    const bare = { ...spec, host: undefined };
    expect(() => buildMap(ir, 'x', NO_SHA, bare)).toThrow(/scores \(matmul\): host nodes \(no fixed synapses, so no neuromorphic core can hold them\) need a host processor/);
  });

  it('refuses --partitioner greedy, which lists every synapse, beyond its limit in one line (600 M synapses, planned from the routes in well under a second)', () => {
    const b = new IrBuilder([64, 128, 128]);
    const w = new Float32Array(64 * 64 * 9).fill(0.01);
    const A = b.if(b.conv2d('input', w, [64, 64, 3, 3], { pads: [1, 1, 1, 1] }), 0.5, { id: 'A' });
    const B = b.if(b.conv2d(A, w, [64, 64, 3, 3], { pads: [1, 1, 1, 1] }), 0.5, { id: 'B' });
    const ir = b.build(b.dense(b.reshape(b.avgpool(B, [128, 128]), [64]), new Float32Array(640).fill(0.1), [10, 64]));
    // A → B: 64 × 64 channel pairs × (3·128 − 2)² (taps inside the padded border, per axis); B → pool → dense: 10 each.
    const synapses = 64 * 64 * (3 * 128 - 2) ** 2 + 64 * 128 * 128 * 10;
    expect(synapses).toBeGreaterThan(GREEDY_MAX_SYNAPSES);
    expect(() => buildMap(ir, 'x', NO_SHA, spec, { partitioner: 'greedy' })).toThrow(
      `--partitioner greedy lists every synapse: ${synapses} synapses, more than its ${GREEDY_MAX_SYNAPSES} (by ${synapses - GREEDY_MAX_SYNAPSES}); use --partitioner blocks (or auto)`,
    );
  });
});
