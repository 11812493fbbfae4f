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
  /** The plan the neuromorphic cores hold: current space up to the readout's end, no routes into the host region, no host nodes. */
  core: NetworkPlan;
  /** First element of the host region (the readout's end). */
  start: number;
  /** Per stream: values sent to the host per source element (route entries into the host region), or null when none. */
  toHost: Array<Int32Array | null>;
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

/** Per source element: entries of `routes` (the values it sends to the host). */
function entriesPerRow(rows: number, routes: Route[]): Int32Array | null {
  if (routes.length === 0) return null;
  const n = new Int32Array(rows);
  for (const r of routes) {
    if (r.kind !== 'table') throw new SnncError(`a ${r.kind} route into a host node's operand: only index and table routes are expected there`);
    for (let i = 0; i < rows; i++) n[i] += r.csr.rowPtr[i + 1] - r.csr.rowPtr[i];
  }
  return n;
}

/** The plan split into its core part and what goes to the host; null when the plan has no host nodes. */
export function splitHost(plan: NetworkPlan): HostSplit | null {
  if (plan.analog.length === 0) return null;
  const start = plan.readout.offset + plan.readout.size;
  const toHost: Array<Int32Array | null> = [];
  const hostRoutes: Route[][] = [];
  const streams: StreamPlan[] = plan.streams.map((s) => {
    const { core, host } = splitFanout(s.fanout, start, s.id);
    toHost.push(entriesPerRow(s.fanout.rows, host));
    hostRoutes.push(host);
    return core === s.fanout ? s : { ...s, fanout: core, conv: null };
  });
  const core: NetworkPlan = { ...plan, currentSize: start, streams, analog: [], order: plan.order.filter((p) => p >= -1) };
  return { core, start, toHost, hostRoutes };
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

/** The spec's processor for a placement, or a one-line refusal naming the host nodes. */
export function hostProcessor(spec: ChipSpec, option: HostOption, nodes: AnalogPlan[]): HostProcessor {
  const proc = spec.host?.[hostKey(option)];
  if (!proc) {
    const list = nodes.map((a) => `${a.id} (${a.kind})`).join(', ');
    const offered = HOST_PLACEMENTS.filter((k) => spec.host?.[k]).map((k) => (k === 'off_chip' ? 'off-chip' : k));
    throw new SnncError(
      `${list}: host nodes (no fixed synapses, so no neuromorphic core can hold them) need a host processor; ${spec.name} has no '${option}' one in its spec's host block${offered.length ? ` (it has: ${offered.join(', ')}; use --host ${offered[0]})` : ''}`,
    );
  }
  return proc;
}

/** The default placement: the chip's embedded processors when it has them, else the off-chip host. */
export function defaultHost(spec: ChipSpec): HostOption {
  return spec.host?.embedded || !spec.host?.off_chip ? 'embedded' : 'off-chip';
}
