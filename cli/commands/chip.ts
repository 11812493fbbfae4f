/**
 * `snnc chip <model.map.json> --input x.npy [--labels y.npy] -T 32 [--json]`: runs the mapped network on
 * the virtual chip of the map's chip spec and reports accuracy, latency per step and per inference (ns and
 * cycles at the spec's stated clock), energy per step and per inference in the chip's event model, the
 * 45 nm model and the ANN baseline, per layer, per core (utilisation, the busiest core) and per link.
 * `--shard i/n -o part.json` runs one contiguous range of the samples; `snnc merge` of the parts writes
 * what one run writes with `-o`.
 */
import { SnncError } from '../../compiler/errors.ts';
import type { ImageOptions } from '../../runtime/data/source.ts';
import { writeFileAtomic } from '../../runtime/npy.ts';
import { threadCount } from '../../runtime/threads.ts';
import type { ChipConfig, ChipReport } from '../../targets/chip/simulate.ts';
import type { EnergyBreakdown } from '../../targets/energy.ts';
import { checkOutputPath, createProgress, formatCount, formatTable, printJson } from '../common.ts';
import { type ImageFlags, imageOptions, openDataset, parseShard, readAll } from '../data.ts';
import { fileSha256, type Partial, writePartial } from '../partial.ts';
import { warnIfLimitExceeds, warnIfWorkersExceed } from './simulate.ts';

export interface ChipOptions extends ImageFlags {
  input: string;
  labels?: string;
  steps: number;
  limit?: number;
  seed: number;
  reset: 'subtract' | 'zero';
  attention?: 'per-step' | 'accumulated';
  trace?: boolean;
  json?: boolean;
  /** `i/n`: run shard i of n and write its partial result to `output`. */
  shard?: string;
  /** Threads, the main one included (targets/chip/parallel.ts). */
  workers?: number;
  /** The report as JSON without its wall time; with --shard, the partial result. */
  output?: string;
}

/** Above this many simulated steps (samples × T), --trace would print an unreasonably large document. */
const TRACE_MAX_STEPS = 20_000;

export async function chip(mapPath: string, options: ChipOptions): Promise<void> {
  if (options.trace && !options.json) throw new SnncError('--trace adds per-step detail to the JSON report: use it with --json');
  if (options.steps > 100_000) throw new SnncError(`-T ${options.steps}: at most 100000 time steps`);
  const shard = options.shard !== undefined ? parseShard(options.shard) : undefined;
  if (shard && !options.output) throw new SnncError(`--shard ${options.shard} writes a partial result: give it a file with -o part-${shard.index}.json`);
  if (shard && options.trace) throw new SnncError('--trace with --shard: a partial result holds no trace (run the samples you want traced without --shard)');
  if (options.output) checkOutputPath(options.output);
  const [{ readMap }, chipSim, { validateDocument }] = await Promise.all([
    import('../../targets/map/map-file.ts'),
    import('../../targets/chip/simulate.ts'),
    import('../../compiler/schema.ts'),
  ]);
  const loaded = readMap(mapPath);
  const { ir } = loaded;
  const opened = await openDataset({ input: options.input, labels: options.labels, limit: options.limit, shard, images: imageOptions(options) }, { name: ir.input.id, dims: [-1, ...ir.input.shape] });
  warnIfLimitExceeds('--limit', options.limit, opened.samples, options.input);
  let data: Awaited<ReturnType<typeof readAll>>;
  try {
    data = await readAll(opened);
  } finally {
    opened.source.close();
  }
  if (options.trace && data.samples * options.steps > TRACE_MAX_STEPS) {
    throw new SnncError(`--trace on ${data.samples} samples × T ${options.steps} = ${data.samples * options.steps} steps: at most ${TRACE_MAX_STEPS} (use --limit)`);
  }
  const key = shard || options.output ? chipKey(mapPath, options) : undefined;
  const configuring = await createProgress('chip configuration');
  let cfg: ReturnType<typeof chipSim.configureChip>;
  try {
    cfg = chipSim.configureChip(loaded, (done, total) => configuring.update(done, total));
  } finally {
    configuring.stop();
  }
  const progress = await createProgress('chip');
  const runOpts = {
    T: options.steps,
    seed: options.seed,
    labels: data.labels,
    reset: options.reset,
    attention: options.attention,
    trace: options.trace,
    sampleOffset: opened.from,
    keepSubtotals: shard !== undefined,
    onProgress: (done: number, total: number) => progress.update(done, total),
  };
  warnIfWorkersExceed(options.workers);
  // Each thread holds its own chip (a large map's copy costs memory); one with --trace (per-step detail of one run).
  const workers = options.trace ? 1 : threadCount(data.samples, options.workers);
  let run: Pick<ReturnType<typeof chipSim.runChip>, 'report' | 'totals' | 'subtotals'>;
  try {
    run = workers > 1 ? await (await import('../../targets/chip/parallel.ts')).runChipThreads(mapPath, cfg, data.x.data as Float32Array, runOpts, workers) : chipSim.runChip(cfg, data.x.data as Float32Array, runOpts);
  } finally {
    progress.stop();
  }
  const { report } = run;
  const doc = { map: mapPath, input: options.input, labels: options.labels ?? null, ...report };
  validateDocument('chip-report', JSON.parse(JSON.stringify(doc)), '(chip report)');
  if (shard) {
    writePartial(options.output!, 'chip', key!, shard, opened, (await import('../../targets/chip/merge.ts')).partialData(run.totals, run.subtotals!));
    process.stderr.write(`wrote ${options.output}: shard ${shard.index}/${shard.count}, samples ${opened.from}…${opened.to - 1} of ${opened.samples}\n`);
  } else if (options.output) {
    writeFileAtomic(options.output, resultJson(doc));
  }
  if (options.json) printJson(doc);
  else process.stdout.write(render(report, loaded.doc.totals.cores));
}

/** `-o result.json`: the --json document without its wall time, so that one run and merged shards give the same bytes. */
function resultJson(doc: ChipReport & Record<string, unknown>): string {
  const { seconds: _s, ...rest } = doc;
  return `${JSON.stringify(rest, null, 2)}\n`;
}

/** What a chip result depends on besides the samples: parts with different keys do not merge. The map records its IR's sha256. */
type ChipKey = {
  map: string;
  map_sha256: string;
  input: string;
  labels: string | null;
  limit: number | null;
  T: number;
  seed: number;
  reset: 'subtract' | 'zero' | null;
  attention: string;
  image_options: ImageOptions;
};

function chipKey(mapPath: string, o: ChipOptions): ChipKey {
  return {
    map: mapPath,
    map_sha256: fileSha256(mapPath),
    input: o.input,
    labels: o.labels ?? null,
    limit: o.limit ?? null,
    T: o.steps,
    seed: o.seed,
    reset: o.reset ?? null,
    attention: o.attention ?? 'accumulated',
    image_options: imageOptions(o),
  };
}

/** `snnc merge` of chip parts: the document one unsharded `chip -o` writes, from the same sums in the same order (targets/chip/merge.ts). */
export async function mergeChip(parts: Array<Partial & { file: string }>): Promise<string> {
  const [{ readMap }, chipSim, { mergeParts }, { validateDocument }] = await Promise.all([
    import('../../targets/map/map-file.ts'),
    import('../../targets/chip/simulate.ts'),
    import('../../targets/chip/merge.ts'),
    import('../../compiler/schema.ts'),
  ]);
  const key = parts[0]!.key as ChipKey;
  if (fileSha256(key.map) !== key.map_sha256) throw new SnncError(`is not the map the parts were run on (its sha256 differs from ${parts[0]!.file}'s)`, { file: key.map });
  const cfg: ChipConfig = chipSim.configureChip(readMap(key.map));
  const totals = mergeParts(cfg, parts, parts[0]!.samples, { T: key.T, seed: key.seed, labelled: key.labels !== null, reset: key.reset }, key.map);
  const report = chipSim.assemble(cfg, totals, performance.now());
  const doc = { map: key.map, input: key.input, labels: key.labels, ...report };
  validateDocument('chip-report', JSON.parse(JSON.stringify(doc)), '(chip report)');
  return resultJson(doc);
}

function percent(x: number, digits = 2): string {
  return `${(100 * x).toFixed(digits)} %`;
}

/** pJ in the largest unit that keeps the number ≥ 1. */
function energy(pj: number): string {
  const units: Array<[number, string]> = [
    [1e12, 'J'],
    [1e9, 'mJ'],
    [1e6, 'µJ'],
    [1e3, 'nJ'],
  ];
  for (const [scale, unit] of units) if (Math.abs(pj) >= scale) return `${(pj / scale).toFixed(3)} ${unit}`;
  return `${pj.toFixed(3)} pJ`;
}

function time(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(3)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(3)} µs`;
  return `${ns.toFixed(1)} ns`;
}

function terms(b: EnergyBreakdown): string[][] {
  return b.terms.filter((t) => t.count !== 0 || t.pj_each !== 0).map((t) => [`  ${t.what}`, formatCount(Math.round(t.count * 100) / 100), `${t.pj_each} pJ`, energy(t.pj), t.source]);
}

function render(r: ChipReport, cores: number): string {
  const out: string[] = [];
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  out.push(`chip ${r.chip.name}: ${plural(cores, 'core')} on ${plural(r.latency.tiles_in_use, 'tile')}; ${r.reset_note}`);
  out.push(r.quantization ? `weights quantised ${r.quantization.mode}, ${r.quantization.mantissa_bits}-bit mantissa (${r.quantization.groups} exponents)` : 'weights unquantised (float32, as the IR)');
  out.push(`host: ${r.host}`);
  out.push(`${r.samples} samples, T = ${r.T}, seed ${r.seed}, ${r.seconds.toFixed(2)} s`);
  if (r.accuracy) out.push('', formatTable([['T', 'accuracy'], ...Object.entries(r.accuracy).map(([t, a]) => [t, percent(a)])], new Set([0, 1])));
  const c = r.counts;
  out.push(
    '',
    `per inference: ${formatCount(Math.round(c.synaptic_op))} synaptic ops, ${formatCount(Math.round(c.neuron_active))} active + ${formatCount(Math.round(c.neuron_inactive))} inactive neuron updates, ` +
      `${formatCount(Math.round(c.spike_out))} spikes, ${formatCount(Math.round(c.message_out))} messages, ${formatCount(Math.round(c.hop_ew))} east-west + ${formatCount(Math.round(c.hop_ns))} north-south hops` +
      (c.chip_hop ? ` + ${formatCount(Math.round(c.chip_hop))} chip crossings` : '') +
      `; host ${formatCount(c.host_macs_once)} MACs (${formatCount(c.host_macs)} if recomputed every step)`,
  );
  const e = r.energy.per_inference;
  out.push(
    '',
    'energy per inference:',
    formatTable(
      [
        ['model / event', 'count', 'each', 'energy', 'source'],
        [`${e.chip.model}`, '', '', energy(e.chip.total_pj), `${energy(r.energy.per_step_pj.chip)} per step`],
        ...terms(e.chip),
        [`${e.nm45_snn.model}`, '', '', energy(e.nm45_snn.total_pj), `${energy(r.energy.per_step_pj.nm45_snn)} per step`],
        ...terms(e.nm45_snn),
        [`${e.nm45_ann.model}`, '', '', energy(e.nm45_ann.total_pj), ''],
        ...terms(e.nm45_ann),
      ],
      new Set([1, 2, 3]),
    ),
  );
  const l = r.latency;
  out.push(
    '',
    `latency: ${time(l.per_step_ns.mean)} per step (max ${time(l.per_step_ns.max)}), ${time(l.per_inference_ns)} per inference = ${formatCount(Math.round(l.per_inference_cycles))} cycles at ${r.chip.clock_mhz} MHz (${r.chip.clock_source})`,
    `  barrier ${l.barrier_ns.toFixed(1)} ns over ${l.tiles_in_use} tiles; model: ${l.model}`,
  );
  out.push(
    '',
    formatTable(
      [
        ['layer', 'kind', 'neurons', 'cores', 'spikes', 'SOPs in', 'messages out', 'chip', '45 nm SNN', '45 nm ANN'],
        ...r.layers.map((x) => [
          x.id,
          x.kind,
          formatCount(x.neurons),
          String(x.cores),
          formatCount(Math.round(x.spikes)),
          formatCount(Math.round(x.synaptic_ops_in)),
          formatCount(Math.round(x.messages_out)),
          energy(x.energy_pj.chip),
          energy(x.energy_pj.nm45_snn),
          energy(x.energy_pj.nm45_ann),
        ]),
      ],
      new Set([2, 3, 4, 5, 6, 7, 8, 9]),
    ),
    '(per inference; a layer is charged for its neurons, the synapses into it and the messages it sends)',
  );
  const h = r.host_nodes;
  if (h) {
    out.push(
      '',
      `host share: ${h.nodes.length} host node${h.nodes.length > 1 ? 's' : ''} on ${h.placement === 'off-chip' ? 'an off-chip host' : 'the embedded processors'} (${h.processors.value}): ${formatCount(Math.round(h.ops))} operations, ${formatCount(Math.round(h.values_in))} values in, ${formatCount(Math.round(h.values_out))} out per inference; ` +
        `${energy(h.energy_pj.total)} (${percent(h.energy_share, 1)} of cores + host), ${time(h.latency_ns)} (${percent(h.latency_share, 1)} of the latency)`,
      formatTable(
        [
          ['host', 'count', 'each', 'energy', 'source'],
          ['  operations', formatCount(Math.round(h.ops)), `${h.op.energy_pj} pJ, ${h.op.latency_ns} ns`, energy(h.energy_pj.ops), h.op.source],
          ['  values moved', formatCount(Math.round(h.values_in + h.values_out)), `${h.transfer.energy_pj} pJ, ${h.transfer.latency_ns} ns`, energy(h.energy_pj.transfers), h.transfer.source],
        ],
        new Set([1, 2, 3]),
      ),
      `  operations by class: ${formatCount(Math.round(h.by_class.spike_pair_products))} spike-pair products, ${formatCount(Math.round(h.by_class.analog_spike))} analog × spike, ${formatCount(Math.round(h.by_class.analog_macs))} analog MACs, ${formatCount(Math.round(h.by_class.softmax_ops))} softmax elements, ${formatCount(Math.round(h.by_class.output_entries))} output entries${h.by_class.readout_ops > 0 ? `, ${formatCount(Math.round(h.by_class.readout_ops))} readout weights` : ''}`,
      `  (the chip energy above is the cores’; the host’s is added here: ${energy(r.energy.per_inference.chip.total_pj + h.energy_pj.total)} in all)`,
      '',
      formatTable(
        [['host node', 'kind', 'operations', 'values out', 'time'], ...h.nodes.map((n) => [n.id, n.kind, formatCount(Math.round(n.ops)), formatCount(Math.round(n.values_out)), time(n.latency_ns)])],
        new Set([2, 3, 4]),
      ),
      '(per inference; values in are counted over all host nodes)',
    );
  }
  const b = r.cores[r.busiest_core.core];
  const meanUtil = r.cores.reduce((a, x) => a + x.utilisation, 0) / r.cores.length;
  out.push(
    '',
    `busiest core: ${b.core} (tile ${b.tile.join(',')} of chip ${b.chip}, ${b.layers.join(' + ')}): busy ${percent(b.utilisation, 1)} of the time; mean over cores ${percent(meanUtil, 1)}`,
  );
  const mx = r.links.max;
  out.push(
    `links: ${r.links.used} used, ${formatCount(Math.round(r.links.spike_hops))} spike-hops per inference` +
      (mx ? `; busiest (${mx.from.join(',')})→(${mx.to.join(',')}) with ${formatCount(Math.round(mx.messages))} messages per inference` : ''),
  );
  if (r.masks.length) {
    out.push(
      '',
      formatTable(
        [
          ['mask', 'ratio', 'spikes dropped', 'SOPs saved', 'messages saved', 'chip energy saved', '45 nm saved'],
          ...r.masks.map((m) => [
            m.id,
            String(m.ratio),
            formatCount(Math.round(m.spikes_dropped)),
            formatCount(Math.round(m.synaptic_ops_saved)),
            formatCount(Math.round(m.messages_saved)),
            energy(m.energy_saved_pj.chip),
            energy(m.energy_saved_pj.nm45_snn),
          ]),
        ],
        new Set([1, 2, 3, 4, 5, 6]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}
