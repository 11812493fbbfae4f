/**
 * Folding passes refuse what would compile into non-finite or meaningless weights: a negative running
 * variance, BatchNorm folding that overflows float32, division by a zero constant, biases that overflow
 * when merged, and a QCFS chain whose constants are wrong (reported as such, not as a leftover Floor).
 */
import { describe, expect, it } from 'vitest';
import { SnncError } from '../../compiler/errors.ts';
import { lowerAnn } from '../../compiler/lower.ts';
import { loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { buildModel, float, type InitializerSpec, type NodeSpec } from '../helpers/onnx-builder.ts';

const W = [1, 0, 0, 1, 1, 1, 0, 0];

/** Gemm (x [N,4] → [N,2]) followed by `after` nodes reading 'h'. */
function lowerError(after: NodeSpec[], initializers: InitializerSpec[], output = 'y', gemmBias = [0, 0]): string {
  const bytes = buildModel({
    nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['h'], name: 'fc', attrs: { transB: 1 } }, ...after],
    initializers: [{ name: 'w', dims: [2, 4], data: W }, { name: 'b', dims: [2], data: gemmBias }, ...initializers],
    inputs: [{ name: 'x', dims: ['N', 4] }],
    outputs: [{ name: output, dims: ['N', 2] }],
  });
  try {
    lowerAnn(loadOnnxBytes(bytes, { path: 'm.onnx' }), { divisor: 1, snncVersion: 'test', recorded: {} });
  } catch (e) {
    expect(e).toBeInstanceOf(SnncError);
    return (e as Error).message;
  }
  throw new Error('the model lowered');
}

function batchNorm(variance: number[], gamma = [1, 1], epsilon = 1e-5): { node: NodeSpec; tensors: InitializerSpec[] } {
  return {
    node: { op: 'BatchNormalization', inputs: ['h', 'g', 'beta', 'mu', 'var'], outputs: ['y'], name: 'bn', attrs: { epsilon: float(epsilon) } },
    tensors: [
      { name: 'g', dims: [2], data: gamma },
      { name: 'beta', dims: [2], data: [0, 0] },
      { name: 'mu', dims: [2], data: [0, 0] },
      { name: 'var', dims: [2], data: variance },
    ],
  };
}

describe('BatchNorm folding', () => {
  it('a negative running variance is refused with the tensor and index', () => {
    const { node, tensors } = batchNorm([1, -1]);
    expect(lowerError([node], tensors)).toMatch(/^node bn \(BatchNormalization\): tensor var: variance -1 at index 1 .*must be ≥ 0/);
  });

  it('σ² + ε ≤ 0 is refused (zero variance, zero ε)', () => {
    const { node, tensors } = batchNorm([0, 1], [1, 1], 0);
    expect(lowerError([node], tensors)).toContain('tensor var: variance 0 at index 0 (ε = 0)');
  });

  it('finite parameters that overflow float32 when folded are refused', () => {
    const { node, tensors } = batchNorm([1, 1e-30], [1, 1e30], 0);
    expect(lowerError([node], tensors)).toMatch(/^node bn \(BatchNormalization\): tensor .*: Infinity at index 1 after BatchNorm folding/);
  });
});

describe('constant arithmetic', () => {
  it('division by a zero constant is refused at the Div', () => {
    const nodes: NodeSpec[] = [{ op: 'Div', inputs: ['h', 'd'], outputs: ['y'], name: 'div' }];
    expect(lowerError(nodes, [{ name: 'd', dims: [2], data: [2, 0] }])).toBe(
      'node div (Div): tensor d: Infinity at index 1 of 1/divisor (a zero or tiny divisor): every value must be finite',
    );
  });

  it('a bias that overflows when merged into the layer is refused', () => {
    const nodes: NodeSpec[] = [{ op: 'Add', inputs: ['h', 'c'], outputs: ['y'], name: 'add' }];
    expect(lowerError(nodes, [{ name: 'c', dims: [2], data: [3e38, 0] }], 'y', [3e38, 0])).toMatch(
      /^node add \(Add\): tensor .*: Infinity at index 0 after merging two biases/,
    );
  });
});

describe('QCFS capture', () => {
  /** Div(λ) → Mul(L) → Add(0.5) → Floor → Div(L) → Clip(0, 1) → Mul(λ) on the Gemm's output. */
  function qcfs(lambda: number, levels = 8): { nodes: NodeSpec[]; tensors: InitializerSpec[] } {
    const scalar = (name: string, v: number): InitializerSpec => ({ name, dims: [], data: [v] });
    return {
      nodes: [
        { op: 'Div', inputs: ['h', 'lam'], outputs: ['a'], name: 'act/Div' },
        { op: 'Mul', inputs: ['a', 'L'], outputs: ['b2'], name: 'act/Mul' },
        { op: 'Add', inputs: ['b2', 'half'], outputs: ['c'], name: 'act/Add' },
        { op: 'Floor', inputs: ['c'], outputs: ['d'], name: 'act/Floor' },
        { op: 'Div', inputs: ['d', 'L'], outputs: ['e'], name: 'act/Div_1' },
        { op: 'Clip', inputs: ['e', 'zero', 'one'], outputs: ['f'], name: 'act/Clip' },
        { op: 'Mul', inputs: ['f', 'lam'], outputs: ['y'], name: 'act/Mul_1' },
      ],
      tensors: [scalar('lam', lambda), scalar('L', levels), scalar('half', 0.5), scalar('zero', 0), scalar('one', 1)],
    };
  }

  it('a valid chain is captured', () => {
    const { nodes, tensors } = qcfs(1.25);
    const bytes = buildModel({
      nodes: [{ op: 'Gemm', inputs: ['x', 'w'], outputs: ['h'], attrs: { transB: 1 } }, ...nodes],
      initializers: [{ name: 'w', dims: [2, 4], data: W }, ...tensors],
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y', dims: ['N', 2] }],
    });
    const ir = lowerAnn(loadOnnxBytes(bytes, { path: 'm.onnx' }), { divisor: 1, snncVersion: 'test', recorded: {} });
    expect(ir.nodes.map((n) => n.kind)).toEqual(['dense', 'qcfs']);
  });

  it('λ ≤ 0 is reported as a bad λ, not as an unsupported Floor', () => {
    const { nodes, tensors } = qcfs(-1);
    expect(lowerError(nodes, tensors)).toBe(
      'node act/Div (Div): QCFS activation (Div → Mul → Add → Floor → Div → Clip → Mul) with constant -1 where λ, a positive finite number is expected',
    );
  });

  it('a fractional L is reported as such', () => {
    const { nodes, tensors } = qcfs(1.5, 2.5);
    expect(lowerError(nodes, tensors)).toContain('node act/Mul (Mul): QCFS activation');
  });

  it('a NaN λ is refused when the model loads, naming the tensor', () => {
    const { nodes, tensors } = qcfs(NaN);
    expect(lowerError(nodes, tensors)).toBe('m.onnx: tensor lam: NaN at index 0: every value must be finite');
  });
});
