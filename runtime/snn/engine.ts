/**
 * The time-stepped core: runs a contiguous range of samples through a NetworkPlan. Pure and
 * deterministic per sample (masks are keyed by the global sample index), so any split of the samples
 * over workers gives the same bytes. Synaptic work is event-driven: each step walks the spike lists
 * and adds CSR rows; only the threshold pass touches every neuron (the neuron updates).
 */
import type { Csr, NetworkPlan } from './plan.ts';
import { draw32, dropBelow, maskKey } from './rng.ts';

export interface ChunkOptions {
  T: number;
  seed: number;
  /** Steps at which the prediction is recorded (ascending, within 1..T). */
  checkpoints: number[];
  recordSpikes: boolean;
}

/**
 * The spikes of one sample: those of step t (1-based) and population p (plan order) are
 * indices[offsets[(t−1)·P + p] .. offsets[(t−1)·P + p + 1]), ascending neuron indices.
 */
export interface SpikeRecord {
  offsets: Int32Array;
  indices: Int32Array;
}

/** Totals over the chunk's samples (integers held in doubles: exact, and summable across chunks). */
export interface ChunkResult {
  /** count × checkpoints: argmax of the readout at each checkpoint. */
  predictions: Int32Array;
  /** count × readout size: accumulated readout / T. */
  logits: Float32Array;
  /** Per population. */
  spikes: Float64Array;
  /** Per stream: synaptic operations delivered. */
  sops: Float64Array;
  /** Per mask. */
  arriving: Float64Array;
  dropped: Float64Array;
  /** IF neuron updates that received a non-zero current or spiked. */
  active: number;
  records?: SpikeRecord[];
}

/** cur[col[j]] += val[j] over one row. Unrolled by 4: V8 runs this about twice as fast as the plain loop. */
function addRow(cur: Float64Array, col: Int32Array, val: Float32Array, a: number, b: number): void {
  let j = a;
  for (; j + 3 < b; j += 4) {
    cur[col[j]] += val[j];
    cur[col[j + 1]] += val[j + 1];
    cur[col[j + 2]] += val[j + 2];
    cur[col[j + 3]] += val[j + 3];
  }
  for (; j < b; j++) cur[col[j]] += val[j];
}

/** Adds the CSR rows of the listed spikes to `cur`; returns the SOPs (row lengths). */
function deliver(csr: Csr, spikes: Int32Array, n: number, cur: Float64Array): number {
  const { rowPtr, col, val } = csr;
  let sops = 0;
  for (let k = 0; k < n; k++) {
    const i = spikes[k];
    const a = rowPtr[i];
    const b = rowPtr[i + 1];
    sops += b - a;
    addRow(cur, col, val, a, b);
  }
  return sops;
}

/** As `deliver`, dropping each spike with its mask's probability; returns [SOPs, dropped]. */
function deliverMasked(csr: Csr, spikes: Int32Array, n: number, cur: Float64Array, key: number, below: number, out: Float64Array): void {
  const { rowPtr, col, val } = csr;
  let sops = 0;
  let dropped = 0;
  for (let k = 0; k < n; k++) {
    const i = spikes[k];
    if (draw32(key, i) < below) {
      dropped++;
      continue;
    }
    const a = rowPtr[i];
    const b = rowPtr[i + 1];
    sops += b - a;
    addRow(cur, col, val, a, b);
  }
  out[0] = sops;
  out[1] = dropped;
}

/** Growable Int32 list for spike records. */
class IntList {
  data = new Int32Array(1024);
  length = 0;
  append(src: Int32Array, n: number): void {
    if (this.length + n > this.data.length) {
      const next = new Int32Array(Math.max(this.data.length * 2, this.length + n));
      next.set(this.data.subarray(0, this.length));
      this.data = next;
    }
    this.data.set(src.subarray(0, n), this.length);
    this.length += n;
  }
}

/**
 * Simulates samples `input[s·inputSize ..]` for s < count; `sampleOffset` is the index of the first one
 * in the whole run (it keys the masks). `onSample` is called after each sample.
 */
export function runChunk(plan: NetworkPlan, input: Float32Array, sampleOffset: number, opts: ChunkOptions, onSample?: (done: number) => void): ChunkResult {
  const { T, checkpoints } = opts;
  const { threshold, order, inputSize, divisor, pops, streams, masks } = plan;
  const count = input.length / inputSize;
  const n = plan.currentSize;
  const P = pops.length;
  const K = checkpoints.length;
  const classes = plan.readout.size;
  const ro = plan.readout.offset;
  const roEnd = ro + classes;

  const cur = new Float64Array(n);
  /** This sample's constant current: biases plus the analog input. */
  const base = new Float64Array(n);
  /** Membranes; on the readout, the accumulator. */
  const v = new Float64Array(n);
  const spikeLists = pops.map((p) => new Int32Array(p.size));
  const checkpointAt = new Int32Array(T + 1).fill(-1);
  checkpoints.forEach((t, k) => (checkpointAt[t] = k));
  const below = masks.map((m) => dropBelow(m.ratio));
  const maskOut = new Float64Array(2);

  const result: ChunkResult = {
    predictions: new Int32Array(count * K),
    logits: new Float32Array(count * classes),
    spikes: new Float64Array(P),
    sops: new Float64Array(streams.length),
    arriving: new Float64Array(masks.length),
    dropped: new Float64Array(masks.length),
    active: 0,
    records: opts.recordSpikes ? [] : undefined,
  };
  const { spikes: spikeTotals, sops, arriving, dropped } = result;
  const seed = opts.seed >>> 0;
  const { rowPtr: inRow, col: inCol, val: inVal } = plan.input;

  for (let s = 0; s < count; s++) {
    const sample = sampleOffset + s;
    base.set(plan.bias);
    const x0 = s * inputSize;
    for (let i = 0; i < inputSize; i++) {
      const xi = input[x0 + i];
      if (xi === 0) continue;
      const a = xi / divisor;
      for (let j = inRow[i]; j < inRow[i + 1]; j++) base[inCol[j]] += a * inVal[j];
    }
    cur.set(base);
    v.set(plan.v0);
    const offsets = opts.recordSpikes ? new Int32Array(T * P + 1) : undefined;
    const recorded = opts.recordSpikes ? new IntList() : undefined;
    let active = 0;

    for (let t = 1; t <= T; t++) {
      for (let o = 0; o < order.length; o++) {
        const p = order[o];
        if (p < 0) {
          for (let i = ro; i < roEnd; i++) {
            v[i] += cur[i];
            cur[i] = base[i];
          }
          continue;
        }
        const { offset, size } = pops[p];
        const list = spikeLists[p];
        let ns = 0;
        for (let i = offset, end = offset + size; i < end; i++) {
          const c = cur[i];
          let vi = v[i] + c;
          cur[i] = base[i];
          if (vi >= threshold[i]) {
            vi -= threshold[i];
            list[ns++] = i - offset;
          } else if (c !== 0) {
            active++;
          }
          v[i] = vi;
        }
        active += ns;
        spikeTotals[p] += ns;
        if (recorded) {
          recorded.append(list, ns);
          offsets![(t - 1) * P + p + 1] = recorded.length;
        }
        for (const si of pops[p].streams) {
          const stream = streams[si];
          if (stream.mask < 0) {
            sops[si] += deliver(stream.csr, list, ns, cur);
          } else {
            const m = stream.mask;
            deliverMasked(stream.csr, list, ns, cur, maskKey(seed, sample, t, m), below[m], maskOut);
            sops[si] += maskOut[0];
            dropped[m] += maskOut[1];
            arriving[m] += ns;
          }
        }
      }
      const k = checkpointAt[t];
      if (k >= 0) {
        // argmax of accumulated/t equals argmax of the accumulator; ties go to the first class.
        let best = ro;
        for (let i = ro + 1; i < roEnd; i++) if (v[i] > v[best]) best = i;
        result.predictions[s * K + k] = best - ro;
      }
    }
    for (let i = 0; i < classes; i++) result.logits[s * classes + i] = v[ro + i] / T;
    result.active += active;
    if (recorded) result.records!.push({ offsets: offsets!, indices: recorded.data.slice(0, recorded.length) });
    onSample?.(s + 1);
  }
  return result;
}
