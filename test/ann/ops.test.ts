/**
 * Every supported op against onnxruntime-web, at batch 1 and 3: values (≤ 1e-4, relative above magnitude 1),
 * output dims, and inferShapes' dims for every value the case computes.
 */
import { beforeAll, describe, it } from 'vitest';
import type { AttrSpec, InitializerSpec } from '../helpers/onnx-builder.ts';
import { float, randomValues } from '../helpers/onnx-builder.ts';
import type { CaseInput, GroupResult, OpCase } from './ort-harness.ts';
import { expectCaseMatches, runGroup } from './ort-harness.ts';

const INT64_MAX = 2 ** 63;
const INT64_MIN = -(2 ** 63);

let seed = 1;
/** A random float initializer. */
const W = (name: string, dims: number[], lo = -1, hi = 1): InitializerSpec => ({
  name, dims, data: randomValues(dims.reduce((a, b) => a * b, 1), seed++, lo, hi),
});
const F = (name: string, dims: number[], values: number[]): InitializerSpec => ({ name, dims, data: values });
const I64 = (name: string, dims: number[], values: number[]): InitializerSpec => ({ name, dims, data: values, dtype: 'int64' });
const x = (dims: CaseInput['dims'], lo?: number, hi?: number): CaseInput => ({ name: 'x', dims, lo, hi });

/** One node `op(nodeInputs) → y` fed by graph inputs and initializers. */
function single(
  name: string, op: string, inputs: CaseInput[], nodeInputs: string[], attrs: Record<string, AttrSpec> = {},
  initializers: InitializerSpec[] = [],
): OpCase {
  return { name, inputs, initializers, nodes: [{ op, inputs: nodeInputs, outputs: ['y'], attrs }], outputs: ['y'] };
}

const conv = (name: string, xDims: CaseInput['dims'], wDims: number[], attrs: Record<string, AttrSpec>, bias: boolean): OpCase =>
  single(name, 'Conv', [x(xDims)], bias ? ['x', 'w', 'b'] : ['x', 'w'], attrs, [W('w', wDims), ...(bias ? [W('b', [wDims[0]])] : [])]);

const pool = (name: string, op: string, xDims: CaseInput['dims'], attrs: Record<string, AttrSpec>): OpCase =>
  single(name, op, [x(xDims)], ['x'], attrs);

const OPSET_13: OpCase[] = [
  conv('conv_depthwise', ['N', 4, 7, 7], [4, 1, 3, 3], { group: 4, pads: [1, 1, 1, 1] }, true),
  conv('conv_depth_multiplier', ['N', 2, 5, 5], [4, 1, 3, 3], { group: 2, pads: [1, 1, 1, 1] }, true),
  conv('conv_dilated', ['N', 2, 9, 9], [3, 2, 3, 3], { dilations: [2, 2], pads: [2, 1, 2, 1] }, false),
  conv('conv_strided_padded', ['N', 3, 8, 8], [5, 3, 3, 3], { strides: [2, 2], pads: [1, 0, 2, 1] }, true),
  conv('conv_grouped', ['N', 4, 6, 6], [6, 2, 3, 3], { group: 2, strides: [1, 2] }, true),
  conv('conv_same_upper', ['N', 2, 7, 7], [3, 2, 4, 4], { strides: [2, 2], auto_pad: 'SAME_UPPER' }, true),
  conv('conv_same_lower', ['N', 2, 6, 7], [2, 2, 3, 2], { strides: [2, 2], auto_pad: 'SAME_LOWER' }, false),
  conv('conv_valid', ['N', 2, 7, 6], [2, 2, 3, 3], { strides: [2, 2], auto_pad: 'VALID' }, true),
  conv('conv_1d', ['N', 2, 10], [3, 2, 3], { strides: [2], pads: [1, 1] }, true),
  conv('conv_rect_mixed', ['N', 2, 9, 8], [2, 2, 2, 3], { strides: [3, 2], pads: [0, 1, 1, 0], dilations: [1, 2] }, true),
  conv('conv_9_taps_per_channel', ['N', 3, 6, 6], [2, 3, 3, 3], { pads: [1, 1, 1, 1] }, false),

  pool('maxpool_strided_padded', 'MaxPool', ['N', 3, 9, 9], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
  pool('maxpool_ceil', 'MaxPool', ['N', 2, 8, 8], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }),
  pool('maxpool_ceil_padded', 'MaxPool', ['N', 2, 7, 7], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }),
  pool('maxpool_dilated', 'MaxPool', ['N', 2, 7, 7], { kernel_shape: [2, 2], dilations: [2, 2] }),
  pool('maxpool_same_upper', 'MaxPool', ['N', 1, 7, 7], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' }),
  pool('avgpool_exclude_pad', 'AveragePool', ['N', 2, 7, 7], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 0 }),
  pool('avgpool_include_pad', 'AveragePool', ['N', 2, 7, 7], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }),
  pool('avgpool_ceil_include_pad', 'AveragePool', ['N', 2, 8, 8], {
    kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1,
  }),
  pool('avgpool_ceil_exclude_pad', 'AveragePool', ['N', 2, 8, 8], {
    kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 0,
  }),
  pool('avgpool_fixture_7x7', 'AveragePool', ['N', 4, 7, 7], { kernel_shape: [7, 7], strides: [7, 7], pads: [0, 0, 0, 0] }),
  pool('global_avgpool', 'GlobalAveragePool', ['N', 3, 5, 4], {}),
  pool('maxpool_1d', 'MaxPool', ['N', 2, 9], { kernel_shape: [3], strides: [2], pads: [1, 1] }),
  pool('avgpool_1d_ceil', 'AveragePool', ['N', 2, 10], { kernel_shape: [3], strides: [2], ceil_mode: 1 }),
  pool('global_avgpool_1d', 'GlobalAveragePool', ['N', 3, 6], {}),

  single('gemm_transB_alpha_beta', 'Gemm', [x(['N', 4])], ['x', 'b', 'c'], { transB: 1, alpha: float(0.5), beta: float(2) }, [
    W('b', [3, 4]), W('c', [3]),
  ]),
  single('gemm_transA_scalar_c', 'Gemm', [x([5, 'N'])], ['x', 'b', 'c'], { transA: 1, alpha: float(1.5), beta: float(0.25) }, [
    W('b', [5, 3]), W('c', []),
  ]),
  single('gemm_both_trans', 'Gemm', [x([4, 'N'])], ['x', 'b', 'c'], { transA: 1, transB: 1 }, [W('b', [3, 4]), W('c', [1, 3])]),
  single('gemm_column_c_no_batch', 'Gemm', [x([3, 4])], ['x', 'b', 'c'], {}, [W('b', [4, 2]), W('c', [3, 1])]),
  single('gemm_no_c', 'Gemm', [x(['N', 4])], ['x', 'b'], { alpha: float(2) }, [W('b', [4, 6])]),
  single('matmul_2d', 'MatMul', [x(['N', 4])], ['x', 'b'], {}, [W('b', [4, 3])]),
  single('matmul_batched_3d', 'MatMul', [x(['N', 3, 4]), { name: 'z', dims: ['N', 4, 2] }], ['x', 'z']),
  single('matmul_broadcast_4d', 'MatMul', [x(['N', 1, 3, 4])], ['x', 'b'], {}, [W('b', [2, 4, 5])]),
  single('matmul_4d_both', 'MatMul', [x(['N', 2, 3, 4]), { name: 'z', dims: ['N', 2, 4, 3] }], ['x', 'z']),
  single('matmul_1d_rhs', 'MatMul', [x(['N', 3, 4])], ['x', 'b'], {}, [W('b', [4])]),
  single('matmul_1d_lhs', 'MatMul', [x(['N', 4, 2])], ['a', 'x'], {}, [W('a', [4])]),

  single('batchnorm_4d', 'BatchNormalization', [x(['N', 3, 4, 4])], ['x', 's', 'b', 'm', 'v'], { epsilon: float(1e-3) }, [
    W('s', [3]), W('b', [3]), W('m', [3]), W('v', [3], 0.5, 2),
  ]),
  single('batchnorm_2d', 'BatchNormalization', [x(['N', 5])], ['x', 's', 'b', 'm', 'v'], {}, [
    W('s', [5]), W('b', [5]), W('m', [5]), W('v', [5], 0.5, 2),
  ]),

  single('clip_relu6', 'Clip', [x(['N', 3, 4], -10, 10)], ['x', 'lo', 'hi'], {}, [F('lo', [], [0]), F('hi', [], [6])]),
  single('clip_max_only', 'Clip', [x(['N', 8])], ['x', '', 'hi'], {}, [F('hi', [], [0.3])]),
  single('relu', 'Relu', [x(['N', 7])], ['x']),

  single('add_broadcast', 'Add', [x(['N', 3, 1, 5])], ['x', 'b'], {}, [W('b', [4, 1])]),
  single('add_scalar_first', 'Add', [x(['N', 2, 3])], ['b', 'x'], {}, [W('b', [])]),
  single('sub_scalar', 'Sub', [x(['N', 3, 4])], ['x', 'b'], {}, [W('b', [])]),
  single('sub_reversed_broadcast', 'Sub', [x(['N', 1, 4])], ['b', 'x'], {}, [W('b', [3, 1])]),
  single('mul_channel', 'Mul', [x(['N', 3, 2, 2])], ['x', 'b'], {}, [W('b', [3, 1, 1])]),
  single('div_broadcast', 'Div', [x(['N', 2, 3]), { name: 'z', dims: ['N', 1, 3], lo: 0.5, hi: 2 }], ['x', 'z']),

  single('softmax_last_axis', 'Softmax', [x(['N', 3, 7], -5, 5)], ['x']),
  single('softmax_middle_axis', 'Softmax', [x(['N', 4, 5], -5, 5)], ['x'], { axis: 1 }),

  single('transpose_perm', 'Transpose', [x(['N', 2, 3, 4])], ['x'], { perm: [0, 3, 1, 2] }),
  single('transpose_default', 'Transpose', [x(['N', 2, 3])], ['x']),

  single('reshape_zero_minus1', 'Reshape', [x(['N', 2, 3, 4])], ['x', 's'], {}, [I64('s', [3], [0, -1, 4])]),
  single('reshape_minus1_last', 'Reshape', [x(['N', 2, 3, 4])], ['x', 's'], {}, [I64('s', [3], [0, 4, -1])]),

  {
    name: 'split_sizes',
    inputs: [x(['N', 6, 4])],
    initializers: [I64('s', [3], [1, 2, 3])],
    nodes: [{ op: 'Split', inputs: ['x', 's'], outputs: ['a', 'b', 'c'], attrs: { axis: 1 } }],
    outputs: ['a', 'b', 'c'],
  },
  {
    name: 'split_equal',
    inputs: [x(['N', 3, 4])],
    nodes: [{ op: 'Split', inputs: ['x'], outputs: ['a', 'b'], attrs: { axis: -1 } }],
    outputs: ['a', 'b'],
  },

  single('slice_negative_steps', 'Slice', [x(['N', 5, 6])], ['x', 'st', 'en', 'ax', 'sp'], {}, [
    I64('st', [2], [-1, 4]), I64('en', [2], [INT64_MIN, 0]), I64('ax', [2], [1, 2]), I64('sp', [2], [-1, -2]),
  ]),
  single('slice_clamped_int64_max', 'Slice', [x(['N', 5, 6])], ['x', 'st', 'en', 'ax'], {}, [
    I64('st', [2], [1, -4]), I64('en', [2], [INT64_MAX, 1000]), I64('ax', [2], [-1, 1]),
  ]),
  single('slice_default_axes', 'Slice', [x(['N', 4])], ['x', 'st', 'en'], {}, [I64('st', [2], [0, 1]), I64('en', [2], [INT64_MAX, 3])]),

  single('concat_axis1', 'Concat', [x(['N', 2, 3]), { name: 'z', dims: ['N', 4, 3] }], ['x', 'z'], { axis: 1 }),
  single('concat_last_axis', 'Concat', [x(['N', 2, 3]), { name: 'z', dims: ['N', 2, 2] }], ['x', 'z', 'x'], { axis: -1 }),

  single('floor', 'Floor', [x(['N', 9], -3, 3)], ['x']),
  single('erf', 'Erf', [x(['N', 40], -4, 4)], ['x']),
  single('sqrt', 'Sqrt', [x(['N', 6], 0.01, 9)], ['x']),
  single('pow_per_column', 'Pow', [x(['N', 3], 0.1, 3)], ['x', 'e'], {}, [F('e', [3], [2, 0.5, -1])]),
  single('pow_square', 'Pow', [x(['N', 4], -2, 2)], ['x', 'e'], {}, [F('e', [], [2])]),

  single('reducemean_keepdims', 'ReduceMean', [x(['N', 3, 4])], ['x'], { axes: [1] }),
  single('reducemean_two_axes', 'ReduceMean', [x(['N', 3, 4, 2])], ['x'], { axes: [-1, 1], keepdims: 0 }),
  single('reducemean_all', 'ReduceMean', [x(['N', 3])], ['x'], { keepdims: 0 }),

  single('flatten_axis2', 'Flatten', [x(['N', 2, 3, 4])], ['x'], { axis: 2 }),
  single('flatten_axis0', 'Flatten', [x(['N', 2, 3])], ['x'], { axis: 0 }),
  single('flatten_axis_negative', 'Flatten', [x(['N', 2, 3, 4])], ['x'], { axis: -1 }),

  {
    // What exporters emit for x.view(x.size(0), -1).
    name: 'shape_gather_unsqueeze_concat_reshape',
    inputs: [x(['N', 3, 4])],
    initializers: [I64('zero', [], [0]), I64('axes0', [1], [0]), I64('minus1', [1], [-1])],
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['shape'] },
      { op: 'Gather', inputs: ['shape', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
      { op: 'Unsqueeze', inputs: ['n', 'axes0'], outputs: ['n1'] },
      { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['target'], attrs: { axis: 0 } },
      { op: 'Reshape', inputs: ['x', 'target'], outputs: ['y'] },
    ],
    outputs: ['y', { name: 'shape', dtype: 'int64' }, { name: 'target', dtype: 'int64' }],
  },
  single('gather_axis1_2d_indices', 'Gather', [x(['N', 5, 3])], ['x', 'i'], { axis: 1 }, [I64('i', [2, 2], [4, 0, -1, 2])]),
  {
    name: 'unsqueeze_then_squeeze',
    inputs: [x(['N', 3])],
    initializers: [I64('ua', [2], [1, -1]), I64('sa', [1], [3])],
    nodes: [
      { op: 'Unsqueeze', inputs: ['x', 'ua'], outputs: ['u'] },
      { op: 'Squeeze', inputs: ['u', 'sa'], outputs: ['y'] },
    ],
    outputs: ['u', 'y'],
  },
  single('squeeze_all_unit_dims', 'Squeeze', [x(['N', 1, 3, 1])], ['x']),
  {
    name: 'cast_to_int64_and_back',
    inputs: [x(['N', 6], -3, 3)],
    nodes: [
      { op: 'Cast', inputs: ['x'], outputs: ['i'], attrs: { to: 7 } },
      { op: 'Cast', inputs: ['i'], outputs: ['y'], attrs: { to: 1 } },
    ],
    outputs: ['y', { name: 'i', dtype: 'int64' }],
  },
  single('identity', 'Identity', [x(['N', 2])], ['x']),
];

const OPSET_18: OpCase[] = [
  {
    name: 'split_num_outputs_uneven',
    inputs: [x(['N', 7, 2])],
    nodes: [{ op: 'Split', inputs: ['x'], outputs: ['a', 'b', 'c'], attrs: { axis: 1, num_outputs: 3 } }],
    outputs: ['a', 'b', 'c'],
  },
  single('reducemean_axes_input', 'ReduceMean', [x(['N', 3, 4])], ['x', 'ax'], { keepdims: 0 }, [I64('ax', [1], [1])]),
  {
    name: 'shape_start_end',
    inputs: [x(['N', 3, 4, 5])],
    nodes: [{ op: 'Shape', inputs: ['x'], outputs: ['s'], attrs: { start: 1, end: -1 } }],
    outputs: [{ name: 's', dtype: 'int64' }],
  },
];

/** Opset 10 semantics: Softmax over the input coerced to 2-D, attributes instead of inputs. */
const OPSET_10: OpCase[] = [
  single('softmax_coerced_2d', 'Softmax', [x(['N', 3, 4], -3, 3)], ['x'], { axis: 1 }),
  single('clip_attributes', 'Clip', [x(['N', 6])], ['x'], { min: float(-0.5), max: float(0.5) }),
  single('unsqueeze_attribute', 'Unsqueeze', [x(['N', 3])], ['x'], { axes: [2] }),
  single('squeeze_attribute', 'Squeeze', [x(['N', 1, 3])], ['x'], { axes: [1] }),
  {
    name: 'split_attribute',
    inputs: [x(['N', 5])],
    nodes: [{ op: 'Split', inputs: ['x'], outputs: ['a', 'b'], attrs: { axis: 1, split: [2, 3] } }],
    outputs: ['a', 'b'],
  },
  single('reducemean_default_keepdims', 'ReduceMean', [x(['N', 3, 2])], ['x'], { axes: [2] }),
];

for (const [opset, cases] of [[13, OPSET_13], [18, OPSET_18], [10, OPSET_10]] as const) {
  describe(`ops at opset ${opset} match onnxruntime-web`, () => {
    let group: GroupResult;
    beforeAll(async () => {
      group = await runGroup([...cases], opset, [1, 3]);
    }, 120_000);

    it.each(cases.map((c) => [c.name]))('%s', (name) => {
      expectCaseMatches(group, name, 1e-4);
    });
  });
}
