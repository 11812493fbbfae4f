/**
 * Per-layer conversion diagnostics: where does a converted network lose the ANN's accuracy? For every IF
 * population and every checked T, the ANN activation the population replaces (the IR evaluated densely as
 * an ANN, runtime/ir/evaluate.ts: clip(input current, 0, θ)) is compared with what the SNN delivers, its rate
 * × θ (spike count up to t / t × θ). Also the warnings `snnc simulate` prints about a run that cannot mean
 * what it seems to (a layer that never fires; input scaled for another divisor).
 *
 * The metric functions are pure (sums in, numbers out) so that tests can check them by hand; `diagnose`
 * runs the simulator and the dense evaluator over a data set and feeds them.
 */
import { SnncError } from '../../compiler/errors.ts';
import type { IfNode, SnnIr } from '../../compiler/ir/types.ts';
import { evaluateIr, thresholdOf } from '../ir/evaluate.ts';
import { buildPlan } from './plan.ts';
import { checkpointsFor, type LayerStats, simulatePlan } from './simulate.ts';

/** A population's relative error counts as a jump above this, and when it is more than JUMP_FACTOR × its inputs'. */
export const JUMP_MIN_ERROR = 0.1;
export const JUMP_FACTOR = 2;

/** Streaming sums over (sample, neuron) pairs of one population at one T: enough for every metric. */
export interface PairSums {
  /** Pairs seen (samples × neurons). */
  n: number;
  /** Σ ANN, Σ SNN, Σ ANN², Σ SNN², Σ ANN·SNN, Σ (SNN − ANN)². */
  a: number;
  s: number;
  aa: number;
  ss: number;
  as: number;
  dd: number;
  /** Largest ANN activation. */
  aMax: number;
  /** Pairs with ANN > 0; of them, those without a spike up to t. */
  active: number;
  silent: number;
  /** Pairs that spiked at every step up to t (rate 1). */
  saturated: number;
  /** Pairs whose ANN activation is at its ceiling θ (the input current was clipped). */
  clipped: number;
  /** Σ spikes / t over the pairs (the mean rate × n). */
  rate: number;
}

export function emptySums(): PairSums {
  return { n: 0, a: 0, s: 0, aa: 0, ss: 0, as: 0, dd: 0, aMax: 0, active: 0, silent: 0, saturated: 0, clipped: 0, rate: 0 };
}

/**
 * Adds one sample of one population at step t: `ann` the ANN activations, `counts` the spikes of each neuron
 * in steps 1..t, `theta` θ per neuron. The SNN's value of neuron i is counts[i] / t · θ_i.
 */
export function addPairs(sums: PairSums, ann: ArrayLike<number>, counts: ArrayLike<number>, theta: ArrayLike<number>, t: number): void {
  for (let i = 0; i < ann.length; i++) {
    const a = ann[i];
    const rate = counts[i] / t;
    const s = rate * theta[i];
    const d = s - a;
    sums.a += a;
    sums.s += s;
    sums.aa += a * a;
    sums.ss += s * s;
    sums.as += a * s;
    sums.dd += d * d;
    sums.rate += rate;
    if (a > sums.aMax) sums.aMax = a;
    if (a > 0) {
      sums.active++;
      if (counts[i] === 0) sums.silent++;
    }
    if (counts[i] >= t) sums.saturated++;
    if (a >= theta[i] * (1 - 1e-9)) sums.clipped++;
  }
  sums.n += ann.length;
}

/** The numbers of one population at one T (JSON-ready: null where a number is undefined). */
export interface LayerMetrics {
  T: number;
  /** Pearson correlation of ANN and rate × θ over all (sample, neuron) pairs; null when either is constant (a silent layer). */
  correlation: number | null;
  /** RMS of (rate × θ − ANN) over the pairs. */
  rms_error: number;
  /** rms_error / RMS of the ANN activation; null when the ANN activation is 0 everywhere. */
  relative_error: number | null;
  /** RMS and maximum of the ANN activation: the layer's scale. */
  ann_rms: number;
  ann_max: number;
  /** Of the pairs with ANN > 0, the fraction with no spike up to T; null when none has ANN > 0. */
  silent: number | null;
  /** Fraction of pairs that spiked at every step (rate 1, the most an IF neuron can send). */
  saturated: number;
  /** Fraction of pairs whose ANN activation is clipped at θ (the ANN's own saturation, for comparison). */
  clipped: number;
  /** Fraction of pairs with ANN > 0. */
  ann_active: number;
  /** Mean spikes per neuron per step. */
  firing_rate: number;
  /** Mean ANN activation and mean rate × θ: a systematic under- or over-estimate shows here. */
  ann_mean: number;
  snn_mean: number;
}

export function metricsOf(sums: PairSums, T: number): LayerMetrics {
  const n = Math.max(sums.n, 1);
  const meanA = sums.a / n;
  const meanS = sums.s / n;
  const varA = sums.aa / n - meanA * meanA;
  const varS = sums.ss / n - meanS * meanS;
  // A constant series (all zero: a silent layer) has no correlation; rounding can leave a tiny variance.
  const flat = (v: number, sq: number) => !(v > 1e-12 * Math.max(sq / n, 1e-300));
  const correlation = flat(varA, sums.aa) || flat(varS, sums.ss) ? null : clamp((sums.as / n - meanA * meanS) / Math.sqrt(varA * varS), -1, 1);
  const rms = Math.sqrt(sums.dd / n);
  const annRms = Math.sqrt(sums.aa / n);
  return {
    T,
    correlation,
    rms_error: rms,
    relative_error: annRms > 0 ? rms / annRms : null,
    ann_rms: annRms,
    ann_max: sums.aMax,
    silent: sums.active > 0 ? sums.silent / sums.active : null,
    saturated: sums.saturated / n,
    clipped: sums.clipped / n,
    ann_active: sums.active / n,
    firing_rate: sums.rate / n,
    ann_mean: meanA,
    snn_mean: meanS,
  };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}

/**
 * The IF populations each population reads, through any chain of linear and analog nodes (and masks): its
 * nearest spiking ancestors. A population fed by the analog input only has none.
 */
export function upstreamPopulations(ir: SnnIr): Map<string, string[]> {
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const memo = new Map<string, string[]>();
  const sources = (id: string): string[] => {
    const node = byId.get(id);
    if (!node) return []; // the input
    if (node.kind === 'if') return [id];
    let found = memo.get(id);
    if (!found) {
      found = [...new Set(node.inputs.flatMap(sources))];
      memo.set(id, found);
    }
    return found;
  };
  const out = new Map<string, string[]>();
  for (const n of ir.nodes) if (n.kind === 'if') out.set(n.id, [...new Set(n.inputs.flatMap(sources))]);
  return out;
}

export interface Jump {
  layer: string;
  relative_error: number;
  /** The largest relative error among the populations it reads (0 when it reads only the input). */
  upstream_error: number;
}

/**
 * The first population (in order) whose relative error is above JUMP_MIN_ERROR and more than JUMP_FACTOR times
 * the largest relative error of the populations it reads (0 for a population fed by the input): the layer
 * where the conversion starts to lose the ANN, rather than inheriting a loss from upstream. Null if none.
 */
export function firstJump(order: string[], errors: Map<string, number | null>, upstream: Map<string, string[]>): Jump | null {
  for (const id of order) {
    const e = errors.get(id);
    if (e === null || e === undefined) continue;
    const before = Math.max(0, ...(upstream.get(id) ?? []).map((u) => errors.get(u) ?? 0));
    if (e > JUMP_MIN_ERROR && e > JUMP_FACTOR * before) return { layer: id, relative_error: e, upstream_error: before };
  }
  return null;
}

/** The T checked: 8, 16, 32, … below T, then T (T alone when it is below 8). */
export function checkedSteps(T: number): number[] {
  return checkpointsFor(T).filter((t) => t >= 8 || t === T);
}

export interface DiagnoseLayer {
  id: string;
  neurons: number;
  threshold: { min: number; max: number };
  /** The populations it reads (see upstreamPopulations). */
  inputs: string[];
  /** One entry per checked T, ascending. */
  at: LayerMetrics[];
}

export interface DiagnoseResult {
  samples: number;
  T: number;
  checks: number[];
  layers: DiagnoseLayer[];
  /** Per checked T (decimal string key): the first layer where the error jumps, or null. */
  first_jump: Record<string, Jump | null>;
  /** The readout at T: ANN logits of the IR against the SNN's accumulated readout / T. */
  readout: { correlation: number | null; relative_error: number | null; agreement: number };
  /** With labels: the IR's ANN (rate limit) and the SNN at each checked T. */
  accuracy: { ann: number; snn: Record<string, number> } | null;
  seconds: number;
}

export interface DiagnoseOptions {
  T: number;
  labels?: Int32Array;
  seed?: number;
  /** Samples simulated at a time (their spikes are recorded); default 128. */
  batch?: number;
  workers?: number;
  onProgress?(done: number, total: number): void;
}

function argmax(v: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let k = 1; k < n; k++) if (v[from + k] > v[from + best]) best = k;
  return best;
}

/** Runs the SNN (spikes recorded) and the IR's dense ANN on `x` (raw samples) and compares them layer by layer. */
export async function diagnose(ir: SnnIr, x: Float32Array, opts: DiagnoseOptions): Promise<DiagnoseResult> {
  const start = performance.now();
  const { T } = opts;
  const plan = buildPlan(ir);
  if (plan.pops.length === 0) throw new SnncError('the IR has no IF populations: nothing to diagnose');
  const samples = x.length / plan.inputSize;
  if (!Number.isInteger(samples) || samples === 0) throw new SnncError(`input has ${x.length} values: not a whole number of samples of ${plan.inputSize}`);
  const checks = checkedSteps(T);
  const checkpoints = checkpointsFor(T);
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const pops = plan.pops.map((p) => {
    const node = byId.get(p.id) as IfNode;
    const theta = thresholdOf(node);
    return { id: p.id, size: p.size, theta, sums: checks.map(() => emptySums()), counts: new Int32Array(p.size) };
  });
  const P = pops.length;
  const classes = plan.readout.size;
  const readout = emptySums();
  const ones = new Float64Array(classes).fill(1);
  let agree = 0;
  let annCorrect = 0;
  const snnCorrect = checks.map(() => 0);
  const batch = opts.batch ?? 128;

  for (let from = 0; from < samples; from += batch) {
    const to = Math.min(samples, from + batch);
    const part = x.subarray(from * plan.inputSize, to * plan.inputSize);
    const r = await simulatePlan(plan, part, { T, seed: opts.seed, recordSpikes: true, workers: opts.workers, onProgress: (d) => opts.onProgress?.(from + d / 2, samples) });
    for (let k = 0; k < to - from; k++) {
      const s = from + k;
      const values = evaluateIr(ir, part.subarray(k * plan.inputSize, (k + 1) * plan.inputSize));
      const { offsets, indices, payloads } = r.spikes![k];
      for (const p of pops) p.counts.fill(0);
      let c = 0;
      for (let t = 1; t <= T; t++) {
        for (let p = 0; p < P; p++) {
          const counts = pops[p].counts;
          const at = (t - 1) * P + p;
          // A signed or burst spike counts its payload (net spikes); plain spikes count 1.
          for (let j = offsets[at]; j < offsets[at + 1]; j++) counts[indices[j]] += payloads ? payloads[j] : 1;
        }
        if (t === checks[c]) {
          for (const p of pops) addPairs(p.sums[c], values.get(p.id)!, p.counts, p.theta, t);
          if (opts.labels) snnCorrect[c] += r.checkpoint_predictions[k * checkpoints.length + checkpoints.indexOf(t)] === opts.labels[s] ? 1 : 0;
          c++;
        }
      }
      const annLogits = values.get(ir.output.id)!;
      // The readout as pairs with "θ" 1 and "counts" = the SNN's logits (t = 1): the same sums.
      addPairs(readout, annLogits, r.logits.subarray(k * classes, (k + 1) * classes), ones, 1);
      const annClass = argmax(annLogits, 0, classes);
      if (annClass === r.predictions[k]) agree++;
      if (opts.labels && annClass === opts.labels[s]) annCorrect++;
      if (k % 8 === 7 || s === to - 1) opts.onProgress?.(from + (to - from) / 2 + (k + 1) / 2, samples);
    }
  }

  const upstream = upstreamPopulations(ir);
  const layers: DiagnoseLayer[] = pops.map((p) => ({
    id: p.id,
    neurons: p.size,
    threshold: { min: Math.min(...p.theta), max: Math.max(...p.theta) },
    inputs: upstream.get(p.id) ?? [],
    at: p.sums.map((sums, c) => metricsOf(sums, checks[c])),
  }));
  const order = layers.map((l) => l.id);
  const first_jump: Record<string, Jump | null> = {};
  checks.forEach((t, c) => {
    first_jump[String(t)] = firstJump(order, new Map(layers.map((l) => [l.id, l.at[c].relative_error])), upstream);
  });
  const out = metricsOf(readout, T);
  return {
    samples,
    T,
    checks,
    layers,
    first_jump,
    readout: { correlation: out.correlation, relative_error: out.relative_error, agreement: agree / samples },
    accuracy: opts.labels ? { ann: annCorrect / samples, snn: Object.fromEntries(checks.map((t, c) => [String(t), snnCorrect[c] / samples])) } : null,
    seconds: (performance.now() - start) / 1000,
  };
}

// ---- warnings for `snnc simulate` (and anything else that runs a data set through an IR) ----

/**
 * Input that looks scaled for another divisor: 8-bit data (integers, 0 ≤ x ≤ 255, max > 1.5) read with a
 * divisor of 1, or data already in [0, 1] read with a divisor of 100 or more (255 for raw pixels). Either way
 * the network sees inputs 255× off and still prints a plausible accuracy. `x` holds the raw values.
 */
export function inputScaleWarning(x: ArrayLike<number>, divisor: number): string | null {
  if (x.length === 0) return null;
  let min = Infinity;
  let max = -Infinity;
  let integers = true;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
    if (integers && v !== Math.round(v)) integers = false;
  }
  if (divisor === 1 && integers && min >= 0 && max > 1.5 && max <= 255) {
    return `the input looks like 8-bit data (integers ${min}…${max}) but the IR divides it by 1: if the model was trained on inputs in [0, 1], pass --input-divisor 255 (or compile with it)`;
  }
  if (divisor >= 100 && min >= 0 && max <= 1 && max > 0) {
    return `the input is already in [0, 1] (max ${max}) but the IR divides it by ${divisor}: the network sees values ${divisor}× too small; pass --input-divisor 1 (or compile without --input-divisor)`;
  }
  return null;
}

/**
 * Populations that never fired over a run: nothing they stand for reaches the layers after them, so the
 * accuracy is that of a cut network and the SOP and energy figures are low because the network is broken,
 * not because it is efficient.
 */
export function silentLayerWarnings(layers: readonly Pick<LayerStats, 'id' | 'kind' | 'spikes_per_sample'>[], T: number, samples: number): string[] {
  return layers
    .filter((l) => l.kind === 'if' && l.spikes_per_sample === 0)
    .map(
      (l) =>
        `layer ${l.id} never fired in ${T} step${T === 1 ? '' : 's'} on ${samples} sample${samples === 1 ? '' : 's'}: the layers after it receive nothing from it, so the SOP and energy figures ` +
        `leave out work the ANN does and the SNN-vs-ANN energy ratio is not meaningful; its threshold may be too high for T (snnc diagnose shows where)`,
    );
}
