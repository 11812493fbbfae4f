/**
 * `.snn.json` + weights side file. The JSON is what a user reads (structure, thresholds, masks,
 * provenance); the side file holds every tensor as float32 little-endian, in sorted-name order, so the
 * same IR always gives the same bytes. Both files are validated and written atomically.
 *
 * Versions. Version 2 adds the neuron model of an `if` node (`model`: if | lif, `leak`, `reset`: subtract |
 * zero). The new fields are optional with the old meaning as default (no `model` reads as IF; `reset` was
 * already a field, now with a second value), so version 1 is read by the same code, unchanged and meaning
 * the same (`upgradeNode` is the reader of the previous version). An IR is written as version 2 only when
 * a population uses the new rules (LIF, or reset to zero); an IR of IF neurons is still written as version
 * 1 with no `model` field, byte for byte as before, so every IR snnc compiles from ONNX without --neuron
 * stays readable by older snnc. An older snnc refuses a version-2 IR by its version instead of silently
 * running LIF neurons as IF (its schema allowed unknown node fields). Version 3 adds signed and burst
 * spikes (`model` 'signed-if', `burst`), in the same way: written only when a population uses them.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SnncError } from '../errors.ts';
import { readDocument, validateDocument } from '../schema.ts';
import type { IrNode, IrTensor, SnnIr } from './types.ts';
import { IR_FORMAT, IR_VERSION, IR_VERSION_GRADED, IR_VERSION_NEURONS, irVersionFor, usesGradedSpikes, usesNeuronModels } from './types.ts';
import { validateIr } from './validate.ts';

/** `model.snn.json` → `model.snn.bin`. */
export function weightsFileFor(irFile: string): string {
  return irFile.endsWith('.json') ? `${irFile.slice(0, -'.json'.length)}.bin` : `${irFile}.bin`;
}

export interface IrDocument {
  format: string;
  version: number;
  input: SnnIr['input'];
  output: SnnIr['output'];
  nodes: SnnIr['nodes'];
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
    version: irVersionFor(ir.nodes),
    input: ir.input,
    output: ir.output,
    nodes: ir.nodes,
    tensors,
    weights: { file: path.basename(weightsFile), bytes: total, sha256: createHash('sha256').update(weights).digest('hex') },
    provenance: ir.provenance,
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
  const doc = readDocument<IrDocument>('ir', file);
  const graded = doc.nodes.find(usesGradedSpikes);
  if (graded && doc.version !== IR_VERSION_GRADED) {
    throw new SnncError(`node ${graded.id} sends signed or burst spikes, which needs version ${IR_VERSION_GRADED}, but the IR says version ${doc.version}`, { file });
  }
  if (doc.version === IR_VERSION) {
    const node = doc.nodes.find(usesNeuronModels);
    if (node) throw new SnncError(`node ${node.id} is a LIF or reset-to-zero population, which needs version ${IR_VERSION_NEURONS}, but the IR says version ${IR_VERSION}`, { file });
  }
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
    version: doc.version === IR_VERSION_GRADED ? IR_VERSION_GRADED : doc.version === IR_VERSION_NEURONS ? IR_VERSION_NEURONS : IR_VERSION,
    input: doc.input,
    output: doc.output,
    nodes: doc.nodes.map(upgradeNode),
    tensors,
    provenance: doc.provenance,
  };
  validateIr(ir, file);
  return ir;
}

/**
 * A node as version 2 reads it. Version 1 had no `model` and no `leak` on `if` nodes and only reset
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
