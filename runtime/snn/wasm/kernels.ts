/**
 * The WebAssembly kernels (kernels.wat) bound to one memory. The module is compiled once per thread; each
 * engine instantiates it over a memory that holds the arrays the kernels touch (its own, or one that
 * engines on several threads share: the memory is declared shared).
 */
import { setFlagsFromString } from 'node:v8';
import type { ConvTable } from '../conv-table.ts';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.ts';

/** Spikes of a [C, H, W] population through a conv twin (conv-table.ts); see kernels.wat. */
type ConvDelivery = (
  spikes: number, n: number, cur: number, acc: number, posPtr: number, posOut: number, posTap: number, weights: number,
  plane: number, outPlane: number, cinPerGroup: number, cpg: number, cout: number, taps: number,
) => void;

export interface Kernels {
  memory: WebAssembly.Memory;
  /**
   * The neuron update (IF, LIF, signed IF, bursts): v = λ·v + I, spike at v ≥ θ, v − θ (subtract = 1) or 0
   * (subtract = 0); λ per neuron at `leak` (unit = 1: every λ is 1, and `leak` is not read). A graded population (burst > 1 or signed = 1) sends n spikes at once
   * (i32 at `payload` per listed neuron) and keeps its tracer (f64 per neuron at `tracer`) within [0, t].
   * See kernels.wat: every pointer is a byte offset into `memory`.
   */
  integrate(
    cur: number, base: number, v: number, theta: number, leak: number, unit: number, subtract: number, from: number, end: number, list: number, out: number,
    tracer: number, payload: number, burst: number, signed: number, t: number,
  ): number;
  deliverConv: ConvDelivery;
  /** acc[p·cout + o] = cur[o·outPlane + p] (to = 1) or back (to = 0). */
  stage(cur: number, acc: number, cout: number, outPlane: number, to: number): void;
  /** deliverConv into currents kept channel-last at `acc` (no staging); banks −1: one weight table. */
  scatterConv(
    spikes: number, n: number, acc: number, posPtr: number, posOut: number, posTap: number, weights: number,
    plane: number, cinPerGroup: number, cpg: number, cout: number, taps: number, banks: number,
  ): void;
  /** scatterConv with the pairs as byte offsets (posOut·cout·8, posTap·cpg·8), the simulator's. */
  scatterConvB(spikes: number, n: number, acc: number, posPtr: number, posOutB: number, posTapB: number, weights: number, plane: number, cinPerGroup: number, cpg: number, taps: number): void;
  /**
   * scatterConvB target-stationary for a twin of one group, into currents kept channel-first at `cur` (no
   * staging): bucketed per output position through pair tables padded to maxq per source position
   * (engine.ts gatherTables), then added in registers; see kernels.wat.
   */
  gatherConv(
    spikes: number, n: number, cur: number, posOut4: number, posTapB: number, posInc: number, maxq: number, weights: number,
    plane: number, cout: number, taps: number, outPlane: number, ptrs: number, bucket: number, cap: number,
  ): void;
  /** deliverConv with a weight table per bank: output position p's weights at weights + banks[p] (bytes). */
  deliverConvBanked(...args: [...Parameters<ConvDelivery>, banks: number]): void;
  /** The virtual chip's neuron update (the rule of `integrate`), counted per core (see kernels.wat). */
  integrateCores(cur: number, base: number, v: number, theta: number, leak: number, from: number, end: number, list: number, coreOf: number, act: number, spk: number, subtract: number, unit: number): number;
  /** Adds the synapse lists of n listed rows: 8-byte entries (target byte address, f32 weight). */
  addEntries(spikes: number, n: number, rowPtr: number, entries: number): void;
  /** addEntries with entries holding byte offsets from `cur` (writeEntries with cur = 0). */
  addEntriesAt(spikes: number, n: number, rowPtr: number, entries: number, cur: number): void;
  /** A dense route: each listed m = row·inner + j adds the f32 weights[j·out ..] to cur[row·out ..]. */
  deliverDense(list: number, n: number, inner: number, out: number, weights: number, cur: number): void;
  /** The analog input (f32 at x, rows of them) through a conv twin with f32 weights, as routes.ts addValues adds it, into currents staged channel-last at acc. */
  addConvValues(
    x: number, rows: number, divisor: number, remap: number, weights: number, posPtr: number, posOut: number, posTap: number,
    plane: number, cinPerGroup: number, cpg: number, cout: number, taps: number, acc: number,
  ): void;
  /** Copies `bytes` bytes from `src` to `dst` (no overlap). */
  copy(dst: number, src: number, bytes: number): void;
  /** Σ table[i] (i32) over the n listed i. */
  sumAt(list: number, n: number, table: number): number;
  /** Writes remap[i] of the n listed i to `out`, skipping −1; returns how many. */
  remapList(list: number, n: number, remap: number, out: number): number;
}

let compiled: WebAssembly.Module | undefined;

/**
 * Compiles the kernels with V8's optimizing compiler from the start. By default V8 first runs baseline
 * (Liftoff) code and swaps in optimized code only between calls; a kernel call of a large layer is long,
 * so a run's first images ran on baseline code (ResNet-18 at 224, one image: about 18 % slower). Only this
 * small module is compiled so; the flag is restored at once for every other module.
 */
function compileOptimized(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Module {
  setFlagsFromString('--no-liftoff');
  setFlagsFromString('--no-wasm-lazy-compilation');
  try {
    return new WebAssembly.Module(bytes);
  } finally {
    setFlagsFromString('--liftoff');
    setFlagsFromString('--wasm-lazy-compilation');
  }
}

/**
 * A memory of at least `bytes` bytes for the kernels: shared, so that worker threads can run engines over
 * one copy of the weights. Pages are committed as needed (the 4 GiB maximum is only reserved address space).
 */
export function kernelsMemory(bytes: number): WebAssembly.Memory {
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  if (pages > 65536) throw new RangeError(`${bytes} bytes is more than the 4 GiB a WebAssembly memory can hold`);
  return new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
}

/**
 * The kernels' constant tables, at byte 0 of every kernels' memory (MemoryLayout starts after them):
 * for each 4-bit mask m, four i32 lanes listing its set bits in order (the rest 0), with which the neuron
 * update packs four neurons' spikes into the list in one store.
 */
export const KERNEL_TABLES = (() => {
  const lanes = new Int32Array(64);
  for (let m = 0; m < 16; m++) {
    let j = 0;
    for (let bit = 0; bit < 4; bit++) if (m & (1 << bit)) lanes[4 * m + j++] = bit;
  }
  return lanes;
})();

/**
 * The kernels over `memory`, or over a fresh memory of at least `bytes` bytes; writes KERNEL_TABLES at byte 0
 * (the same bytes every time, so threads instantiating over one shared memory write nothing new).
 */
export function instantiateKernels(bytesOrMemory: number | WebAssembly.Memory): Kernels {
  compiled ??= compileOptimized(new Uint8Array(Buffer.from(KERNELS_WASM_BASE64, 'base64')));
  const memory = typeof bytesOrMemory === 'number' ? kernelsMemory(bytesOrMemory) : bytesOrMemory;
  new Int32Array(memory.buffer, 0, KERNEL_TABLES.length).set(KERNEL_TABLES);
  const instance = new WebAssembly.Instance(compiled, { env: { memory } });
  return { memory, ...(instance.exports as unknown as Omit<Kernels, 'memory'>) };
}

/** Hands out 16-byte-aligned regions of a memory, first by size, then as typed-array views; the first bytes hold KERNEL_TABLES. */
export class MemoryLayout {
  private end = KERNEL_TABLES.byteLength;

  /** Reserves `bytes` bytes; returns their byte offset. */
  reserve(bytes: number): number {
    const at = this.end;
    this.end += Math.ceil(bytes / 16) * 16;
    return at;
  }

  get size(): number {
    return this.end;
  }
}

/** Byte offsets of a conv twin's tables in a kernels' memory. */
export interface ConvTwinAt {
  posPtr: number;
  posOut: number;
  posTap: number;
  weights: number;
}

/** Reserves a conv twin's tables, with room for `weights` float64 weights (more than the twin's when banked). */
export function reserveConvTwin(layout: MemoryLayout, twin: ConvTable, weights = twin.weights.length): ConvTwinAt {
  return {
    posPtr: layout.reserve(4 * twin.posPtr.length),
    posOut: layout.reserve(4 * twin.posOut.length),
    posTap: layout.reserve(4 * twin.posTap.length),
    weights: layout.reserve(8 * weights),
  };
}

/** Copies a conv twin's tables (and its weights, or banked ones) into the memory. */
export function writeConvTwin(buffer: ArrayBuffer, at: ConvTwinAt, twin: ConvTable, weights: ArrayLike<number> = twin.weights): void {
  new Int32Array(buffer, at.posPtr, twin.posPtr.length).set(twin.posPtr);
  new Int32Array(buffer, at.posOut, twin.posOut.length).set(twin.posOut);
  new Int32Array(buffer, at.posTap, twin.posTap.length).set(twin.posTap);
  new Float64Array(buffer, at.weights, weights.length).set(weights);
}

/** Writes `addEntries`' 8-byte entries at `at`: per synapse, its target current's byte address (cur + 8·col) and weight. */
export function writeEntries(buffer: ArrayBuffer, at: number, cur: number, col: Int32Array, val: Float32Array): void {
  const addr = new Int32Array(buffer, at, 2 * col.length);
  const weight = new Float32Array(buffer, at, 2 * col.length);
  for (let j = 0; j < col.length; j++) {
    addr[2 * j] = cur + 8 * col[j];
    weight[2 * j + 1] = val[j];
  }
}
