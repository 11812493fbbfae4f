/** MaxPool, AveragePool (pads, strides, dilations, ceil_mode, count_include_pad) and GlobalAveragePool. */
import { tensorSize } from '../../graph.ts';
import { attrInt, outputShapes, poolGeometry, required } from '../rules.ts';
import type { Kernel } from './common.ts';
import { outputTensor, planar } from './common.ts';

/** Window taps per output position along one axis: those inside the input, and those inside input + pads. */
function tapCounts(outSize: number, inSize: number, kernel: number, stride: number, dilation: number, padBegin: number, padEnd: number) {
  const inside = new Int32Array(outSize);
  const insidePadded = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    for (let k = 0; k < kernel; k++) {
      const i = o * stride - padBegin + k * dilation;
      if (i >= 0 && i < inSize) inside[o]++;
      if (i >= -padBegin && i < inSize + padEnd) insidePadded[o]++;
    }
  }
  return { inside, insidePadded };
}

function pool(kind: 'max' | 'average'): Kernel {
  return (ctx, inputs) => {
    const x = required(ctx, inputs, 0);
    const geometry = poolGeometry(ctx, x.dims);
    const p = planar(ctx, x.dims, geometry);
    const y = outputTensor(ctx, x.dtype, geometry.outDims);
    // ONNX: padding never counts for MaxPool; for AveragePool only with count_include_pad = 1.
    const includePad = kind === 'average' && attrInt(ctx, 'count_include_pad', 0) === 1;
    const rows = tapCounts(p.OH, p.H, p.KH, p.strideH, p.dilationH, p.padTop, p.padBottom);
    const cols = tapCounts(p.OW, p.W, p.KW, p.strideW, p.dilationW, p.padLeft, p.padRight);
    const xd = x.data;
    const yd = y.data;
    for (let plane = 0; plane < p.batch * p.channels; plane++) {
      const inBase = plane * p.H * p.W;
      const outBase = plane * p.OH * p.OW;
      for (let oh = 0; oh < p.OH; oh++) {
        for (let ow = 0; ow < p.OW; ow++) {
          let max = -Infinity;
          let sum = 0;
          for (let kh = 0; kh < p.KH; kh++) {
            const ih = oh * p.strideH - p.padTop + kh * p.dilationH;
            if (ih < 0 || ih >= p.H) continue;
            for (let kw = 0; kw < p.KW; kw++) {
              const iw = ow * p.strideW - p.padLeft + kw * p.dilationW;
              if (iw < 0 || iw >= p.W) continue;
              const v = xd[inBase + ih * p.W + iw];
              sum += v;
              if (v > max) max = v;
            }
          }
          const count = includePad ? rows.insidePadded[oh] * cols.insidePadded[ow] : rows.inside[oh] * cols.inside[ow];
          yd[outBase + oh * p.OW + ow] = kind === 'max' ? max : sum / count;
        }
      }
    }
    return [y];
  };
}

const globalAveragePool: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const y = outputTensor(ctx, x.dtype, outputShapes(ctx, inputs)[0].dims);
  const area = tensorSize(x.dims.slice(2));
  for (let plane = 0; plane < y.data.length; plane++) {
    let sum = 0;
    for (let i = plane * area; i < (plane + 1) * area; i++) sum += x.data[i];
    y.data[plane] = sum / area;
  }
  return [y];
};

export const poolKernels: Record<string, Kernel> = {
  MaxPool: pool('max'),
  AveragePool: pool('average'),
  GlobalAveragePool: globalAveragePool,
};
