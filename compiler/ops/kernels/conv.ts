/**
 * Conv (1-D and 2-D; groups, depthwise, dilations, strides, pads, auto_pad, optional bias) as direct loops.
 *
 * Each image's input is copied once into a zero-padded, stride-phase-split buffer (float64): padded row r,
 * column c of a channel lands in phase (r mod sh, c mod sw) at (r div sh, c div sw). In that layout every
 * kernel tap of every output pixel of a channel is one constant offset from the pixel's index in a grid of
 * phase width, so an output channel is a sum of long contiguous runs, eight taps per pass. The few grid
 * columns past the output width are computed and dropped. No im2col matrix is built.
 *
 * Each image is copied into that buffer and its output channels computed by a WebAssembly SIMD kernel
 * (conv.wat), bit-identical to the plain loop acc[i] += w0·p[o0 + i] + … + w7·p[o7 + i] (float64, summed
 * left to right; then one tap per pass). The image, the padded buffer, the accumulator, the tap offsets, the
 * weights and the image's output live in the memory of one module-level instance, which grows when a call
 * needs more.
 */
import { convGeometry, nodeError, required } from '../rules.ts';
import type { Kernel } from './common.ts';
import { outputTensor, planar } from './common.ts';
import { CONV_WASM_BASE64 } from './conv-wasm.ts';

interface ConvWasm {
  memory: WebAssembly.Memory;
  /** See conv.wat; every pointer is a byte offset. One image's input into the padded phase buffer. */
  scatter(
    x: number, f32: number, channels: number, H: number, W: number, padTop: number, padLeft: number, sh: number, sw: number,
    phaseW: number, phaseSize: number, channelSize: number, p: number,
  ): void;
  /** One image's output channels from its padded input. */
  convImage(
    acc: number, length: number, p: number, off: number, taps: number, w: number, bias: number, hasBias: number,
    outChannels: number, groupOut: number, groupStride: number, y: number, OH: number, OW: number, phaseW: number, f32: number,
  ): void;
}

let wasm: ConvWasm | undefined;

/** The module-level kernel instance, its memory grown to at least `bytes` bytes. */
function convWasm(bytes: number): ConvWasm {
  if (!wasm) {
    const module = new WebAssembly.Module(Buffer.from(CONV_WASM_BASE64, 'base64'));
    const memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const { scatter, convImage } = instance.exports as unknown as Omit<ConvWasm, 'memory'>;
    wasm = { memory, scatter, convImage };
  }
  const have = wasm.memory.buffer.byteLength;
  if (bytes > have) wasm.memory.grow(Math.ceil((bytes - have) / 65536)); // detaches views of the old buffer
  return wasm;
}

/** Byte size of `count` elements of `size` bytes, rounded up to 16 bytes. */
const region = (count: number, size: number): number => Math.ceil((count * size) / 16) * 16;

const conv: Kernel = (ctx, inputs) => {
  const x = required(ctx, inputs, 0);
  const w = required(ctx, inputs, 1);
  const bias = inputs[2];
  const geometry = convGeometry(ctx, x.dims, w.dims, bias?.dims);
  const p = planar(ctx, x.dims, geometry);
  const { batch, channels, H, W, OH, OW, strideH: sh, strideW: sw } = p;
  const group = geometry.group;
  const outChannels = w.dims[0];
  const groupChannels = channels / group;
  const groupOutChannels = outChannels / group;
  const y = outputTensor(ctx, x.dtype, geometry.outDims);

  // Phase grid: one spare zero row per phase, because the last output rows of a tap read past their phase.
  const phaseW = Math.ceil((W + p.padLeft + p.padRight) / sw);
  const phaseH = Math.ceil((H + p.padTop + p.padBottom) / sh);
  const phaseSize = (phaseH + 1) * phaseW;
  const channelSize = sh * sw * phaseSize;
  const taps = groupChannels * p.KH * p.KW;
  const runLength = OH * phaseW;

  const xd = x.data;
  const yd = y.data;
  const xF32 = xd instanceof Float32Array;
  const f32 = yd instanceof Float32Array;
  const inPlane = channels * H * W;
  const outPlane = OH * OW;

  // The kernel's memory: one image's input, its padded copy, the accumulator, the tap offsets, the weights and
  // biases (as float64, exactly), one image's output.
  const xAt = 0;
  const paddedAt = xAt + region(inPlane, xF32 ? 4 : 8);
  const accAt = paddedAt + region(channels * channelSize, 8);
  const offsetAt = accAt + region(runLength, 8);
  const weightAt = offsetAt + region(taps, 4);
  const biasAt = weightAt + region(outChannels * taps, 8);
  const yAt = biasAt + region(outChannels, 8);
  const end = yAt + region(outChannels * outPlane, f32 ? 4 : 8);
  if (end > 2 ** 31) throw nodeError(ctx, `needs ${end} bytes of WebAssembly memory for one image, more than 2 GiB`);
  const k = convWasm(end);
  const buffer = k.memory.buffer; // views made after any growth
  const xImage = xF32 ? new Float32Array(buffer, xAt, inPlane) : new Float64Array(buffer, xAt, inPlane);
  const padded = new Float64Array(buffer, paddedAt, channels * channelSize);
  const tapOffset = new Int32Array(buffer, offsetAt, taps);
  new Float64Array(buffer, weightAt, outChannels * taps).set(w.data);
  if (bias) new Float64Array(buffer, biasAt, outChannels).set(bias.data);
  const yImage = f32 ? new Float32Array(buffer, yAt, outChannels * outPlane) : new Float64Array(buffer, yAt, outChannels * outPlane);
  padded.fill(0); // zero borders stay zero: only the interior is rewritten

  // Offset of each tap (group-local channel, kh, kw) in the padded buffer, in the weight's memory order.
  for (let c = 0, t = 0; c < groupChannels; c++) {
    for (let kh = 0; kh < p.KH; kh++) {
      const r = kh * p.dilationH;
      for (let kw = 0; kw < p.KW; kw++, t++) {
        const col = kw * p.dilationW;
        const phase = (r % sh) * sw + (col % sw);
        tapOffset[t] = c * channelSize + phase * phaseSize + Math.floor(r / sh) * phaseW + Math.floor(col / sw);
      }
    }
  }

  for (let n = 0; n < batch; n++) {
    xImage.set(xd.subarray(n * inPlane, (n + 1) * inPlane));
    k.scatter(xAt, xF32 ? 1 : 0, channels, H, W, p.padTop, p.padLeft, sh, sw, phaseW, phaseSize, channelSize, paddedAt);
    k.convImage(
      accAt, runLength, paddedAt, offsetAt, taps, weightAt, biasAt, bias ? 1 : 0,
      outChannels, groupOutChannels, groupChannels * channelSize * 8, yAt, OH, OW, phaseW, f32 ? 1 : 0,
    );
    yd.set(yImage, n * outChannels * outPlane);
  }
  return [y];
};

export const convKernels: Record<string, Kernel> = { Conv: conv };
