/**
 * Functional SNN simulator: accuracy at every T ≤ T_max from one causal run, and the work counts
 * (SOPs, MACs, neuron updates, spikes and mask statistics per layer; for transformers also the analog
 * nodes' products and softmax ops, and everything per module). Samples are split over worker threads in
 * contiguous ranges; results are identical for any number of workers.
 *
 * Counting rules (docs/transformers.md). Every operation a spike triggers is an accumulation (AC), in
 * one of three classes; only analog × analog products are MACs:
 * - SOP (AC): one spike delivered to one synapse of a population or the readout (fixed weights). A spike
 *   that reaches a host node's operand is not an SOP: it is a host input, and the work it causes there is
 *   counted as products.
 * - spike-pair product (AC): one multiplication of two non-zero factors inside a matmul whose operands are
 *   both spike-driven. Per-step mode: pairs of this step's values; accumulated mode: the pairs of the
 *   incremental update a(t)·S_B(t) + S_A(t−1)·b(t), each triggered by this step's spike.
 * - analog × spike product (AC): a product of a matmul with one spike-driven operand in which the spike
 *   is this step's (per step: all of them; accumulated: the half of the update triggered by the spike).
 * - MAC: the input layers' dense evaluation (every step), analog × analog products (accumulated mode: an
 *   analog increment times the other operand's running sum), accumulated-mode output rescaling (one per
 *   matmul output element per step from t = 2), and analog outputs delivered through synapse tables (one
 *   per non-zero output element per table entry to a core).
 * - softmax op: one element of one softmax evaluation (once per element per step, both modes).
 * - host input: one value (spike or analog output) written into a host node's operand, per table entry.
 * - literature convention (Spikformer, MST): E_AC × firing rate of a layer's spike input × T × its dense
 *   FLOPs, for every layer fed by spikes (composed synapse tables, and matmuls including q·kᵀ and attn·v,
 *   the rate being that of A if A is spike-driven, else of B); layers fed by analog values at E_MAC × FLOPs.
 */
import type { Worker } from 'node:worker_threads';
import { SnncError } from '../../compiler/errors.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import { arraySource, specForRange, type SampleSource } from '../data/source.ts';
import { startWorker, threadCount } from '../threads.ts';
import type { ConvTable } from './conv-table.ts';
import { type AttentionMode, type ChunkOptions, type ChunkResult, loadPlan, planImage, type SpikeRecord } from './engine.ts';
import { CATEGORIES, MODULES, type ModuleName } from './modules.ts';
import { buildPlan, type NetworkPlan, type ThresholdSummary } from './plan.ts';
import { BlockError, type ClaimedChunk, runClaimed, runRange } from './range.ts';
import type { Route } from './routes.ts';
import type { WorkerJob, WorkerMessage } from './worker.ts';

export type { AttentionMode, SpikeRecord } from './engine.ts';

export interface SimulateOptions {
  T: number;
  /** Seeds the spike masks (default 0). */
  seed?: number;
  /** One label per sample: enables `accuracy`. */
  labels?: Int32Array;
  /** Worker threads (default: up to 2 of the available cores; 1 below 64 samples). */
  workers?: number;
  onProgress?(done: number, total: number): void;
  /** Building the plan (`simulate` only): sources done of all. */
  onPlanProgress?(done: number, total: number): void;
  /** Return every IF population's spikes (small runs only: T × neurons per sample). */
  recordSpikes?: boolean;
  /** Rule of the analog nodes (matmul, softmax): default accumulated. */
  attention?: AttentionMode;
  /** Only samples [from, to) of the input (a shard): masks stay keyed by the global sample index. */
  range?: { from: number; to: number };
}

/** A population, an analog (host) node or the readout. Work columns are per sample. */
export interface LayerStats {
  id: string;
  kind: 'if' | 'output' | 'matmul' | 'softmax';
  /** Neuromorphic core, or a host processor (analog nodes: no fixed weights, no neurons). */
  placement: 'core' | 'host';
  module: ModuleName;
  neurons: number;
  /** Spikes per neuron per step. */
  firing_rate: number;
  spikes_per_sample: number;
  /** SOPs caused by this population's spikes (masked edges count survivors only; host inputs excluded). */
  sops_per_sample: number;
  /** Values this node sends into host nodes' operands (spikes of a population, outputs of an analog node). */
  host_inputs_per_sample: number;
  /** Analog nodes: spike-pair products (AC). */
  products_per_sample: number;
  /** Analog nodes: analog × spike products (AC). */
  analog_spike_products_per_sample: number;
  /** SOPs + spike-pair products + analog × spike products: every accumulation a spike triggered. */
  spike_driven_per_sample: number;
  /** Analog nodes: analog × analog products, accumulated-mode rescaling, and output deliveries to synapses. */
  macs_per_sample: number;
  /**
   * Literature convention (Spikformer, MST), in ACs: for a population, Σ over its synaptic layers of its
   * (post-mask) firing rate × T × the layer's dense size; for a matmul fed by spikes, the rate of its spike
   * operand × T × its dense FLOPs.
   */
  literature_ac_per_sample: number;
  /** Softmax nodes: element evaluations. */
  softmax_ops_per_sample: number;
  threshold: ThresholdSummary | null;
}

/** Work per sample charged to one module (see modules.ts for the rule). */
export interface ModuleStats {
  /** Accumulations (AC) in three classes: fixed-weight synapses, spike-pair products, analog × spike products. */
  sops: number;
  products: number;
  analog_spike_products: number;
  /** Their sum: all spike-driven work. */
  spike_driven: number;
  /** Analog × analog work (see the file's comment). */
  macs: number;
  softmax_ops: number;
  host_inputs: number;
  /** Spikes fired by the module's populations. */
  spikes: number;
  /** spike_driven·E_AC (0.9 pJ, 45 nm, Horowitz ISSCC 2014). */
  spike_driven_pj: number;
  /**
   * 45 nm estimate (Horowitz, ISSCC 2014): spike-driven work·0.9 pJ + (MACs + softmax ops)·4.6 pJ; one
   * E_MAC per softmax element is a lower bound.
   */
  energy_45nm_pj: number;
  /** Literature convention (Spikformer, MST; labelled as such): ACs = rate × T × dense FLOPs of spike-fed layers. */
  literature_ac: number;
  /** Its analog-fed layers: input layers, analog × analog matmuls (dense), analog outputs into synapses. */
  literature_macs: number;
  /** literature_ac·0.9 pJ + literature_macs·4.6 pJ (softmax not counted, as in the convention's formula). */
  literature_pj: number;
}

/** Per sample (mean over samples). */
export interface MaskStats {
  id: string;
  from: string;
  to: string;
  ratio: number;
  spikes_arriving: number;
  spikes_dropped: number;
  sops_delivered: number;
}

export interface SimulationResult {
  T: number;
  samples: number;
  seed: number;
  /** Fraction correct at each T in {1, 2, 4, …} and T itself; null without labels. */
  accuracy: Record<string, number> | null;
  /** Argmax of the readout at T, per sample. */
  predictions: Int32Array;
  /** Argmax of the readout at every T of `checkpointsFor(T)`: samples × checkpoints, row-major. */
  checkpoint_predictions: Int32Array;
  /** SOPs per sample up to every T of `checkpointsFor(T)` (the last is sops_per_sample); absent for merged shards. */
  checkpoint_sops?: Float64Array;
  /** samples × classes: accumulated readout / T. */
  logits: Float32Array;
  classes: number;
  /** Synaptic operations (fixed-weight deliveries to populations and the readout). */
  sops_per_sample: number;
  /** Dense analog work: the input layers' MACs, recomputed every step (analog nodes' MACs are in `modules`). */
  macs_per_sample: number;
  /** The analog nodes' rule; null when the network has none. */
  attention: AttentionMode | null;
  /** Populations (plan order), then analog nodes (topological order), then the readout. */
  layers: LayerStats[];
  /** All work per sample by module: attention, mlp, other. */
  modules: Record<ModuleName, ModuleStats>;
  /** The modules' sum. */
  work: ModuleStats;
  masks: MaskStats[];
  /** Per sample: IF neuron updates that received a non-zero current or spiked, and the rest. */
  neuron_updates: { active: number; inactive: number };
  /** With `recordSpikes`: one record per sample (see SpikeRecord for the layout; populations in `layers` order). */
  spikes?: SpikeRecord[];
  seconds: number;
}

/** 1, 2, 4, … below T, then T. */
export function checkpointsFor(T: number): number[] {
  const out: number[] = [];
  for (let t = 1; t < T; t *= 2) out.push(t);
  out.push(T);
  return out;
}

/** `input`: raw values (the IR's divisor is applied here), in memory or streamed from a source. */
export async function simulate(ir: SnnIr, input: Float32Array | SampleSource, opts: SimulateOptions): Promise<SimulationResult> {
  return simulatePlan(buildPlan(ir, { onProgress: opts.onPlanProgress }), input, opts);
}

export async function simulatePlan(plan: NetworkPlan, input: Float32Array | SampleSource, opts: SimulateOptions): Promise<SimulationResult> {
  const start = performance.now();
  const { chunks, samples, chunkOpts } = await simulateChunks(plan, input, opts);
  return assemble(plan, chunks, samples, chunkOpts, opts.labels, (performance.now() - start) / 1000);
}

/** The chunks of a run before `assemble` (a shard's partial result keeps them; runtime/snn/partial.ts). */
export async function simulateChunks(
  plan: NetworkPlan,
  input: Float32Array | SampleSource,
  opts: SimulateOptions,
): Promise<{ chunks: ChunkResult[]; samples: number; chunkOpts: ChunkOptions }> {
  const { T } = opts;
  if (!(Number.isInteger(T) && T >= 1)) throw new SnncError(`T must be a positive integer, got ${T}`);
  if (input instanceof Float32Array && (input.length === 0 || input.length % plan.inputSize !== 0)) {
    throw new SnncError(`input has ${input.length} values: not a whole number of samples of ${plan.inputSize}`);
  }
  const source = input instanceof Float32Array ? arraySource(input, [plan.inputSize]) : input;
  if (source.sampleSize !== plan.inputSize) throw new SnncError(`samples of ${source.sampleSize} values; the network takes ${plan.inputSize}`, { file: source.name });
  const from = opts.range?.from ?? 0;
  const to = opts.range?.to ?? source.samples;
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from < to && to <= source.samples)) {
    throw new SnncError(`samples ${from}…${to - 1} are not a range of the ${source.samples} samples`, { file: source.name });
  }
  const samples = to - from;
  if (opts.labels && opts.labels.length !== samples) throw new SnncError(`${opts.labels.length} labels for ${samples} samples`);
  const seed = (opts.seed ?? 0) >>> 0;
  const attention = opts.attention ?? 'accumulated';
  if (attention !== 'accumulated' && attention !== 'per-step') throw new SnncError(`attention mode ${String(attention)}: expected per-step or accumulated`);
  const chunkOpts: ChunkOptions = { T, seed, checkpoints: checkpointsFor(T), recordSpikes: opts.recordSpikes ?? false, attention };
  const workers = threadCount(samples, opts.workers);

  let chunks: ChunkResult[];
  if (workers === 1) {
    chunks = await runRange(plan, source, from, to, chunkOpts, (done) => opts.onProgress?.(done, samples));
  } else {
    chunks = await runWorkers(plan, source, from, samples, workers, chunkOpts, opts.onProgress);
  }
  return { chunks, samples, chunkOpts };
}

/**
 * The plan as the workers need it beside the shared memory (engine.ts PlanImage), which already holds the
 * weights and tables the kernels deliver through: conv twins' tables and weights, dense weights and remaps
 * are left out, so that no thread holds a second copy of them.
 */
function withoutKernelArrays(plan: NetworkPlan): NetworkPlan {
  const twins = new Map<ConvTable, ConvTable>();
  const lean = (t: ConvTable): ConvTable => {
    if (!twins.has(t)) twins.set(t, { ...t, posPtr: new Int32Array(0), posOut: new Int32Array(0), posTap: new Int32Array(0), weights: new Float32Array(0) });
    return twins.get(t)!;
  };
  const route = (r: Route): Route => (r.kind === 'conv' ? { ...r, twin: lean(r.twin), remap: null } : r.kind === 'dense' ? { ...r, weights: new Float32Array(0), remap: null } : r);
  return {
    ...plan,
    streams: plan.streams.map((st) => ({ ...st, fanout: { ...st.fanout, routes: st.fanout.routes.map(route) }, conv: st.conv && lean(st.conv) })),
  };
}

/** Plan arrays copied into SharedArrayBuffers: every worker reads the same tables instead of a clone. */
function share<T>(value: T): T {
  if (ArrayBuffer.isView(value)) {
    const src = value as unknown as Float64Array;
    const Ctor = src.constructor as new (buffer: SharedArrayBuffer) => Float64Array;
    const out = new Ctor(new SharedArrayBuffer(src.byteLength));
    out.set(src);
    return out as unknown as T;
  }
  if (Array.isArray(value)) return value.map(share) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, share(v)])) as T;
  }
  return value;
}

/**
 * Runs the samples on the main thread and `workers` − 1 worker threads over one shared memory (the weights
 * once, a state block per thread). Blocks of samples are claimed from a shared counter, so the main thread
 * works while the workers start, and all finish together; the chunks come back in sample order.
 */
async function runWorkers(
  plan: NetworkPlan,
  source: SampleSource,
  first: number,
  samples: number,
  workers: number,
  opts: ChunkOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<ChunkResult[]> {
  const image = planImage(plan, workers);
  const memory = loadPlan(plan, image);
  const shared = share(withoutKernelArrays(plan));
  const to = first + samples;
  const counter = new Int32Array(new SharedArrayBuffer(4));
  // Blocks small enough to even out the threads' ends, large enough to keep claims rare.
  const block = Math.max(1, Math.min(64, Math.ceil(samples / (16 * workers))));
  const done = new Array<number>(workers).fill(0);
  const report = (w: number, n: number) => {
    done[w] = n;
    onProgress?.(done.reduce((a, b) => a + b, 0), samples);
  };
  const threads: Worker[] = [];
  const jobs = Array.from({ length: workers - 1 }, (_, i) => {
    const w = i + 1;
    return new Promise<ClaimedChunk[]>((resolve, reject) => {
      const job: WorkerJob = { plan: shared, source: specForRange(source, first, to), from: first, to, opts, loaded: { image, memory, slot: w }, counter, block };
      const worker = startWorker(import.meta.url, 'worker', job);
      threads.push(worker);
      let finished = false;
      worker.on('message', (msg: WorkerMessage) => {
        if (msg.type === 'progress') {
          report(w, msg.done);
        } else if (msg.type === 'error') {
          finished = true;
          reject(new BlockError(msg.first, new SnncError(msg.detail, msg.where)));
        } else {
          finished = true;
          resolve(msg.chunks);
        }
      });
      worker.on('error', reject);
      worker.on('exit', (code) => {
        if (!finished) reject(new Error(`simulation worker ${w} exited with code ${code} before reporting`));
      });
    });
  });
  const main = runClaimed(plan, source, first, to, block, counter, opts, { image, memory, slot: 0 }, (n) => report(0, n));
  try {
    const all = (await Promise.all([main, ...jobs])).flat();
    return all.sort((a, b) => a.first - b.first).map(({ chunk }) => chunk);
  } catch {
    // Stop further claims and let the blocks in flight end: blocks are claimed in order, so the lowest
    // failing block is the first bad one, and the error is the one a single thread reports, every run.
    Atomics.store(counter, 0, samples);
    const failed = (await Promise.allSettled([main, ...jobs])).flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    await Promise.all(threads.map((t) => t.terminate()));
    const first = (e: unknown) => (e instanceof BlockError ? e.first : Number.MAX_SAFE_INTEGER);
    const lowest = failed.reduce((a, b) => (first(b) < first(a) ? b : a));
    throw lowest instanceof BlockError ? lowest.error : lowest;
  }
}

export function assemble(
  plan: NetworkPlan,
  chunks: ChunkResult[],
  samples: number,
  opts: ChunkOptions,
  labels: Int32Array | undefined,
  seconds: number,
): SimulationResult {
  const { T, checkpoints } = opts;
  const K = checkpoints.length;
  const classes = plan.readout.size;
  const sum = (pick: (c: ChunkResult) => Float64Array) => {
    const out = new Float64Array(pick(chunks[0]).length);
    for (const c of chunks) pick(c).forEach((x, i) => (out[i] += x));
    return out;
  };
  const spikes = sum((c) => c.spikes);
  const sops = sum((c) => c.sops);
  const streamCategories = sum((c) => c.streamCategories);
  const products = sum((c) => c.products);
  const analogMacs = sum((c) => c.analogMacs);
  const analogSpike = sum((c) => c.analogSpike);
  const operandSpikes = sum((c) => c.operandSpikes);
  const softmaxOps = sum((c) => c.softmaxOps);
  const analogOut = sum((c) => c.analogOut);
  const arriving = sum((c) => c.arriving);
  const dropped = sum((c) => c.dropped);
  const active = chunks.reduce((a, c) => a + c.active, 0);
  const allPredictions = new Int32Array(samples * K);
  const logits = new Float32Array(samples * classes);
  let at = 0;
  for (const c of chunks) {
    allPredictions.set(c.predictions, at * K);
    logits.set(c.logits, at * classes);
    at += c.predictions.length / K;
  }
  const predictions = new Int32Array(samples);
  for (let s = 0; s < samples; s++) predictions[s] = allPredictions[s * K + K - 1];

  let accuracy: Record<string, number> | null = null;
  if (labels) {
    accuracy = {};
    checkpoints.forEach((t, k) => {
      let correct = 0;
      for (let s = 0; s < samples; s++) if (allPredictions[s * K + k] === labels[s]) correct++;
      accuracy![String(t)] = correct / samples;
    });
  }

  // Table entries delivered per work category (module · 2 + host), per stream and per analog node.
  const perStream = plan.streams.map((st, si) => {
    const cats = new Float64Array(CATEGORIES);
    if (st.fanout.category < 0) cats.set(streamCategories.subarray(si * CATEGORIES, (si + 1) * CATEGORIES));
    else cats[st.fanout.category] = sops[si];
    return cats;
  });
  const perAnalog = plan.analog.map((_, a) => analogOut.subarray(a * CATEGORIES, (a + 1) * CATEGORIES));
  const synaptic = (cats: Float64Array) => cats.reduce((acc, v, c) => (c % 2 === 0 ? acc + v : acc), 0);
  const toHost = (cats: Float64Array) => cats.reduce((acc, v, c) => (c % 2 === 1 ? acc + v : acc), 0);

  const neurons = plan.pops.reduce((a, p) => a + p.size, 0);
  const work = { host_inputs_per_sample: 0, products_per_sample: 0, analog_spike_products_per_sample: 0, macs_per_sample: 0, softmax_ops_per_sample: 0, literature_ac_per_sample: 0 };
  const lit = literature(plan, spikes, dropped, operandSpikes, samples, T);
  const layers: LayerStats[] = plan.pops.map((p, i) => ({
    id: p.id,
    kind: 'if',
    placement: 'core',
    module: MODULES[plan.popModules[i]],
    neurons: p.size,
    firing_rate: spikes[i] / (samples * T * p.size),
    spikes_per_sample: spikes[i] / samples,
    sops_per_sample: p.streams.reduce((a, si) => a + synaptic(perStream[si]), 0) / samples,
    ...work,
    spike_driven_per_sample: p.streams.reduce((a, si) => a + synaptic(perStream[si]), 0) / samples,
    host_inputs_per_sample: p.streams.reduce((a, si) => a + toHost(perStream[si]), 0) / samples,
    literature_ac_per_sample: p.streams.reduce((a, si) => a + lit.stream[si], 0),
    threshold: p.threshold,
  }));
  plan.analog.forEach((a, i) => {
    layers.push({
      id: a.id,
      kind: a.kind,
      placement: 'host',
      module: MODULES[a.module],
      neurons: 0,
      firing_rate: 0,
      spikes_per_sample: 0,
      sops_per_sample: 0,
      host_inputs_per_sample: toHost(perAnalog[i]) / samples,
      products_per_sample: products[i] / samples,
      analog_spike_products_per_sample: analogSpike[i] / samples,
      spike_driven_per_sample: (products[i] + analogSpike[i]) / samples,
      macs_per_sample: (analogMacs[i] + synaptic(perAnalog[i])) / samples,
      softmax_ops_per_sample: softmaxOps[i] / samples,
      literature_ac_per_sample: lit.analogAc[i],
      threshold: null,
    });
  });
  layers.push({
    id: plan.readout.id,
    kind: 'output',
    placement: 'core',
    module: MODULES[plan.readoutModule],
    neurons: classes,
    firing_rate: 0,
    spikes_per_sample: 0,
    sops_per_sample: 0,
    ...work,
    spike_driven_per_sample: 0,
    threshold: null,
  });

  // Per module: synapses and host inputs by the module of what they reach, the rest by the node doing it.
  const modules = Object.fromEntries(
    MODULES.map((name) => [name, emptyModuleStats()]),
  ) as Record<ModuleName, ModuleStats>;
  const charge = (cats: Float64Array, synapseColumn: 'sops' | 'macs') => {
    cats.forEach((v, c) => (modules[MODULES[c >> 1]][c % 2 === 0 ? synapseColumn : 'host_inputs'] += v / samples));
  };
  perStream.forEach((cats) => charge(cats, 'sops'));
  perAnalog.forEach((cats) => charge(cats, 'macs'));
  plan.analog.forEach((a, i) => {
    const m = modules[MODULES[a.module]];
    m.products += products[i] / samples;
    m.analog_spike_products += analogSpike[i] / samples;
    m.macs += analogMacs[i] / samples;
    m.softmax_ops += softmaxOps[i] / samples;
  });
  plan.macsPerStepByModule.forEach((macs, k) => (modules[MODULES[k]].macs += macs * T));
  plan.pops.forEach((_, i) => (modules[MODULES[plan.popModules[i]]].spikes += spikes[i] / samples));
  lit.moduleAc.forEach((v, k) => (modules[MODULES[k]].literature_ac += v));
  lit.moduleMacs.forEach((v, k) => (modules[MODULES[k]].literature_macs += v));
  plan.macsPerStepByModule.forEach((macs, k) => (modules[MODULES[k]].literature_macs += macs * T));
  perAnalog.forEach((cats) => cats.forEach((v, c) => c % 2 === 0 && (modules[MODULES[c >> 1]].literature_macs += v / samples)));
  for (const m of Object.values(modules)) priceModule(m);
  const total = emptyModuleStats();
  for (const m of Object.values(modules)) for (const key of Object.keys(total) as Array<keyof ModuleStats>) total[key] += m[key];
  const sopsTotal = perStream.reduce((a, cats) => a + synaptic(cats), 0);
  // The same sum over the streams' work up to each checkpoint.
  let checkpointSops: Float64Array | undefined;
  if (chunks.every((c) => c.sopsAt && c.categoriesAt)) {
    const S = plan.streams.length;
    const sopsAt = sum((c) => c.sopsAt!);
    const categoriesAt = sum((c) => c.categoriesAt!);
    checkpointSops = Float64Array.from(checkpoints, (_, k) => {
      let total = 0;
      plan.streams.forEach((st, si) => {
        const cats = new Float64Array(CATEGORIES);
        if (st.fanout.category < 0) cats.set(categoriesAt.subarray((k * S + si) * CATEGORIES, (k * S + si + 1) * CATEGORIES));
        else cats[st.fanout.category] = sopsAt[k * S + si];
        total += synaptic(cats);
      });
      return total / samples;
    });
  }

  return {
    T,
    samples,
    seed: opts.seed,
    accuracy,
    predictions,
    checkpoint_predictions: allPredictions,
    ...(checkpointSops && { checkpoint_sops: checkpointSops }),
    logits,
    classes,
    sops_per_sample: sopsTotal / samples,
    macs_per_sample: plan.macsPerStep * T,
    attention: plan.analog.length ? (opts.attention ?? 'accumulated') : null,
    layers,
    modules,
    work: total,
    masks: plan.masks.map((m, k) => ({
      id: m.id,
      from: m.from,
      to: m.to,
      ratio: m.ratio,
      spikes_arriving: arriving[k] / samples,
      spikes_dropped: dropped[k] / samples,
      sops_delivered: sops[m.stream] / samples,
    })),
    neuron_updates: { active: active / samples, inactive: (neurons * T * samples - active) / samples },
    spikes: opts.recordSpikes ? chunks.flatMap((c) => c.records!) : undefined,
    seconds,
  };
}

function emptyModuleStats(): ModuleStats {
  return { sops: 0, products: 0, analog_spike_products: 0, spike_driven: 0, macs: 0, softmax_ops: 0, host_inputs: 0, spikes: 0, spike_driven_pj: 0, energy_45nm_pj: 0, literature_ac: 0, literature_macs: 0, literature_pj: 0 };
}

/** The derived columns: totals and the 45 nm prices (E_AC 0.9 pJ, E_MAC 4.6 pJ; Horowitz, ISSCC 2014). */
function priceModule(m: ModuleStats): void {
  m.spike_driven = m.sops + m.products + m.analog_spike_products;
  m.spike_driven_pj = m.spike_driven * 0.9;
  m.energy_45nm_pj = m.spike_driven * 0.9 + (m.macs + m.softmax_ops) * 4.6;
  m.literature_pj = m.literature_ac * 0.9 + m.literature_macs * 4.6;
}

/**
 * The literature's convention (Spikformer, Zhou et al., ICLR 2023; MST, Wang et al., ICCV 2023), per sample:
 * a layer fed by spikes costs (its input's firing rate) × T × (its dense size) ACs. A stream's layers are its
 * composed synapse tables to cores (dense size = the table's entries; the rate is that of the spikes that
 * survive the stream's mask), charged to the receiving module; a matmul with a spike-driven operand costs
 * (that operand's non-zero elements per element) × its dense FLOPs per step, charged to the matmul's module
 * (q·kᵀ: the rate of q, so a q spike pays for every key). A matmul of two analog operands is dense MACs.
 */
function literature(plan: NetworkPlan, spikes: Float64Array, dropped: Float64Array, operandSpikes: Float64Array, samples: number, T: number) {
  const stream = new Float64Array(plan.streams.length);
  const moduleAc = new Float64Array(MODULES.length);
  const moduleMacs = new Float64Array(MODULES.length);
  plan.streams.forEach((st, si) => {
    const size = plan.pops[st.pop].size;
    const delivered = (spikes[st.pop] - (st.mask >= 0 ? dropped[st.mask] : 0)) / samples;
    for (const r of st.fanout.routes) {
      if (r.category % 2 === 1) continue;
      let dense = 0;
      for (let i = 0; i < r.fanOut.length; i++) dense += r.fanOut[i];
      const ac = (delivered / size) * dense;
      stream[si] += ac;
      moduleAc[r.category >> 1] += ac;
    }
  });
  const analogAc = plan.analog.map((a, i) => {
    if (a.kind !== 'matmul') return 0;
    const flops = a.aBatch.length * a.m * a.k * a.n;
    const [A, B] = a.operands;
    const rate = A.spiking ? A : B.spiking ? B : null;
    if (!rate) {
      moduleMacs[a.module] += flops * T;
      return 0;
    }
    const ac = (operandSpikes[i] / samples / rate.size) * flops;
    moduleAc[a.module] += ac;
    return ac;
  });
  return { stream, analogAc, moduleAc, moduleMacs };
}
