/**
 * The linear IR kinds as sparse "scatter" maps: given the non-zero elements of one input, add their
 * contributions to the output. Pushing a one-hot vector through these composes the fan-out of a single
 * neuron across any chain or DAG of linear ops (plan.ts); pushing a full vector evaluates the op.
 * One scatter per kind (the SCATTERS table); each op also knows its constant term (biases) and its dense MAC count.
 */
import { SnncError } from '../../compiler/errors.ts';
import { isLinear, LINEAR_KINDS as LINEAR_KIND_SET, type LinearKind, type NodeOf } from '../../compiler/ir/kinds.ts';
import type { IrNode, IrTensor, Shape } from '../../compiler/ir/types.ts';
import { broadcastTo, sizeOf, stridesOf } from '../ir/broadcast.ts';

/** A sparse vector over a dense scratch buffer: O(touched) to read and to clear. */
export class SparseVec {
  readonly val: Float64Array;
  readonly idx: Int32Array;
  private readonly mark: Uint8Array;
  count = 0;

  constructor(readonly size: number) {
    this.val = new Float64Array(size);
    this.idx = new Int32Array(size);
    this.mark = new Uint8Array(size);
  }

  add(i: number, v: number): void {
    if (this.mark[i] === 0) {
      this.mark[i] = 1;
      this.idx[this.count++] = i;
    }
    this.val[i] += v;
  }

  clear(): void {
    for (let k = 0; k < this.count; k++) {
      const i = this.idx[k];
      this.val[i] = 0;
      this.mark[i] = 0;
    }
    this.count = 0;
  }
}

export interface LinearOp {
  /** dst += L_k(src), the linear map from input k (constant terms excluded). */
  scatter(k: number, src: SparseVec, dst: SparseVec): void;
  /** dst += the node's constant term (conv/dense bias, bias value, affine shift). */
  addConstant(dst: SparseVec): void;
  /**
   * Multiply-accumulates of one dense evaluation: conv2d/dense/avgpool count in-bounds taps only,
   * affine one per element, mean one per input element (as avgpool's taps); add, bias, concat, reshape,
   * transpose and select are additions or data movement.
   */
  macs: number;
}

/** The kinds with a scatter map: the registry's synaptic and linear roles. */
export const LINEAR_KINDS: ReadonlySet<string> = LINEAR_KIND_SET;

/**
 * Along one spatial axis: for each input coordinate, the (kernel tap, output coordinate) pairs it reaches.
 * Output o reads input o·stride − padBegin + tap·dilation, so input i reaches o = (i + padBegin − tap·dilation)/stride.
 */
interface AxisTaps {
  start: Int32Array;
  tap: Int32Array;
  out: Int32Array;
  /** Number of in-bounds (input, tap) pairs: the axis's factor of the MAC count. */
  total: number;
}

function axisTaps(size: number, outSize: number, kernel: number, stride: number, padBegin: number, dilation: number): AxisTaps {
  const start = new Int32Array(size + 1);
  const tap: number[] = [];
  const out: number[] = [];
  for (let i = 0; i < size; i++) {
    for (let k = 0; k < kernel; k++) {
      const num = i + padBegin - k * dilation;
      if (num >= 0 && num % stride === 0 && num / stride < outSize) {
        tap.push(k);
        out.push(num / stride);
      }
    }
    start[i + 1] = tap.length;
  }
  return { start, tap: Int32Array.from(tap), out: Int32Array.from(out), total: tap.length };
}

const noConstant = (): void => {};

function tensor(tensors: Map<string, IrTensor>, name: string, node: IrNode): IrTensor {
  const t = tensors.get(name);
  if (!t) throw new SnncError(`tensor ${name} is missing`, { node: node.id, op: node.kind });
  return t;
}

/** Adds a per-element constant vector (already expanded to the node's shape). */
function constantOf(values: Float64Array): (dst: SparseVec) => void {
  return (dst) => {
    for (let e = 0; e < values.length; e++) dst.add(e, values[e]);
  };
}

/**
 * One builder per linear kind: the scatter map of input k, the constant term and the MAC count. Typed by
 * the registry's LinearKind (compiler/ir/kinds.ts), so a linear kind without a scatter is a type error.
 */
export const SCATTERS: { [K in LinearKind]: (node: NodeOf<K>, inShapes: Shape[], tensors: Map<string, IrTensor>) => LinearOp } = {
  conv2d(node, inShapes, tensors) {
    const outShape = node.shape;
    const w = tensor(tensors, node.weight, node);
    const [cout, cinPerGroup, kh, kw] = w.dims;
    const [cin, h, wd] = inShapes[0];
    const [, oh, ow] = outShape;
    const rows = axisTaps(h, oh, kh, node.strides[0], node.pads[0], node.dilations[0]);
    const cols = axisTaps(wd, ow, kw, node.strides[1], node.pads[1], node.dilations[1]);
    const coutPerGroup = cout / node.groups;
    const plane = oh * ow;
    const W = w.data;
    const bias = node.bias ? tensor(tensors, node.bias, node).data : undefined;
    return {
      macs: cin * coutPerGroup * rows.total * cols.total,
      scatter(_k, src, dst) {
        for (let s = 0; s < src.count; s++) {
          const e = src.idx[s];
          const v = src.val[e];
          const c = Math.floor(e / (h * wd));
          const y = Math.floor(e / wd) % h;
          const x = e % wd;
          const g = Math.floor(c / cinPerGroup);
          const cl = c - g * cinPerGroup;
          for (let a = rows.start[y]; a < rows.start[y + 1]; a++) {
            for (let b = cols.start[x]; b < cols.start[x + 1]; b++) {
              const pos = rows.out[a] * ow + cols.out[b];
              const tapOffset = rows.tap[a] * kw + cols.tap[b];
              for (let co = g * coutPerGroup; co < (g + 1) * coutPerGroup; co++) {
                dst.add(co * plane + pos, v * W[(co * cinPerGroup + cl) * kh * kw + tapOffset]);
              }
            }
          }
        }
      },
      addConstant: bias
        ? (dst) => {
            for (let co = 0; co < cout; co++) for (let p = 0; p < plane; p++) dst.add(co * plane + p, bias[co]);
          }
        : noConstant,
    };
  },
  dense(node, inShapes, tensors) {
    const w = tensor(tensors, node.weight, node);
    const [out, inner] = w.dims;
    const W = w.data;
    const rowsCount = sizeOf(inShapes[0]) / inner;
    const bias = node.bias ? tensor(tensors, node.bias, node).data : undefined;
    return {
      macs: rowsCount * out * inner,
      scatter(_k, src, dst) {
        for (let s = 0; s < src.count; s++) {
          const e = src.idx[s];
          const v = src.val[e];
          const row = Math.floor(e / inner);
          const k = e - row * inner;
          for (let o = 0; o < out; o++) dst.add(row * out + o, v * W[o * inner + k]);
        }
      },
      addConstant: bias
        ? (dst) => {
            for (let r = 0; r < rowsCount; r++) for (let o = 0; o < out; o++) dst.add(r * out + o, bias[o]);
          }
        : noConstant,
    };
  },
  avgpool2d(node, inShapes) {
    const outShape = node.shape;
    const [c, h, wd] = inShapes[0];
    const [, oh, ow] = outShape;
    const [kh, kw] = node.kernel;
    const rows = axisTaps(h, oh, kh, node.strides[0], node.pads[0], 1);
    const cols = axisTaps(wd, ow, kw, node.strides[1], node.pads[1], 1);
    // Divisor per output position: the whole window, or only its in-bounds taps.
    const inBounds = (o: number, stride: number, pad: number, k: number, size: number) =>
      Math.min(o * stride - pad + k, size) - Math.max(o * stride - pad, 0);
    const inv = new Float64Array(oh * ow);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const count = node.countIncludePad
          ? kh * kw
          : inBounds(y, node.strides[0], node.pads[0], kh, h) * inBounds(x, node.strides[1], node.pads[1], kw, wd);
        inv[y * ow + x] = 1 / count;
      }
    }
    const plane = oh * ow;
    return {
      macs: c * rows.total * cols.total,
      scatter(_k, src, dst) {
        for (let s = 0; s < src.count; s++) {
          const e = src.idx[s];
          const v = src.val[e];
          const ch = Math.floor(e / (h * wd));
          const y = Math.floor(e / wd) % h;
          const x = e % wd;
          for (let a = rows.start[y]; a < rows.start[y + 1]; a++) {
            for (let b = cols.start[x]; b < cols.start[x + 1]; b++) {
              const pos = rows.out[a] * ow + cols.out[b];
              dst.add(ch * plane + pos, v * inv[pos]);
            }
          }
        }
      },
      addConstant: noConstant,
    };
  },
  reshape() {
    // C order on both sides: element e stays element e.
    return {
      macs: 0,
      scatter(_k, src, dst) {
        for (let s = 0; s < src.count; s++) dst.add(src.idx[s], src.val[src.idx[s]]);
      },
      addConstant: noConstant,
    };
  },
  transpose(node, inShapes) {
    const outShape = node.shape;
    const inShape = inShapes[0];
    const inStrides = stridesOf(inShape);
    const outStrides = stridesOf(outShape);
    // Output axis j is input axis perm[j]: the output stride that each input axis moves along.
    const strideOfInAxis = new Array<number>(inShape.length);
    node.perm.forEach((p, j) => (strideOfInAxis[p] = outStrides[j]));
    // Where each input element goes, made on first use: plans scatter one element at a time through index-only
    // prefixes (plan.ts simpleRoute), so the per-axis division would run once per element and per route.
    let outOf: Int32Array | null = null;
    const where = () => {
      outOf = new Int32Array(sizeOf(inShape));
      for (let e = 0; e < outOf.length; e++) {
        let o = 0;
        for (let a = 0; a < inShape.length; a++) o += (Math.floor(e / inStrides[a]) % inShape[a]) * strideOfInAxis[a];
        outOf[e] = o;
      }
      return outOf;
    };
    return {
      macs: 0,
      scatter(_k, src, dst) {
        const map = outOf ?? where();
        for (let s = 0; s < src.count; s++) {
          const e = src.idx[s];
          dst.add(map[e], src.val[e]);
        }
      },
      addConstant: noConstant,
    };
  },
  select(node, inShapes, tensors) {
    // y[o] = x[index[o]]: the inverse map lists, per input element, the outputs that copy it (a Slice or
    // Gather copies each input element at most once; a Gather with repeated indices more than once).
    const index = tensor(tensors, node.index, node).data;
    const n = sizeOf(inShapes[0]);
    const start = new Int32Array(n + 1);
    for (let o = 0; o < index.length; o++) start[index[o] + 1]++;
    for (let i = 0; i < n; i++) start[i + 1] += start[i];
    const outs = new Int32Array(index.length);
    const fill = start.slice(0, n);
    for (let o = 0; o < index.length; o++) outs[fill[index[o]]++] = o;
    return {
      macs: 0,
      scatter(_k, src, dst) {
        for (let s = 0; s < src.count; s++) {
          const e = src.idx[s];
          for (let j = start[e]; j < start[e + 1]; j++) dst.add(outs[j], src.val[e]);
        }
      },
      addConstant: noConstant,
    };
  },
  add(node) {
    if (node.scales.length !== node.inputs.length) {
      throw new SnncError(`add has ${node.inputs.length} inputs but ${node.scales.length} scales`, { node: node.id, op: node.kind });
    }
    return {
      macs: 0,
      scatter(k, src, dst) {
        const scale = node.scales[k];
        for (let s = 0; s < src.count; s++) dst.add(src.idx[s], scale * src.val[src.idx[s]]);
      },
      addConstant: noConstant,
    };
  },
  concat(node, inShapes) {
    const outShape = node.shape;
    const axis = node.axis;
    const inner = sizeOf(outShape.slice(axis + 1));
    const offsets: number[] = [];
    let offset = 0;
    for (const s of inShapes) {
      offsets.push(offset);
      offset += s[axis];
    }
    return {
      macs: 0,
      scatter(k, src, dst) {
        const block = inShapes[k][axis] * inner;
        const outBlock = outShape[axis] * inner;
        const shift = offsets[k] * inner;
        for (let s = 0; s < src.count; s++) {
          const e = src.idx[s];
          const outer = Math.floor(e / block);
          dst.add(outer * outBlock + shift + (e - outer * block), src.val[e]);
        }
      },
      addConstant: noConstant,
    };
  },
  bias(node, _inShapes, tensors) {
    const outShape = node.shape;
    const value = broadcastTo(tensor(tensors, node.value, node), outShape);
    return {
      macs: 0,
      scatter(_k, src, dst) {
        for (let s = 0; s < src.count; s++) dst.add(src.idx[s], src.val[src.idx[s]]);
      },
      addConstant: constantOf(value),
    };
  },
  affine(node, _inShapes, tensors) {
    const outShape = node.shape;
    const scale = broadcastTo(tensor(tensors, node.scale, node), outShape);
    const shift = broadcastTo(tensor(tensors, node.shift, node), outShape);
    return {
      macs: scale.length,
      scatter(_k, src, dst) {
        for (let s = 0; s < src.count; s++) {
          const e = src.idx[s];
          dst.add(e, scale[e] * src.val[e]);
        }
      },
      addConstant: constantOf(shift),
    };
  },
  mean(node, inShapes) {
    // Input element e lands on the output element with the reduced axes dropped (kept as size 1 with keepdims: same index).
    const inShape = inShapes[0];
    const inStrides = stridesOf(inShape);
    const kept = inShape.map((_, a) => !node.axes.includes(a));
    const keptShape = inShape.filter((_, a) => kept[a]);
    const keptStrides = stridesOf(keptShape);
    const outStrideOfAxis: number[] = [];
    let j = 0;
    inShape.forEach((_, a) => outStrideOfAxis.push(kept[a] ? keptStrides[j++] : 0));
    const inv = 1 / node.axes.reduce((n, a) => n * inShape[a], 1);
    return {
      macs: sizeOf(inShape),
      scatter(_k, src, dst) {
        for (let s = 0; s < src.count; s++) {
          const e = src.idx[s];
          let o = 0;
          for (let a = 0; a < inShape.length; a++) o += (Math.floor(e / inStrides[a]) % inShape[a]) * outStrideOfAxis[a];
          dst.add(o, src.val[e] * inv);
        }
      },
      addConstant: noConstant,
    };
  },
};

export function linearOp(node: IrNode, inShapes: Shape[], tensors: Map<string, IrTensor>): LinearOp {
  if (!isLinear(node.kind)) throw new SnncError(`${node.kind} is not a linear op`, { node: node.id, op: node.kind });
  return (SCATTERS[node.kind] as (node: IrNode, inShapes: Shape[], tensors: Map<string, IrTensor>) => LinearOp)(node, inShapes, tensors);
}
