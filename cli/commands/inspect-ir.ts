/**
 * `snnc inspect model.snn.json`: the spiking IR's nodes, its neuron populations with thresholds, the
 * composed synapses (counted from the routes, never tabulated: fan-out per source neuron, fan-in per target
 * neuron) and its masks.
 */
import type { SnnIr } from '../../compiler/ir/types.ts';
import type { NetworkPlan } from '../../runtime/snn/plan.ts';
import { formatCount, formatTable, printJson } from '../common.ts';
import type { InspectOptions } from './inspect.ts';
import { type Fanout, forEachEntry } from '../../runtime/snn/routes.ts';

interface Spread {
  mean: number;
  max: number;
}

export interface PopulationSummary {
  id: string;
  kind: 'input' | 'if' | 'readout';
  neurons: number;
  threshold: { min: number; max: number; v_init: number; source: string } | null;
  /** Synapses leaving this population (all its outgoing tables). */
  synapses_out: number;
  fan_out: Spread;
  /** Synapses arriving at this population, from spikes or the analog input. */
  fan_in: Spread;
}

export interface IrSummary {
  file: string;
  format: 'snn-ir';
  source: SnnIr['provenance'];
  input: SnnIr['input'];
  output: SnnIr['output'];
  nodes: { id: string; kind: string; inputs: string[]; shape: number[] }[];
  populations: PopulationSummary[];
  masks: { id: string; from: string; to: string; ratio: number }[];
  synapses: number;
}

export async function inspectIr(file: string, options: InspectOptions): Promise<void> {
  const [{ readIr }, { buildPlan }] = await Promise.all([import('../../compiler/ir/io.ts'), import('../../runtime/snn/plan.ts')]);
  const ir = readIr(file);
  const summary = summarizeIr(file, ir, buildPlan(ir));
  if (options.json) printJson(summary);
  else process.stdout.write(`${renderIrSummary(summary)}\n`);
}

/** Synapses per source row of a fan-out: mean and largest. */
function rowSpread(f: Fanout): Spread {
  let max = 0;
  let sum = 0;
  for (const n of f.fanOut) {
    sum += n;
    if (n > max) max = n;
  }
  return { mean: f.rows ? sum / f.rows : 0, max };
}

/**
 * fanIn[t] += the non-zero synapses into target t of one fan-out, counted from its routes: O(synapses) time
 * but no table of them (a conv twin's positions × its non-zero weights per channel and tap).
 */
function addFanIn(f: Fanout, fanIn: Int32Array): void {
  for (const r of f.routes) {
    if (r.kind !== 'conv' || r.remap) {
      for (let i = 0; i < f.rows; i++) forEachEntry(r, i, (t, w) => w !== 0 && fanIn[t]++);
      continue;
    }
    const t = r.twin;
    const cin = t.weights.length / (t.taps * t.coutPerGroup);
    for (let c = 0; c < cin; c++) {
      const first = t.offset + Math.floor(c / t.cinPerGroup) * t.coutPerGroup * t.outPlane;
      for (let s = 0; s < t.plane; s++) {
        for (let q = t.posPtr[s]; q < t.posPtr[s + 1]; q++) {
          const wb = (c * t.taps + t.posTap[q]) * t.coutPerGroup;
          const tb = first + t.posOut[q];
          for (let o = 0; o < t.coutPerGroup; o++) if (t.weights[wb + o] !== 0) fanIn[tb + o * t.outPlane]++;
        }
      }
    }
  }
}

export function summarizeIr(file: string, ir: SnnIr, plan: NetworkPlan): IrSummary {
  // Fan-in per neuron of the flat current space, from every fan-out that reaches it.
  const fanIn = new Int32Array(plan.currentSize);
  const fanouts = [plan.input, ...plan.streams.map((s) => s.fanout)];
  for (const f of fanouts) addFanIn(f, fanIn);
  const synapsesOf = (f: Fanout) => f.fanOut.reduce((a, n) => a + n, 0);
  const inSpread = (offset: number, size: number): Spread => {
    let sum = 0;
    let max = 0;
    for (let i = offset; i < offset + size; i++) {
      sum += fanIn[i];
      max = Math.max(max, fanIn[i]);
    }
    return { mean: size ? sum / size : 0, max };
  };
  const inputSize = plan.inputSize;
  const populations: PopulationSummary[] = [
    { id: ir.input.id, kind: 'input', neurons: inputSize, threshold: null, synapses_out: synapsesOf(plan.input), fan_out: rowSpread(plan.input), fan_in: { mean: 0, max: 0 } },
    ...plan.pops.map((p): PopulationSummary => {
      const streams = p.streams.map((s) => plan.streams[s].fanout);
      const out = streams.reduce((n, f) => n + synapsesOf(f), 0);
      const maxOut = Math.max(0, ...streams.map((f) => rowSpread(f).max));
      return {
        id: p.id,
        kind: 'if',
        neurons: p.size,
        threshold: { min: p.threshold.min, max: p.threshold.max, v_init: p.threshold.v_init, source: p.threshold.source },
        synapses_out: out,
        fan_out: { mean: p.size ? out / p.size : 0, max: maxOut },
        fan_in: inSpread(p.offset, p.size),
      };
    }),
    { id: plan.readout.id, kind: 'readout', neurons: plan.readout.size, threshold: null, synapses_out: 0, fan_out: { mean: 0, max: 0 }, fan_in: inSpread(plan.readout.offset, plan.readout.size) },
  ];
  return {
    file,
    format: 'snn-ir',
    source: ir.provenance,
    input: ir.input,
    output: ir.output,
    nodes: ir.nodes.map((n) => ({ id: n.id, kind: n.kind, inputs: n.inputs, shape: n.shape })),
    populations,
    masks: plan.masks.map((m) => ({ id: m.id, from: m.from, to: m.to, ratio: m.ratio })),
    synapses: fanouts.reduce((n, f) => n + synapsesOf(f), 0),
  };
}

export function renderIrSummary(s: IrSummary): string {
  const header = formatTable([
    ['ir', s.file],
    ['source', `${s.source.source} (sha256 ${s.source.sha256.slice(0, 12)}…, snnc ${s.source.snnc})`],
    ['input', `${s.input.id} [${s.input.shape.join(', ')}], divided by ${s.input.divisor}`],
    ['synapses', formatCount(s.synapses)],
  ]);
  const nodes = formatTable([['node', 'kind', 'inputs', 'shape'], ...s.nodes.map((n) => [n.id, n.kind, n.inputs.join(', '), `[${n.shape.join(', ')}]`])]);
  const f = (x: number) => (Number.isInteger(x) ? formatCount(x) : x.toFixed(1));
  const pops = formatTable(
    [
      ['population', 'kind', 'neurons', 'θ', 'v0', 'synapses out', 'fan-out mean/max', 'fan-in mean/max'],
      ...s.populations.map((p) => [
        p.id,
        p.kind,
        formatCount(p.neurons),
        p.threshold ? (p.threshold.min === p.threshold.max ? p.threshold.min.toPrecision(4) : `${p.threshold.min.toPrecision(3)}…${p.threshold.max.toPrecision(3)}`) : '',
        p.threshold ? `${p.threshold.v_init}θ` : '',
        formatCount(p.synapses_out),
        p.kind === 'readout' ? '' : `${f(p.fan_out.mean)} / ${p.fan_out.max}`,
        p.kind === 'input' ? '' : `${f(p.fan_in.mean)} / ${p.fan_in.max}`,
      ]),
    ],
    new Set([2, 3, 5, 6, 7]),
  );
  const parts = [header, nodes, pops];
  if (s.masks.length) parts.push(formatTable([['mask', 'from', 'to', 'ratio'], ...s.masks.map((m) => [m.id, m.from, m.to, String(m.ratio)])]));
  return parts.join('\n\n');
}
