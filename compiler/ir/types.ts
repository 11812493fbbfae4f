/**
 * The spiking IR: a DAG of nodes over per-sample tensors (shapes never include batch or time).
 *
 * Lowering turns ONNX nodes into these kinds; the passes then fold BatchNorm, capture activations
 * as IF neurons, set thresholds and insert masks. After the last pass every node is one of the
 * "final" kinds below: synaptic (conv2d, dense), linear pass-through (avgpool2d, flatten, reshape,
 * transpose, select, add, concat, affine), neurons (if: IF or LIF by its `model`), masks (rsm). The simulator and targets read only those.
 *
 * Semantics of an IF node's output in the SNN: a spike of neuron i carries the value θ_i, so
 * rate × θ approximates the ANN activation that the IF node replaced.
 */

export const IR_FORMAT = 'snnc-ir';
/**
 * Version 4 spells every key of the file in snake_case, as the map and chip formats do (`v_init`,
 * `threshold_source`, `count_include_pad`); in memory the fields keep TypeScript's camelCase and
 * compiler/ir/io.ts renames them at the file's edge. Versions 1-3 (camelCase, read and upgraded by io.ts)
 * marked which neuron rules an IR used: 2 for LIF or reset to zero, 3 for signed or burst spikes.
 */
export const IR_VERSION = 4;

/** Per-sample tensor shape, e.g. [C, H, W] or [features] or [tokens, features]. */
export type Shape = number[];

interface NodeBase {
  id: string;
  inputs: string[];
  /** Output shape (per sample), derived by `ir/shapes.ts` when the node is built, stored for readers. */
  shape: Shape;
  /** ONNX node names this IR node came from: errors and reports point back to the model. */
  onnx: string[];
}

/** y = conv(x, W) + b, W [Cout, Cin/groups, kh, kw]. Synaptic: a spike of x[c,h,w] reaches its receptive targets. */
export interface Conv2dNode extends NodeBase {
  kind: 'conv2d';
  weight: string;
  bias?: string;
  strides: [number, number];
  /** [top, left, bottom, right] */
  pads: [number, number, number, number];
  dilations: [number, number];
  groups: number;
}

/** y = x·Wᵀ + b over the last axis, W [out, in]. Synaptic. */
export interface DenseNode extends NodeBase {
  kind: 'dense';
  weight: string;
  bias?: string;
}

/** ANN BatchNorm before folding: y = (x − mean)/√(var+ε)·γ + β per channel (axis 0 of the sample). */
export interface BatchNormNode extends NodeBase {
  kind: 'batchnorm';
  scale: string;
  shift: string;
  mean: string;
  variance: string;
  epsilon: number;
  /** Channel axis within the sample shape (0 for [C,H,W]; last for [tokens, C]). */
  axis: number;
}

/**
 * y = x·scale + shift, both constants broadcast against the sample from the right (numpy-style):
 * a BatchNorm with no linear op to fold into (scale [C,1,1]), or a Mul/Div by a constant.
 */
export interface AffineNode extends NodeBase {
  kind: 'affine';
  scale: string;
  shift: string;
}

/** Average pooling: linear, no neurons of its own. */
export interface AvgPool2dNode extends NodeBase {
  kind: 'avgpool2d';
  kernel: [number, number];
  strides: [number, number];
  pads: [number, number, number, number];
  countIncludePad: boolean;
}

/** Max pooling: has no exact rate-coded form; only survives lowering when an option converts it. */
export interface MaxPool2dNode extends NodeBase {
  kind: 'maxpool2d';
  kernel: [number, number];
  strides: [number, number];
  pads: [number, number, number, number];
}

/** Reshape in C order (Flatten is a reshape to one axis). */
export interface ReshapeNode extends NodeBase {
  kind: 'reshape';
}

export interface TransposeNode extends NodeBase {
  kind: 'transpose';
  /** Permutation of the sample axes. */
  perm: number[];
}

/** y = Σ_k scales[k]·x_k (residual add; scales rescale streams with different θ). */
export interface AddNode extends NodeBase {
  kind: 'add';
  scales: number[];
}

/** y = x + c: a constant tensor added to the current (learned position embeddings, broadcast biases). */
export interface BiasNode extends NodeBase {
  kind: 'bias';
  value: string;
}

/**
 * y[e] = x[index[e]]: an index-only selection (ONNX Slice, Split outputs, Gather with constant indices on a
 * dynamic tensor; with concat also torch.roll). `index` names a tensor in the IR's tensor table holding, for
 * every output element in C order, the flat index of the input element it copies (integers stored as
 * float32, exact below 2^24 elements). Linear with 0/1 weights: no neurons, no MACs.
 */
export interface SelectNode extends NodeBase {
  kind: 'select';
  index: string;
}

export interface ConcatNode extends NodeBase {
  kind: 'concat';
  axis: number;
}

/** ANN activation before conversion. qcfs: y = λ·clip(floor(x·L/λ + 0.5)/L, 0, 1). relu6: min(max(x,0),6). */
export interface ActivationNode extends NodeBase {
  kind: 'relu' | 'relu6' | 'qcfs';
  /** QCFS only. */
  lambda?: number;
  levels?: number;
  /** The ONNX value holding this activation's output: calibration statistics are keyed by it. */
  value: string;
}

/**
 * The neuron rule of an `if` node (absent: 'if'). 'signed-if' is IF that may also send negative spikes, while
 * its spike tracer (the net spikes it has sent) is positive (SpikeZIP-TF's ST-BIF; Fast-SNN's signed IF).
 */
export type NeuronModel = 'if' | 'lif' | 'signed-if';
/** What a spike does to the membrane: subtract θ (keeps the remainder) or set it to zero. */
export type ResetMode = 'subtract' | 'zero';

/**
 * A population of integrate-and-fire neurons, one per element, at most one spike per step. Per step t,
 * with the current I(t) that arrived since the last update (synapses, biases, the analog input):
 *
 *   v ← λ·v + I(t);   s = (v ≥ θ);   v ← v − s·θ   (reset 'subtract')
 *                                     v ← (1 − s)·v (reset 'zero');      v(0) = vInit·θ,
 *
 * λ = 1 for model 'if' (absent) and λ = `leak` ∈ (0, 1] for model 'lif' (λ = 1 is IF). The leak is applied
 * to the membrane left by the previous step, before the new current is added and before the threshold test,
 * so a neuron that receives no current decays geometrically (v(t) = λᵗ·v(0)); the current itself is not
 * decayed (NIR's LIF under forward Euler with v_leak = 0: λ = 1 − dt/τ, input gain dt·R/τ; docs/conversion.md).
 * With λ = 1 the product λ·v is exactly v, so IF spikes are bit-identical to the rule without the factor.
 */
export interface IfNode extends NodeBase {
  kind: 'if';
  /** θ: one value, or one per channel along `axis`. */
  threshold: number | number[];
  axis: number;
  /** Initial membrane as a fraction of θ (0.5 for QCFS). */
  vInit: number;
  /** Absent means 'if': IRs written before neuron models (and every IF IR snnc writes) carry no `model`. */
  model?: NeuronModel;
  /** λ of a 'lif' node (required there, absent otherwise): one value in (0, 1], or one per channel along `axis`. */
  leak?: number | number[];
  reset: ResetMode;
  /**
   * Up to `burst` spikes per step (an integer ≥ 2; absent: 1), sent as one graded spike whose payload is the
   * count. A neuron with bursts or model 'signed-if' keeps a tracer S (net spikes sent) and never lets it
   * leave [0, t] at step t: its rate stays within [0, 1] like a plain IF neuron's (docs/conversion.md).
   */
  burst?: number;
  /** What set θ: "qcfs λ", "percentile 99.9", "max", ... */
  thresholdSource: string;
  /** The ONNX value of the ANN activation this population replaces (for an imported NIR graph: the NIR node). */
  value: string;
}

/** The leak λ of an IF node (one value or one per channel along `axis`): 1 for model 'if'. */
export function leakOf(node: IfNode): number | number[] {
  return node.model === 'lif' ? (node.leak ?? 1) : 1;
}

/** A LIF population or one that resets to zero: versions 1-3 marked these with version 2 (compiler/ir/io.ts checks old files). */
export function usesNeuronModels(node: IrNode): boolean {
  return node.kind === 'if' && ((node.model ?? 'if') !== 'if' || node.reset !== 'subtract');
}

/** A population that sends signed or burst spikes (graded payloads on a chip): version 3 in versions 1-3. */
export function usesGradedSpikes(node: IrNode): boolean {
  return node.kind === 'if' && (node.model === 'signed-if' || node.burst !== undefined);
}

/** Spikes per step at most (1 unless `burst`), and whether negative spikes are sent. */
export function spikeRuleOf(node: IfNode): { burst: number; signed: boolean } {
  return { burst: node.burst ?? 1, signed: node.model === 'signed-if' };
}

/** Random Spike Masking: each spike passing through is dropped with probability `ratio`, fresh every step. */
export interface RsmNode extends NodeBase {
  kind: 'rsm';
  ratio: number;
}

/**
 * y = A·B over the last two axes, batched over the leading ones (numpy matmul), where both operands change
 * every step (attention's q·kᵀ and attn·v). Not synaptic: there are no fixed weights; its work is
 * spike-pair products (or analog × spike products), counted in their own column. Per-step mode multiplies
 * the current step's values (MST's rule, biased); accumulated mode emits t·f(Ā(t), B̄(t)) − (t−1)·f(Ā(t−1), B̄(t−1))
 * from the running means, so the mean output up to t is exactly the product of the mean inputs.
 */
export interface MatMulNode extends NodeBase {
  kind: 'matmul';
}

/** Analog softmax along `axis` (of the sample), computed every step on its input's values (MST keeps it analog). */
export interface SoftmaxNode extends NodeBase {
  kind: 'softmax';
  axis: number;
}

/** Mean over `axes` of the sample (e.g. over tokens before the head): linear, no neurons. */
export interface MeanNode extends NodeBase {
  kind: 'mean';
  axes: number[];
  keepdims: boolean;
}

/** An ONNX op that lowering kept as it was, for a later pass to capture; none may remain at the end. */
export interface OnnxOpNode extends NodeBase {
  kind: 'onnx';
  op: string;
  attrs: Record<string, number | number[] | string | string[]>;
  /** Constant inputs by position (tensor names in the IR's tensor table); `inputs` holds the others in order. */
  constants: Record<number, string>;
  /** The ONNX value this node produces (calibration statistics and captured patterns are keyed by it). */
  value: string;
}

export type IrNode =
  | Conv2dNode
  | DenseNode
  | BatchNormNode
  | AffineNode
  | AvgPool2dNode
  | MaxPool2dNode
  | ReshapeNode
  | TransposeNode
  | AddNode
  | BiasNode
  | ConcatNode
  | SelectNode
  | ActivationNode
  | IfNode
  | RsmNode
  | MatMulNode
  | SoftmaxNode
  | MeanNode
  | OnnxOpNode;

export type IrKind = IrNode['kind'];

export interface IrTensor {
  dims: number[];
  data: Float32Array;
}

export interface SnnIr {
  format: typeof IR_FORMAT;
  version: typeof IR_VERSION;
  /** The analog input: a constant current into the first layer at every step. */
  input: { id: string; shape: Shape; divisor: number };
  /** Nodes in topological order. */
  nodes: IrNode[];
  /** Non-spiking readout: logits(T) = accumulated current / T. */
  output: { id: string; shape: Shape };
  tensors: Map<string, IrTensor>;
  provenance: {
    source: string;
    sha256: string;
    snnc: string;
    options: Record<string, unknown>;
    /** `engine`: who computed the activation statistics (`--calibration-engine`); absent in IRs written before it was recorded. */
    calibration?: { file: string; samples: number; engine?: 'js' | 'ort' };
  };
}
