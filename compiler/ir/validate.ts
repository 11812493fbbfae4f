/**
 * What the IR schema cannot say: that the document is consistent with itself. Ids are unique, every input
 * is defined before use and listed once, every tensor a node names exists with the dims its kind needs,
 * weights and constants are finite, thresholds (and LIF leaks) fit their axis. Shapes are then re-derived by checkShapes.
 * Run on every IR read and written, so a damaged or hand-edited IR fails here, naming the file, rather than
 * simulating into a plausible wrong answer.
 */
import { checkFinite, SnncError } from '../errors.ts';
import { tensorRefs } from './edit.ts';
import { checkShapes } from './shapes.ts';
import type { IfNode, IrNode, IrTensor, SnnIr } from './types.ts';

export function validateIr(ir: SnnIr, file: string): void {
  try {
    checkInput(ir);
    for (const [name, t] of ir.tensors) checkFinite(t.data, t.dims, { tensor: name });
    checkIds(ir);
    for (const node of ir.nodes) checkNode(node, ir.tensors);
    checkShapes(ir);
    checkOutput(ir);
  } catch (e) {
    throw e instanceof SnncError ? e.inFile(file) : e;
  }
}

function fail(node: IrNode, message: string): never {
  throw new SnncError(message, { node: node.id, op: node.kind });
}

function checkInput(ir: SnnIr): void {
  const { divisor, shape } = ir.input;
  if (!(Number.isFinite(divisor) && divisor > 0)) throw new SnncError(`input divisor ${divisor} is not a positive finite number`);
  if (shape.some((d) => d < 1)) throw new SnncError(`input shape [${shape}] has an empty axis`);
}

function checkIds(ir: SnnIr): void {
  const seen = new Set([ir.input.id]);
  for (const node of ir.nodes) {
    if (seen.has(node.id)) fail(node, `id ${node.id} is used twice`);
    seen.add(node.id);
    const inputs = new Set(node.inputs);
    if (inputs.size !== node.inputs.length) fail(node, `inputs [${node.inputs.join(', ')}] list the same value twice`);
  }
}

function checkNode(node: IrNode, tensors: Map<string, IrTensor>): void {
  for (const name of tensorRefs(node)) if (!tensors.has(name)) fail(node, `tensor ${name} is missing`);
  const dims = (name: string) => tensors.get(name)!.dims;
  switch (node.kind) {
    case 'conv2d':
      checkRank(node, node.weight, dims(node.weight), 4);
      checkBias(node, node.bias, dims(node.weight)[0], tensors);
      return;
    case 'dense':
      checkRank(node, node.weight, dims(node.weight), 2);
      checkBias(node, node.bias, dims(node.weight)[0], tensors);
      return;
    case 'batchnorm':
      checkBatchnorm(node, tensors);
      return;
    case 'transpose':
      checkPermutation(node, node.perm);
      return;
    case 'add':
      if (node.scales.length !== node.inputs.length) fail(node, `${node.scales.length} scales for ${node.inputs.length} inputs`);
      return;
    case 'concat':
      if (node.axis >= node.shape.length) fail(node, `axis ${node.axis} is outside [${node.shape}]`);
      return;
    case 'if':
      checkThresholds(node);
      checkNeuronModel(node);
      return;
    default:
      return;
  }
}

function checkRank(node: IrNode, name: string, dims: number[], rank: number): void {
  if (dims.length !== rank || dims.some((d) => d < 1)) fail(node, `tensor ${name} has dims [${dims}], a ${node.kind} weight needs ${rank} non-empty axes`);
}

/** A bias is one value per output channel: dims [] or [0] would read past its end. */
function checkBias(node: IrNode, bias: string | undefined, channels: number, tensors: Map<string, IrTensor>): void {
  if (bias === undefined) return;
  const t = tensors.get(bias);
  if (!t) fail(node, `tensor ${bias} is missing`);
  if (t.dims.length !== 1 || t.dims[0] !== channels) fail(node, `bias ${bias} has dims [${t.dims}], the weight has ${channels} output channels`);
}

function checkBatchnorm(node: IrNode & { kind: 'batchnorm' }, tensors: Map<string, IrTensor>): void {
  const channels = node.shape[node.axis];
  if (channels === undefined) fail(node, `axis ${node.axis} is outside [${node.shape}]`);
  for (const name of [node.scale, node.shift, node.mean, node.variance]) {
    const n = tensors.get(name)!.data.length;
    if (n !== channels) fail(node, `tensor ${name} has ${n} values for ${channels} channels`);
  }
}

function checkPermutation(node: IrNode, perm: number[]): void {
  const rank = perm.length;
  if (new Set(perm).size !== rank || perm.some((p) => p >= rank)) fail(node, `perm [${perm}] is not a permutation`);
}

/** θ: one positive finite number, or one per channel along an axis of the node's shape. */
function checkThresholds(node: IfNode): void {
  const values = typeof node.threshold === 'number' ? [node.threshold] : node.threshold;
  const bad = values.findIndex((t) => !(Number.isFinite(t) && t > 0));
  if (bad >= 0) fail(node, `threshold ${values[bad]} is not a positive finite number`);
  if (typeof node.threshold === 'number') return;
  const { axis, shape } = node;
  if (!(axis < shape.length) || node.threshold.length !== shape[axis]) {
    fail(node, `${node.threshold.length} thresholds do not fit axis ${axis} of [${shape}]`);
  }
}

/** model: if (absent), lif or signed-if; burst an integer ≥ 2; a lif node's leak λ ∈ (0, 1], one value or one per channel along `axis`; reset subtract or zero. */
function checkNeuronModel(node: IfNode): void {
  const model = node.model ?? 'if';
  if (model !== 'if' && model !== 'lif' && model !== 'signed-if') fail(node, `neuron model ${JSON.stringify(model)} is not one of if, lif, signed-if`);
  if (node.reset !== 'subtract' && node.reset !== 'zero') fail(node, `reset mode ${JSON.stringify(node.reset)} is not one of subtract, zero`);
  if (node.burst !== undefined && !(Number.isInteger(node.burst) && node.burst >= 2)) fail(node, `burst ${node.burst} is not an integer of at least 2`);
  // The tracer and the payload are counts of θ: they mean something only if a spike takes exactly θ away.
  if ((model === 'signed-if' || node.burst !== undefined) && node.reset !== 'subtract') fail(node, 'signed and burst spikes need reset by subtraction');
  if (model === 'if' || model === 'signed-if') {
    if (node.leak !== undefined) fail(node, 'an IF node has no leak: set model "lif" to give it one');
    return;
  }
  if (node.leak === undefined) fail(node, 'a LIF node needs a leak');
  const values = typeof node.leak === 'number' ? [node.leak] : node.leak;
  const bad = values.findIndex((l) => !(Number.isFinite(l) && l > 0 && l <= 1));
  if (bad >= 0) fail(node, `leak ${values[bad]} is not within (0, 1]`);
  if (typeof node.leak === 'number') return;
  const { axis, shape } = node;
  if (!(axis < shape.length) || node.leak.length !== shape[axis]) fail(node, `${node.leak.length} leaks do not fit axis ${axis} of [${shape}]`);
}

function checkOutput(ir: SnnIr): void {
  const node = ir.nodes.find((n) => n.id === ir.output.id);
  const shape = node ? node.shape : ir.output.id === ir.input.id ? ir.input.shape : undefined;
  if (!shape) throw new SnncError(`output ${ir.output.id} is not a node`);
  if (shape.join() !== ir.output.shape.join()) throw new SnncError(`output shape [${ir.output.shape}] differs from ${ir.output.id}'s [${shape}]`);
}
