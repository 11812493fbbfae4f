/**
 * ANN activations → IF neurons (rate coding, Rueckauer et al. 2017). QCFS: θ = λ, v(0) = θ/2 (Bu et al., ICLR 2022).
 * ReLU / ReLU6: data-based threshold balancing, θ = the p-th percentile of the layer's non-zero
 * calibration activations (p = 99.9 by default, 100 = max-norm), per layer or per channel; ReLU6 caps θ at 6.
 * `neuron` (snnc compile --neuron/--leak/--reset/--burst) gives every population another rule: LIF with a leak λ,
 * and/or reset to zero; signed IF (negative spikes while the net count is positive: SpikeZIP-TF's ST-BIF,
 * Fast-SNN's signed IF), which removes the conversion's temporal error; bursts of up to k spikes per step. ONNX has no leak; rate coding is exact for IF with reset by subtraction, so either
 * choice costs accuracy (docs/conversion.md) — it is there to study that, and to match a chip's neuron.
 */
import { SnncError } from '../errors.ts';
import type { ActivationNode, IfNode, IrNode, NeuronModel, ResetMode, SnnIr } from '../ir/types.ts';

/** What calibration must measure for one activation: its ONNX value and channel axis (of the sample). */
export interface CalibrationRequest {
  value: string;
  /** Channel axis of the per-sample tensor (0 for [C,H,W], last for features/tokens). */
  axis: number;
}

/** p-th percentile of the non-zero activations: over the whole layer, and per channel along the axis. */
export interface ActivationStats {
  layer: number;
  channels: number[];
}

export interface NeuronOptions {
  percentile: number;
  perChannel: boolean;
  /** v(0) for balanced ReLU layers, as a fraction of θ (QCFS always uses 0.5). */
  vInit: number;
  /** The neuron rule of every population; default IF reset by subtraction. */
  neuron?: NeuronRule;
}

/** `model` 'lif' needs `leak` λ ∈ (0, 1]; 'if' and 'signed-if' take none. `burst`: up to k spikes per step (k ≥ 2). */
export interface NeuronRule {
  model: NeuronModel;
  leak?: number;
  reset: ResetMode;
  burst?: number;
}

/**
 * The fields an IF node gets for a rule: `model` and `leak` only for LIF, `model` for signed IF, `burst` only
 * when above 1, so IF nodes are written as before.
 */
export function neuronFields(rule: NeuronRule = { model: 'if', reset: 'subtract' }): Pick<IfNode, 'model' | 'leak' | 'reset' | 'burst'> {
  const burst = rule.burst ?? 1;
  if (!(Number.isInteger(burst) && burst >= 1)) throw new SnncError(`--burst ${rule.burst}: expected a whole number of spikes per step, at least 1`);
  if (burst > 1 && rule.reset !== 'subtract') throw new SnncError('burst spikes need reset by subtraction (a burst of n takes n·θ away)');
  const bursts = burst > 1 ? { burst } : {};
  if (rule.model === 'if' || rule.model === 'signed-if') {
    if (rule.leak !== undefined && rule.leak !== 1) throw new SnncError(`a leak (${rule.leak}) needs the LIF neuron model (--neuron lif)`);
    if (rule.model === 'if') return { reset: rule.reset, ...bursts };
    if (rule.reset !== 'subtract') throw new SnncError('the signed-if neuron resets by subtraction (its tracer counts θs)');
    return { model: 'signed-if', reset: rule.reset, ...bursts };
  }
  if (rule.model !== 'lif') throw new SnncError(`unknown neuron model ${JSON.stringify(rule.model)}: expected if, lif or signed-if`);
  const leak = rule.leak;
  if (leak === undefined || !(leak > 0 && leak <= 1)) throw new SnncError(`the LIF neuron model needs a leak λ in (0, 1] (--leak), got ${leak}`);
  return { model: 'lif', leak, reset: rule.reset, ...bursts };
}

export function activationAxis(shape: number[]): number {
  return shape.length === 3 ? 0 : shape.length - 1;
}

/** The activations that need calibration statistics before `convertNeurons` can run. */
export function calibrationRequests(ir: SnnIr): CalibrationRequest[] {
  return ir.nodes
    .filter((n): n is ActivationNode => n.kind === 'relu' || n.kind === 'relu6')
    .map((n) => ({ value: n.value, axis: activationAxis(n.shape) }));
}

export function convertNeurons(ir: SnnIr, stats: Map<string, ActivationStats>, opts: NeuronOptions): SnnIr {
  const neuron = neuronFields(opts.neuron);
  const nodes = ir.nodes.map((n): IrNode => {
    if (n.kind !== 'relu' && n.kind !== 'relu6' && n.kind !== 'qcfs') return n;
    const base = { id: n.id, inputs: n.inputs, shape: n.shape, onnx: n.onnx, value: n.value, ...neuron };
    const axis = activationAxis(n.shape);
    if (n.kind === 'qcfs') {
      return { ...base, kind: 'if', threshold: n.lambda!, axis, vInit: 0.5, thresholdSource: `qcfs λ (L=${n.levels})` } satisfies IfNode;
    }
    const s = stats.get(n.value);
    if (!s) {
      throw new SnncError(`${n.kind === 'relu' ? 'ReLU' : 'ReLU6'} needs threshold balancing: give a calibration set with --calib`, {
        node: n.onnx[0],
        op: n.kind,
      });
    }
    const cap = n.kind === 'relu6' ? 6 : Infinity;
    const positive = (v: number) => Math.min(cap, v > 0 ? v : fallbackThreshold(s));
    const threshold = opts.perChannel ? s.channels.map(positive) : positive(s.layer);
    const rule = opts.percentile >= 100 ? 'max' : `percentile ${opts.percentile}`;
    return {
      ...base, kind: 'if', threshold, axis, vInit: opts.vInit,
      thresholdSource: `${rule}${opts.perChannel ? ' per channel' : ''}${n.kind === 'relu6' ? ', capped at 6' : ''}`,
    } satisfies IfNode;
  });
  return { ...ir, nodes };
}

/** A channel that never fired during calibration gets the layer's threshold (or 1 for a dead layer). */
function fallbackThreshold(s: ActivationStats): number {
  return s.layer > 0 ? s.layer : 1;
}
