/**
 * Builds small SnnIr documents for tests and benchmarks: each method appends one node, derives its
 * shape with the compiler's own rule, and returns the node id. `build()` runs checkShapes.
 */
import { checkShapes, deriveShape } from '../../compiler/ir/shapes.ts';
import type { IrNode, IrTensor, Shape, SnnIr } from '../../compiler/ir/types.ts';
import { IR_FORMAT, IR_VERSION } from '../../compiler/ir/types.ts';
import { uniform } from '../../runtime/snn/rng.ts';

type Data = ArrayLike<number>;
type NewNode = IrNode extends infer N ? (N extends IrNode ? Omit<N, 'id' | 'shape' | 'onnx'> : never) : never;

/** n values uniform in [lo, hi), reproducible from `seed`. */
export function randomArray(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * uniform(seed, i));
}

export class IrBuilder {
  readonly nodes: IrNode[] = [];
  readonly tensors = new Map<string, IrTensor>();
  private readonly shapes = new Map<string, Shape>();

  constructor(
    readonly inputShape: Shape,
    readonly divisor = 1,
    readonly inputId = 'input',
  ) {
    this.shapes.set(inputId, inputShape);
  }

  shapeOf(id: string): Shape {
    return this.shapes.get(id)!;
  }

  tensor(name: string, data: Data, dims: number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`tensor ${name}: ${data.length} values for dims [${dims}]`);
    this.tensors.set(name, { dims, data: Float32Array.from(data) });
    return name;
  }

  private push(fields: NewNode, declared?: Shape, id?: string): string {
    const nodeId = id ?? `${fields.kind}_${this.nodes.length}`;
    const node = { ...fields, id: nodeId, onnx: [nodeId], shape: [] as Shape } as IrNode;
    node.shape = deriveShape(node, node.inputs.map((i) => this.shapeOf(i)), this.tensors, declared);
    this.nodes.push(node);
    this.shapes.set(nodeId, node.shape);
    return nodeId;
  }

  conv2d(
    x: string,
    weight: Data,
    dims: [number, number, number, number],
    o: { bias?: Data; strides?: [number, number]; pads?: [number, number, number, number]; dilations?: [number, number]; groups?: number; id?: string } = {},
  ): string {
    const n = this.nodes.length;
    const w = this.tensor(`w${n}`, weight, dims);
    const bias = o.bias ? this.tensor(`b${n}`, o.bias, [dims[0]]) : undefined;
    return this.push(
      { kind: 'conv2d', inputs: [x], weight: w, bias, strides: o.strides ?? [1, 1], pads: o.pads ?? [0, 0, 0, 0], dilations: o.dilations ?? [1, 1], groups: o.groups ?? 1 },
      undefined,
      o.id,
    );
  }

  dense(x: string, weight: Data, dims: [number, number], o: { bias?: Data; id?: string } = {}): string {
    const n = this.nodes.length;
    const w = this.tensor(`w${n}`, weight, dims);
    const bias = o.bias ? this.tensor(`b${n}`, o.bias, [dims[0]]) : undefined;
    return this.push({ kind: 'dense', inputs: [x], weight: w, bias }, undefined, o.id);
  }

  avgpool(x: string, kernel: [number, number], o: { strides?: [number, number]; pads?: [number, number, number, number]; countIncludePad?: boolean; id?: string } = {}): string {
    return this.push(
      { kind: 'avgpool2d', inputs: [x], kernel, strides: o.strides ?? kernel, pads: o.pads ?? [0, 0, 0, 0], countIncludePad: o.countIncludePad ?? false },
      undefined,
      o.id,
    );
  }

  reshape(x: string, shape: Shape, id?: string): string {
    return this.push({ kind: 'reshape', inputs: [x] }, shape, id);
  }

  transpose(x: string, perm: number[], id?: string): string {
    return this.push({ kind: 'transpose', inputs: [x], perm }, undefined, id);
  }

  add(xs: string[], scales = xs.map(() => 1), id?: string): string {
    return this.push({ kind: 'add', inputs: xs, scales }, undefined, id);
  }

  concat(xs: string[], axis: number, id?: string): string {
    return this.push({ kind: 'concat', inputs: xs, axis }, undefined, id);
  }

  bias(x: string, value: Data, dims: number[], id?: string): string {
    const t = this.tensor(`c${this.nodes.length}`, value, dims);
    return this.push({ kind: 'bias', inputs: [x], value: t }, undefined, id);
  }

  affine(x: string, scale: Data, shift: Data, dims: number[], id?: string): string {
    const n = this.nodes.length;
    const s = this.tensor(`s${n}`, scale, dims);
    const b = this.tensor(`t${n}`, shift, dims);
    return this.push({ kind: 'affine', inputs: [x], scale: s, shift: b }, undefined, id);
  }

  if(x: string, threshold: number | number[], o: { vInit?: number; axis?: number; id?: string } = {}): string {
    return this.push(
      { kind: 'if', inputs: [x], threshold, axis: o.axis ?? 0, vInit: o.vInit ?? 0, reset: 'subtract', thresholdSource: 'test', value: `${x}_act` },
      undefined,
      o.id,
    );
  }

  rsm(x: string, ratio: number, id?: string): string {
    return this.push({ kind: 'rsm', inputs: [x], ratio }, undefined, id);
  }

  build(output: string): SnnIr {
    const ir: SnnIr = {
      format: IR_FORMAT,
      version: IR_VERSION,
      input: { id: this.inputId, shape: this.inputShape, divisor: this.divisor },
      nodes: this.nodes,
      output: { id: output, shape: this.shapeOf(output) },
      tensors: this.tensors,
      provenance: { source: 'test', sha256: '', snnc: 'test', options: {} },
    };
    checkShapes(ir);
    return ir;
  }
}
