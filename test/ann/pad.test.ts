/**
 * Pad against onnxruntime-web at opsets 10 (attributes), 13 (pads and value as inputs) and 18 (axes input),
 * at batch 1 and 3: every mode, negative pads, and the all-zero Pad PyTorch puts before AveragePool.
 */
import { beforeAll, describe, it } from 'vitest';
import type { AttrSpec, InitializerSpec } from '../helpers/onnx-builder.ts';
import { float } from '../helpers/onnx-builder.ts';
import type { CaseInput, GroupResult, OpCase } from './ort-harness.ts';
import { expectCaseMatches, runGroup } from './ort-harness.ts';

const I64 = (name: string, values: number[]): InitializerSpec => ({ name, dims: [values.length], data: values, dtype: 'int64' });
const F = (name: string, value: number): InitializerSpec => ({ name, dims: [], data: [value] });
const x = (dims: CaseInput['dims']): CaseInput => ({ name: 'x', dims });

function pad(name: string, dims: CaseInput['dims'], nodeInputs: string[], attrs: Record<string, AttrSpec>, initializers: InitializerSpec[] = []): OpCase {
  return { name, inputs: [x(dims)], initializers, nodes: [{ op: 'Pad', inputs: ['x', ...nodeInputs], outputs: ['y'], attrs }], outputs: ['y'] };
}

/** PyTorch's nn.AvgPool2d at opset 13: an all-zero Pad (count_include_pad=True), then AveragePool. */
const torchAvgPool = (name: string, pads: number[]): OpCase => ({
  name,
  inputs: [x(['N', 2, 6, 6])],
  initializers: [I64('p', pads)],
  nodes: [
    { op: 'Pad', inputs: ['x', 'p'], outputs: ['padded'], attrs: { mode: 'constant' } },
    { op: 'AveragePool', inputs: ['padded'], outputs: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceil_mode: 0 } },
  ],
  outputs: ['y', 'padded'],
});

const OPSET_13: OpCase[] = [
  pad('zero_spatial', ['N', 2, 4, 5], ['p'], { mode: 'constant' }, [I64('p', [0, 0, 1, 2, 0, 0, 2, 1])]),
  pad('all_zero', ['N', 2, 3, 3], ['p'], {}, [I64('p', [0, 0, 0, 0, 0, 0, 0, 0])]),
  pad('constant_value', ['N', 3, 4], ['p', 'v'], { mode: 'constant' }, [I64('p', [0, 1, 2, 0, 0, 1]), F('v', 1.5)]),
  pad('reflect', ['N', 2, 4, 5], ['p'], { mode: 'reflect' }, [I64('p', [0, 0, 3, 1, 0, 0, 2, 4])]),
  pad('edge', ['N', 2, 3, 4], ['p'], { mode: 'edge' }, [I64('p', [0, 1, 2, 0, 0, 0, 1, 3])]),
  pad('negative_crops', ['N', 2, 5, 6], ['p'], { mode: 'constant' }, [I64('p', [0, 0, -1, 2, 0, 0, 1, -3])]),
  pad('batch_axis', ['N', 3], ['p'], { mode: 'constant' }, [I64('p', [1, 0, 0, 2])]),
  torchAvgPool('torch_avgpool_zero_pad', [0, 0, 0, 0, 0, 0, 0, 0]),
  torchAvgPool('torch_avgpool_padding_1', [0, 0, 1, 1, 0, 0, 1, 1]),
];

const OPSET_18: OpCase[] = [
  pad('axes_input', ['N', 2, 4, 5], ['p', '', 'a'], { mode: 'constant' }, [I64('p', [1, 0, 0, 2]), I64('a', [2, 3])]),
  pad('negative_axes_reflect', ['N', 2, 4, 5], ['p', '', 'a'], { mode: 'reflect' }, [I64('p', [2, 3]), I64('a', [-1])]),
  pad('no_axes', ['N', 2, 3, 3], ['p', 'v'], { mode: 'constant' }, [I64('p', [0, 0, 1, 1, 0, 0, 1, 1]), F('v', -2)]),
  torchAvgPool('torch_avgpool_opset18', [0, 0, 1, 0, 0, 0, 0, 1]),
];

/** Before opset 11, pads and value are attributes. */
const OPSET_10: OpCase[] = [
  pad('attributes', ['N', 2, 3, 4], [], { mode: 'constant', pads: [0, 0, 1, 2, 0, 0, 2, 1], value: float(0.25) }),
  pad('attributes_edge', ['N', 2, 3, 4], [], { mode: 'edge', pads: [0, 0, 2, 0, 0, 0, 1, 1] }),
];

for (const [opset, cases] of [[13, OPSET_13], [18, OPSET_18], [10, OPSET_10]] as const) {
  describe(`Pad at opset ${opset} matches onnxruntime-web`, () => {
    let group: GroupResult;
    beforeAll(async () => {
      group = await runGroup([...cases], opset, [1, 3]);
    }, 120_000);

    it.each(cases.map((c) => [c.name]))('%s', (name) => {
      // Pad copies values exactly; the pooling divides in float32 on one side and float64 on the other.
      expectCaseMatches(group, name, name.startsWith('torch') ? 1e-6 : 0);
    });
  });
}
