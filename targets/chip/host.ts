/**
 * The virtual chip's host processor (targets/map/host.ts): it runs the host nodes with the functional
 * simulator's own step (runtime/snn/engine.ts `hostStep`) on the chip's current space, so the values it
 * sends back, and every spike after them, are the simulator's. It counts what the chip spec's `host` block
 * prices:
 *
 *   operations  the simulator's own work counts of the host nodes: spike-pair products, analog × spike and
 *               analog × analog products, softmax elements, and the output table entries (each output
 *               value times its fixed weights into the next layer);
 *   values in   spikes delivered to a host operand: route entries from a core population into the host
 *               region (one per spike and operand element it reaches);
 *   values out  per host node and step, the distinct core compartments its output changes (the host sums
 *               the products into one current per compartment before sending it).
 *
 * A host node's turn in the step takes ops / processors × op latency + (values in since the last host turn
 * + values out) × transfer latency: the processors share the arithmetic, the transfers are serial.
 *
 * The readout on the host (map --readout host) is one more node, after the host nodes: its values in are the
 * spikes that reach it (one each), its operations the non-zero weights they add to the class accumulators,
 * its values out none (the classes stay on the host).
 */
import { CATEGORIES } from '../../runtime/snn/modules.ts';
import { HostState, hostStep, type HostTotals, hostTotals } from '../../runtime/snn/engine.ts';
import { forEachEntry, type Route, routeStart } from '../../runtime/snn/routes.ts';
import type { ChipConfig } from './configure.ts';

/** The host's nodes: the host nodes, then the readout when it is on the host. */
export function hostNodeCount(cfg: Pick<ChipConfig, 'plan' | 'host'>): number {
  return cfg.host ? cfg.plan.analog.length + (cfg.host.split.readout ? 1 : 0) : 0;
}

/** Over a run: per host node its operations, values out and time; values in over all. */
export interface HostCounts {
  ops: Float64Array;
  valuesOut: Float64Array;
  ns: Float64Array;
  valuesIn: number;
  /** The simulator's own counts, by class (engine.ts ChunkResult). */
  totals: HostTotals;
}

export class ChipHost {
  readonly counts: HostCounts;
  /** This sample's time per host node (ns), added to counts.ns at its end: a run's time is a sum of sample subtotals, as sharded runs merge it. */
  readonly sampleNs: Float64Array;
  private readonly states: HostState[];
  /** Per host node: the routes of its output that reach core compartments (other host operands stay on the host). */
  private readonly coreRoutes: Route[][];
  private readonly mark: Int32Array;
  private stamp = 0;
  private pendingIn = 0;
  /** Readout on the host: the weights added to the accumulators since its last turn. */
  private pendingReadoutOps = 0;

  constructor(
    private readonly cfg: ChipConfig,
    private readonly accumulated: boolean,
  ) {
    const { plan } = cfg;
    const start = cfg.host!.split.start;
    this.states = plan.analog.map((a) => new HostState(a));
    this.coreRoutes = plan.analog.map((a) => a.fanout.routes.filter((r) => routeStart(r) < start));
    this.mark = new Int32Array(start);
    const n = hostNodeCount(cfg);
    this.counts = { ops: new Float64Array(n), valuesOut: new Float64Array(n), ns: new Float64Array(n), valuesIn: 0, totals: hostTotals(n) };
    this.sampleNs = new Float64Array(n);
  }

  endSample(): void {
    for (let a = 0; a < this.sampleNs.length; a++) this.counts.ns[a] += this.sampleNs[a];
    this.sampleNs.fill(0);
  }

  startSample(): void {
    for (const s of this.states) s.reset();
    this.pendingIn = 0;
    this.pendingReadoutOps = 0;
  }

  /** Spikes of stream si (the `n` survivors listed in `kept`) reaching host operands. */
  received(si: number, kept: Int32Array, n: number): void {
    const { toHost, readoutOps } = this.cfg.host!.split;
    const per = toHost[si];
    if (!per) return;
    let v = 0;
    for (let k = 0; k < n; k++) v += per[kept[k]];
    this.pendingIn += v;
    this.counts.valuesIn += v;
    const ops = readoutOps[si];
    if (ops) for (let k = 0; k < n; k++) this.pendingReadoutOps += ops[kept[k]];
  }

  /** The readout's turn on the host (its accumulators were added to by the run); returns its time (ns). */
  readoutStep(): number {
    const a = this.counts.ops.length - 1;
    const ops = this.pendingReadoutOps;
    const proc = this.cfg.host!.processor;
    const ns = (ops / proc.processors.value) * proc.op.latency_ns + this.pendingIn * proc.transfer.latency_ns;
    this.pendingIn = 0;
    this.pendingReadoutOps = 0;
    this.counts.ops[a] += ops;
    this.sampleNs[a] += ns;
    return ns;
  }

  /** Runs host node a at step t on the chip's currents; returns the time of its turn (ns). */
  step(a: number, t: number, cur: Float64Array, base: Float64Array): number {
    const { totals } = this.counts;
    const before = opsOf(totals, a);
    const plan = this.cfg.plan.analog[a];
    const state = this.states[a];
    hostStep(plan, state, a, t, cur, base, this.accumulated, totals);
    const ops = opsOf(totals, a) - before;
    // Distinct compartments on the cores that this step's non-zero outputs reach, walked from the routes.
    const { y } = state;
    const mark = this.mark;
    const id = ++this.stamp;
    const start = mark.length;
    let out = 0;
    const visit = (target: number, w: number) => {
      if (w === 0 || target >= start || mark[target] === id) return;
      mark[target] = id;
      out++;
    };
    for (let e = 0; e < y.length; e++) {
      if (y[e] === 0) continue;
      for (const r of this.coreRoutes[a]) forEachEntry(r, e, visit);
    }
    const proc = this.cfg.host!.processor;
    const ns = (ops / proc.processors.value) * proc.op.latency_ns + (this.pendingIn + out) * proc.transfer.latency_ns;
    this.pendingIn = 0;
    this.counts.ops[a] += ops;
    this.counts.valuesOut[a] += out;
    this.sampleNs[a] += ns;
    return ns;
  }
}

function opsOf(t: HostTotals, a: number): number {
  let x = t.products[a] + t.analogSpike[a] + t.analogMacs[a] + t.softmaxOps[a];
  for (let c = 0; c < CATEGORIES; c++) x += t.analogOut[a * CATEGORIES + c];
  return x;
}
