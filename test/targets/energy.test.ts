/**
 * Every energy and latency figure of a chip report is reproducible by hand: recomputed here from the
 * counts in the same JSON, the chip spec file's constants and the map's core positions, without the
 * model code (targets/energy.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configureFromMap, type ChipReport, runChip } from '../../targets/chip/simulate.ts';
import { loadChipSpec } from '../../targets/chip-spec.ts';
import { buildMap, type MapDocument } from '../../targets/map/map-file.ts';
import { compileFixture, root, samples } from './helpers.ts';

interface SpecFile {
  events: Record<string, { energy_pj: number; latency_ns: number }>;
  barrier: { tiles: number[]; latency_ns: number[]; energy_pj: number };
  clock_mhz: { value: number };
  mesh: { tiles_x: number; tiles_y: number };
}

function specFile(name: string): SpecFile {
  return JSON.parse(readFileSync(join(root, 'targets', 'chips', `${name}.json`), 'utf8')) as SpecFile;
}

function run(model: 'digits_mlp' | 'fmnist_cnn_qcfs', chipName: string, n: number, T: number): { report: ChipReport; map: MapDocument } {
  const ir = compileFixture(model);
  const data = model === 'digits_mlp' ? samples('digits_test_x.npy', 'digits_test_y.npy', n) : samples('fmnist_test_x.npy', 'fmnist_test_y.npy', n);
  const { doc } = buildMap(ir, 'x', '0'.repeat(64), loadChipSpec(chipName));
  const { report } = runChip(configureFromMap(doc, ir), data.input, { T, labels: data.labels, trace: true });
  // "The same JSON": everything below reads the serialised report only.
  return { report: JSON.parse(JSON.stringify(report)) as ChipReport, map: doc };
}

const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 6 - Math.max(0, Math.ceil(Math.log10(Math.abs(b) + 1))));

const cases: Array<['digits_mlp' | 'fmnist_cnn_qcfs', string, number, number]> = [
  ['digits_mlp', 'loihi1', 6, 8],
  ['digits_mlp', 'loihi1-sanafe', 6, 8],
  ['fmnist_cnn_qcfs', 'loihi1', 1, 4],
  ['fmnist_cnn_qcfs', 'loihi1-sanafe', 1, 4],
];

describe('energy and latency from the counts in the report', () => {
  for (const [model, chipName, n, T] of cases) {
    it(`${model} on ${chipName}`, () => {
      const { report, map } = run(model, chipName, n, T);
      const spec = specFile(chipName);
      const c = report.counts as unknown as Record<string, number>;
      const ev = spec.events;

      // Energy per inference: counts × the spec's constants; 45 nm: SOPs × 0.9 pJ + MACs × 4.6 pJ.
      const chipPj = Object.keys(ev).reduce((a, e) => a + c[e] * ev[e].energy_pj, 0) + c.barrier * spec.barrier.energy_pj;
      close(report.energy.per_inference.chip.total_pj, chipPj);
      close(report.energy.per_inference.nm45_snn.total_pj, c.synaptic_op * 0.9 + c.host_macs * 4.6);
      close(report.energy.per_inference.nm45_ann.total_pj, c.ann_macs * 4.6);
      close(report.energy.per_step_pj.chip, chipPj / T);
      for (const term of report.energy.per_inference.chip.terms) expect(term.source.length).toBeGreaterThan(10);
      // Per layer, the chip energy adds up to the whole (the barrier costs no energy in either preset).
      close(report.layers.reduce((a, l) => a + l.energy_pj.chip, 0), chipPj - c.barrier * spec.barrier.energy_pj);
      expect(c.barrier).toBe(T);

      // Latency per step from the trace: Σ over phases of the slowest sender + the longest route + the slowest receiver, + barrier.
      const tiles = new Set(map.cores.map((k) => k.tile.join(','))).size;
      const [t0, t1] = spec.barrier.tiles;
      const [l0, l1] = spec.barrier.latency_ns;
      const barrier = spec.barrier.tiles.length === 1 ? l0 : l0 + ((tiles - t0) * (l1 - l0)) / (t1 - t0);
      close(report.latency.barrier_ns, barrier);
      let total = 0;
      let sops = 0;
      let hops = 0;
      for (const sample of report.trace!) {
        expect(sample.length).toBe(T);
        for (const step of sample) {
          let ns = 0;
          for (const phase of step.phases) {
            let send = 0;
            let receive = 0;
            for (const [, active, inactive, spikes, out, inn, synops] of phase.cores) {
              send = Math.max(send, active * ev.neuron_active.latency_ns + inactive * ev.neuron_inactive.latency_ns + spikes * ev.spike_out.latency_ns + out * ev.message_out.latency_ns);
              receive = Math.max(receive, inn * ev.message_in.latency_ns + synops * ev.synaptic_op.latency_ns);
              sops += synops;
            }
            let route = 0;
            for (const [from, to, messages] of phase.routes) {
              const [x0, y0] = map.cores[from].tile;
              const [x1, y1] = map.cores[to].tile;
              route = Math.max(route, Math.abs(x1 - x0) * ev.hop_ew.latency_ns + Math.abs(y1 - y0) * ev.hop_ns.latency_ns);
              hops += messages * (Math.abs(x1 - x0) + Math.abs(y1 - y0));
            }
            close(phase.ns, send + route + receive);
            ns += send + route + receive;
          }
          close(step.ns, ns + barrier);
          total += ns + barrier;
        }
      }
      close(report.latency.per_inference_ns, total / n);
      close(report.latency.per_step_ns.mean, total / n / T);
      close(report.latency.per_inference_cycles, ((total / n) * spec.clock_mhz.value) / 1000);
      // The trace's counts are the report's counts.
      close(sops / n, c.synaptic_op);
      close(hops / n, c.hop_ew + c.hop_ns + c.chip_hop);
      close(report.links.spike_hops, c.hop_ew + c.hop_ns + c.chip_hop);
    });
  }
});
