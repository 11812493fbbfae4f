/**
 * Runs an exported time-stepped ONNX model (export.ts) with onnxruntime-node on CPU, batch by batch, and reads
 * back what `simulate` reports: predictions and accuracy at every checked T, the logits at T, spike counts
 * per neuron, and the SOPs recomputed from those counts and the plan's fan-out (a spike of neuron i on stream
 * s costs fanOut_s[i] synaptic operations: exactly the simulator's count when the spikes are the same).
 */
import { SnncError } from '../../compiler/errors.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { sizeOf } from '../../runtime/ir/broadcast.ts';
import type { NetworkPlan } from '../../runtime/snn/plan.ts';
import { maskInputName, rsmMasks, spikeOutputName } from './export.ts';

export interface OnnxRunOptions {
  T: number;
  /** Seed of the masks (as simulate's --seed). */
  seed?: number;
  labels?: Int32Array;
  /** Samples per session run (default 25: on two cores, 25 ran faster than 10, 50 or 100). */
  batch?: number;
  /** onnxruntime's intra-op threads (default: its own choice). */
  threads?: number;
  /** Keep every sample's spike counts per neuron (samples × size per population): to compare spike trains. */
  keepCounts?: boolean;
  onProgress?(done: number, total: number): void;
}

export interface OnnxRunResult {
  checkpoints: number[];
  /** samples × checkpoints: argmax of the logits at each checked T (ties to the first class, as simulate). */
  predictions: Int32Array;
  accuracy: Record<string, number> | null;
  /** samples × classes: the logits at T. */
  logits: Float32Array;
  /** samples × checkpoints × classes: the logits at every checked T. */
  checkpointLogits: Float32Array;
  classes: number;
  /** Per population and mask id: spikes per neuron summed over the samples. */
  spikeTotals: Map<string, Float64Array>;
  /** With keepCounts: per id, samples × size. */
  counts?: Map<string, Float32Array>;
  /** Wall-clock seconds of the session runs (session creation excluded). */
  seconds: number;
}

type Ort = typeof import('onnxruntime-node');

async function loadOrt(): Promise<Ort> {
  try {
    return await import('onnxruntime-node');
  } catch (e) {
    throw new SnncError(`onnxruntime-node is not installed (${String((e as Error).message).split('\n')[0]}); reinstall with ONNXRUNTIME_NODE_INSTALL=skip in the environment`);
  }
}

export async function runOnnxExport(bytes: Uint8Array, ir: SnnIr, input: Float32Array, opts: OnnxRunOptions): Promise<OnnxRunResult> {
  const ort = await loadOrt();
  const inputSize = sizeOf(ir.input.shape);
  const samples = input.length / inputSize;
  if (!Number.isInteger(samples) || samples === 0) throw new SnncError(`input has ${input.length} values: not a whole number of samples of ${inputSize}`);
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    // Threads that spin between ops only burn a shared machine's cores: measured 1.5–2× fewer images per CPU second.
    extra: { session: { 'intra_op.allow_spinning': '0' } },
  });
  try {
    const classes = sizeOf(ir.output.shape);
    const pops = ir.nodes.filter((n) => n.kind === 'if' || n.kind === 'rsm');
    const checkpoints: number[] = [];
    const spikeTotals = new Map(pops.map((n) => [n.id, new Float64Array(sizeOf(n.shape))]));
    const counts = opts.keepCounts ? new Map(pops.map((n) => [n.id, new Float32Array(samples * sizeOf(n.shape))])) : undefined;
    let predictions = new Int32Array(0);
    let checkpointLogits = new Float32Array(0);
    const logits = new Float32Array(samples * classes);
    const batch = opts.batch ?? 25;
    const start = performance.now();
    for (let from = 0; from < samples; from += batch) {
      const n = Math.min(batch, samples - from);
      const feeds: Record<string, InstanceType<Ort['Tensor']>> = {
        input: new ort.Tensor('float32', input.subarray(from * inputSize, (from + n) * inputSize), [n, ...ir.input.shape]),
      };
      for (const [id, keep] of rsmMasks(ir, opts.T, opts.seed ?? 0, from, n)) {
        const node = ir.nodes.find((x) => x.id === id)!;
        feeds[maskInputName(id)] = new ort.Tensor('uint8', keep, [opts.T, n, ...node.shape]);
      }
      const out = await session.run(feeds);
      const l = out.logits.data as Float32Array;
      const K = out.logits.dims[0];
      if (checkpoints.length === 0) {
        const T = opts.T;
        for (let t = 1; t < T; t *= 2) checkpoints.push(t);
        checkpoints.push(T);
        if (checkpoints.length !== K) throw new SnncError(`the model outputs ${K} checkpoints, T = ${T} has ${checkpoints.length}: was it exported with another -T?`);
        predictions = new Int32Array(samples * K);
        checkpointLogits = new Float32Array(samples * K * classes);
      }
      for (let k = 0; k < K; k++) {
        for (let s = 0; s < n; s++) {
          const row = (k * n + s) * classes;
          let best = 0;
          for (let c = 1; c < classes; c++) if (l[row + c] > l[row + best]) best = c;
          predictions[(from + s) * K + k] = best;
          checkpointLogits.set(l.subarray(row, row + classes), ((from + s) * K + k) * classes);
          if (k === K - 1) logits.set(l.subarray(row, row + classes), (from + s) * classes);
        }
      }
      for (const node of pops) {
        const c = out[spikeOutputName(node.id)].data as Float32Array;
        const total = spikeTotals.get(node.id)!;
        const size = total.length;
        for (let s = 0; s < n; s++) for (let i = 0; i < size; i++) total[i] += c[s * size + i];
        counts?.get(node.id)!.set(c, from * size);
      }
      opts.onProgress?.(from + n, samples);
    }
    const seconds = (performance.now() - start) / 1000;
    let accuracy: Record<string, number> | null = null;
    if (opts.labels) {
      accuracy = {};
      checkpoints.forEach((t, k) => {
        let correct = 0;
        for (let s = 0; s < samples; s++) if (predictions[s * checkpoints.length + k] === opts.labels![s]) correct++;
        accuracy![String(t)] = correct / samples;
      });
    }
    return { checkpoints, predictions, accuracy, logits, checkpointLogits, classes, spikeTotals, counts, seconds };
  } finally {
    await session.release();
  }
}

/**
 * SOPs from spike counts: per stream of the plan (a population's unmasked spikes, or a mask's survivors) and per
 * route of its fan-out, Σ_i count[i] · fanOut[i], where fanOut[i] is the number of synapses neuron i's spike
 * reaches on that route. Routes into a host node's operands (transformers' matmul and softmax inputs) are not
 * synapses: simulate counts them as host inputs, and so does this (`hostInputs`).
 */
export function sopsFromSpikeCounts(plan: NetworkPlan, totals: Map<string, ArrayLike<number>>): { total: number; hostInputs: number; perStream: Record<string, number> } {
  const perStream: Record<string, number> = {};
  let total = 0;
  let hostInputs = 0;
  for (const stream of plan.streams) {
    const c = totals.get(stream.id);
    if (!c) throw new SnncError(`no spike counts for stream ${stream.id}`);
    let sops = 0;
    for (const route of stream.fanout.routes) {
      let n = 0;
      for (let i = 0; i < route.fanOut.length; i++) n += c[i] * route.fanOut[i];
      // Work categories are module · 2 + host (runtime/snn/modules.ts): odd ones are a host's operands.
      if (route.category % 2 === 1) hostInputs += n;
      else sops += n;
    }
    perStream[stream.id] = sops;
    total += sops;
  }
  return { total, hostInputs, perStream };
}
