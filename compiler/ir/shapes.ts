/**
 * Output shape of an IR node from its inputs' shapes: the one place IR shapes are derived.
 * Builders call `deriveShape`, `checkShapes` re-derives every node of a document that was read back.
 */
import { SnncError } from '../errors.ts';
import type { IrNode, IrTensor, Shape, SnnIr } from './types.ts';

export function convOutput(size: number, kernel: number, stride: number, padBegin: number, padEnd: number, dilation = 1): number {
  return Math.floor((size + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

function product(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fail(node: IrNode, message: string): never {
  throw new SnncError(`shape mismatch: ${message}`, { node: node.onnx[0] ?? node.id, op: node.kind });
}

/**
 * `declared` is the shape a builder wants for shape-free nodes (reshape); for every other kind it is
 * ignored and the shape follows from inputs and parameters.
 */
export function deriveShape(node: IrNode, inputs: Shape[], tensors: Map<string, IrTensor>, declared?: Shape): Shape {
  const [x] = inputs;
  const weightDims = (name: string) => {
    const t = tensors.get(name);
    if (!t) fail(node, `tensor ${name} is missing`);
    return t.dims;
  };
  switch (node.kind) {
    case 'conv2d': {
      const [cout, cinPerGroup, kh, kw] = weightDims(node.weight);
      if (x.length !== 3) fail(node, `conv2d needs a [C,H,W] input, got [${x}]`);
      if (x[0] !== cinPerGroup * node.groups) fail(node, `input has ${x[0]} channels, weight expects ${cinPerGroup * node.groups}`);
      const h = convOutput(x[1], kh, node.strides[0], node.pads[0], node.pads[2], node.dilations[0]);
      const w = convOutput(x[2], kw, node.strides[1], node.pads[1], node.pads[3], node.dilations[1]);
      return [cout, h, w];
    }
    case 'dense': {
      const [out, inner] = weightDims(node.weight);
      if (x[x.length - 1] !== inner) fail(node, `input's last axis is ${x[x.length - 1]}, weight expects ${inner}`);
      return [...x.slice(0, -1), out];
    }
    case 'avgpool2d':
    case 'maxpool2d': {
      if (x.length !== 3) fail(node, `pooling needs a [C,H,W] input, got [${x}]`);
      const h = convOutput(x[1], node.kernel[0], node.strides[0], node.pads[0], node.pads[2]);
      const w = convOutput(x[2], node.kernel[1], node.strides[1], node.pads[1], node.pads[3]);
      return [x[0], h, w];
    }
    case 'reshape': {
      const target = declared ?? node.shape;
      if (product(target) !== product(x)) fail(node, `cannot reshape [${x}] to [${target}]`);
      return [...target];
    }
    case 'select': {
      const target = declared ?? node.shape;
      const index = tensors.get(node.index);
      if (!index) fail(node, `tensor ${node.index} is missing`);
      if (index.data.length !== product(target)) fail(node, `index map has ${index.data.length} entries for [${target}]`);
      const n = product(x);
      for (const v of index.data) if (!Number.isInteger(v) || v < 0 || v >= n) fail(node, `index ${v} is outside [${x}]`);
      return [...target];
    }
    case 'transpose':
      if (node.perm.length !== x.length) fail(node, `permutation [${node.perm}] does not fit [${x}]`);
      return node.perm.map((p) => x[p]);
    case 'add':
      for (const s of inputs) if (s.join() !== x.join()) fail(node, `add of [${x}] and [${s}]`);
      return [...x];
    case 'concat': {
      const out = [...x];
      for (const s of inputs.slice(1)) {
        if (s.length !== x.length || s.some((d, i) => i !== node.axis && d !== x[i])) fail(node, `concat of [${x}] and [${s}]`);
        out[node.axis] += s[node.axis];
      }
      return out;
    }
    case 'bias':
    case 'affine': {
      const constants = node.kind === 'bias' ? [node.value] : [node.scale, node.shift];
      for (const name of constants) {
        const c = weightDims(name);
        // Constants broadcast against the sample from the right, numpy-style.
        if (c.length > x.length || c.some((d, i) => d !== 1 && d !== x[x.length - c.length + i])) {
          fail(node, `constant [${c}] does not broadcast to [${x}]`);
        }
      }
      return [...x];
    }
    case 'matmul': {
      const [a, b] = inputs;
      if (!b || a.length < 2 || b.length < 2 || a[a.length - 1] !== b[b.length - 2]) fail(node, `matmul of [${a}] and [${b ?? ''}]`);
      const lead = broadcastLeading(node, a.slice(0, -2), b.slice(0, -2));
      return [...lead, a[a.length - 2], b[b.length - 1]];
    }
    case 'softmax':
      if (node.axis >= x.length) fail(node, `softmax axis ${node.axis} of [${x}]`);
      return [...x];
    case 'mean': {
      if (node.axes.some((a) => a >= x.length)) fail(node, `mean over axes [${node.axes}] of [${x}]`);
      return node.keepdims ? x.map((d, i) => (node.axes.includes(i) ? 1 : d)) : x.filter((_, i) => !node.axes.includes(i));
    }
    case 'onnx':
      return [...(declared ?? node.shape)];
    default:
      // Elementwise kinds: batchnorm, relu/relu6/qcfs, if, rsm.
      return [...x];
  }
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

/** Re-derives every node's shape from the input's: catches a hand-edited or corrupted IR. */
export function checkShapes(ir: SnnIr): void {
  const shapes = new Map<string, Shape>([[ir.input.id, ir.input.shape]]);
  for (const node of ir.nodes) {
    const inputs = node.inputs.map((id) => {
      const s = shapes.get(id);
      if (!s) throw new SnncError(`input ${id} is not defined before use`, { node: node.id, op: node.kind });
      return s;
    });
    const derived = deriveShape(node, inputs, ir.tensors, node.shape);
    if (derived.join() !== node.shape.join()) fail(node, `stored shape [${node.shape}] but inputs give [${derived}]`);
    shapes.set(node.id, derived);
  }
  if (!shapes.has(ir.output.id)) throw new SnncError(`output ${ir.output.id} is not a node`);
}
