/**
 * `snnc map <model.snn.json> --chip loihi1 [--profile x.npy] [--quantize] -o model.map.json`: cuts the
 * layers into core-sized slices under the chip's four per-core limits, groups them into cores, places the
 * cores on the mesh of the smallest of the chip's multi-chip systems that holds them (or on `--board CxR`)
 * (spike traffic × hops; rate-weighted with a profile), optionally quantises the weights, and writes the
 * core map. Prints per layer the cores and the limit that binds, the totals against the
 * lower bound on cores, and the spike-hops of the placement against the sequential baseline.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { SnncError } from '../../compiler/errors.ts';
import { type Board, boardChips, boardsOf, boardText, type ChipSpec, MAX_CHIPS_PER_BOARD } from '../../targets/chip-spec.ts';
import type { MapDocument } from '../../targets/map/map-file.ts';
import type { QuantizeMode } from '../../targets/map/quantize.ts';
import { checkOutputPath, createProgress, formatCount, formatTable, printJson } from '../common.ts';
import { loadDataset } from '../data.ts';

export interface MapOptions {
  output: string;
  chip: string;
  placement: string;
  profile?: string;
  profileLabels?: string;
  profileLimit: number;
  profileSteps: number;
  seed: number;
  quantize?: string | boolean;
  minResidual: number;
  partitioner: 'auto' | 'greedy' | 'blocks';
  synapses: 'auto' | 'discrete' | 'population';
  outputAxons?: 'auto' | 'neuron' | 'population';
  board?: string;
  host?: 'embedded' | 'off-chip';
  readout: 'auto' | 'cores' | 'host';
  json?: boolean;
}

function quantizeMode(q: string | boolean | undefined): QuantizeMode | null {
  if (q === undefined || q === false) return null;
  if (q === true) return 'per-group';
  if (q === 'per-core' || q === 'per-group') return q;
  throw new SnncError(`--quantize ${q}: expected per-core or per-group`);
}

export async function map(irPath: string, options: MapOptions): Promise<void> {
  const quantize = quantizeMode(options.quantize);
  if (options.profileLabels && !options.profile) throw new SnncError('--profile-labels needs --profile');
  checkOutputPath(options.output);
  const [{ readIr }, { loadChipSpec }, mapFile, { buildPlan }] = await Promise.all([
    import('../../compiler/ir/io.ts'),
    import('../../targets/chip-spec.ts'),
    import('../../targets/map/map-file.ts'),
    import('../../runtime/snn/plan.ts'),
  ]);
  const ir = readIr(irPath);
  const spec = loadChipSpec(options.chip);
  if (options.board !== undefined) spec.board = boardOption(options.board, spec);

  let rates: Float64Array[] | undefined;
  let profile: MapDocument['options']['profile'] = null;
  let data: ReturnType<typeof loadDataset> | undefined;
  let floatAccuracy: number | null = null;
  if (options.profile) {
    data = loadDataset({ input: options.profile, labels: options.profileLabels, limit: options.profileLimit }, { name: ir.input.id, dims: [-1, ...ir.input.shape] });
    const progress = await createProgress('profile');
    try {
      const run = await mapFile.profileRun(buildPlan(ir), data.x.data as Float32Array, {
        T: options.profileSteps,
        seed: options.seed,
        labels: data.labels,
        onProgress: (d, t) => progress.update(d, t),
      });
      rates = run.rates;
      floatAccuracy = run.accuracy;
    } finally {
      progress.stop();
    }
    profile = { file: options.profile, samples: data.samples, T: options.profileSteps, seed: options.seed };
  }

  const outDir = path.dirname(path.resolve(options.output));
  const irRelative = path.relative(outDir, path.resolve(irPath)).split(path.sep).join('/');
  const progress = await createProgress('map');
  const quantising = await createProgress('quantisation');
  let result: ReturnType<typeof mapFile.buildMap>;
  try {
    result = mapFile.buildMap(ir, irRelative, mapFile.sha256(readFileSync(irPath)), spec, {
      placement: options.placement,
      rates,
      profile,
      quantize,
      minResidualNeurons: options.minResidual,
      partitioner: options.partitioner,
      synapses: options.synapses,
      outputAxons: options.outputAxons,
      host: options.host,
      readout: options.readout,
      onProgress: (stage, d, t) => (stage === 'quantise' ? quantising : progress).update(d, t),
    });
  } catch (e) {
    throw e instanceof SnncError ? e.inFile(irPath) : e;
  } finally {
    progress.stop();
    quantising.stop();
  }
  for (const note of result.notes) process.stderr.write(`snnc: note: ${note}\n`);
  const doc = result.doc;

  // The accuracy change quantisation causes, on the profile samples: the profiling run gave the float
  // figure; the same run on the quantised plan (same batches, so the same spike masks) gives the other.
  if (quantize && data?.labels && floatAccuracy !== null) {
    const progress = await createProgress('quantisation check');
    try {
      const after = await mapFile.profileRun(result.plan, data.x.data as Float32Array, {
        T: options.profileSteps,
        seed: options.seed,
        labels: data.labels,
        onProgress: (d, t) => progress.update(d, t),
      });
      doc.quantization!.accuracy = { samples: data.samples, T: options.profileSteps, float: floatAccuracy, quantized: after.accuracy! };
    } finally {
      progress.stop();
    }
  }
  mapFile.writeMap(doc, options.output);

  if (options.json) {
    const { slices: _s, cores: _c, chip, ...rest } = doc;
    printJson({ map: options.output, chip: chip.name, board: chip.board, ...rest, cores: doc.cores.map(({ slices: _x, ...c }) => c) });
  } else {
    process.stdout.write(render(doc, options.output));
  }
}

/** `--board 16x8`: a board of 16 × 8 chips, instead of the spec's systems (the map embeds it, so the chip runs the same board). */
function boardOption(text: string, spec: ChipSpec): Board {
  const m = /^\s*([1-9][0-9]{0,6})\s*[xX×]\s*([1-9][0-9]{0,6})\s*$/.exec(text);
  if (!m) throw new SnncError(`--board ${text}: expected columns x rows of chips, e.g. --board 16x8`);
  const chips_x = Number(m[1]);
  const chips_y = Number(m[2]);
  if (chips_x * chips_y > MAX_CHIPS_PER_BOARD) throw new SnncError(`--board ${text}: ${chips_x * chips_y} chips, more than the ${MAX_CHIPS_PER_BOARD} snnc supports`);
  const own = spec.board ? `the spec's own board: ${spec.board.chips_x} x ${spec.board.chips_y}; ${spec.board.source}` : `the spec's systems: ${systemsText(spec)}`;
  return { chips_x, chips_y, source: `snnc map --board ${chips_x}x${chips_y} (${own})` };
}

/** "Kapoho Bay: 2, Nahuku 8: 8, ... chips": the systems a spec lists, with their chips. */
function systemsText(spec: ChipSpec): string {
  return `${boardsOf(spec).map((b) => `${b.name ?? `${b.chips_x} x ${b.chips_y}`}: ${boardChips(b)}`).join(', ')} chips`;
}

/** Which board the map is on and why: the smallest of the spec's systems that holds it, --board's, or an old spec's only board. */
function boardChoice(doc: MapDocument): string {
  const board = doc.chip.board;
  const chips = `${doc.totals.chips} chip${doc.totals.chips > 1 ? 's' : ''}`;
  const chosen = doc.chip.boards?.some((b) => JSON.stringify(b) === JSON.stringify(board));
  if (chosen) return `board: ${boardText(board)}, the smallest ${doc.chip.name} system that holds ${chips} (of ${systemsText({ ...doc.chip, board: undefined })})`;
  return `board: ${boardText(board)} (${board.source.startsWith('snnc map --board') ? '--board' : `the spec's only board`}), ${chips} in use`;
}

function percent(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)} %`;
}

const LIMIT_SHORT: Record<string, string> = { neurons: 'neurons', input_axons: 'input axons', output_axons: 'output axons', synapse_words: 'synapse words', none: 'none (fits one slice)' };

function render(doc: MapDocument, file: string): string {
  const out: string[] = [];
  const t = doc.totals;
  const lb = t.lower_bound;
  const bindingLb = (Object.keys(lb.by_limit) as Array<keyof typeof lb.by_limit>).filter((l) => lb.by_limit[l] === lb.cores).map((l) => LIMIT_SHORT[l]);
  out.push(`chip ${doc.chip.name}: ${doc.chip.description}`);
  // Per layer only when discrete synapses were mapped to the end (not only counted).
  const compare = doc.layers.some((l) => l.cores_discrete !== undefined);
  out.push(
    '',
    formatTable(
      [
        ['layer', 'kind', 'neurons', 'slices', 'cores', ...(compare ? ['cores discrete'] : []), 'binding limit', 'ordering', 'neurons', 'in-axons', 'out-axons', 'words'],
        ...doc.layers.map((l) => [
          l.id,
          l.kind,
          formatCount(l.neurons),
          String(l.slices),
          String(l.cores),
          ...(compare ? [String(l.cores_discrete ?? '—')] : []),
          LIMIT_SHORT[l.binding],
          l.ordering,
          percent(l.max_slice_fraction.neurons, 0),
          percent(l.max_slice_fraction.input_axons, 0),
          percent(l.max_slice_fraction.output_axons, 0),
          percent(l.max_slice_fraction.synapse_words, 0),
        ]),
      ],
      new Set(compare ? [2, 3, 4, 5, 8, 9, 10, 11] : [2, 3, 4, 7, 8, 9, 10]),
    ),
    '(last four columns: the largest share of a core that one slice of the layer takes, per limit)',
  );
  const board = doc.chip.board;
  out.push(
    '',
    doc.options.synapses === 'population'
      ? // The axon and word bounds hold for discrete synapses only; the neurons' holds for any layout.
        `cores: ${t.cores} on ${t.tiles} tile${t.tiles > 1 ? 's' : ''} of ${t.chips} chip${t.chips > 1 ? 's' : ''}; lower bound ${lb.by_limit.neurons} (neurons); ${t.cores} / ${lb.by_limit.neurons} = ${(t.cores / lb.by_limit.neurons).toFixed(3)}; with discrete synapses the bound is ${lb.cores} (${bindingLb.join(', ')})`
      : `cores: ${t.cores} on ${t.tiles} tile${t.tiles > 1 ? 's' : ''} of ${t.chips} chip${t.chips > 1 ? 's' : ''}; lower bound ${lb.cores} (${bindingLb.join(', ')}); ${t.cores} / ${lb.cores} = ${t.cores_over_lower_bound.toFixed(3)}`,
    boardChoice(doc),
    `lower bound per limit: ${Object.entries(lb.by_limit)
      .map(([l, n]) => `${LIMIT_SHORT[l]} ${n}`)
      .join(', ')}`,
    `routing entries (output axons): ${formatCount(t.routing_entries)}${doc.options.output_axons === 'population' ? ' (population axons: one per source position and destination block)' : ''}; synapses ${formatCount(t.synapses)}; neurons ${formatCount(t.neurons)}`,
  );
  if (doc.host) {
    const h = doc.host;
    const proc = doc.chip.host?.[h.placement === 'off-chip' ? 'off_chip' : 'embedded'];
    out.push(
      `host nodes: ${h.nodes.length} (${kindCounts(h.nodes.map((n) => n.kind))}) off the neuromorphic cores, on ${h.placement === 'off-chip' ? 'an off-chip host' : 'the chip’s embedded processors'}` +
        (proc ? ` (${proc.processors.value}; ${proc.op.energy_pj} pJ, ${proc.op.latency_ns} ns per operation; ${proc.transfer.energy_pj} pJ, ${proc.transfer.latency_ns} ns per value moved)` : ''),
    );
  }
  if (doc.options.synapses === 'population' && doc.discrete) {
    const d = doc.discrete;
    out.push(
      d.cores !== undefined
        ? `population synapses: ${t.cores} cores on ${t.chips} chip${t.chips > 1 ? 's' : ''}; with discrete synapses ${d.cores} cores on ${d.chips} chip${d.chips! > 1 ? 's' : ''} (${t.cores <= d.cores ? '−' : '+'}${formatCount(Math.abs(d.cores - t.cores))} cores, ${percent(Math.abs(1 - t.cores / d.cores))})`
        : `population synapses: ${t.cores} cores on ${t.chips} chip${t.chips > 1 ? 's' : ''}; discrete synapses cannot be mapped: ${d.refused}`,
    );
  }
  const tr = doc.traffic;
  const hops = tr.spike_hops;
  const p = doc.options.profile;
  const basis =
    tr.weighting === 'profile' && p
      ? `rates from ${p.samples} samples of ${p.file} at T = ${p.T}`
      : 'no profile: every connection weighted as one message';
  out.push(
    `spike traffic (${basis}): ${formatCount(Math.round(tr.messages_per_inference))} messages per inference`,
    `spike-hops per inference: ${doc.options.placement} placement ${formatCount(Math.round(hops.placed))}, sequential placement ${formatCount(Math.round(hops.sequential))}` +
      (hops.sequential > 0 ? ` (${hops.reduction >= 0 ? '−' : '+'}${percent(Math.abs(hops.reduction))})` : ' (every message stays within its tile)'),
  );
  if (t.links) {
    out.push(
      `board ${board.name ? `${board.name}, ` : ''}${board.chips_x} x ${board.chips_y} chips (${t.chips} in use, ${t.tiles} tiles, ${t.cores} cores): ${formatCount(t.links.used)} mesh links carry traffic, ${formatCount(t.links.inter_chip)} of them between chips; ${formatCount(Math.round(tr.chip_hops ?? 0))} of the spike-hops per inference cross a chip boundary`,
    );
  }
  const q = doc.quantization;
  if (q) {
    out.push(
      `quantisation: ${q.mode}, ${q.mantissa_bits}-bit mantissa, ${q.groups.length} exponents; max |error| ${percent(q.stats.max_relative_error, 2)} of a group's largest weight (rms ${percent(q.stats.rms_relative_error, 2)}), ${formatCount(q.stats.zeroed)} weights rounded to 0`,
    );
    if (q.accuracy) {
      const a = q.accuracy;
      out.push(`  accuracy at T = ${a.T} on ${a.samples} profile samples: ${percent(a.float, 2)} float → ${percent(a.quantized, 2)} quantised (${((a.quantized - a.float) * 100).toFixed(2)} pp)`);
    }
  }
  out.push('', `wrote ${file}`);
  return `${out.join('\n')}\n`;
}

/** 'matmul, softmax, matmul, readout' as '2 matmul, softmax, readout': kinds in first-seen order, counted when repeated. */
function kindCounts(kinds: string[]): string {
  const counts = new Map<string, number>();
  for (const k of kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${n} ${k}` : k)).join(', ');
}
