/**
 * ONNX bytes → AnnGraph. The only file that sees onnx-proto types: everything is decoded once into
 * typed arrays here, then constant Constant/Identity/Cast chains are folded into initializers.
 */
import { createHash } from 'node:crypto';
import { existsSync, openSync, readSync, closeSync, fstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { AnnGraph, AttrValue, DType, GraphNode, Tensor, ValueInfo } from '../graph.ts';
import { tensorSize } from '../graph.ts';
import { checkFinite, type ErrorPlace, SnncError } from '../errors.ts';
import { foldConstants } from './fold.ts';

const { onnx } = onnxProto;
type Long = { toNumber(): number };

/** ONNX TensorProto.DataType → our dtype. Narrow integer types widen; all floats compute as float32. */
const DTYPES: Record<number, DType | undefined> = {
  1: 'float32', // FLOAT
  2: 'uint8',
  3: 'int8',
  4: 'int32', // UINT16
  5: 'int32', // INT16
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float32', // FLOAT16, converted
  11: 'float32', // DOUBLE, narrowed: the toolchain computes in float32
  12: 'int64', // UINT32
  13: 'int64', // UINT64
  16: 'float32', // BFLOAT16, converted
};
/** Bytes per element of raw_data, by ONNX data type. */
const RAW_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };
/** The ai.onnx opsets snnc's op rules know; outside them an op's semantics would be a guess. */
export const OPSET_RANGE = { min: 1, max: 24 } as const;
const DTYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 8: 'STRING', 14: 'COMPLEX64', 15: 'COMPLEX128', 17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ',
  19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ', 21: 'UINT4', 22: 'INT4', 23: 'FLOAT4E2M1',
};

export interface LoadOptions {
  /** Shown in every error and recorded as provenance. */
  path: string;
  /** Folder external-data paths are resolved in (and confined to); defaults to the model file's folder. */
  baseDir?: string;
}

/** Reads and decodes an ONNX file. Every failure is a one-line SnncError naming the file. */
export function loadOnnx(file: string): AnnGraph {
  if (!existsSync(file)) throw new SnncError('no such file', { file });
  if (!statSync(file).isFile()) throw new SnncError('not a regular file (a directory?)', { file });
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new SnncError(`cannot read file (${(e as Error).message})`, { file });
  }
  return loadOnnxBytes(bytes, { path: file, baseDir: path.dirname(path.resolve(file)) });
}

export function loadOnnxBytes(bytes: Uint8Array, opts: LoadOptions): AnnGraph {
  const file = opts.path;
  if (bytes.length === 0) throw new SnncError('empty file, not an ONNX model', { file });
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new SnncError(`not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})`, { file });
  }
  const g = model.graph;
  if (!g || !g.node || g.node.length === 0) throw new SnncError('not a valid ONNX model (no graph or no nodes)', { file });

  const opset = defaultOpset(model.opsetImport ?? [], file);
  const ctx: TensorContext = { file, baseDir: opts.baseDir ?? process.cwd() };

  const initializers = new Map<string, Tensor>();
  for (const t of g.initializer ?? []) {
    if (!t.name) throw new SnncError('an initializer has no name', { file });
    initializers.set(t.name, decodeTensor(t, ctx, `initializer ${t.name}`, { file, tensor: t.name }));
  }
  if ((g.sparseInitializer ?? []).length) throw new SnncError('sparse initializers are not supported', { file });

  const inputs: ValueInfo[] = (g.input ?? []).filter((v) => !initializers.has(v.name ?? '')).map((v) => valueInfo(v, file));
  const outputs: ValueInfo[] = (g.output ?? []).map((v) => valueInfo(v, file));
  if (inputs.length === 0) throw new SnncError('the graph has no inputs', { file });
  if (outputs.length === 0) throw new SnncError('the graph has no outputs', { file });

  const usedNames = new Set<string>();
  const nodes: GraphNode[] = g.node.map((n, i) => {
    const op = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : (n.opType ?? '');
    let name = n.name || `${op}_${i}`;
    while (usedNames.has(name)) name = `${name}_${i}`;
    usedNames.add(name);
    if (!op) throw new SnncError('node has no op type', { file, node: name });
    const attrs: Record<string, AttrValue> = {};
    for (const a of n.attribute ?? []) attrs[a.name ?? ''] = decodeAttribute(a, ctx, name, op);
    return { name, op, inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs };
  });

  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const graph: AnnGraph = {
    name: g.name || path.basename(file),
    opset,
    inputs,
    outputs,
    initializers,
    nodes: topologicalOrder(nodes, inputs, initializers, file),
    source: { path: file, sha256 },
  };
  checkOutputsProduced(graph);
  return foldConstants(graph);
}

function defaultOpset(imports: { domain?: string | null; version?: number | Long | null }[], file: string): number {
  const imp = imports.find((i) => !i.domain || i.domain === 'ai.onnx');
  if (!imp) throw new SnncError('the model imports no default (ai.onnx) opset', { file });
  const version = toNumber(imp.version ?? 0);
  if (!(version >= OPSET_RANGE.min && version <= OPSET_RANGE.max)) {
    throw new SnncError(`ai.onnx opset ${version} is outside the opsets snnc supports (${OPSET_RANGE.min}–${OPSET_RANGE.max})`, { file });
  }
  return version;
}

function toNumber(x: number | Long): number {
  return typeof x === 'number' ? x : x.toNumber();
}

function valueInfo(v: onnxProto.onnx.IValueInfoProto, file: string): ValueInfo {
  const tt = v.type?.tensorType;
  if (!tt) throw new SnncError(`value ${v.name} is not a tensor (sequences and maps are not supported)`, { file });
  const dtype = DTYPES[tt.elemType ?? 0];
  if (!dtype) throw new SnncError(`value ${v.name} has unsupported element type ${dtypeName(tt.elemType ?? 0)}`, { file });
  const dims = (tt.shape?.dim ?? []).map((d) => ((d as { value?: string }).value === 'dimValue' ? toNumber(d.dimValue ?? -1) : -1));
  return { name: v.name ?? '', dtype, dims };
}

function dtypeName(code: number): string {
  return DTYPE_NAMES[code] ?? `type code ${code}`;
}

interface TensorContext {
  file: string;
  baseDir: string;
}

function decodeTensor(t: onnxProto.onnx.ITensorProto, ctx: TensorContext, what: string, place: ErrorPlace): Tensor {
  const code = t.dataType ?? 0;
  const dtype = DTYPES[code];
  if (!dtype) throw new SnncError(`${what} has unsupported data type ${dtypeName(code)}`, { file: ctx.file });
  const dims = (t.dims ?? []).map(toNumber);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new SnncError(`${what} has invalid dims ${JSON.stringify(dims)}`, { file: ctx.file });
  }
  const n = tensorSize(dims);
  if (n > 2 ** 31) throw new SnncError(`${what} is too large (${n} elements)`, { file: ctx.file });

  let raw: Uint8Array | undefined;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) raw = readExternal(t, ctx, what, n * RAW_BYTES[code]);
  else if (t.rawData && t.rawData.length > 0) raw = t.rawData;

  const isFloat = dtype === 'float32';
  const data = isFloat ? new Float32Array(n) : new Float64Array(n);
  if (raw) {
    const width = RAW_BYTES[code];
    if (raw.length !== n * width) {
      throw new SnncError(`${what} has ${raw.length} bytes of data, dims ${JSON.stringify(dims)} need ${n * width}`, { file: ctx.file });
    }
    // raw_data is little-endian and may sit at an odd offset in the file buffer: read through a DataView.
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) data[i] = readRaw(view, code, i);
  } else {
    const src = typedField(t, code);
    if (src.length !== n) {
      throw new SnncError(`${what} has ${src.length} values, dims ${JSON.stringify(dims)} need ${n}`, { file: ctx.file });
    }
    for (let i = 0; i < n; i++) {
      const v = src[i];
      const num = typeof v === 'number' ? v : v.toNumber();
      data[i] = code === 10 ? halfToFloat(num) : code === 16 ? bfloatToFloat(num) : num;
    }
  }
  checkFinite(data, dims, place);
  return { dtype, dims, data };
}

/** The repeated field a non-raw tensor keeps its values in (ONNX packs small types into int32_data). */
function typedField(t: onnxProto.onnx.ITensorProto, code: number): ArrayLike<number | Long> {
  switch (code) {
    case 1: return t.floatData ?? [];
    case 11: return t.doubleData ?? [];
    case 7: return t.int64Data ?? [];
    case 12: case 13: return t.uint64Data ?? [];
    default: return t.int32Data ?? [];
  }
}

function readRaw(view: DataView, code: number, i: number): number {
  switch (code) {
    case 1: return view.getFloat32(i * 4, true);
    case 2: case 9: return view.getUint8(i);
    case 3: return view.getInt8(i);
    case 4: return view.getUint16(i * 2, true);
    case 5: return view.getInt16(i * 2, true);
    case 6: return view.getInt32(i * 4, true);
    case 7: return Number(view.getBigInt64(i * 8, true));
    case 10: return halfToFloat(view.getUint16(i * 2, true));
    case 11: return view.getFloat64(i * 8, true);
    case 12: return view.getUint32(i * 4, true);
    case 13: return Number(view.getBigUint64(i * 8, true));
    case 16: return bfloatToFloat(view.getUint16(i * 2, true));
    default: throw new Error(`unreachable data type ${code}`);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function bfloatToFloat(b: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, (b & 0xffff) << 16);
  return view.getFloat32(0);
}

/** External data: `location` is relative to the model's folder and must stay inside it. */
function readExternal(t: onnxProto.onnx.ITensorProto, ctx: TensorContext, what: string, expected: number): Uint8Array {
  const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = kv.get('location');
  if (!location) throw new SnncError(`${what} has external data without a location`, { file: ctx.file });
  const base = path.resolve(ctx.baseDir);
  const target = path.resolve(base, location);
  if (path.isAbsolute(location) || !isInside(base, target)) {
    throw new SnncError(`${what}: external data path ${location} leaves the model's folder`, { file: ctx.file });
  }
  if (!existsSync(target)) throw new SnncError(`${what}: external data file ${location} not found`, { file: ctx.file });
  if (!statSync(target).isFile()) throw new SnncError(`${what}: external data ${location} is not a regular file`, { file: ctx.file });
  if (!isInside(realpathSync(base), realpathSync(target))) {
    throw new SnncError(`${what}: external data path ${location} links outside the model's folder`, { file: ctx.file });
  }
  const offset = Number(kv.get('offset') ?? 0);
  const length = kv.has('length') ? Number(kv.get('length')) : expected;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new SnncError(`${what}: external data has an invalid offset or length`, { file: ctx.file });
  }
  const fd = openSync(target, 'r');
  try {
    const size = fstatSync(fd).size;
    if (offset + length > size) {
      throw new SnncError(`${what}: external data ${location} is ${size} bytes, needs ${offset + length}`, { file: ctx.file });
    }
    const buf = new Uint8Array(length);
    readSync(fd, buf, 0, length, offset);
    return buf;
  } finally {
    closeSync(fd);
  }
}

function isInside(base: string, target: string): boolean {
  const rel = path.relative(base, target);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function decodeAttribute(a: onnxProto.onnx.IAttributeProto, ctx: TensorContext, node: string, op: string): AttrValue {
  const T = onnx.AttributeProto.AttributeType;
  const place = { file: ctx.file, node, op };
  // Unset scalar fields read back protobuf defaults, so the declared type decides which field counts.
  switch (a.type) {
    case T.FLOAT: return finiteAttribute([a.f ?? 0], a.name, place)[0];
    case T.INT: return toNumber(a.i ?? 0);
    case T.STRING: return Buffer.from(a.s ?? new Uint8Array()).toString('utf8');
    case T.TENSOR:
      if (!a.t) throw new SnncError(`attribute ${a.name} is declared TENSOR but holds no tensor`, place);
      return decodeTensor(a.t, ctx, `attribute ${a.name} of node ${node}`, { ...place, tensor: `attribute ${a.name}` });
    case T.FLOATS: return finiteAttribute([...(a.floats ?? [])], a.name, place);
    case T.INTS: return (a.ints ?? []).map(toNumber);
    case T.STRINGS: return (a.strings ?? []).map((s) => Buffer.from(s).toString('utf8'));
    default:
      throw new SnncError(`attribute ${a.name} has unsupported type ${T[a.type ?? 0] ?? a.type} (subgraphs are not supported)`, {
        file: ctx.file,
        node,
        op,
      });
  }
}

/** Gemm alpha = Inf or a NaN epsilon would compile into garbage weights: refuse them by name. */
function finiteAttribute(values: number[], name: string | null | undefined, place: ErrorPlace): number[] {
  const i = values.findIndex((v) => !Number.isFinite(v));
  if (i >= 0) {
    const at = values.length > 1 ? ` at index ${i}` : '';
    throw new SnncError(`attribute ${name} is ${values[i]}${at}: it must be finite`, place);
  }
  return values;
}

/**
 * Kahn's algorithm, stable: among the ready nodes the one listed first goes next, so a graph already in
 * topological order (what exporters emit) keeps its order. O(n log n): the ready set is a min-heap.
 */
function topologicalOrder(nodes: GraphNode[], inputs: ValueInfo[], initializers: Map<string, Tensor>, file: string): GraphNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      if (!o) continue;
      if (producer.has(o) || initializers.has(o)) throw new SnncError(`value ${o} is produced twice`, { file, node: n.name, op: n.op });
      producer.set(o, i);
    }
  });
  const available = new Set<string>([...inputs.map((v) => v.name), ...initializers.keys(), '']);
  // Each node waits on its distinct inputs that some node produces.
  const pending = nodes.map((n) => [...new Set(n.inputs.filter((x) => !available.has(x)))]);
  const consumers = new Map<string, number[]>();
  pending.forEach((xs, i) => {
    for (const x of xs) {
      if (!producer.has(x)) throw new SnncError(`input ${x} is not produced by any node, input or initializer`, { file, node: nodes[i].name, op: nodes[i].op });
      const list = consumers.get(x);
      if (list) list.push(i);
      else consumers.set(x, [i]);
    }
  });
  const missing = pending.map((xs) => xs.length);
  const ready = new MinHeap();
  missing.forEach((m, i) => m === 0 && ready.push(i));
  const order: GraphNode[] = [];
  const done = new Uint8Array(nodes.length);
  while (ready.size > 0) {
    const i = ready.pop();
    done[i] = 1;
    order.push(nodes[i]);
    for (const o of nodes[i].outputs) {
      for (const c of consumers.get(o) ?? []) if (--missing[c] === 0) ready.push(c);
    }
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.find((_, i) => !done[i])!;
    throw new SnncError('the graph has a cycle', { file, node: stuck.name, op: stuck.op });
  }
  return order;
}

/** A binary min-heap of node indices. */
class MinHeap {
  private items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const a = this.items;
    let i = a.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent] <= value) break;
      a[i] = a[parent];
      i = parent;
    }
    a[i] = value;
  }

  pop(): number {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= a.length) break;
      if (child + 1 < a.length && a[child + 1] < a[child]) child++;
      if (a[child] >= last) break;
      a[i] = a[child];
      i = child;
    }
    a[i] = last;
    return top;
  }
}

function checkOutputsProduced(graph: AnnGraph): void {
  const produced = new Set<string>([...graph.inputs.map((v) => v.name), ...graph.initializers.keys()]);
  for (const n of graph.nodes) n.outputs.forEach((o) => produced.add(o));
  for (const o of graph.outputs) {
    if (!produced.has(o.name)) throw new SnncError(`graph output ${o.name} is not produced by any node`, { file: graph.source.path });
  }
}
