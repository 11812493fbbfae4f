/**
 * Reads a NIR HDF5 file (the layout NIR's Python `nir.write` produces (Pedersen et al., Nature Communications 2024)) into a plain graph:
 * node names, types, parameter arrays and metadata exactly as stored, plus the edge list (`readNir`), and
 * builds the spiking IR from it (`nirToIr`, `snnc import-nir`): networks trained directly as SNNs
 * (snnTorch, Sinabs, Norse export NIR) can then be simulated, mapped and costed like converted ones.
 *
 * h5wasm is imported lazily (it costs ~0.2 s compiled, ~1.7 s under tsx).
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { SnncError } from '../../compiler/errors.ts';
import { deriveShape } from '../../compiler/ir/shapes.ts';
import { IR_FORMAT, IR_VERSION, type IfNode, type IrNode, type IrTensor, type ResetMode, type Shape, type SnnIr } from '../../compiler/ir/types.ts';

/** HDF5 element types the NIR layout uses: float32/float64 arrays, int64 shapes and scalars. */
export type NirDtype = '<f4' | '<f8' | '<i8';

/** A numeric dataset. `shape` [] is a scalar (data holds one value). */
export interface NirArray {
  dtype: NirDtype;
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array;
}

/** A dataset value: a vlen UTF-8 string or a numeric array. A group (metadata) is a nested record. */
export type NirValue = string | NirArray;
export interface NirRecord {
  [key: string]: NirValue | NirRecord;
}

export interface NirNode {
  type: string;
  /** Every dataset of the node's group except `type`, by name. */
  params: Record<string, NirValue>;
  /** The node's `metadata/` group (empty when there is none). */
  metadata: NirRecord;
}

export interface NirGraph {
  /** `/version`. */
  version: string;
  /** `/node/nodes/<name>`; keys in the order HDF5 lists them (alphabetical). */
  nodes: Record<string, NirNode>;
  /** `/node/edges`, one [source, target] pair per row. */
  edges: Array<[string, string]>;
  /** `/node/metadata/` (empty when there is none). */
  metadata: NirRecord;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The HDF5 superblock sits at 0, 512, 1024, 2048, … (after an optional user block). */
function isHdf5(file: string): boolean {
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(8);
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      if (readSync(fd, buf, 0, 8, offset) === 8 && buf.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

type H5 = typeof import('h5wasm/node').default;
type H5Group = import('h5wasm/node').Group;
type H5Dataset = import('h5wasm/node').Dataset;

export async function loadH5wasm(): Promise<H5> {
  const { default: h5wasm } = await import('h5wasm/node');
  await h5wasm.ready;
  return h5wasm;
}

export async function readNir(file: string): Promise<NirGraph> {
  if (!existsSync(file)) throw new SnncError('no such file', { file });
  if (statSync(file).isDirectory()) throw new SnncError('is a directory', { file });
  // h5wasm opens anything without complaint and prints HDF5 diagnostics to stderr: check first.
  if (!isHdf5(file)) throw new SnncError('not an HDF5 file (no HDF5 signature)', { file });
  const h5wasm = await loadH5wasm();
  const f = new h5wasm.File(resolve(file), 'r');
  try {
    const bad = (message: string): never => {
      throw new SnncError(`not a NIR file: ${message}`, { file });
    };
    const version = f.get('version');
    if (!(version instanceof h5wasm.Dataset)) bad('no /version dataset');
    const versionValue = (version as H5Dataset).value;
    if (typeof versionValue !== 'string') bad('/version is not a string');
    const graph = f.get('node');
    if (!(graph instanceof h5wasm.Group)) bad('no /node group');
    const root = graph as H5Group;
    const rootType = datasetValue(h5wasm, root, 'type', bad);
    if (rootType !== 'NIRGraph') bad(`/node/type is ${JSON.stringify(rootType)}, not "NIRGraph"`);

    const nodesGroup = root.get('nodes');
    if (!(nodesGroup instanceof h5wasm.Group)) bad('no /node/nodes group');
    const nodes: Record<string, NirNode> = {};
    for (const name of (nodesGroup as H5Group).keys()) {
      const g = (nodesGroup as H5Group).get(name);
      if (!(g instanceof h5wasm.Group)) bad(`/node/nodes/${name} is not a group`);
      const type = datasetValue(h5wasm, g as H5Group, 'type', bad);
      if (typeof type !== 'string') bad(`/node/nodes/${name}/type is not a string`);
      if (type === 'NIRGraph') bad(`/node/nodes/${name} is a nested NIRGraph, which this reader does not flatten`);
      const params: Record<string, NirValue> = {};
      let metadata: NirRecord = {};
      for (const key of (g as H5Group).keys()) {
        if (key === 'type') continue;
        const item = (g as H5Group).get(key);
        if (key === 'metadata' && item instanceof h5wasm.Group) metadata = readRecord(h5wasm, item, bad);
        else if (item instanceof h5wasm.Dataset) params[key] = readValue(item, `/node/nodes/${name}/${key}`, bad);
        else bad(`/node/nodes/${name}/${key} is neither a dataset nor a metadata group`);
      }
      nodes[name] = { type: type as string, params, metadata };
    }

    const edgesSet = root.get('edges');
    if (!(edgesSet instanceof h5wasm.Dataset)) bad('no /node/edges dataset');
    const edgesValue = (edgesSet as H5Dataset).value;
    const edgesShape = (edgesSet as H5Dataset).shape ?? [];
    const flat = Array.isArray(edgesValue) ? (edgesValue as unknown[]).flat() : [];
    const edges: Array<[string, string]> = [];
    if (edgesShape.length === 2 && edgesShape[1] === 2 && flat.every((x) => typeof x === 'string')) {
      for (let i = 0; i < flat.length; i += 2) edges.push([flat[i] as string, flat[i + 1] as string]);
    } else if (!(edgesShape.length === 1 && edgesShape[0] === 0) && !(edgesShape.length === 2 && edgesShape[0] === 0)) {
      bad('/node/edges is not an (E, 2) array of strings');
    }
    for (const [a, b] of edges) {
      if (!(a in nodes)) bad(`edge ${a} → ${b}: no node ${a}`);
      if (!(b in nodes)) bad(`edge ${a} → ${b}: no node ${b}`);
    }
    const meta = root.get('metadata');
    const metadata = meta instanceof h5wasm.Group ? readRecord(h5wasm, meta, bad) : {};
    return { version: versionValue as string, nodes, edges, metadata };
  } finally {
    f.close();
  }
}

function datasetValue(h5wasm: H5, g: H5Group, name: string, bad: (m: string) => never): unknown {
  const d = g.get(name);
  if (!(d instanceof h5wasm.Dataset)) bad(`${g.path}/${name} is missing`);
  return (d as H5Dataset).value;
}

function readRecord(h5wasm: H5, g: H5Group, bad: (m: string) => never): NirRecord {
  const out: NirRecord = {};
  for (const key of g.keys()) {
    const item = g.get(key);
    if (item instanceof h5wasm.Group) out[key] = readRecord(h5wasm, item, bad);
    else if (item instanceof h5wasm.Dataset) out[key] = readValue(item, `${g.path}/${key}`, bad);
  }
  return out;
}

/** One dataset as a string or a typed array with its HDF5 dtype (floats and integers widened only where h5wasm does). */
function readValue(d: H5Dataset, where: string, bad: (m: string) => never): NirValue {
  const value = d.value;
  const dtype = d.dtype;
  const shape = d.shape ?? [];
  if (typeof value === 'string') return value;
  if (dtype === '<f' || dtype === '<d' || dtype === '<q') {
    const nirDtype: NirDtype = dtype === '<f' ? '<f4' : dtype === '<d' ? '<f8' : '<i8';
    let data: Float32Array | Float64Array | BigInt64Array;
    if (value instanceof Float32Array || value instanceof Float64Array || value instanceof BigInt64Array) data = value;
    else if (typeof value === 'number') data = dtype === '<f' ? Float32Array.of(value) : Float64Array.of(value);
    else if (typeof value === 'bigint') data = BigInt64Array.of(value);
    else return bad(`${where}: unexpected ${typeof value} value`);
    return { dtype: nirDtype, shape, data };
  }
  // Other integer and float widths (a NIR file from another writer): keep the numbers, mark them as float64/int64.
  if (typeof value === 'number' || typeof value === 'bigint' || ArrayBuffer.isView(value)) {
    const values = typeof value === 'number' || typeof value === 'bigint' ? [value] : Array.from(value as ArrayLike<number | bigint>);
    if (values.some((v) => typeof v === 'bigint') || /^[<>|]?[iIuUbBhHlLqQ]$/.test(String(dtype))) {
      return { dtype: '<i8', shape, data: BigInt64Array.from(values.map((v) => BigInt(v))) };
    }
    return { dtype: '<f8', shape, data: Float64Array.from(values as number[]) };
  }
  return bad(`${where}: unsupported dataset type ${JSON.stringify(dtype)}`);
}

// ---------------------------------------------------------------------------------------------------------
// NIR graph → spiking IR

/** The time step assumed for files that do not record one (snnc's exporter and snnTorch write with 1e-4 s). */
export const NIR_IMPORT_DT = 1e-4;

export interface NirImportOptions {
  /** Time step of the discretisation; default: the `dt` the neurons' metadata records, else NIR_IMPORT_DT. */
  dt?: number;
  /** Recorded as the IR's provenance. */
  source?: { file: string; sha256: string };
  snncVersion?: string;
}

export interface NirImport {
  ir: SnnIr;
  /** Per population: its NIR node, type and rule. */
  populations: Array<{ id: string; type: string; neurons: number; model: 'if' | 'lif'; leak: number | number[] | null; reset: ResetMode }>;
  dt: number;
  notes: string[];
}

/** The NIR types the importer reads; every other type is refused by name. */
export const NIR_IMPORTED_TYPES = ['Input', 'Output', 'Affine', 'Linear', 'Conv2d', 'Flatten', 'SumPool2d', 'Scale', 'IF', 'LIF'] as const;

const WHY_NOT: Record<string, string> = {
  CubaLIF: 'its synaptic current decays with its own τ_syn, which no IR neuron rule has',
  CubaLI: 'a leaky integrator without spikes has no IR form',
  LI: 'a leaky integrator without spikes has no IR form (use a Linear readout)',
  I: 'an integrator without spikes has no IR form',
  Threshold: 'a stateless threshold has no IR form',
  Delay: 'snnc has no synaptic delays',
  Conv1d: 'snnc has no 1-D convolution',
  AvgPool2d: 'snnc reads SumPool2d (NIR AvgPool2d is not in the layout this importer follows)',
  NIRGraph: 'nested graphs are not flattened',
};

/**
 * Values. A NIR spike is 1; an IR spike of neuron i carries θ_i (the IR's threshold). As the exporter does,
 * the importer carries a per-element factor s with "IR value = s ⊙ NIR value" along the graph: a neuron
 * population makes s = θ_IR, a synaptic layer divides its weight columns by s (s = 1 after it), SumPool2d
 * (written as average pooling) divides s by its window, Scale by its factors, Flatten keeps it.
 *
 * Neurons, discretised by forward Euler with step dt:
 *   IF   v ← v + dt·R·I                                       (λ = 1, gain g = dt·R)
 *   LIF  v ← v + (dt/τ)·(v_leak − v + R·I) = (1 − dt/τ)·v + (dt·R/τ)·I   (λ = 1 − dt/τ, g = dt·R/τ; v_leak = 0)
 * The IR neuron v' = v·s/g sees I_IR = s·I, so θ_IR = θ·s/g; v(0) = v_init/θ as a fraction (metadata v_init,
 * snnc's exporter writes it; 0 otherwise). NIR resets to v_reset (= 0: the IR's reset 'zero') unless the
 * metadata says reset_mode "subtract" (snnc's exporter). θ_IR and λ must be one value or one per channel
 * (axis 0 of [C, H, W], the last axis otherwise). NIR fires at v > θ, the IR at v ≥ θ: equal except where v
 * lands on θ exactly.
 */
export function nirToIr(graph: NirGraph, opts: NirImportOptions = {}): NirImport {
  const notes: string[] = [];
  const names = Object.keys(graph.nodes);
  const fail = (node: string | undefined, message: string): never => {
    throw new SnncError(node ? `NIR node ${node}: ${message}` : message);
  };
  for (const name of names) {
    const type = graph.nodes[name].type;
    if (!(NIR_IMPORTED_TYPES as readonly string[]).includes(type)) {
      fail(name, `NIR type ${type} is not imported${WHY_NOT[type] ? `: ${WHY_NOT[type]}` : ''} (snnc imports ${NIR_IMPORTED_TYPES.join(', ')})`);
    }
  }
  const incoming = new Map<string, string[]>(names.map((n) => [n, []]));
  const outgoing = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const [a, b] of graph.edges) {
    incoming.get(b)!.push(a);
    outgoing.get(a)!.push(b);
  }
  const inputs = names.filter((n) => graph.nodes[n].type === 'Input');
  const outputs = names.filter((n) => graph.nodes[n].type === 'Output');
  if (inputs.length !== 1) fail(undefined, `the NIR graph has ${inputs.length} Input nodes; snnc imports graphs with exactly one`);
  if (outputs.length !== 1) fail(undefined, `the NIR graph has ${outputs.length} Output nodes; snnc imports graphs with exactly one`);

  // Topological order (Kahn); a cycle (recurrent connection) is refused.
  const order: string[] = [];
  const pending = new Map(names.map((n) => [n, incoming.get(n)!.length]));
  const ready = names.filter((n) => pending.get(n) === 0);
  while (ready.length) {
    const n = ready.shift()!;
    order.push(n);
    for (const m of outgoing.get(n)!) {
      pending.set(m, pending.get(m)! - 1);
      if (pending.get(m) === 0) ready.push(m);
    }
  }
  if (order.length !== names.length) fail(undefined, `the NIR graph has a cycle (through ${names.find((n) => pending.get(n)! > 0)}): snnc has no recurrent connections`);

  // dt: the option, else the one the neurons record (snnc's exporter), else the convention.
  const recorded = names.map((n) => graph.nodes[n].metadata.dt).find((d): d is NirArray => d !== undefined && typeof d !== 'string' && 'dtype' in d);
  const dt = opts.dt ?? (recorded ? Number(recorded.data[0]) : NIR_IMPORT_DT);
  if (!(dt > 0 && Number.isFinite(dt))) fail(undefined, `time step dt = ${dt} is not a positive number`);
  if (opts.dt === undefined && !recorded && names.some((n) => graph.nodes[n].type === 'LIF' || graph.nodes[n].type === 'IF')) {
    notes.push(`no dt recorded in the file: neurons discretised with dt = ${NIR_IMPORT_DT} s (snnTorch's convention; --dt to change)`);
  }

  const tensors = new Map<string, IrTensor>();
  const nodes: IrNode[] = [];
  const populations: NirImport['populations'] = [];
  /** Per NIR node: the IR value it is, its shape, and s (null = 1). */
  const values = new Map<string, { id: string; shape: Shape; scale: Float64Array | null }>();
  const inputName = inputs[0];
  const inputShape = intArray(graph.nodes[inputName].params.shape, inputName, 'shape', fail);
  values.set(inputName, { id: inputName, shape: inputShape, scale: null });
  let outputId: string | undefined;

  const push = (node: IrNode, inputShapes: Shape[], declared?: Shape): Shape => {
    node.shape = deriveShape(node, inputShapes, tensors, declared);
    nodes.push(node);
    return node.shape;
  };

  for (const name of order) {
    if (name === inputName) continue;
    const { type, params, metadata } = graph.nodes[name];
    const from = incoming.get(name)!;
    if (from.length !== 1) fail(name, `${from.length} incoming edges: snnc imports graphs where each node reads one other (no sums of edges)`);
    const x = values.get(from[0])!;
    const num = (key: string) => floats(params[key], name, key, fail);
    switch (type) {
      case 'Output': {
        if (x.scale) fail(name, `the output reads ${from[0]}, whose values are spikes or scaled: snnc reads out a non-spiking layer (end the graph with a Linear or Affine)`);
        outputId = x.id;
        break;
      }
      case 'Affine':
      case 'Linear': {
        const w = num('weight');
        const dims = shapeOf(params.weight);
        if (dims.length !== 2) fail(name, `weight has dims [${dims}], a ${type} weight is (out, in)`);
        const [out, inner] = dims;
        if (x.shape.length !== 1 || x.shape[0] !== inner) fail(name, `input of shape [${x.shape}] does not match a weight of ${inner} inputs`);
        const s = x.scale;
        const weight = Float32Array.from(w, (v, i) => (s ? v / s[i % inner] : v));
        tensors.set(`${name}.weight`, { dims: [out, inner], data: weight });
        let bias: string | undefined;
        if (type === 'Affine') {
          const b = num('bias');
          if (b.length !== out) fail(name, `bias has ${b.length} values for ${out} outputs`);
          tensors.set(`${name}.bias`, { dims: [out], data: Float32Array.from(b) });
          bias = `${name}.bias`;
        }
        const shape = push({ kind: 'dense', id: name, inputs: [x.id], shape: [], onnx: [name], weight: `${name}.weight`, bias }, [x.shape]);
        values.set(name, { id: name, shape, scale: null });
        break;
      }
      case 'Conv2d': {
        const w = num('weight');
        const dims = shapeOf(params.weight);
        if (dims.length !== 4) fail(name, `weight has dims [${dims}], a Conv2d weight is (out, in/groups, kh, kw)`);
        if (x.shape.length !== 3) fail(name, `input of shape [${x.shape}] is not (C, H, W)`);
        const pad = convPadding(params.padding, dims, name, fail);
        const pair = (key: string, dflt: number) => (params[key] === undefined ? [dflt, dflt] : intPair(params[key], name, key, fail));
        const groups = params.groups === undefined ? 1 : intArray(params.groups, name, 'groups', fail)[0];
        const [cout, cinPerGroup, kh, kw] = dims;
        let sc: Float64Array | null = null;
        if (x.scale) {
          sc = perChannelOf(x.scale, x.shape);
          if (!sc) fail(name, `its input's spike amplitudes vary within a channel: snnc's conv reads one per input channel`);
        }
        const weight = Float32Array.from(w, (v, i) => {
          if (!sc) return v;
          const o = Math.floor(i / (cinPerGroup * kh * kw));
          const c = Math.floor((i / (kh * kw)) % cinPerGroup) + Math.floor(o / (cout / groups)) * cinPerGroup;
          return v / sc[c];
        });
        tensors.set(`${name}.weight`, { dims, data: weight });
        let bias: string | undefined;
        if (params.bias !== undefined) {
          const b = num('bias');
          if (b.length !== cout) fail(name, `bias has ${b.length} values for ${cout} output channels`);
          tensors.set(`${name}.bias`, { dims: [cout], data: Float32Array.from(b) });
          bias = `${name}.bias`;
        }
        const shape = push(
          { kind: 'conv2d', id: name, inputs: [x.id], shape: [], onnx: [name], weight: `${name}.weight`, bias, strides: pair('stride', 1) as [number, number], pads: [pad[0], pad[1], pad[0], pad[1]], dilations: pair('dilation', 1) as [number, number], groups },
          [x.shape],
        );
        values.set(name, { id: name, shape, scale: null });
        break;
      }
      case 'Flatten': {
        const rank = x.shape.length;
        const norm = (d: number) => (d < 0 ? d + rank : d);
        const start = norm(params.start_dim === undefined ? 0 : intArray(params.start_dim, name, 'start_dim', fail)[0]);
        const end = norm(params.end_dim === undefined ? -1 : intArray(params.end_dim, name, 'end_dim', fail)[0]);
        if (!(start >= 0 && start <= end && end < rank)) fail(name, `flattens axes ${start}..${end} of [${x.shape}]`);
        const target = [...x.shape.slice(0, start), x.shape.slice(start, end + 1).reduce((a, b) => a * b, 1), ...x.shape.slice(end + 1)];
        const shape = push({ kind: 'reshape', id: name, inputs: [x.id], shape: [], onnx: [name] }, [x.shape], target);
        values.set(name, { id: name, shape, scale: x.scale });
        break;
      }
      case 'SumPool2d': {
        const k = intPair(params.kernel_size, name, 'kernel_size', fail);
        const stride = params.stride === undefined ? k : intPair(params.stride, name, 'stride', fail);
        const pad = params.padding === undefined ? [0, 0] : intPair(params.padding, name, 'padding', fail);
        if (x.shape.length !== 3) fail(name, `input of shape [${x.shape}] is not (C, H, W)`);
        let sc: Float64Array | null = null;
        if (x.scale) {
          sc = perChannelOf(x.scale, x.shape);
          if (!sc) fail(name, `its input's spike amplitudes vary within a channel: a sum over a window cannot keep them apart`);
        }
        const shape = push(
          { kind: 'avgpool2d', id: name, inputs: [x.id], shape: [], onnx: [name], kernel: [k[0], k[1]], strides: [stride[0], stride[1]], pads: [pad[0], pad[1], pad[0], pad[1]], countIncludePad: true },
          [x.shape],
        );
        // IR average = sum / (kh·kw): s' = s / window.
        const plane = shape[1] * shape[2];
        const scale = new Float64Array(shape[0] * plane);
        for (let c = 0; c < shape[0]; c++) scale.fill((sc ? sc[c] : 1) / (k[0] * k[1]), c * plane, (c + 1) * plane);
        values.set(name, { id: name, shape, scale });
        notes.push(`${name}: SumPool2d imported as average pooling; the window size moves into the next layer's weights`);
        break;
      }
      case 'Scale': {
        const a = broadcastTo(num('scale'), shapeOf(params.scale), x.shape, name, fail);
        if (a.some((v) => v === 0 || !Number.isFinite(v))) fail(name, 'a zero or non-finite scale factor');
        const s = x.scale;
        values.set(name, { id: x.id, shape: x.shape, scale: a.map((v, e) => (s ? s[e] : 1) / v) });
        notes.push(`${name}: Scale folded into the next layer`);
        break;
      }
      case 'IF':
      case 'LIF': {
        const n = x.shape.reduce((a, b) => a * b, 1);
        const perElement = (key: string, dflt?: number) => {
          if (params[key] === undefined && dflt !== undefined) return new Float64Array(n).fill(dflt);
          const v = broadcastTo(num(key), shapeOf(params[key]), x.shape, name, fail);
          return Float64Array.from(v);
        };
        const r = perElement('r');
        const theta = perElement('v_threshold');
        const vReset = perElement('v_reset', 0);
        let leak: Float64Array;
        let gain: Float64Array;
        if (type === 'LIF') {
          const tau = perElement('tau');
          const vLeak = perElement('v_leak', 0);
          if (vLeak.some((v) => v !== 0)) fail(name, 'v_leak ≠ 0: the IR\'s LIF leaks towards 0 (a constant current belongs in the Affine bias before it)');
          leak = tau.map((t) => 1 - dt / t);
          const bad = leak.findIndex((l) => !(l > 0 && l <= 1));
          if (bad >= 0) fail(name, `τ = ${tau[bad]} with dt = ${dt} gives the leak 1 − dt/τ = ${leak[bad]}, not within (0, 1]${opts.dt === undefined ? ' (--dt sets the time step)' : ''}`);
          gain = tau.map((t, e) => (dt * r[e]) / t);
        } else {
          leak = new Float64Array(n).fill(1);
          gain = r.map((v) => dt * v);
        }
        const s = x.scale;
        if (s && s.some((v) => !(v > 0))) fail(name, 'its input arrives with a non-positive scale, which cannot move into the thresholds');
        const badGain = gain.findIndex((g) => !(g > 0 && Number.isFinite(g)));
        if (badGain >= 0) fail(name, `input gain dt·R${type === 'LIF' ? '/τ' : ''} = ${gain[badGain]} is not a positive number`);
        const badTheta = theta.findIndex((t) => !(t > 0 && Number.isFinite(t)));
        if (badTheta >= 0) fail(name, `v_threshold ${theta[badTheta]} is not a positive number`);
        const thetaIr = theta.map((t, e) => (t * (s ? s[e] : 1)) / gain[e]);
        const mode = metadata.reset_mode;
        let reset: ResetMode;
        if (mode === 'subtract') reset = 'subtract';
        else if (mode === undefined || mode === 'zero') {
          if (vReset.some((v) => v !== 0)) fail(name, `v_reset ≠ 0: snnc resets to zero or by subtraction`);
          reset = 'zero';
        } else return fail(name, `metadata reset_mode ${JSON.stringify(mode)} is not subtract or zero`);
        const vInitData = metadata.v_init;
        let vInit = 0;
        if (vInitData !== undefined && typeof vInitData !== 'string' && 'dtype' in vInitData) {
          const v0 = broadcastTo(floats(vInitData, name, 'metadata/v_init', fail), (vInitData as NirArray).shape, x.shape, name, fail);
          const frac = Array.from(v0, (v, e) => v / theta[e]);
          if (frac.some((f) => Math.abs(f - frac[0]) > 1e-6 * Math.max(1, Math.abs(frac[0])))) fail(name, 'v_init is not one fraction of v_threshold for the whole population (the IR keeps v(0) = vInit·θ)');
          vInit = Math.fround(frac[0]) === frac[0] ? frac[0] : Number(frac[0].toPrecision(7));
          if (!(vInit >= 0 && vInit <= 1)) fail(name, `v_init / v_threshold = ${vInit} is not within [0, 1]`);
        }
        const axis = x.shape.length === 3 ? 0 : x.shape.length - 1;
        const threshold = perChannelValue(thetaIr, x.shape, axis, name, 'v_threshold (÷ input gain)', fail);
        const leakValue = perChannelValue(leak, x.shape, axis, name, 'τ', fail);
        const lif = typeof leakValue !== 'number' || leakValue !== 1;
        const node: IfNode = {
          kind: 'if',
          id: name,
          inputs: [x.id],
          shape: [],
          onnx: [name],
          threshold,
          axis,
          vInit,
          ...(lif ? { model: 'lif' as const, leak: leakValue } : {}),
          reset,
          thresholdSource: `NIR ${type} v_threshold`,
          value: name,
        };
        const shape = push(node, [x.shape]);
        values.set(name, { id: name, shape, scale: Float64Array.from(thetaIr) });
        populations.push({ id: name, type, neurons: n, model: lif ? 'lif' : 'if', leak: lif ? leakValue : null, reset });
        break;
      }
      default:
        fail(name, `NIR type ${type} is not imported`);
    }
  }
  if (outputId === undefined) return fail(undefined, 'the NIR graph\'s Output is not reached from its Input');
  if (outputId === inputName) fail(undefined, 'the NIR graph\'s Output reads its Input directly: nothing to simulate');
  const outNode = nodes.find((n) => n.id === outputId)!;
  if (!populations.length) notes.push('the graph has no IF or LIF population: the IR is a purely analog network');
  const ir: SnnIr = {
    format: IR_FORMAT,
    version: IR_VERSION,
    input: { id: inputName, shape: inputShape, divisor: 1 },
    nodes,
    output: { id: outputId, shape: outNode.shape },
    tensors,
    provenance: {
      source: opts.source?.file ?? 'nir',
      sha256: opts.source?.sha256 ?? '',
      snnc: opts.snncVersion ?? '',
      options: { imported_from: 'nir', nir_version: graph.version, dt },
    },
  };
  return { ir, populations, dt, notes };
}

type Fail = (node: string | undefined, message: string) => never;

function shapeOf(v: NirValue | undefined): number[] {
  return v !== undefined && typeof v !== 'string' ? v.shape : [];
}

function floats(v: NirValue | NirRecord | undefined, node: string, key: string, fail: Fail): Float64Array {
  if (v === undefined) return fail(node, `parameter ${key} is missing`);
  if (typeof v === 'string' || !('dtype' in v)) return fail(node, `parameter ${key} is not a numeric array`);
  const a = v as NirArray;
  const out = Float64Array.from(a.data as ArrayLike<number | bigint>, Number);
  if (out.some((x) => !Number.isFinite(x))) fail(node, `parameter ${key} has a non-finite value`);
  return out;
}

function intArray(v: NirValue | undefined, node: string, key: string, fail: Fail): number[] {
  const a = Array.from(floats(v, node, key, fail));
  if (a.some((x) => !Number.isInteger(x))) fail(node, `parameter ${key} is not integer`);
  return a;
}

function intPair(v: NirValue | undefined, node: string, key: string, fail: Fail): number[] {
  const a = intArray(v, node, key, fail);
  if (a.length === 1) return [a[0], a[0]];
  if (a.length !== 2) fail(node, `parameter ${key} has ${a.length} values, expected 1 or 2`);
  return a;
}

/** NIR Conv2d padding: one or two integers (symmetric per axis), or "valid" / "same" (odd kernels, no dilation). */
function convPadding(v: NirValue | undefined, dims: number[], node: string, fail: Fail): number[] {
  if (v === undefined || v === 'valid') return [0, 0];
  if (v === 'same') {
    if (dims[2] % 2 === 0 || dims[3] % 2 === 0) fail(node, 'padding "same" with an even kernel is asymmetric');
    return [(dims[2] - 1) / 2, (dims[3] - 1) / 2];
  }
  if (typeof v === 'string') return fail(node, `padding ${JSON.stringify(v)} is not imported`);
  return intPair(v, node, 'padding', fail);
}

/** Values of `dims` broadcast to `shape` (a scalar, or the shape itself). */
function broadcastTo(values: Float64Array, dims: number[], shape: Shape, node: string, fail: Fail): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length === n) return values;
  if (values.length === 1) return new Float64Array(n).fill(values[0]);
  return fail(node, `a parameter of dims [${dims}] does not fit the population's shape [${shape}]`);
}

/** One value per channel of a [C, …] scale, or null when it varies within a channel. */
function perChannelOf(scale: Float64Array, shape: Shape): Float64Array | null {
  const c = shape[0];
  const plane = scale.length / c;
  const out = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    out[ch] = scale[ch * plane];
    for (let p = 1; p < plane; p++) if (scale[ch * plane + p] !== out[ch]) return null;
  }
  return out;
}

/** A per-element value as the IR keeps it: one number, or one per index along `axis`; refused when it varies otherwise. */
function perChannelValue(values: Float64Array, shape: Shape, axis: number, node: string, what: string, fail: Fail): number | number[] {
  if (values.every((v) => v === values[0])) return values[0];
  const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channels = shape[axis];
  const out = new Array<number>(channels).fill(NaN);
  for (let e = 0; e < values.length; e++) {
    const c = Math.floor(e / stride) % channels;
    if (Number.isNaN(out[c])) out[c] = values[e];
    else if (out[c] !== values[e]) fail(node, `${what} varies within a channel (axis ${axis} of [${shape}]): the IR keeps one value per channel`);
  }
  return out;
}
