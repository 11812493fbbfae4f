/**
 * `.snn.json` + weights side file. The JSON is what a user reads (structure, thresholds, masks,
 * provenance); the side file holds every tensor as float32 little-endian, in sorted-name order, so the
 * same IR always gives the same bytes. Both files are validated and written atomically.
 *
 * Versions. Version 4 (written today) spells every key in snake_case, like the map and chip formats; the
 * node fields that TypeScript spells in camelCase (`vInit`, `thresholdSource`, `countIncludePad`) are
 * renamed at this edge, both ways, by one table (`FILE_KEYS`), and so are the compile options recorded in
 * `provenance.options`. Versions 1-3 spelled those keys in camelCase and numbered the neuron rules an IR
 * used (2: a LIF or reset-to-zero population, 3: signed or burst spikes, else 1); they are still read —
 * checked against their own schema (schemas/ir-v1-3.schema.json) and their version rules, then upgraded —
 * and always re-written as version 4. An older snnc refuses a version-4 IR by its version.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SnncError } from '../errors.ts';
import { readJson, validateDocument } from '../schema.ts';
import type { IrNode, IrTensor, SnnIr } from './types.ts';
import { IR_FORMAT, IR_VERSION, usesGradedSpikes, usesNeuronModels } from './types.ts';
import { validateIr } from './validate.ts';

/** `model.snn.json` → `model.snn.bin`. */
export function weightsFileFor(irFile: string): string {
  return irFile.endsWith('.json') ? `${irFile.slice(0, -'.json'.length)}.bin` : `${irFile}.bin`;
}

/** The file's spelling of the node fields TypeScript spells in camelCase (versions 1-3 wrote the camelCase). */
const FILE_KEYS = { vInit: 'v_init', thresholdSource: 'threshold_source', countIncludePad: 'count_include_pad' } as const;
const MEMORY_KEYS = Object.fromEntries(Object.entries(FILE_KEYS).map(([memory, file]) => [file, memory])) as Record<string, string>;

/** Versions 1-3: what each version number allowed (see the header). */
const V1 = 1;
const V2_NEURON_MODELS = 2;
const V3_GRADED_SPIKES = 3;

export interface IrDocument {
  format: string;
  version: number;
  input: SnnIr['input'];
  output: SnnIr['output'];
  /** Nodes with the file's keys (`renameKeys` turns them into `IrNode`s). */
  nodes: Array<Record<string, unknown>>;
  tensors: Record<string, { dims: number[]; offset: number }>;
  weights: { file: string; bytes: number; sha256: string };
  provenance: SnnIr['provenance'];
}

/** Serialises the IR: the JSON text and the weight bytes. Pure, so tests can compare bytes. */
export function serializeIr(ir: SnnIr, weightsFile: string): { json: string; weights: Buffer } {
  const names = [...ir.tensors.keys()].sort();
  const total = names.reduce((n, k) => n + ir.tensors.get(k)!.data.length * 4, 0);
  const weights = Buffer.alloc(total);
  const tensors: IrDocument['tensors'] = {};
  let offset = 0;
  for (const name of names) {
    const t = ir.tensors.get(name)!;
    tensors[name] = { dims: t.dims, offset };
    for (let i = 0; i < t.data.length; i++) weights.writeFloatLE(t.data[i], offset + i * 4);
    offset += t.data.length * 4;
  }
  const doc: IrDocument = {
    format: IR_FORMAT,
    version: IR_VERSION,
    input: ir.input,
    output: ir.output,
    nodes: ir.nodes.map((node) => renameKeys(node as unknown as Record<string, unknown>, FILE_KEYS)),
    tensors,
    weights: { file: path.basename(weightsFile), bytes: total, sha256: createHash('sha256').update(weights).digest('hex') },
    provenance: { ...ir.provenance, options: snakeCaseKeys(ir.provenance.options) },
  };
  return { json: JSON.stringify(doc, null, 1) + '\n', weights };
}

/** Writes `file` and its weights side file; on any failure neither is left behind half-written. */
export function writeIr(ir: SnnIr, file: string): void {
  const weightsFile = weightsFileFor(file);
  validateIr(ir, file);
  const { json, weights } = serializeIr(ir, weightsFile);
  validateDocument('ir', JSON.parse(json), file);
  const tmpJson = `${file}.tmp-${process.pid}`;
  const tmpWeights = `${weightsFile}.tmp-${process.pid}`;
  try {
    writeFileSync(tmpWeights, weights);
    writeFileSync(tmpJson, json);
    renameSync(tmpWeights, weightsFile);
    renameSync(tmpJson, file);
  } catch (e) {
    rmSync(tmpJson, { force: true });
    rmSync(tmpWeights, { force: true });
    throw new SnncError(`cannot write (${(e as Error).message})`, { file });
  }
}

/** Reads an IR and its weights; every problem, from a missing file to a threshold that fits no axis, names `file`. */
export function readIr(file: string): SnnIr {
  refuseOnnx(file);
  const doc = readDocument(file);
  const bytes = readWeights(doc, file);
  const tensors = new Map<string, IrTensor>();
  for (const [name, { dims, offset }] of Object.entries(doc.tensors)) {
    const n = dims.reduce((a, b) => a * b, 1);
    if (offset + n * 4 > bytes.length) throw new SnncError(`tensor ${name} lies beyond the end of ${doc.weights.file}`, { file });
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = bytes.readFloatLE(offset + i * 4);
    tensors.set(name, { dims, data });
  }
  const ir: SnnIr = {
    format: IR_FORMAT,
    version: IR_VERSION,
    input: doc.input,
    output: doc.output,
    nodes: doc.nodes.map((node) => upgradeNode(renameKeys(node, MEMORY_KEYS) as unknown as IrNode)),
    tensors,
    provenance: doc.provenance,
  };
  validateIr(ir, file);
  return ir;
}

/**
 * The document as version 4 spells it. A version 1-3 file is checked against its own schema and the rule
 * its version number stood for (a LIF or zero-reset population needed 2, signed or burst spikes 3), then
 * its keys are renamed; anything else must be a valid version 4 document.
 */
function readDocument(file: string): IrDocument {
  const raw = readJson(file);
  const version = (raw as { version?: unknown } | null)?.version;
  if (version !== V1 && version !== V2_NEURON_MODELS && version !== V3_GRADED_SPIKES) {
    validateDocument('ir', raw, file);
    return raw as IrDocument;
  }
  validateDocument('ir-v1-3', raw, file);
  const doc = raw as IrDocument;
  const nodes = doc.nodes as unknown as IrNode[];
  const graded = nodes.find(usesGradedSpikes);
  if (graded && version !== V3_GRADED_SPIKES) {
    throw new SnncError(`node ${graded.id} sends signed or burst spikes, which needs version ${V3_GRADED_SPIKES}, but the IR says version ${version}`, { file });
  }
  const modelled = nodes.find(usesNeuronModels);
  if (modelled && version === V1) {
    throw new SnncError(`node ${modelled.id} is a LIF or reset-to-zero population, which needs version ${V2_NEURON_MODELS}, but the IR says version ${V1}`, { file });
  }
  return { ...doc, nodes: doc.nodes.map((node) => renameKeys(node, FILE_KEYS)), provenance: { ...doc.provenance, options: snakeCaseKeys(doc.provenance.options) } };
}

/** A copy of `node` with the keys in `names` renamed, the rest (and the order of keys) kept. */
function renameKeys(node: Record<string, unknown>, names: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [names[key] ?? key, value]));
}

/** `calibrationEngine` → `calibration_engine`: the compile options as the file spells them. */
function snakeCaseKeys(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).map(([key, value]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), value]));
}

/**
 * A node as versions 2-4 read it. Version 1 had no `model` and no `leak` on `if` nodes and only reset
 * 'subtract' (its schema enforces that): they read as model 'if' (λ = 1), the default, so nothing is filled
 * in (filling it in would change the bytes an IR is re-written with).
 */
function upgradeNode(node: IrNode): IrNode {
  if (node.kind === 'if' && node.model === 'if') {
    // `model: "if"` written by hand (or another tool) is the default: drop it so the IR re-writes as snnc writes it.
    const { model: _model, ...rest } = node;
    return rest;
  }
  return node;
}

function readWeights(doc: IrDocument, file: string): Buffer {
  const weightsFile = path.join(path.dirname(file), doc.weights.file);
  if (!existsSync(weightsFile)) throw new SnncError(`weights file ${doc.weights.file} not found next to it`, { file });
  if (!statSync(weightsFile).isFile()) throw new SnncError(`weights file ${doc.weights.file} is not a regular file`, { file });
  const bytes = readFileSync(weightsFile);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== doc.weights.bytes || sha !== doc.weights.sha256) {
    throw new SnncError(`weights file ${doc.weights.file} does not match (size or sha256 differs): was it rewritten by another compile?`, { file });
  }
  return bytes;
}

/** ModelProto bytes open with field 1 (ir_version, a varint): tag 0x08. JSON opens with `{` or blanks. */
function refuseOnnx(file: string): void {
  if (!existsSync(file) || !statSync(file).isFile()) return; // readDocument names these
  const head = new Uint8Array(1);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 1, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] === 0x08 || (file.endsWith('.onnx') && head[0] !== 0x7b)) {
    throw new SnncError('is an ONNX model, not an snnc IR: run `snnc compile` first', { file });
  }
}
