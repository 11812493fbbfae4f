/**
 * Spiking IR → NIR (Neuromorphic Intermediate Representation, Pedersen et al. 2024) HDF5, in the layout
 * NIR's Python `nir.write` produces and `nir.read` accepts (Pedersen et al., Nature Communications 2024): `/version`, `/node/type = "NIRGraph"`,
 * `/node/nodes/<name>/{type, params…, metadata/}`, `/node/edges` (E × 2 strings), `/node/metadata/`.
 *
 * Mapping (every parameter name, dtype and shape as NIR's reader and type check expect them):
 *   input      → Input      shape (int64, no batch, no time)
 *   conv2d     → Conv2d     weight (Cout, Cin, kh, kw), bias (Cout), stride, padding (symmetric), dilation,
 *                           groups (int64), input_shape (H, W)
 *   dense      → Affine     weight (out, in), bias (out); Linear (weight only) when the IR has no bias
 *   avgpool2d  → SumPool2d  kernel_size, stride, padding; the 1/window factor is folded downstream
 *   reshape    → Flatten    start_dim, end_dim (batch-less), input_type
 *   if         → IF         r = 1/dt, v_threshold, v_reset = 0 (one value per neuron);
 *                           metadata/ reset_mode ("subtract" or "zero"), dt, v_init (v(0) per neuron)
 *   if (lif)   → LIF        tau = dt/(1 − λ), r = tau/dt, v_leak = 0, v_threshold, v_reset = 0; same metadata.
 *                           NIR's τ·dv/dt = (v_leak − v) + R·I under forward Euler with step dt is
 *                           v ← (1 − dt/τ)·v + (dt·R/τ)·I = λ·v + I (snnTorch's Leaky ↔ LIF convention);
 *                           a LIF node with λ = 1 everywhere is written as IF. CubaLIF (a synaptic current
 *                           that decays with its own τ_syn) matches no IR neuron rule and is never written.
 *   affine     → nothing: a pure scale (zero shift) is folded into the next layer
 *   output     → Output     shape
 *
 * Values. A snnc spike of neuron i carries θ_i; a NIR spike is 1. The analog input is divided by the IR's
 * divisor; a NIR Input takes the raw values. Average pooling divides by its window. All three are positive
 * per-element factors s with "IR value = s ⊙ NIR value"; the exporter carries s along the graph and folds it
 * into the next synaptic layer (weight columns × s) or the next IF population (θ/s, v(0)/s: the same spikes).
 * Only where it cannot (s varies inside a pooling window or a conv input channel, a non-positive s before an
 * IF, s ≠ 1 at the output) a NIR `Scale` node is written, so the NIR graph computes what the IR computes, with
 * one difference NIR cannot express: reset by subtraction (recorded in metadata; NIR's own rule is v ← v_reset,
 * snnc's reset to zero). The file is read back into an IR by targets/nir/import.ts (`snnc import-nir`).
 *
 * Each final IR kind's form is one entry of NIR_FORMS (typed by the registry's FinalKind, so a new kind
 * must say how it is written or why it is refused). Kinds with no NIR node (transpose, add, concat, bias,
 * affine with a shift, mean, matmul, rsm, softmax, …) are refused by name. With `allowUnsupported`, the ones that are a single-input, shape-preserving step
 * (rsm masks, softmax) are skipped — the graph is written as if they were the identity — and listed.
 *
 * The same IR gives the same bytes: HDF5 stamps object headers with the current time, so the write runs
 * with the wasm module's clock pinned to 0 (h5wasm exposes no H5Pset_obj_track_times).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SnncError } from '../../compiler/errors.ts';
import { type FinalKind, isFinal, kindInfo, type NodeOf } from '../../compiler/ir/kinds.ts';
import { type IfNode, type IrNode, type IrTensor, leakOf, type Shape, type SnnIr } from '../../compiler/ir/types.ts';
import { loadH5wasm, type NirArray, type NirGraph, type NirNode, type NirRecord, type NirValue } from './import.ts';

/** The NIR release whose reader (nir/serialization.py, nir/ir/*.py) this layout follows. */
export const NIR_VERSION = '1.0.8';
/**
 * Time step the neurons are written with (snnTorch's NIR convention): IF r = 1/dt makes dv = dt·r·I = I per
 * step; LIF τ = dt/(1 − λ), r = τ/dt makes the leak 1 − dt/τ = λ and the input gain dt·r/τ = 1.
 */
export const NIR_DT = 1e-4;
/** gzip level h5py uses when NIR's writer asks for `compression="gzip"` without options. */
const GZIP_LEVEL = 4;

export interface NirExportOptions {
  /** Skip (with a warning) single-input, shape-preserving nodes NIR cannot express instead of refusing them. */
  allowUnsupported?: boolean;
}

export interface NirSkipped {
  node: string;
  kind: string;
  reason: string;
}

export interface NirSummary {
  file: string;
  bytes: number;
  nir_version: string;
  dt: number;
  /** NIR nodes in graph order: name, type, the IR node it came from (if any) and its output shape. */
  nodes: Array<{ name: string; type: string; from: string | null; shape: Shape }>;
  edges: number;
  types: Record<string, number>;
  /** IR nodes with no NIR counterpart that were written as the identity (only with allowUnsupported). */
  skipped: NirSkipped[];
  /** How IR values were rescaled (spike amplitude θ, input divisor, pooling windows, scale-only affines). */
  notes: string[];
}

/** The NIR graph of an IR, plus what the summary reports. Pure: tests compare it with the file read back. */
export interface NirBuild {
  graph: NirGraph;
  order: Array<{ name: string; from: string | null; shape: Shape }>;
  skipped: NirSkipped[];
  notes: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Values

function f32(shape: Shape, data: ArrayLike<number>): NirArray {
  return { dtype: '<f4', shape: [...shape], data: Float32Array.from(data) };
}

function i64(shape: Shape, data: number[]): NirArray {
  return { dtype: '<i8', shape: [...shape], data: BigInt64Array.from(data.map((x) => BigInt(x))) };
}

function i64Scalar(x: number): NirArray {
  return i64([], [x]);
}

function f64Scalar(x: number): NirArray {
  return { dtype: '<f8', shape: [], data: Float64Array.of(x) };
}

function sizeOf(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------------------------------
// What NIR cannot express

interface Problem extends NirSkipped {
  /** Single input, same shape out: can be written as the identity with allowUnsupported. */
  skippable: boolean;
}

function symmetric(pads: [number, number, number, number]): boolean {
  return pads[0] === pads[2] && pads[1] === pads[3];
}

/** Start and end axis (batch-less) of a NIR Flatten that maps `from` to `to`, or undefined. */
function flattenDims(from: Shape, to: Shape): { start: number; end: number } | undefined {
  for (let start = 0; start < from.length; start++) {
    for (let end = from.length - 1; end >= start; end--) {
      const out = [...from.slice(0, start), sizeOf(from.slice(start, end + 1)), ...from.slice(end + 1)];
      if (out.join() === to.join()) return { start, end };
    }
  }
  return undefined;
}

/** Why a node cannot be written: a reason (not skippable), or a reason and whether it may be skipped. */
type Refusal = string | { reason: string; skippable: boolean };

/** A kind NIR has no node for: skippable when it is a single-input, shape-preserving step. */
function noNirNode(node: IrNode, x: Shape): Refusal {
  return { reason: `NIR has no ${node.kind as string} node`, skippable: node.inputs.length === 1 && x.join() === node.shape.join() };
}

/** Why NIR cannot express `node`, or undefined. Depends only on the node, its input shapes and tensors. */
function problemOf(node: IrNode, shapes: Map<string, Shape>, tensors: Map<string, IrTensor>): Problem | undefined {
  const kind = node.kind as string;
  const x = shapes.get(node.inputs[0]) ?? [];
  let refusal: Refusal | undefined;
  if (isFinal(node.kind)) {
    const form = NIR_FORMS[node.kind] as NirForm<IrNode>;
    refusal = 'refused' in form ? form.refused(node, x) : form.check?.(node, x, tensors);
  } else if (kindInfo(kind)) {
    refusal = 'not a spiking IR node (the IR was not fully converted)';
  } else {
    refusal = noNirNode(node, x);
  }
  if (refusal === undefined) return undefined;
  if (typeof refusal === 'string') return { node: node.id, kind, reason: refusal, skippable: false };
  return { node: node.id, kind, reason: refusal.reason, skippable: refusal.skippable };
}

// ---------------------------------------------------------------------------------------------------------
// Graph construction

/** A value of the IR as the NIR graph has it: produced by NIR node `from`, and IR value = scale ⊙ NIR value. */
interface Value {
  from: string;
  shape: Shape;
  /** Per element; null means 1 everywhere. */
  scale: Float64Array | null;
}

/** θ per element of an IF population: one value, or one per index along `axis`. */
function thresholdsOf(node: IfNode): Float64Array {
  return perElement(node, node.threshold);
}

/** A population's value per element: one value, or one per index along `axis` (θ, λ). */
function perElement(node: IfNode, value: number | number[]): Float64Array {
  const n = sizeOf(node.shape);
  const out = new Float64Array(n);
  if (typeof value === 'number') return out.fill(value);
  const stride = sizeOf(node.shape.slice(node.axis + 1));
  for (let e = 0; e < n; e++) out[e] = value[Math.floor(e / stride) % node.shape[node.axis]];
  return out;
}

/** The per-channel factor of a [C, …] scale, or undefined when it varies within a channel. */
function perChannel(scale: Float64Array, shape: Shape): Float64Array | undefined {
  const c = shape[0];
  const plane = sizeOf(shape.slice(1));
  const out = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    out[ch] = scale[ch * plane];
    for (let p = 1; p < plane; p++) if (scale[ch * plane + p] !== out[ch]) return undefined;
  }
  return out;
}

/** A constant broadcast against `shape` from the right (numpy rules), one value per element. */
function broadcast(t: IrTensor, shape: Shape): Float64Array {
  const out = new Float64Array(sizeOf(shape));
  const lead = shape.length - t.dims.length;
  const tStride = t.dims.map((_, a) => sizeOf(t.dims.slice(a + 1)));
  const oStride = shape.map((_, a) => sizeOf(shape.slice(a + 1)));
  for (let e = 0; e < out.length; e++) {
    let src = 0;
    for (let a = lead; a < shape.length; a++) {
      if (t.dims[a - lead] !== 1) src += (Math.floor(e / oStride[a]) % shape[a]) * tStride[a - lead];
    }
    out[e] = t.data[src];
  }
  return out;
}

/** HDF5 link names cannot contain "/" (or be "." / ""); NIR names are free strings otherwise. */
function baseName(id: string): string {
  const name = id.replace(/\//g, '_');
  return name === '' || name === '.' || name === '..' ? `node${name}` : name;
}

// ---------------------------------------------------------------------------------------------------------
// NIR forms: one per final IR kind

/** What a kind's `write` may do to the NIR graph being built, for one IR node. */
interface NirWriter {
  /** The NIR name of this node. */
  name: string;
  /** The IR value it reads (its first input), and that value as the NIR graph has it. */
  inputId: string;
  input: Value;
  tensor(name: string): IrTensor;
  /** Adds the NIR node `name`, of `type`, for this IR node. */
  add(type: string, params: Record<string, NirValue>, metadata?: NirRecord): void;
  /** An edge from NIR node `from` into this node. */
  edge(from: string): void;
  /** This IR node's value as the NIR graph has it. */
  set(value: Value): void;
  note(text: string): void;
  /** A Scale node that applies `v.scale` to IR value `id` (one per value). */
  materialize(id: string, v: Value, why: string): Value;
}

/**
 * How NIR expresses a kind: `write` adds its NIR nodes (after `check` found nothing NIR cannot express), or
 * the kind is `refused` every time. `folded`: it writes no NIR node of its own (its scale moves downstream).
 */
type NirForm<N extends IrNode> =
  | { check?: (node: N, x: Shape, tensors: Map<string, IrTensor>) => Refusal | undefined; write: (node: N, w: NirWriter) => void; folded?: true }
  | { refused: (node: N, x: Shape) => Refusal };

/** Typed by the registry's FinalKind (compiler/ir/kinds.ts): a final kind with no NIR form is a type error. */
export const NIR_FORMS: { [K in FinalKind]: NirForm<NodeOf<K>> } = {
  conv2d: {
    check: (node) => {
      if (node.groups !== 1) return `grouped convolution (groups ${node.groups}): NIR's Conv2d type check reads the input channels from the weight`;
      if (!symmetric(node.pads)) return `asymmetric padding [${node.pads}]: NIR's Conv2d padding is symmetric per axis`;
      return undefined;
    },
    write: (node, w) => {
      let v = w.input;
      const t = w.tensor(node.weight);
      const [cout, cin, kh, kw] = t.dims;
      let sc: Float64Array | undefined;
      if (v.scale) {
        sc = perChannel(v.scale, v.shape);
        if (!sc) {
          v = w.materialize(w.inputId, v, `the scale varies within an input channel of ${node.id}`);
          sc = undefined;
        }
      }
      const weight = sc ? t.data.map((x, i) => x * sc[Math.floor(i / (kh * kw)) % cin]) : t.data;
      if (sc) w.note(`${w.name}: weights × the per-channel scale ${w.inputId} carries`);
      w.add('Conv2d', {
        weight: f32(t.dims, weight),
        bias: f32([cout], node.bias ? w.tensor(node.bias).data : new Float32Array(cout)),
        stride: i64([2], node.strides),
        padding: i64([2], [node.pads[0], node.pads[1]]),
        dilation: i64([2], node.dilations),
        groups: i64Scalar(node.groups),
        input_shape: i64([2], [v.shape[1], v.shape[2]]),
      });
      w.edge(v.from);
      w.set({ from: w.name, shape: node.shape, scale: null });
    },
  },
  dense: {
    check: (_node, x) => (x.length !== 1 ? `dense over a [${x}] input: NIR's Affine/Linear take a 1-D input` : undefined),
    write: (node, w) => {
      const v = w.input;
      const t = w.tensor(node.weight);
      const [out, inner] = t.dims;
      const s = v.scale;
      const weight = s ? t.data.map((x, i) => x * s[i % inner]) : t.data;
      if (s) w.note(`${w.name}: weight columns × the scale ${w.inputId} carries`);
      if (node.bias) w.add('Affine', { weight: f32(t.dims, weight), bias: f32([out], w.tensor(node.bias).data) });
      else w.add('Linear', { weight: f32(t.dims, weight) });
      w.edge(v.from);
      w.set({ from: w.name, shape: node.shape, scale: null });
    },
  },
  avgpool2d: {
    check: (node) => (!symmetric(node.pads) ? `asymmetric padding [${node.pads}]: NIR's SumPool2d padding is symmetric per axis` : undefined),
    write: (node, w) => {
      let v = w.input;
      const [c, h, wd] = v.shape;
      const [, oh, ow] = node.shape;
      const [kh, kw] = node.kernel;
      let sc = v.scale ? perChannel(v.scale, v.shape) : new Float64Array(c).fill(1);
      if (!sc) {
        v = w.materialize(w.inputId, v, `the scale varies within a pooling window of ${node.id}`);
        sc = new Float64Array(c).fill(1);
      }
      // SumPool2d sums; the average's divisor (whole window, or its in-bounds taps) moves downstream.
      const inBounds = (o: number, stride: number, pad: number, k: number, size: number) =>
        Math.min(o * stride - pad + k, size) - Math.max(o * stride - pad, 0);
      const scale = new Float64Array(c * oh * ow);
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < oh; y++) {
          for (let x = 0; x < ow; x++) {
            const count = node.countIncludePad
              ? kh * kw
              : inBounds(y, node.strides[0], node.pads[0], kh, h) * inBounds(x, node.strides[1], node.pads[1], kw, wd);
            scale[(ch * oh + y) * ow + x] = sc[ch] / count;
          }
        }
      }
      w.add('SumPool2d', {
        kernel_size: i64([2], node.kernel),
        stride: i64([2], node.strides),
        padding: i64([2], [node.pads[0], node.pads[1]]),
      });
      w.note(`${w.name}: average pooling written as SumPool2d; 1/window carried to the next layer`);
      w.edge(v.from);
      w.set({ from: w.name, shape: node.shape, scale });
    },
  },
  reshape: {
    check: (node, x) =>
      !flattenDims(x, node.shape) ? `reshape [${x}] → [${node.shape}] is not a flatten of consecutive axes, and NIR has no general reshape` : undefined,
    write: (node, w) => {
      const v = w.input;
      const { start, end } = flattenDims(v.shape, node.shape)!;
      w.add('Flatten', {
        start_dim: i64Scalar(start),
        end_dim: i64Scalar(end === v.shape.length - 1 ? -1 : end),
        input_type: i64([v.shape.length], v.shape),
      });
      w.edge(v.from);
      // C-order flatten keeps the flat index, so the scale carries over unchanged.
      w.set({ from: w.name, shape: node.shape, scale: v.scale });
    },
  },
  if: {
    check: (node) => {
      if (node.model === 'signed-if' || node.burst !== undefined) return `a ${node.model ?? 'if'} population${node.burst !== undefined ? ` with bursts of ${node.burst}` : ''}: NIR's IF and LIF send one unsigned spike per step`;
      const leak = perElement(node, leakOf(node));
      if (leak.some((l) => l < 1) && leak.some((l) => l === 1)) return 'a LIF population with λ = 1 in some channels only: NIR\'s LIF has no τ = ∞';
      return undefined;
    },
    write: (node, w) => {
      let v = w.input;
      if (v.scale && v.scale.some((s) => !(s > 0 && Number.isFinite(s)))) {
        v = w.materialize(w.inputId, v, `a non-positive scale cannot move into the thresholds of ${node.id}`);
      }
      const theta = thresholdsOf(node);
      const s = v.scale;
      const n = theta.length;
      const threshold = s ? theta.map((t, e) => t / s[e]) : theta;
      if (s) w.note(`${w.name}: v_threshold and v_init ÷ the scale ${w.inputId} carries (same spikes)`);
      const metadata = {
        reset_mode: node.reset,
        dt: f64Scalar(NIR_DT),
        v_init: f32(node.shape, threshold.map((t) => t * node.vInit)),
      };
      const leak = perElement(node, leakOf(node));
      if (leak.every((l) => l === 1)) {
        w.add('IF', { r: f32(node.shape, new Float64Array(n).fill(1 / NIR_DT)), v_threshold: f32(node.shape, threshold), v_reset: f32(node.shape, new Float64Array(n)) }, metadata);
      } else {
        const tau = leak.map((l) => NIR_DT / (1 - l));
        w.add(
          'LIF',
          {
            tau: f32(node.shape, tau),
            r: f32(node.shape, tau.map((t) => t / NIR_DT)),
            v_leak: f32(node.shape, new Float64Array(n)),
            v_threshold: f32(node.shape, threshold),
            v_reset: f32(node.shape, new Float64Array(n)),
          },
          metadata,
        );
      }
      w.edge(v.from);
      // A NIR spike is 1; the IR's carries θ.
      w.set({ from: w.name, shape: node.shape, scale: theta });
    },
  },
  affine: {
    check: (node, _x, tensors) => {
      const shift = tensors.get(node.shift);
      if (shift && shift.data.some((v) => v !== 0)) return 'a per-element shift: NIR has no node that adds a constant tensor';
      return undefined;
    },
    folded: true,
    write: (node, w) => {
      // Zero shift (checked above): a pure per-element scale, folded downstream.
      const v = w.input;
      const k = broadcast(w.tensor(node.scale), node.shape);
      const s = v.scale;
      w.set({ from: v.from, shape: node.shape, scale: k.map((x, e) => x * (s ? s[e] : 1)) });
      w.note(`${node.id}: scale-only affine folded downstream`);
    },
  },
  rsm: { refused: () => ({ reason: 'random spike masking has no NIR equivalent', skippable: true }) },
  bias: { refused: () => 'NIR has no node that adds a constant tensor' },
  add: { refused: () => 'NIR has no add node' },
  concat: { refused: () => 'NIR has no concat node' },
  transpose: { refused: () => 'NIR has no transpose node' },
  select: { refused: () => 'NIR has no gather/slice node (select)' },
  matmul: { refused: () => 'a product of two spiking operands has no NIR node' },
  mean: { refused: () => 'NIR has no mean node' },
  softmax: { refused: noNirNode },
};

export function buildNirGraph(ir: SnnIr, opts: NirExportOptions = {}): NirBuild {
  const shapes = new Map<string, Shape>([[ir.input.id, ir.input.shape]]);
  for (const n of ir.nodes) shapes.set(n.id, n.shape);
  const tensor = (name: string): IrTensor => {
    const t = ir.tensors.get(name);
    if (!t) throw new SnncError(`tensor ${name} is missing`);
    return t;
  };

  // Everything NIR cannot express, reported together.
  const problems = ir.nodes.map((n) => problemOf(n, shapes, ir.tensors)).filter((p): p is Problem => p !== undefined);
  const refused = problems.filter((p) => !(opts.allowUnsupported && p.skippable));
  if (refused.length) {
    // A whole transformer can refuse dozens of nodes: name the first few, then count the rest by kind.
    const SHOWN = 8;
    let list = refused.slice(0, SHOWN).map((p) => `${p.node} (${p.kind}: ${p.reason})`).join('; ');
    if (refused.length > SHOWN) {
      const rest = new Map<string, number>();
      for (const p of refused.slice(SHOWN)) rest.set(p.kind, (rest.get(p.kind) ?? 0) + 1);
      list += `; and ${refused.length - SHOWN} more (${[...rest].map(([kind, n]) => `${n} ${kind}`).join(', ')})`;
    }
    const skippable = refused.filter((p) => p.skippable);
    const hint = skippable.length === refused.length ? '; --allow-unsupported writes the graph without them' : '';
    throw new SnncError(`cannot export to NIR: ${list}${hint}`);
  }
  const skipped: NirSkipped[] = problems.map(({ node, kind, reason }) => ({ node, kind, reason }));

  const used = new Set<string>();
  const unique = (wanted: string): string => {
    let name = wanted;
    for (let i = 1; used.has(name); i++) name = `${wanted}_${i}`;
    used.add(name);
    return name;
  };
  const nodes: Record<string, NirNode> = {};
  const edges: Array<[string, string]> = [];
  const order: NirBuild['order'] = [];
  const notes: string[] = [];
  const add = (name: string, from: string | null, shape: Shape, type: string, params: Record<string, NirValue>, metadata: NirRecord = {}) => {
    nodes[name] = { type, params, metadata };
    order.push({ name, from, shape });
  };

  // Names: the IR's ids (made HDF5-safe), the Output node last.
  const nameOf = new Map<string, string>();
  nameOf.set(ir.input.id, unique(baseName(ir.input.id)));
  const folded = (n: IrNode) => isFinal(n.kind) && 'folded' in NIR_FORMS[n.kind];
  for (const n of ir.nodes) if (!problems.some((p) => p.node === n.id) && !folded(n)) nameOf.set(n.id, unique(baseName(n.id)));

  const values = new Map<string, Value>();
  const inputName = nameOf.get(ir.input.id)!;
  add(inputName, ir.input.id, ir.input.shape, 'Input', { shape: i64([ir.input.shape.length], ir.input.shape) });
  const divisor = ir.input.divisor;
  values.set(ir.input.id, { from: inputName, shape: ir.input.shape, scale: divisor === 1 ? null : new Float64Array(sizeOf(ir.input.shape)).fill(1 / divisor) });
  if (divisor !== 1) notes.push(`input divisor ${divisor} folded into the weights that read the input: feed raw values`);

  /** A Scale node that applies `v.scale`, so the value becomes exact (scale 1). One per IR value. */
  const scaled = new Map<string, Value>();
  const materialize = (id: string, v: Value, why: string): Value => {
    if (!v.scale) return v;
    const done = scaled.get(id);
    if (done) return done;
    const name = unique(`${baseName(id)}_scale`);
    add(name, null, v.shape, 'Scale', { scale: f32(v.shape, v.scale) });
    edges.push([v.from, name]);
    notes.push(`${name}: Scale node after ${id} (${why})`);
    const out: Value = { from: name, shape: v.shape, scale: null };
    scaled.set(id, out);
    return out;
  };

  for (const node of ir.nodes) {
    const inputId = node.inputs[0];
    const v = values.get(inputId)!;
    const skip = skipped.find((s) => s.node === node.id);
    if (skip) {
      values.set(node.id, { ...v, shape: node.shape });
      continue;
    }
    const form = (isFinal(node.kind) ? NIR_FORMS[node.kind] : undefined) as NirForm<IrNode> | undefined;
    if (!form || 'refused' in form) throw new SnncError(`internal: no NIR mapping for ${node.kind as string}`, { node: node.id });
    const name = nameOf.get(node.id)!;
    form.write(node, {
      name,
      inputId,
      input: v,
      tensor,
      add: (type, params, metadata) => add(name, node.id, node.shape, type, params, metadata),
      edge: (from) => edges.push([from, name]),
      set: (value) => values.set(node.id, value),
      note: (text) => notes.push(text),
      materialize,
    });
  }

  if (ir.nodes.some((n) => n.kind === 'if')) notes.unshift('NIR spikes are 1, snnc spikes carry θ: each θ is folded into the layers its population feeds');

  let out = values.get(ir.output.id)!;
  if (out.scale && out.scale.some((s) => s !== 1)) out = materialize(ir.output.id, out, 'the output must carry the IR value');
  const outputName = unique('output');
  add(outputName, null, ir.output.shape, 'Output', { shape: i64([ir.output.shape.length], ir.output.shape) });
  edges.push([out.from, outputName]);

  const metadata: NirRecord = {
    generator: `snnc ${ir.provenance.snnc}`,
    source: ir.provenance.source,
    source_sha256: ir.provenance.sha256,
    dt: f64Scalar(NIR_DT),
    input_divisor: f64Scalar(divisor),
    readout: 'the IR output is the mean over T steps of what reaches the Output node; the Input gets the same raw sample every step',
  };
  return { graph: { version: NIR_VERSION, nodes, edges, metadata }, order, skipped, notes };
}

// ---------------------------------------------------------------------------------------------------------
// HDF5

const CHUNK_BASE = 16 * 1024;
const CHUNK_MIN = 8 * 1024;
const CHUNK_MAX = 1024 * 1024;

/** h5py's `guess_chunk` (h5py/_hl/filters.py), which NIR's writer gets when it gzips a dataset without chunks. */
export function guessChunk(shape: Shape, typesize: number): number[] {
  const chunks = shape.map((x) => (x !== 0 ? x : 1024));
  const product = () => chunks.reduce((a, b) => a * b, 1);
  const datasetSize = product() * typesize;
  let target = CHUNK_BASE * 2 ** Math.log10(datasetSize / (1024 * 1024));
  if (target > CHUNK_MAX) target = CHUNK_MAX;
  else if (target < CHUNK_MIN) target = CHUNK_MIN;
  for (let idx = 0; ; idx++) {
    const bytes = product() * typesize;
    if ((bytes < target || Math.abs(bytes - target) / target < 0.5) && bytes < CHUNK_MAX) break;
    if (product() === 1) break;
    chunks[idx % chunks.length] = Math.ceil(chunks[idx % chunks.length] / 2);
  }
  return chunks;
}

const H5_DTYPE = { '<f4': '<f', '<f8': '<d', '<i8': '<q' } as const;
const ITEM_SIZE = { '<f4': 4, '<f8': 8, '<i8': 8 } as const;

type H5Group = import('h5wasm/node').Group;

function writeValue(group: H5Group, name: string, value: NirValue): void {
  if (typeof value === 'string') {
    group.create_dataset({ name, data: value });
    return;
  }
  const dtype = H5_DTYPE[value.dtype];
  if (value.shape.length === 0 || value.data.length === 0) {
    group.create_dataset({ name, data: value.data, shape: value.shape, dtype });
    return;
  }
  // NIR's writer gzips every array (h5py picks the chunks).
  group.create_dataset({
    name,
    data: value.data,
    shape: value.shape,
    dtype,
    chunks: guessChunk(value.shape, ITEM_SIZE[value.dtype]),
    compression: 'gzip',
    compression_opts: GZIP_LEVEL,
  });
}

function writeRecord(group: H5Group, record: NirRecord): void {
  for (const [key, value] of Object.entries(record)) {
    if (typeof value === 'string' || 'dtype' in value) writeValue(group, key, value as NirValue);
    else writeRecord(group.create_group(key), value as NirRecord);
  }
}

/**
 * Writes a NIR graph to `file` through a temporary file beside it and a rename: a failure leaves no
 * half-written file. Returns the size in bytes.
 */
export async function writeNirFile(graph: NirGraph, file: string): Promise<number> {
  const target = resolve(file);
  // h5wasm does not throw when it cannot create a file (it prints HDF5 diagnostics and returns a dead handle).
  const folder = dirname(target);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new SnncError(`cannot write: folder ${folder} does not exist`, { file });
  if (existsSync(target) && statSync(target).isDirectory()) throw new SnncError('cannot write: is a directory', { file });
  const h5wasm = await loadH5wasm();
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const realNow = Date.now;
  let f: InstanceType<typeof h5wasm.File> | undefined;
  try {
    // HDF5 writes the current time into every object header; the wasm clock reads Date.now. The write is
    // synchronous, so pinning it here affects nothing else.
    Date.now = () => 0;
    f = new h5wasm.File(tmp, 'w');
    if (!existsSync(tmp)) throw new SnncError(`cannot write: HDF5 could not create ${tmp}`, { file });
    f.create_dataset({ name: 'version', data: graph.version });
    const root = f.create_group('node');
    root.create_dataset({ name: 'type', data: 'NIRGraph' });
    const nodesGroup = root.create_group('nodes');
    for (const [name, node] of Object.entries(graph.nodes)) {
      const g = nodesGroup.create_group(name);
      g.create_dataset({ name: 'type', data: node.type });
      for (const [key, value] of Object.entries(node.params)) writeValue(g, key, value);
      if (Object.keys(node.metadata).length) writeRecord(g.create_group('metadata'), node.metadata);
    }
    root.create_dataset({ name: 'edges', data: graph.edges.flat(), shape: [graph.edges.length, 2] });
    if (Object.keys(graph.metadata).length) writeRecord(root.create_group('metadata'), graph.metadata);
    f.close();
    f = undefined;
    renameSync(tmp, target);
  } catch (err) {
    try {
      f?.close();
    } catch {
      // The handle is already unusable: the temporary file goes anyway.
    }
    rmSync(tmp, { force: true });
    if (err instanceof SnncError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new SnncError(`cannot write NIR file (${message.replace(/^Error: /, '')})`, { file });
  } finally {
    Date.now = realNow;
  }
  return statSync(target).size;
}

export async function exportNir(ir: SnnIr, file: string, opts: NirExportOptions = {}): Promise<NirSummary> {
  const build = buildNirGraph(ir, opts);
  const bytes = await writeNirFile(build.graph, file);
  const types: Record<string, number> = {};
  for (const n of Object.values(build.graph.nodes)) types[n.type] = (types[n.type] ?? 0) + 1;
  return {
    file,
    bytes,
    nir_version: build.graph.version,
    dt: NIR_DT,
    nodes: build.order.map((o) => ({ ...o, type: build.graph.nodes[o.name].type })),
    edges: build.graph.edges.length,
    types,
    skipped: build.skipped,
    notes: build.notes,
  };
}
