/**
 * Dense evaluator of a final spiking IR, gather-style (each output element reads its inputs): the
 * straightforward counterpart of the scatter maps in runtime/snn/linear.ts, used as an independent
 * oracle in tests and to calibrate synthetic benchmark networks. Float64 throughout.
 */
import { SnncError } from '../../compiler/errors.ts';
import { type AnalogKind, type FinalKind, isAnalog, isFinal, isLinear, type LinearKind, type NodeOf } from '../../compiler/ir/kinds.ts';
import type { IfNode, IrNode, IrTensor, Shape, SnnIr } from '../../compiler/ir/types.ts';
import { broadcastTo, sizeOf, stridesOf } from './broadcast.ts';

function tensorOf(tensors: Map<string, IrTensor>, name: string, node: IrNode): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new SnncError(`tensor ${name} is missing`, { node: node.id, op: node.kind });
  return t.data;
}

type LinearEvaluator<N> = (node: N, inputs: Float64Array[], inShapes: Shape[], tensors: Map<string, IrTensor>, out: Float64Array) => Float64Array;

/**
 * One gather-style evaluator per linear kind, writing into `out` (zeroed, the node's size). Typed by the
 * registry's LinearKind (compiler/ir/kinds.ts): a linear kind without an evaluator is a type error.
 */
export const LINEAR_EVALUATORS: { [K in LinearKind]: LinearEvaluator<NodeOf<K>> } = {
  conv2d(node, inputs, inShapes, tensors, out) {
    const [x] = inputs;
    const W = tensorOf(tensors, node.weight, node);
    const [cout, cpg, kh, kw] = tensors.get(node.weight)!.dims;
    const [, h, w] = inShapes[0];
    const [, oh, ow] = node.shape;
    const b = node.bias ? tensorOf(tensors, node.bias, node) : undefined;
    const copg = cout / node.groups;
    for (let co = 0; co < cout; co++) {
      const g = Math.floor(co / copg);
      for (let y = 0; y < oh; y++) {
        for (let xx = 0; xx < ow; xx++) {
          let acc = b ? b[co] : 0;
          for (let cl = 0; cl < cpg; cl++) {
            for (let i = 0; i < kh; i++) {
              const iy = y * node.strides[0] - node.pads[0] + i * node.dilations[0];
              if (iy < 0 || iy >= h) continue;
              for (let j = 0; j < kw; j++) {
                const ix = xx * node.strides[1] - node.pads[1] + j * node.dilations[1];
                if (ix < 0 || ix >= w) continue;
                acc += x[((g * cpg + cl) * h + iy) * w + ix] * W[((co * cpg + cl) * kh + i) * kw + j];
              }
            }
          }
          out[(co * oh + y) * ow + xx] = acc;
        }
      }
    }
    return out;
  },
  dense(node, inputs, _inShapes, tensors, out) {
    const [x] = inputs;
    const W = tensorOf(tensors, node.weight, node);
    const [nOut, nIn] = tensors.get(node.weight)!.dims;
    const b = node.bias ? tensorOf(tensors, node.bias, node) : undefined;
    for (let r = 0; r < x.length / nIn; r++) {
      for (let o = 0; o < nOut; o++) {
        let acc = b ? b[o] : 0;
        for (let k = 0; k < nIn; k++) acc += x[r * nIn + k] * W[o * nIn + k];
        out[r * nOut + o] = acc;
      }
    }
    return out;
  },
  avgpool2d(node, inputs, inShapes, _tensors, out) {
    const [x] = inputs;
    const [c, h, w] = inShapes[0];
    const [, oh, ow] = node.shape;
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < oh; y++) {
        for (let xx = 0; xx < ow; xx++) {
          let acc = 0;
          let n = 0;
          for (let i = 0; i < node.kernel[0]; i++) {
            for (let j = 0; j < node.kernel[1]; j++) {
              const iy = y * node.strides[0] - node.pads[0] + i;
              const ix = xx * node.strides[1] - node.pads[1] + j;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += x[(ch * h + iy) * w + ix];
              n++;
            }
          }
          out[(ch * oh + y) * ow + xx] = acc / (node.countIncludePad ? node.kernel[0] * node.kernel[1] : n);
        }
      }
    }
    return out;
  },
  reshape(_node, inputs, _inShapes, _tensors, out) {
    const [x] = inputs;
    out.set(x);
    return out;
  },
  transpose(node, inputs, inShapes, _tensors, out) {
    const [x] = inputs;
    const inStrides = stridesOf(inShapes[0]);
    const outStrides = stridesOf(node.shape);
    for (let e = 0; e < out.length; e++) {
      let src = 0;
      for (let j = 0; j < node.shape.length; j++) src += (Math.floor(e / outStrides[j]) % node.shape[j]) * inStrides[node.perm[j]];
      out[e] = x[src];
    }
    return out;
  },
  select(node, inputs, _inShapes, tensors, out) {
    const [x] = inputs;
    const index = tensorOf(tensors, node.index, node);
    for (let e = 0; e < out.length; e++) out[e] = x[index[e]];
    return out;
  },
  add(node, inputs, _inShapes, _tensors, out) {
    inputs.forEach((v, k) => v.forEach((a, e) => (out[e] += node.scales[k] * a)));
    return out;
  },
  concat(node, inputs, _inShapes, _tensors, out) {
    const outer = sizeOf(node.shape.slice(0, node.axis));
    let at = 0;
    for (let o = 0; o < outer; o++) {
      inputs.forEach((v, k) => {
        const block = v.length / outer;
        out.set(v.subarray(o * block, (o + 1) * block), at);
        at += block;
      });
    }
    return out;
  },
  bias(node, inputs, _inShapes, tensors, out) {
    const [x] = inputs;
    const c = broadcastTo(tensors.get(node.value)!, node.shape);
    for (let e = 0; e < out.length; e++) out[e] = x[e] + c[e];
    return out;
  },
  affine(node, inputs, _inShapes, tensors, out) {
    const [x] = inputs;
    const scale = broadcastTo(tensors.get(node.scale)!, node.shape);
    const shift = broadcastTo(tensors.get(node.shift)!, node.shape);
    for (let e = 0; e < out.length; e++) out[e] = x[e] * scale[e] + shift[e];
    return out;
  },
  mean(node, inputs, inShapes, _tensors, out) {
    const [x] = inputs;
    // Gather: each output element averages the input elements whose kept coordinates are its own.
    const inShape = inShapes[0];
    const kept = inShape.map((_, a) => a).filter((a) => !node.axes.includes(a));
    const reduced = node.axes.slice().sort((a, b) => a - b);
    const inStrides = stridesOf(inShape);
    const keptShape = kept.map((a) => inShape[a]);
    const keptStrides = stridesOf(keptShape);
    const redShape = reduced.map((a) => inShape[a]);
    const redStrides = stridesOf(redShape);
    const count = sizeOf(redShape);
    for (let o = 0; o < out.length; o++) {
      let base = 0;
      kept.forEach((a, j) => (base += (Math.floor(o / keptStrides[j]) % keptShape[j]) * inStrides[a]));
      let acc = 0;
      for (let r = 0; r < count; r++) {
        let e = base;
        reduced.forEach((a, j) => (e += (Math.floor(r / redStrides[j]) % redShape[j]) * inStrides[a]));
        acc += x[e];
      }
      out[o] = acc / count;
    }
    return out;
  },
};

/** One linear node (constant terms included) on dense inputs. */
export function evaluateLinear(node: IrNode, inputs: Float64Array[], inShapes: Shape[], tensors: Map<string, IrTensor>): Float64Array {
  if (!isLinear(node.kind)) throw new SnncError(`${node.kind} is not a linear op`, { node: node.id, op: node.kind });
  const out = new Float64Array(sizeOf(node.shape));
  return (LINEAR_EVALUATORS[node.kind] as LinearEvaluator<IrNode>)(node, inputs, inShapes, tensors, out);
}

/** Numpy matmul over the last two axes, leading axes broadcast: [..., m, k] · [..., k, n]. */
export function matmulDense(a: ArrayLike<number>, aShape: Shape, b: ArrayLike<number>, bShape: Shape, outShape: Shape): Float64Array {
  const m = aShape[aShape.length - 2];
  const k = aShape[aShape.length - 1];
  const n = bShape[bShape.length - 1];
  const out = new Float64Array(sizeOf(outShape));
  const lead = outShape.slice(0, -2);
  const batches = sizeOf(lead);
  // The batch offset of an operand: its leading axes aligned from the right, size-1 axes broadcast.
  const offsetIn = (shape: Shape, bt: number): number => {
    const opLead = shape.slice(0, -2);
    const strides = stridesOf(opLead);
    let off = 0;
    for (let j = 0; j < opLead.length; j++) {
      const axis = lead.length - opLead.length + j;
      const coord = Math.floor(bt / sizeOf(lead.slice(axis + 1))) % lead[axis];
      if (opLead[j] !== 1) off += coord * strides[j];
    }
    return off * shape[shape.length - 2] * shape[shape.length - 1];
  };
  for (let bt = 0; bt < batches; bt++) {
    const ao = offsetIn(aShape, bt);
    const bo = offsetIn(bShape, bt);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let r = 0; r < k; r++) acc += a[ao + i * k + r] * b[bo + r * n + j];
        out[bt * m * n + i * n + j] = acc;
      }
    }
  }
  return out;
}

/** Softmax along `axis` (max-subtracted). */
export function softmaxDense(x: ArrayLike<number>, shape: Shape, axis: number): Float64Array {
  const out = new Float64Array(x.length);
  const len = shape[axis];
  const inner = sizeOf(shape.slice(axis + 1));
  const outer = sizeOf(shape.slice(0, axis));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (r: number) => (o * len + r) * inner + i;
      let max = -Infinity;
      for (let r = 0; r < len; r++) max = Math.max(max, x[at(r)]);
      let sum = 0;
      for (let r = 0; r < len; r++) sum += out[at(r)] = Math.exp(x[at(r)] - max);
      for (let r = 0; r < len; r++) out[at(r)] /= sum;
    }
  }
  return out;
}

type AnalogEvaluator<N> = (node: N, inputs: Float64Array[], inShapes: Shape[]) => Float64Array;

/** The function f of each analog kind on its inputs' values (typed by the registry's AnalogKind). */
export const ANALOG_EVALUATORS: { [K in AnalogKind]: AnalogEvaluator<NodeOf<K>> } = {
  matmul: (node, inputs, inShapes) => matmulDense(inputs[0], inShapes[0], inputs[1], inShapes[1], node.shape),
  softmax: (node, inputs) => softmaxDense(inputs[0], node.shape, node.axis),
};

/** The function f of an analog node (matmul, softmax) on its inputs' values. */
export function evaluateAnalog(node: IrNode, inputs: Float64Array[], inShapes: Shape[]): Float64Array {
  if (!isAnalog(node.kind)) throw new SnncError(`${node.kind} is not an analog node`, { node: node.id, op: node.kind });
  return (ANALOG_EVALUATORS[node.kind] as AnalogEvaluator<IrNode>)(node, inputs, inShapes);
}

/** θ per element of an IF node. */
export function thresholdOf(node: IfNode): Float64Array {
  const out = new Float64Array(sizeOf(node.shape));
  if (typeof node.threshold === 'number') return out.fill(node.threshold);
  const stride = stridesOf(node.shape)[node.axis];
  for (let e = 0; e < out.length; e++) out[e] = node.threshold[Math.floor(e / stride) % node.shape[node.axis]];
  return out;
}

type Evaluator<N> = (node: N, inputs: Float64Array[], inShapes: Shape[], tensors: Map<string, IrTensor>) => Float64Array;

const viaLinear = Object.fromEntries(Object.keys(LINEAR_EVALUATORS).map((k) => [k, evaluateLinear])) as Record<LinearKind, Evaluator<IrNode>>;

/**
 * The rate-limit value of every final kind: linear and analog kinds as they are, IF neurons as
 * clip(x, 0, θ) (the firing rate × θ of an IF neuron under a constant current; signed-if and burst
 * neurons have the same limit, their tracer keeping the rate within [0, 1]), masks scaled by the
 * expected survivors (1 − p). Typed by the registry's FinalKind: a final kind with no entry is a type error.
 */
export const RATE_EVALUATORS: { [K in FinalKind]: Evaluator<NodeOf<K>> } = {
  ...viaLinear,
  matmul: evaluateAnalog,
  softmax: evaluateAnalog,
  if: (node, inputs) => {
    const theta = thresholdOf(node);
    return inputs[0].map((v, e) => Math.min(Math.max(v, 0), theta[e]));
  },
  rsm: (node, inputs) => inputs[0].map((v) => v * (1 - node.ratio)),
};

/**
 * The rate-limit ANN of an IR on one sample (RATE_EVALUATORS per node).
 * Returns every node's value; `x` is the raw sample (divided by the input divisor here).
 */
export function evaluateIr(ir: SnnIr, x: ArrayLike<number>): Map<string, Float64Array> {
  const values = new Map<string, Float64Array>();
  const shapes = new Map<string, Shape>([[ir.input.id, ir.input.shape]]);
  values.set(ir.input.id, Float64Array.from(x, (v) => v / ir.input.divisor));
  for (const node of ir.nodes) {
    shapes.set(node.id, node.shape);
    const inputs = node.inputs.map((i) => values.get(i)!);
    const evaluate = (isFinal(node.kind) ? RATE_EVALUATORS[node.kind] : evaluateLinear) as Evaluator<IrNode>;
    values.set(node.id, evaluate(node, inputs, node.inputs.map((i) => shapes.get(i)!), ir.tensors));
  }
  return values;
}

/**
 * Reference time-stepped SNN on one sample, dense and slow: every step evaluates every node, with
 * IF outputs as spike vectors × θ (no masks). The readout is the output node's value accumulated over
 * T steps, divided by T. Returns that and, per step, each IF node's spiking neuron indices.
 *
 * Analog nodes (matmul, softmax) apply f to their inputs' values of the step (`per-step`), or, by default,
 * (`accumulated`) emit G(t) − G(t−1) with G(t) = t·f(S(t)/t) and S the running sums of the inputs,
 * computed directly from the sums (the simulator updates products incrementally: an independent check).
 */
export function simulateDense(
  ir: SnnIr,
  x: ArrayLike<number>,
  T: number,
  options: { attention?: 'per-step' | 'accumulated' } = {},
): { logits: Float64Array; spikes: Array<Map<string, number[]>> } {
  const accumulated = (options.attention ?? 'accumulated') === 'accumulated';
  const sums = new Map<string, Float64Array[]>();
  const previous = new Map<string, Float64Array>();
  const shapes = new Map<string, Shape>([[ir.input.id, ir.input.shape]]);
  for (const node of ir.nodes) shapes.set(node.id, node.shape);
  const membranes = new Map<string, Float64Array>();
  for (const node of ir.nodes) {
    if (node.kind === 'rsm') throw new SnncError('the dense reference has no masks', { node: node.id, op: node.kind });
    if (node.kind === 'if' && (node.model === 'signed-if' || node.burst !== undefined)) {
      throw new SnncError('the dense reference runs plain IF spikes only, not signed or burst ones', { node: node.id, op: node.model ?? 'if' });
    }
    if (node.kind === 'if') membranes.set(node.id, thresholdOf(node).map((t) => t * node.vInit));
  }
  const input = Float64Array.from(x, (v) => v / ir.input.divisor);
  const acc = new Float64Array(sizeOf(ir.output.shape));
  const spikes: Array<Map<string, number[]>> = [];
  for (let t = 1; t <= T; t++) {
    const values = new Map<string, Float64Array>([[ir.input.id, input]]);
    const fired = new Map<string, number[]>();
    for (const node of ir.nodes) {
      const inputs = node.inputs.map((i) => values.get(i)!);
      if (node.kind === 'if') {
        const v = membranes.get(node.id)!;
        const theta = thresholdOf(node);
        const out = new Float64Array(v.length);
        const list: number[] = [];
        for (let e = 0; e < v.length; e++) {
          v[e] += inputs[0][e];
          if (v[e] >= theta[e]) {
            v[e] -= theta[e];
            out[e] = theta[e];
            list.push(e);
          }
        }
        fired.set(node.id, list);
        values.set(node.id, out);
      } else if (isAnalog(node.kind)) {
        const inShapes = node.inputs.map((i) => shapes.get(i)!);
        if (!accumulated) {
          values.set(node.id, evaluateAnalog(node, inputs, inShapes));
        } else {
          const S = sums.get(node.id) ?? inputs.map((v) => new Float64Array(v.length));
          sums.set(node.id, S);
          S.forEach((s, k) => inputs[k].forEach((v, e) => (s[e] += v)));
          const G = evaluateAnalog(node, S.map((s) => s.map((v) => v / t)), inShapes).map((v) => v * t);
          const prev = previous.get(node.id) ?? new Float64Array(G.length);
          values.set(node.id, G.map((g, e) => g - prev[e]));
          previous.set(node.id, G);
        }
      } else {
        values.set(node.id, evaluateLinear(node, inputs, node.inputs.map((i) => shapes.get(i)!), ir.tensors));
      }
    }
    values.get(ir.output.id)!.forEach((v, e) => (acc[e] += v));
    spikes.push(fired);
  }
  return { logits: acc.map((v) => v / T), spikes };
}
