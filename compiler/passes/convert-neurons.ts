/**
 * ANN activations → IF neurons (rate coding, Rueckauer et al. 2017). QCFS: θ = λ, v(0) = θ/2 (Bu et al., ICLR 2022).
 * ReLU / ReLU6: data-based threshold balancing, θ = the p-th percentile of the layer's non-zero
 * calibration activations (p = 99.9 by default, 100 = max-norm), per layer or per channel; ReLU6 caps θ at 6.
 * `neuron` (snnc compile --neuron/--leak/--reset) gives every population another rule: LIF with a leak λ,
 * and/or reset to zero. ONNX has no leak; rate coding is exact for IF with reset by subtraction, so either
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

/** `model` 'lif' needs `leak` λ ∈ (0, 1]; 'if' takes none. */
export interface NeuronRule {
  model: NeuronModel;
  leak?: number;
  reset: ResetMode;
}

/** The fields an IF node gets for a rule: `model` and `leak` only for LIF, so IF nodes are written as before. */
export function neuronFields(rule: NeuronRule = { model: 'if', reset: 'subtract' }): Pick<IfNode, 'model' | 'leak' | 'reset'> {
  if (rule.model === 'if') {
    if (rule.leak !== undefined && rule.leak !== 1) throw new SnncError(`a leak (${rule.leak}) needs the LIF neuron model (--neuron lif)`);
    return { reset: rule.reset };
  }
  if (rule.model !== 'lif') throw new SnncError(`unknown neuron model ${JSON.stringify(rule.model)}: expected if or lif`);
  const leak = rule.leak;
  if (leak === undefined || !(leak > 0 && leak <= 1)) throw new SnncError(`the LIF neuron model needs a leak λ in (0, 1] (--leak), got ${leak}`);
  return { model: 'lif', leak, reset: rule.reset };
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
