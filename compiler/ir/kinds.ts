/**
 * The IR kind registry: one record per kind of `IrNode` with what the compiler knows of it.
 *
 *   role     what the kind is in the spiking network (below);
 *   final    whether it may remain after the last pass and reach the simulator and the targets;
 *   tensors  the fields that name entries of the IR's tensor table (tensorRefs, pruning, validation);
 *   shape    its shape rule: the output shape from the inputs' shapes and parameters (deriveShape).
 *
 * Roles:
 *   synaptic  fixed weights, a spike reaches its fan-out (conv2d, dense);
 *   linear    a linear map with no neurons of its own (pooling, reshapes, add, affine, …);
 *   neuron    a population of spiking neurons (if; its `model` and `reset` are parameters of the node: IF or LIF,
 *             reset by subtraction or to zero, one parameterised update in the simulator and the virtual chip);
 *   mask      drops spikes on their way (rsm);
 *   analog    computed on values every step, not on spikes (matmul, softmax);
 *   ann-only  an ANN construct the passes must replace (batchnorm, the activations, maxpool2d, onnx).
 *
 * The lists the rest of snnc keeps per kind are derived from this table (FINAL_KINDS, LINEAR_KINDS,
 * ANALOG_KINDS), and so are the kind-subset types (FinalKind, LinearKind, AnalogKind). What the runtime and
 * the targets do with a kind (its evaluation, its scatter map, its NIR form) lives in their own layers, in
 * tables typed `Record<LinearKind, …>` / `Record<FinalKind, …>`: a kind added here and forgotten there is a
 * type error. `{ [K in IrKind]: KindInfo<K> }` below makes a kind missing here a type error too.
 */
import { SnncError } from '../errors.ts';
import type { IrKind, IrNode, IrTensor, Shape } from './types.ts';

export type KindRole = 'synaptic' | 'linear' | 'neuron' | 'mask' | 'analog' | 'ann-only';

/** The node interface of a kind (`NodeOf<'relu'>` is ActivationNode, whose kind is one of three). */
export type NodeOf<K extends IrKind> = IrNode extends infer N ? (N extends { kind: infer NK } ? (K extends NK ? N : never) : never) : never;

/** Fields of a node that can name tensors: a string, an optional string, or a map of them (onnx `constants`). */
export type TensorField<N> = Exclude<
  { [F in keyof N]-?: N[F] extends string | undefined | Record<number, string> ? F : never }[keyof N],
  'id' | 'kind' | 'inputs' | 'onnx'
>;

/** What a shape rule may read besides the node and its inputs' shapes. */
export interface ShapeContext {
  tensors: Map<string, IrTensor>;
  /** The shape a builder wants for shape-free kinds (reshape, select, onnx); the node's own shape when re-checking. */
  declared?: Shape;
  /** Dims of a tensor the node names; a missing tensor is a shape error naming the node. */
  dims(name: string): number[];
}

export type ShapeRule<N> = (node: N, inputs: Shape[], ctx: ShapeContext) => Shape;

export interface KindInfo<K extends IrKind> {
  role: KindRole;
  final: boolean;
  tensors: ReadonlyArray<TensorField<NodeOf<K>>>;
  shape: ShapeRule<NodeOf<K>>;
}

export function convOutput(size: number, kernel: number, stride: number, padBegin: number, padEnd: number, dilation = 1): number {
  return Math.floor((size + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

function product(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeError(node: IrNode, message: string): never {
  throw new SnncError(`shape mismatch: ${message}`, { node: node.onnx[0] ?? node.id, op: node.kind });
}

function fail(node: IrNode, message: string): never {
  shapeError(node, message);
}

/** Elementwise kinds: the output has the input's shape. */
const same: ShapeRule<IrNode> = (_node, [x]) => [...x];

function pool(node: NodeOf<'avgpool2d' | 'maxpool2d'>, [x]: Shape[]): Shape {
  if (x.length !== 3) fail(node, `pooling needs a [C,H,W] input, got [${x}]`);
  const h = convOutput(x[1], node.kernel[0], node.strides[0], node.pads[0], node.pads[2]);
  const w = convOutput(x[2], node.kernel[1], node.strides[1], node.pads[1], node.pads[3]);
  return [x[0], h, w];
}

/** bias, affine: constants broadcast against the sample from the right, numpy-style. */
function broadcastConstants(node: NodeOf<'bias' | 'affine'>, [x]: Shape[], ctx: ShapeContext): Shape {
  for (const name of tensorRefs(node)) {
    const c = ctx.dims(name);
    if (c.length > x.length || c.some((d, i) => d !== 1 && d !== x[x.length - c.length + i])) {
      fail(node, `constant [${c}] does not broadcast to [${x}]`);
    }
  }
  return [...x];
}

function broadcastLeading(node: IrNode, a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) fail(node, `leading axes [${a}] and [${b}] do not broadcast`);
    out.push(Math.max(da, db));
  }
  return out;
}

export const KINDS = {
  conv2d: {
    role: 'synaptic',
    final: true,
    tensors: ['weight', 'bias'],
    shape: (node, [x], { dims }) => {
      const [cout, cinPerGroup, kh, kw] = dims(node.weight);
      if (x.length !== 3) fail(node, `conv2d needs a [C,H,W] input, got [${x}]`);
      if (x[0] !== cinPerGroup * node.groups) fail(node, `input has ${x[0]} channels, weight expects ${cinPerGroup * node.groups}`);
      const h = convOutput(x[1], kh, node.strides[0], node.pads[0], node.pads[2], node.dilations[0]);
      const w = convOutput(x[2], kw, node.strides[1], node.pads[1], node.pads[3], node.dilations[1]);
      return [cout, h, w];
    },
  },
  dense: {
    role: 'synaptic',
    final: true,
    tensors: ['weight', 'bias'],
    shape: (node, [x], { dims }) => {
      const [out, inner] = dims(node.weight);
      if (x[x.length - 1] !== inner) fail(node, `input's last axis is ${x[x.length - 1]}, weight expects ${inner}`);
      return [...x.slice(0, -1), out];
    },
  },
  batchnorm: { role: 'ann-only', final: false, tensors: ['scale', 'shift', 'mean', 'variance'], shape: same },
  affine: { role: 'linear', final: true, tensors: ['scale', 'shift'], shape: broadcastConstants },
  avgpool2d: { role: 'linear', final: true, tensors: [], shape: pool },
  maxpool2d: { role: 'ann-only', final: false, tensors: [], shape: pool },
  reshape: {
    role: 'linear',
    final: true,
    tensors: [],
    shape: (node, [x], { declared }) => {
      const target = declared ?? node.shape;
      if (product(target) !== product(x)) fail(node, `cannot reshape [${x}] to [${target}]`);
      return [...target];
    },
  },
  transpose: {
    role: 'linear',
    final: true,
    tensors: [],
    shape: (node, [x]) => {
      if (node.perm.length !== x.length) fail(node, `permutation [${node.perm}] does not fit [${x}]`);
      return node.perm.map((p) => x[p]);
    },
  },
  add: {
    role: 'linear',
    final: true,
    tensors: [],
    shape: (node, inputs) => {
      const [x] = inputs;
      for (const s of inputs) if (s.join() !== x.join()) fail(node, `add of [${x}] and [${s}]`);
      return [...x];
    },
  },
  bias: { role: 'linear', final: true, tensors: ['value'], shape: broadcastConstants },
  concat: {
    role: 'linear',
    final: true,
    tensors: [],
    shape: (node, inputs) => {
      const [x] = inputs;
      const out = [...x];
      for (const s of inputs.slice(1)) {
        if (s.length !== x.length || s.some((d, i) => i !== node.axis && d !== x[i])) fail(node, `concat of [${x}] and [${s}]`);
        out[node.axis] += s[node.axis];
      }
      return out;
    },
  },
  select: {
    role: 'linear',
    final: true,
    tensors: ['index'],
    shape: (node, [x], { tensors, declared }) => {
      const target = declared ?? node.shape;
      const index = tensors.get(node.index);
      if (!index) fail(node, `tensor ${node.index} is missing`);
      if (index.data.length !== product(target)) fail(node, `index map has ${index.data.length} entries for [${target}]`);
      const n = product(x);
      for (const v of index.data) if (!Number.isInteger(v) || v < 0 || v >= n) fail(node, `index ${v} is outside [${x}]`);
      return [...target];
    },
  },
  relu: { role: 'ann-only', final: false, tensors: [], shape: same },
  relu6: { role: 'ann-only', final: false, tensors: [], shape: same },
  qcfs: { role: 'ann-only', final: false, tensors: [], shape: same },
  // model, leak and reset are plain numbers and strings of the node, not tensors (compiler/ir/types.ts IfNode).
  if: { role: 'neuron', final: true, tensors: [], shape: same },
  rsm: { role: 'mask', final: true, tensors: [], shape: same },
  matmul: {
    role: 'analog',
    final: true,
    tensors: [],
    shape: (node, inputs) => {
      const [a, b] = inputs;
      if (!b || a.length < 2 || b.length < 2 || a[a.length - 1] !== b[b.length - 2]) fail(node, `matmul of [${a}] and [${b ?? ''}]`);
      const lead = broadcastLeading(node, a.slice(0, -2), b.slice(0, -2));
      return [...lead, a[a.length - 2], b[b.length - 1]];
    },
  },
  softmax: {
    role: 'analog',
    final: true,
    tensors: [],
    shape: (node, [x]) => {
      if (node.axis >= x.length) fail(node, `softmax axis ${node.axis} of [${x}]`);
      return [...x];
    },
  },
  mean: {
    role: 'linear',
    final: true,
    tensors: [],
    shape: (node, [x]) => {
      if (node.axes.some((a) => a >= x.length)) fail(node, `mean over axes [${node.axes}] of [${x}]`);
      return node.keepdims ? x.map((d, i) => (node.axes.includes(i) ? 1 : d)) : x.filter((_, i) => !node.axes.includes(i));
    },
  },
  onnx: { role: 'ann-only', final: false, tensors: ['constants'], shape: (node, _inputs, { declared }) => [...(declared ?? node.shape)] },
} satisfies { [K in IrKind]: KindInfo<K> };

type Registry = typeof KINDS;
/** The kinds whose record matches `P`, e.g. `KindsWhere<{ final: true }>`. */
export type KindsWhere<P> = { [K in IrKind]: Registry[K] extends P ? K : never }[IrKind];

/** Kinds that may reach the simulator and the targets. */
export type FinalKind = KindsWhere<{ final: true }>;
/** Kinds with a linear map from spikes to currents: synaptic and linear roles (runtime/snn/linear.ts scatters them). */
export type LinearKind = KindsWhere<{ role: 'synaptic' | 'linear' }>;
/** Kinds computed on values every step. */
export type AnalogKind = KindsWhere<{ role: 'analog' }>;
export type NeuronKind = KindsWhere<{ role: 'neuron' }>;
export type MaskKind = KindsWhere<{ role: 'mask' }>;

/** Every kind, in the registry's order. */
export const IR_KINDS = Object.keys(KINDS) as IrKind[];

function kindsWhere<K extends IrKind>(test: (info: KindInfo<IrKind>) => boolean): ReadonlySet<K> {
  return new Set(IR_KINDS.filter((k) => test(KINDS[k] as KindInfo<IrKind>)) as K[]);
}

/** Sets typed by their subset; `has` takes any kind (`isFinal` and friends narrow). */
export const FINAL_KINDS: ReadonlySet<IrKind> = kindsWhere<FinalKind>((k) => k.final);
export const LINEAR_KINDS: ReadonlySet<IrKind> = kindsWhere<LinearKind>((k) => k.role === 'synaptic' || k.role === 'linear');
export const ANALOG_KINDS: ReadonlySet<IrKind> = kindsWhere<AnalogKind>((k) => k.role === 'analog');

export function isFinal(kind: IrKind): kind is FinalKind {
  return FINAL_KINDS.has(kind);
}

export function isLinear(kind: IrKind): kind is LinearKind {
  return LINEAR_KINDS.has(kind);
}

export function isAnalog(kind: IrKind): kind is AnalogKind {
  return ANALOG_KINDS.has(kind);
}

/** The registry record of a kind, or undefined for a string that is not one (a hand-edited IR). */
export function kindInfo(kind: string): KindInfo<IrKind> | undefined {
  return Object.hasOwn(KINDS, kind) ? (KINDS[kind as IrKind] as KindInfo<IrKind>) : undefined;
}

/** The tensor-table names a node refers to, in the order of its kind's `tensors` fields. */
export function tensorRefs(node: IrNode): string[] {
  const out: string[] = [];
  for (const field of kindInfo(node.kind)?.tensors ?? []) {
    const value = (node as unknown as Record<string, unknown>)[field as string];
    if (typeof value === 'string') out.push(value);
    else if (value !== undefined && value !== null && typeof value === 'object') out.push(...Object.values(value as Record<string, string>));
  }
  return out;
}
