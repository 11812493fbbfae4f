/**
 * Host nodes on a chip: a matmul of two dynamic operands (a spike-pair product) or a softmax has no fixed
 * synapses, so no neuromorphic core can hold it. Loihi 1 has three embedded x86 (Lakemont) cores per chip
 * for such work (Davies et al., IEEE Micro 2018); a board's host CPU is the other place. The chip spec's
 * `host` block says which of the two a chip offers and what an operation and a moved value cost there.
 *
 * The plan keeps the host nodes' operands in a region of the current space after the readout
 * (runtime/snn/plan.ts); the spike streams reach them through table routes. Splitting the plan at the
 * readout's end gives the part the cores hold (`core`: the same populations and streams, every route into
 * the host region removed), which the partitioners and the placers map unchanged, and per stream the
 * number of values each source element sends to the host (its route entries into the host region).
 *
 * The readout can go to the host too (`snnc map --readout host`): a readout neuron hears every element of
 * the last layers (a Swin-T-sized MST's head: 18,432 sources), more than a core's input axons, and no
 * slicing splits one neuron's inputs. The split then starts at the readout: a spike that reaches it is one
 * value sent to the host, which adds its weights to the class accumulators there (one host operation per
 * non-zero weight, the synaptic operations the readout's core would have done).
 */
import { SnncError } from '../../compiler/errors.ts';
import type { AnalogPlan, NetworkPlan, StreamPlan } from '../../runtime/snn/plan.ts';
import { fanoutOf, type Fanout, type Route } from '../../runtime/snn/routes.ts';
import { type ChipSpec, HOST_PLACEMENTS, type HostPlacement, type HostProcessor } from '../chip-spec.ts';

/** Where host nodes go, as the CLI spells it (`--host embedded|off-chip`) and the map file records it. */
export type HostOption = 'embedded' | 'off-chip';
export const HOST_OPTIONS: readonly HostOption[] = ['embedded', 'off-chip'];

export function hostKey(option: HostOption): HostPlacement {
  return option === 'off-chip' ? 'off_chip' : 'embedded';
}

export interface HostSplit {
  /** The plan the neuromorphic cores hold: current space up to the readout's end (its start when the readout is on the host), no routes into the host region, no host nodes. */
  core: NetworkPlan;
  /** First element of the host region (the readout's end, or its start). */
  start: number;
  /** Whether the readout is on the host. */
  readout: boolean;
  /** Per stream: values sent to the host per source element (route entries into host operands, and 1 when it reaches the readout on the host), or null when none. */
  toHost: Array<Int32Array | null>;
  /** Readout on the host: per stream, the non-zero weights into the readout per source element (the host's operations), or null when none. */
  readoutOps: Array<Int32Array | null>;
  /** Per stream: its routes into the host region. */
  hostRoutes: Route[][];
}

/** The end of a route's target region and its start (conv and dense routes fill one region; table routes list their targets). */
function extent(r: Route): [number, number] {
  if (r.kind === 'conv') return [r.twin.offset, r.twin.offset + r.twin.cout * r.twin.outPlane];
  if (r.kind === 'dense') return [r.offset, r.offset + r.targets];
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of r.csr.col) {
    if (c < lo) lo = c;
    if (c + 1 > hi) hi = c + 1;
  }
  return [lo, hi];
}

/** A table route's entries below `start` (core) or from it (host); each row's order is kept. */
function tablePart(r: Route & { kind: 'table' }, start: number, host: boolean): Route {
  const { rowPtr, col, val } = r.csr;
  const rows = rowPtr.length - 1;
  const ptr = new Int32Array(rows + 1);
  const keep = (c: number) => (c >= start) === host;
  for (let i = 0; i < rows; i++) {
    let n = 0;
    for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) if (keep(col[j])) n++;
    ptr[i + 1] = ptr[i] + n;
  }
  const c2 = new Int32Array(ptr[rows]);
  const v2 = new Float32Array(ptr[rows]);
  const fanOut = new Int32Array(rows);
  let k = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
      if (!keep(col[j])) continue;
      c2[k] = col[j];
      v2[k++] = val[j];
      if (val[j] !== 0) fanOut[i]++;
    }
  }
  return { kind: 'table', category: r.category, fanOut, csr: { rowPtr: ptr, col: c2, val: v2 } };
}

/** A fan-out's routes into [0, start) and into [start, ∞). */
function splitFanout(f: Fanout, start: number, stream: string): { core: Fanout; host: Route[] } {
  const core: Route[] = [];
  const host: Route[] = [];
  for (const r of f.routes) {
    const [lo, hi] = extent(r);
    if (hi <= start) core.push(r);
    else if (lo >= start) host.push(r);
    else if (r.kind === 'table') {
      core.push(tablePart(r, start, false));
      host.push(tablePart(r, start, true));
    } else throw new SnncError(`stream ${stream}: a ${r.kind} route reaches both neurons and a host node's operand`);
  }
  return { core: core.length === f.routes.length ? f : fanoutOf(f.rows, core), host };
}

/**
 * Per source element of a stream's host routes: the values it sends to the host (entries into host operands,
 * which start at `operands`, plus 1 when it reaches the readout region [readout, operands)) and its non-zero
 * weights into the readout; null where there are none.
 */
function hostTraffic(rows: number, routes: Route[], readout: number, operands: number): { values: Int32Array | null; readoutOps: Int32Array | null } {
  if (routes.length === 0) return { values: null, readoutOps: null };
  const values = new Int32Array(rows);
  const ops = new Int32Array(rows);
  for (const r of routes) {
    if (r.kind !== 'table') {
      // A conv or dense route lies in one region: below the operands it is the readout's.
      if (extent(r)[0] >= operands) throw new SnncError(`a ${r.kind} route into a host node's operand: only index and table routes are expected there`);
      for (let i = 0; i < rows; i++) ops[i] += r.fanOut[i];
      continue;
    }
    const { rowPtr, col, val } = r.csr;
    for (let i = 0; i < rows; i++) {
      for (let j = rowPtr[i]; j < rowPtr[i + 1]; j++) {
        if (col[j] >= operands) values[i]++;
        else if (col[j] >= readout && val[j] !== 0) ops[i]++;
      }
    }
  }
  let any = false;
  for (let i = 0; i < rows; i++) {
    if (ops[i] > 0) values[i]++;
    any ||= ops[i] > 0;
  }
  return { values, readoutOps: any ? ops : null };
}

/**
 * The plan split into its core part and what goes to the host (the host nodes, and the readout when
 * `readoutOnHost`); null when nothing goes to the host.
 */
export function splitHost(plan: NetworkPlan, readoutOnHost = false): HostSplit | null {
  if (plan.analog.length === 0 && !readoutOnHost) return null;
  const operands = plan.readout.offset + plan.readout.size;
  const start = readoutOnHost ? plan.readout.offset : operands;
  const toHost: Array<Int32Array | null> = [];
  const readoutOps: Array<Int32Array | null> = [];
  const hostRoutes: Route[][] = [];
  const streams: StreamPlan[] = plan.streams.map((s) => {
    const { core, host } = splitFanout(s.fanout, start, s.id);
    const traffic = hostTraffic(s.fanout.rows, host, start, operands);
    toHost.push(traffic.values);
    readoutOps.push(traffic.readoutOps);
    hostRoutes.push(host);
    return core === s.fanout ? s : { ...s, fanout: core, conv: null };
  });
  // The cores' steps: their populations' (and the readout's, when they hold it).
  const core: NetworkPlan = { ...plan, currentSize: start, streams, analog: [], order: plan.order.filter((p) => p >= (readoutOnHost ? 0 : -1)) };
  return { core, start, readout: readoutOnHost, toHost, readoutOps, hostRoutes };
}

/** Whether the cores of a (core) plan hold its readout: not when the readout went to the host (splitHost). */
export function readoutOnCores(plan: NetworkPlan): boolean {
  return plan.readout.offset < plan.currentSize;
}

/**
 * The whole plan again from a (quantised) core part: each stream's core routes, then its routes into the
 * host region (after every core target, so the order of the routes by first target holds).
 */
export function withHostRoutes(full: NetworkPlan, split: HostSplit, core: NetworkPlan): NetworkPlan {
  const streams = full.streams.map((s, i) => {
    const c = core.streams[i];
    const host = split.hostRoutes[i];
    return host.length === 0 ? c : { ...c, fanout: fanoutOf(c.fanout.rows, [...c.fanout.routes, ...host]), conv: null };
  });
  return { ...full, streams };
}

/** The spec's processor for a placement, or a one-line refusal naming the host nodes (and the readout, when it goes there). */
export function hostProcessor(spec: ChipSpec, option: HostOption, nodes: Array<{ id: string; kind: string }>): HostProcessor {
  const proc = spec.host?.[hostKey(option)];
  if (!proc) {
    const list = nodes.map((a) => `${a.id} (${a.kind})`).join(', ');
    const offered = HOST_PLACEMENTS.filter((k) => spec.host?.[k]).map((k) => (k === 'off_chip' ? 'off-chip' : k));
    throw new SnncError(
      `${list}: host nodes (${nodes.some((a) => a.kind === 'readout') ? 'more inputs than a core has axons, or ' : ''}no fixed synapses, so no neuromorphic core can hold them) need a host processor; ${spec.name} has no '${option}' one in its spec's host block${offered.length ? ` (it has: ${offered.join(', ')}; use --host ${offered[0]})` : ''}`,
    );
  }
  return proc;
}

/** What runs on the host, as the map file lists it: the host nodes, then the readout when it is there. */
export function hostNodes(plan: NetworkPlan, readoutOnHost: boolean): Array<{ id: string; kind: 'matmul' | 'softmax' | 'readout'; size: number; operands: number[] }> {
  const nodes = plan.analog.map((a) => ({ id: a.id, kind: a.kind as 'matmul' | 'softmax', size: a.size, operands: a.operands.map((o) => o.size) }));
  return readoutOnHost ? [...nodes, { id: plan.readout.id, kind: 'readout' as const, size: plan.readout.size, operands: [] }] : nodes;
}

/** The default placement: the chip's embedded processors when it has them, else the off-chip host. */
export function defaultHost(spec: ChipSpec): HostOption {
  return spec.host?.embedded || !spec.host?.off_chip ? 'embedded' : 'off-chip';
}
