/**
 * Shared by the target tests: synthetic IRs that break one per-core limit each, an independent recount of
 * a map's resources from the plan (brute force, not the partitioner's code), and fixture loading.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';
import { writeIr } from '../../compiler/ir/io.ts';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { activationStats } from '../../runtime/ann/calibrate.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { readNpy, toFloatTensor, toLabels } from '../../runtime/npy.ts';
import type { NetworkPlan } from '../../runtime/snn/plan.ts';
import { type ChipSpec, loadChipSpec } from '../../targets/chip-spec.ts';
import type { MapDocument } from '../../targets/map/map-file.ts';
import { IrBuilder } from '../helpers/ir-builder.ts';
import { type Fanout, tableOf } from '../../runtime/snn/routes.ts';

export const root = resolve(import.meta.dirname, '..', '..');
export const fixture = (name: string) => join(root, 'test', 'fixtures', name);

/** `n` samples of a fixture data set as raw float32 (the IR's divisor applies later) and their labels. */
export function samples(x: string, y: string, n: number): { input: Float32Array; labels: Int32Array } {
  const arr = readNpy(fixture(x));
  const per = arr.data.length / arr.shape[0]!;
  const input = toFloatTensor({ ...arr, shape: [n, ...arr.shape.slice(1)], data: arr.data.subarray(0, n * per) as typeof arr.data }).data as Float32Array;
  return { input, labels: toLabels(readNpy(fixture(y))).subarray(0, n) };
}

/** Dense weight [out, in] with w(o, i), zero meaning "no synapse". */
function weights(out: number, inn: number, w: (o: number, i: number) => number): Float32Array {
  const a = new Float32Array(out * inn);
  for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) a[o * inn + i] = w(o, i);
  return a;
}

const small = (o: number, i: number) => 0.01 + ((o * 7 + i * 13) % 17) / 100;

/**
 * One synthetic network per limit; the layer named `target` breaks that limit alone.
 *  neurons:       'big' has 3000 neurons, each with one incoming synapse
 *  input_axons:   'wide' has 6 neurons with 1000 disjoint sources each (6000 sources in all)
 *  output_axons:  'src' (600 neurons) feeds all of 'dst', which synapse memory cuts into ~14 slices
 *  synapse_words: 'dense' (300 neurons) receives all-to-all from 200 sources: 17,800 words in one slice
 */
export function limitNetwork(limit: 'neurons' | 'input_axons' | 'output_axons' | 'synapse_words'): { ir: SnnIr; target: string } {
  if (limit === 'neurons') {
    const b = new IrBuilder([16]);
    const a = b.if(b.dense('input', weights(16, 16, small), [16, 16]), 0.5, { id: 'a' });
    const big = b.if(b.dense(a, weights(3000, 16, (o, i) => (o % 16 === i ? 0.3 : 0)), [3000, 16]), 0.5, { id: 'big' });
    return { ir: b.build(b.dense(big, weights(4, 3000, (o, i) => (i % 4 === o ? 0.1 : 0)), [4, 3000])), target: 'big' };
  }
  if (limit === 'input_axons') {
    const b = new IrBuilder([8]);
    const a = b.if(b.dense('input', weights(6000, 8, small), [6000, 8]), 0.5, { id: 'a' });
    const wide = b.if(b.dense(a, weights(6, 6000, (o, i) => (Math.floor(i / 1000) === o ? 0.002 : 0)), [6, 6000]), 0.5, { id: 'wide' });
    return { ir: b.build(b.dense(wide, weights(3, 6, small), [3, 6])), target: 'wide' };
  }
  if (limit === 'output_axons') {
    const b = new IrBuilder([4]);
    const src = b.if(b.dense('input', weights(600, 4, small), [600, 4]), 0.5, { id: 'src' });
    const dst = b.if(b.dense(src, weights(1200, 600, small), [1200, 600]), 2, { id: 'dst' });
    return { ir: b.build(b.dense(dst, weights(3, 1200, small), [3, 1200])), target: 'src' };
  }
  const b = new IrBuilder([4]);
  const src = b.if(b.dense('input', weights(200, 4, small), [200, 4]), 0.5, { id: 'src' });
  const dense = b.if(b.dense(src, weights(300, 200, small), [300, 200]), 2, { id: 'dense' });
  return { ir: b.build(b.dense(dense, weights(3, 300, small), [3, 300])), target: 'dense' };
}

/** nengo-loihi's bits_per_axon in words, written out again independently of chip-spec.ts. */
export function wordsFor(n: number, spec: ChipSpec): number {
  const e = spec.synapse_encoding;
  let words = 0;
  for (let i = 0; i < n; i += e.max_synapses_per_group) {
    const k = Math.min(e.max_synapses_per_group, n - i);
    words += Math.ceil((k * (e.weight_bits + e.index_bits) + e.group_header_bits) / e.word_bits);
  }
  return words;
}

/**
 * Recounts every core's neurons, input axons, output axons and synapse words from the plan's tables and the
 * map's slices, by brute force over all synapses: (stream, row, destination slice) triples are the axons.
 */
export function recount(plan: NetworkPlan, doc: MapDocument): Array<[number, number, number, number]> {
  const layerOffset = new Map<string, number>(plan.pops.map((p) => [p.id, p.offset]));
  layerOffset.set(plan.readout.id, plan.readout.offset);
  const sliceOf = new Map<number, number>();
  doc.slices.forEach((s, k) => {
    for (const [a, b] of s.ranges) for (let t = a; t < b; t++) sliceOf.set(layerOffset.get(s.layer)! + t, k);
  });
  const use = doc.cores.map((): [number, number, number, number] => [0, 0, 0, 0]);
  doc.slices.forEach((s) => (use[s.core][0] += s.neurons));
  plan.streams.forEach((stream) => {
    const { rowPtr, col } = tableOf(stream.fanout);
    const offset = plan.pops[stream.pop].offset;
    for (let i = 0; i + 1 < rowPtr.length; i++) {
      const perSlice = new Map<number, number>();
      for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
        const s = sliceOf.get(col[j])!;
        perSlice.set(s, (perSlice.get(s) ?? 0) + 1);
      }
      const from = doc.slices[sliceOf.get(offset + i)!].core;
      for (const [s, n] of perSlice) {
        const to = doc.slices[s].core;
        use[from][2]++;
        use[to][1]++;
        use[to][3] += wordsFor(n, doc.chip);
      }
    }
  });
  return use;
}

const LOWER: LowerOptions = { divisor: 1, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {} };

/** Lowers a fixture model as `snnc compile` does (QCFS: no calibration; digits: 99.9-percentile balancing). */
export function compileFixture(name: 'fmnist_cnn_qcfs' | 'digits_mlp'): SnnIr {
  const graph = loadOnnx(fixture(`${name}.onnx`));
  if (name === 'fmnist_cnn_qcfs') return lower(graph, { ...LOWER, divisor: 255 }).ir;
  const calib = toFloatTensor(readNpy(fixture('digits_calib_x.npy')));
  return lower(graph, LOWER, (requests) => activationStats(graph, calib, requests, { percentile: 99.9 })).ir;
}

/** A fresh temporary folder, removed after the file's tests. */
export function tempFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'snnc-targets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes an IR into `dir` and returns its path. */
export function saveIr(ir: SnnIr, dir: string, name: string): string {
  const file = join(dir, `${name}.snn.json`);
  writeIr(ir, file);
  return file;
}

/** loihi1 with small cores (neurons, input and output axons, synapse words), so that small layers are cut into many blocks. */
export function smallCores(neurons: number, axons: number, words: number): ChipSpec {
  const loihi = loadChipSpec('loihi1');
  const limits = structuredClone(loihi.limits);
  limits.neurons.value = neurons;
  limits.input_axons.value = axons;
  limits.output_axons.value = axons;
  limits.synapse_words.value = words;
  return { ...loihi, limits };
}

/**
 * The messages of each source element of a stream, counted from its composed table (the oracle of the chip's
 * closed-form counts): per element, [destination slice, synapses into it] sorted by slice.
 */
export function tableMessages(fanout: Fanout, sliceOf: Int32Array): Array<Array<[number, number]>> {
  const { rowPtr, col } = tableOf(fanout);
  return Array.from({ length: rowPtr.length - 1 }, (_, i) => {
    const bySlice = new Map<number, number>();
    for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) bySlice.set(sliceOf[col[j]], (bySlice.get(sliceOf[col[j]]) ?? 0) + 1);
    return [...bySlice].sort((x, y) => x[0] - y[0]);
  });
}
