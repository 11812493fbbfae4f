/**
 * `renderReport(data)`: one self-contained HTML document (inline CSS and SVG; no scripts, no fonts, images or
 * links from anywhere) showing a compiled SNN against its ANN: accuracy against T, per-layer diagnostics,
 * energy in each energy model, the chip mapping, and where the numbers come from.
 *
 * Output is a pure function of the data: no dates, no randomness, fixed number formatting. Every chart is an
 * `<svg>` with an `id` and a `data-chart` attribute (see `chartIds`). All text from the data is escaped: layer
 * names come from user models.
 */
import {
  PALETTE,
  barChart,
  categoryColour,
  categoryLabels,
  esc,
  fmtNum,
  fmtPct,
  lineChart,
  meshChart,
  type BarSeries,
  type LineSeries,
  type MeshCell,
  type MeshLink,
} from './svg.ts';
import { accuracyAtT, type ChipCore, type ChipView, type EnergyModel, type ReportData, type SnnLayerStats, type SnnRun } from './types.ts';

/** Series colours, the same in every chart. */
const COLOUR = { ann: PALETTE.grey, snn: PALETTE.blue, rsm: PALETTE.orange } as const;

const WIDE = 1100;
const HALF = 540;

// ---------------------------------------------------------------------------------------------------------
// Formatting

/** Energy with a unit that keeps the number short: 1234 pJ → "1.23 nJ". */
export function fmtEnergy(pj: number | null | undefined): string {
  if (typeof pj !== 'number' || !Number.isFinite(pj)) return '—';
  const a = Math.abs(pj);
  const [scale, unit] = a >= 1e9 ? [1e9, 'mJ'] : a >= 1e6 ? [1e6, 'µJ'] : a >= 1e3 ? [1e3, 'nJ'] : [1, 'pJ'];
  return `${fmtNum(pj / scale)} ${unit}`;
}

/** A tick label for an energy axis in pJ. */
function energyTick(pj: number): string {
  return fmtEnergy(pj);
}

function pct(v: number | null | undefined, decimals = 1): string {
  return typeof v === 'number' && Number.isFinite(v) ? fmtPct(v, decimals) : '—';
}

/** A percent tick: as few decimals as the value needs (at most 2). */
function pctTick(v: number): string {
  const s = (v * 100).toFixed(2).replace(/\.?0+$/, '');
  return `${s === '-0' ? '0' : s} %`;
}

function num(v: number | null | undefined): string {
  return typeof v === 'number' && Number.isFinite(v) ? fmtNum(v) : '—';
}

/** An integer with thin-space thousands separators (deterministic, no locale). */
function int(v: number | null | undefined): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  const s = String(Math.round(Math.abs(v)));
  const grouped = s.replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009');
  return (v < 0 ? '−' : '') + grouped;
}

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '—';
  return `${fmtNum(a / b)}×`;
}

function pp(a: number | undefined, b: number | undefined): string {
  if (typeof a !== 'number' || typeof b !== 'number') return '';
  const d = (a - b) * 100;
  const s = d.toFixed(1);
  return `${d >= 0 ? '+' : '−'}${s.replace('-', '')} pp`;
}

function threshold(l: SnnLayerStats): string {
  if (!l.threshold) return '—';
  const { min, max } = l.threshold;
  return min === max ? fmtNum(min, 4) : `${fmtNum(min, 4)} … ${fmtNum(max, 4)}`;
}

/** A JSON value as compact text (for compile options). */
function jsonText(v: unknown): string {
  if (typeof v === 'string') return v;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s;
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/** The T values of a run, ascending. */
function tValues(run: SnnRun): number[] {
  return Object.keys(run.accuracy_per_T)
    .map(Number)
    .filter((t) => Number.isFinite(t) && t > 0)
    .sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------------------
// HTML pieces

/** Escaped text with break opportunities after path-like separators, so long names wrap inside a cell. */
function breakable(text: string): string {
  return esc(text).replace(/([/_]|\.(?=[A-Za-z]))/g, '$1<wbr>');
}

function table(headers: string[], rows: string[][], opts: { numeric?: boolean[]; cls?: string } = {}): string {
  const th = headers.map((h, i) => `<th${opts.numeric?.[i] ? ' class="num"' : ''}>${esc(h)}</th>`).join('');
  const thead = headers.some((h) => h !== '') ? `<thead><tr>${th}</tr></thead>` : '';
  const body = rows
    .map((r) => `<tr>${r.map((c, i) => (opts.numeric?.[i] ? `<td class="num">${esc(c)}</td>` : `<td>${breakable(c)}</td>`)).join('')}</tr>`)
    .join('');
  return `<table${opts.cls ? ` class="${opts.cls}"` : ''}>${thead}<tbody>${body}</tbody></table>`;
}

function figure(svg: string, caption?: string): string {
  return `<figure>${svg}${caption ? `<figcaption>${esc(caption)}</figcaption>` : ''}</figure>`;
}

function card(label: string, value: string, detail: string[] = []): string {
  return (
    `<div class="card"><div class="card-label">${esc(label)}</div><div class="card-value">${esc(value)}</div>` +
    detail.map((d) => `<div class="card-detail">${esc(d)}</div>`).join('') +
    `</div>`
  );
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #1a1a1a; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 40px; }
header h1 { font-size: 24px; margin: 8px 0 4px; word-break: break-all; }
header p { margin: 0; color: #555; }
section { background: #fff; border: 1px solid #dcdfe4; border-radius: 8px; padding: 14px 18px 18px; margin-top: 18px; }
section h2 { font-size: 18px; margin: 0 0 10px; }
section h3 { font-size: 15px; margin: 16px 0 6px; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; }
.card.wide { grid-column: span 2; }
table.mini { margin-top: 4px; font-size: 12.5px; }
table.mini th, table.mini td { padding: 2px 6px; background: none; }
.card { border: 1px solid #e1e4e8; border-radius: 6px; padding: 10px 12px; background: #fafbfc; }
.card-label { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: #5a6270; }
.card-value { font-size: 22px; font-weight: 650; margin: 2px 0 4px; }
.card-detail { font-size: 12.5px; color: #333; }
.grid2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 14px; align-items: start; }
figure { margin: 0; }
figcaption { font-size: 12.5px; color: #555; margin-top: 4px; }
svg.chart { display: block; max-width: 100%; height: auto; border: 1px solid #eceef1; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 6px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e6e8eb; vertical-align: top; }
th { background: #f6f7f9; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td { overflow-wrap: break-word; }
table.kv { table-layout: fixed; }
table.kv tr > :first-child { width: 220px; color: #444; font-weight: 550; }
.warnings { border-color: #e0b400; background: #fffbea; }
.warnings ul { margin: 0; padding-left: 20px; }
.note { color: #555; font-size: 12.5px; margin: 6px 0 0; }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12.5px; }
footer { color: #666; font-size: 12px; margin-top: 18px; text-align: center; }
`;

// ---------------------------------------------------------------------------------------------------------
// Chart ids

/** The ids of the charts `renderReport` draws for this data, in document order. */
export function chartIds(data: ReportData): string[] {
  const ids = ['chart-accuracy', 'chart-firing-rates', 'chart-thresholds', 'chart-sops', 'chart-spikes'];
  if (data.energy.length > 0) {
    ids.push('chart-energy-total');
    data.energy.forEach((_, i) => ids.push(`chart-energy-layers-${i}`));
  }
  if (data.chip) ids.push('chart-chip-mesh', 'chart-chip-layers');
  return ids;
}

// ---------------------------------------------------------------------------------------------------------
// Sections

function summarySection(data: ReportData): string {
  const { ann, snn } = data;
  const rsm = data.snn_rsm ?? undefined;
  const accSnn = accuracyAtT(snn);
  const accRsm = rsm ? accuracyAtT(rsm) : undefined;
  const cards: string[] = [];
  cards.push(
    card(`SNN accuracy at T = ${snn.T}`, pct(accSnn), [
      `ANN ${pct(ann.accuracy)}: SNN ${pp(accSnn, ann.accuracy) || '—'}`,
      ...(rsm ? [`SNN + RSM ${pct(accRsm)}: ${pp(accRsm, ann.accuracy) || '—'}`] : []),
      `on ${int(snn.samples)} samples`,
    ]),
  );
  cards.push(
    card('Synaptic ops / inference', num(snn.sops_per_sample), [
      `ANN ${num(ann.macs_per_sample)} MACs (SOPs ÷ MACs ${ratio(snn.sops_per_sample, ann.macs_per_sample)})`,
      ...(rsm ? [`SNN + RSM ${num(rsm.sops_per_sample)} SOPs (${ratio(rsm.sops_per_sample, snn.sops_per_sample)} of SNN)`] : []),
      ...(snn.macs_per_sample > 0 ? [`+ ${num(snn.macs_per_sample)} dense MACs in the SNN`] : []),
    ]),
  );
  if (data.energy.length > 0) {
    const anyRsm = data.energy.some((e) => typeof e.snn_rsm_per_inference === 'number');
    const head = ['model', 'ANN', 'SNN', ...(anyRsm ? ['SNN + RSM'] : [])];
    const rows = data.energy.map((e) => [
      e.name,
      fmtEnergy(e.ann_per_inference),
      `${fmtEnergy(e.snn_per_inference)} (${ratio(e.snn_per_inference, e.ann_per_inference)})`,
      ...(anyRsm ? [`${fmtEnergy(e.snn_rsm_per_inference)} (${ratio(e.snn_rsm_per_inference, e.ann_per_inference)})`] : []),
    ]);
    // The analog input layer is charged every step; say what computing it once would give.
    const notes = data.energy
      .filter((e) => typeof e.snn_input_once_per_inference === 'number')
      .map((e) => `<div class="note">${esc(`${e.name}, input layer computed once per image (a constant current): ${fmtEnergy(e.snn_input_once_per_inference)} (${ratio(e.snn_input_once_per_inference, e.ann_per_inference)})`)}</div>`);
    cards.push(
      `<div class="card wide"><div class="card-label">Energy / inference (× ANN)</div>${table(head, rows, { numeric: head.map((_, i) => i > 0), cls: 'mini' })}${notes.join('')}</div>`,
    );
  } else {
    cards.push(card('Energy / inference', '—', ['no energy model applied']));
  }
  if (data.chip) {
    const c = data.chip;
    const chipsUsed = new Set(c.cores.map((k) => k.chip)).size;
    const total = c.mesh.chips * c.mesh.tiles_x * c.mesh.tiles_y * c.mesh.cores_per_tile;
    cards.push(
      card(`Cores on ${c.name}`, int(c.cores.length), [
        `of ${int(total)} (${chipsUsed} of ${c.mesh.chips} chip${c.mesh.chips === 1 ? '' : 's'})`,
        `${c.layers.length} layer${c.layers.length === 1 ? '' : 's'} mapped`,
      ]),
    );
    cards.push(card('Step latency', `${fmtNum(c.step_latency_ns)} ns`, [`${fmtNum((c.step_latency_ns * snn.T) / 1000)} µs per inference (T = ${snn.T})`]));
    cards.push(
      c.host
        ? card('Chip energy / inference', fmtEnergy(c.energy_per_inference_pj + c.host.energy_pj), [
            `virtual ${c.name}: cores ${fmtEnergy(c.energy_per_inference_pj)} (event table)`,
            `host nodes ${fmtEnergy(c.host.energy_pj)} (${pct(c.host.energy_share)}, ${c.host.placement})`,
          ])
        : card('Chip energy / inference', fmtEnergy(c.energy_per_inference_pj), [`virtual ${c.name}, its event table`]),
    );
  }
  return `<section id="summary"><h2>Summary</h2><div class="cards">${cards.join('')}</div></section>`;
}

function warningsSection(data: ReportData): string {
  if (data.warnings.length === 0) return '';
  return `<section id="warnings" class="warnings"><h2>Warnings</h2><ul>${data.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></section>`;
}

function accuracySection(data: ReportData): string {
  const { ann, snn } = data;
  const rsm = data.snn_rsm ?? undefined;
  const points = (run: SnnRun): Array<[number, number]> => tValues(run).map((t) => [t, run.accuracy_per_T[String(t)]!]);
  const series: LineSeries[] = [{ name: rsm ? 'SNN (no masks)' : 'SNN', points: points(snn), colour: COLOUR.snn }];
  if (rsm) series.push({ name: 'SNN + RSM', points: points(rsm), colour: COLOUR.rsm, dash: '7 3' });
  const chart = lineChart({
    id: 'chart-accuracy',
    kind: 'accuracy',
    title: 'Accuracy against time steps T',
    xLabel: 'time steps T',
    yLabel: 'accuracy',
    series,
    references: [{ name: `ANN ${pct(ann.accuracy)}`, value: ann.accuracy, colour: COLOUR.ann }],
    xScale: 'log2',
    yClamp: [0, 1],
    xFormat: (v) => String(v),
    yFormat: pctTick,
    width: HALF,
    height: 340,
  });
  const ts = [...new Set([...tValues(snn), ...(rsm ? tValues(rsm) : [])])].sort((a, b) => a - b);
  const rows = ts.map((t) => {
    const a = snn.accuracy_per_T[String(t)];
    const r = rsm?.accuracy_per_T[String(t)];
    return [String(t), pct(a), pp(a, ann.accuracy) || '—', ...(rsm ? [pct(r), pp(r, ann.accuracy) || '—'] : [])];
  });
  const headers = ['T', rsm ? 'SNN (no masks)' : 'SNN', 'vs ANN', ...(rsm ? ['SNN + RSM', 'vs ANN'] : [])];
  const tbl = table(headers, rows, { numeric: headers.map(() => true) });
  return (
    `<section id="accuracy"><h2>Accuracy against T</h2><div class="grid2">${figure(chart, `ANN (dashed line): ${pct(ann.accuracy)} on the same ${int(snn.samples)} samples.`)}` +
    `<div>${tbl}</div></div></section>`
  );
}

function layersSection(data: ReportData): string {
  const { snn } = data;
  const rsm = data.snn_rsm ?? undefined;
  const ids = snn.layers.map((l) => l.id);
  const rsmById = new Map((rsm?.layers ?? []).map((l) => [l.id, l]));
  const withRsm = <T>(f: (l: SnnLayerStats) => T) => snn.layers.map((l) => (rsmById.has(l.id) ? f(rsmById.get(l.id)!) : null));
  /** One bar series per run: the SNN, and the SNN with its masks when there are masks. */
  const perRun = (value: (l: SnnLayerStats) => number): BarSeries[] => [
    { name: rsm ? 'SNN (no masks)' : 'SNN', values: snn.layers.map(value), colour: COLOUR.snn },
    ...(rsm ? [{ name: 'SNN + RSM', values: withRsm(value), colour: COLOUR.rsm }] : []),
  ];

  const rateSeries = perRun((l) => l.firing_rate);
  const rates = barChart({
    id: 'chart-firing-rates',
    kind: 'firing-rates',
    title: 'Firing rate per layer',
    categories: ids,
    series: rateSeries,
    yLabel: 'spikes / neuron / step',
    xLabel: 'layer',
    yFormat: (v) => fmtNum(v),
    valueFormat: (v) => fmtNum(v, 4),
    width: HALF,
  });

  const equal = snn.layers.every((l) => !l.threshold || l.threshold.min === l.threshold.max);
  const thrSeries: BarSeries[] = equal
    ? [{ name: 'θ', values: snn.layers.map((l) => l.threshold?.min ?? null), colour: PALETTE.green }]
    : [
        { name: 'θ min', values: snn.layers.map((l) => l.threshold?.min ?? null), colour: PALETTE.sky },
        { name: 'θ max', values: snn.layers.map((l) => l.threshold?.max ?? null), colour: PALETTE.green },
      ];
  const thresholds = barChart({
    id: 'chart-thresholds',
    kind: 'thresholds',
    title: 'Firing threshold per layer',
    categories: ids,
    series: thrSeries,
    yLabel: 'threshold θ',
    xLabel: 'layer',
    valueFormat: (v) => fmtNum(v, 5),
    width: HALF,
  });

  const sopSeries = perRun((l) => l.sops_per_sample);
  const sops = barChart({
    id: 'chart-sops',
    kind: 'sops',
    title: 'Synaptic operations per inference, per layer',
    categories: ids,
    series: sopSeries,
    yLabel: 'SOPs / inference',
    xLabel: 'layer (source of the spikes)',
    log: true,
    width: HALF,
  });

  const spikesSeries = perRun((l) => l.spikes_per_sample);

  const chipById = new Map((data.chip?.layers ?? []).map((l) => [l.id, l]));
  const headers = [
    '#',
    'layer',
    'kind',
    'neurons',
    'threshold θ',
    'firing rate',
    'spikes / inf.',
    'SOPs / inf.',
    ...(rsm ? ['rate + RSM', 'SOPs + RSM'] : []),
    ...(data.chip ? ['cores', 'binding limit'] : []),
  ];
  const rows = snn.layers.map((l, i) => {
    const r = rsmById.get(l.id);
    const c = chipById.get(l.id);
    return [
      String(i + 1),
      l.id,
      l.kind ?? '',
      int(l.neurons),
      threshold(l),
      fmtNum(l.firing_rate, 4),
      num(l.spikes_per_sample),
      num(l.sops_per_sample),
      ...(rsm ? [r ? fmtNum(r.firing_rate, 4) : '—', r ? num(r.sops_per_sample) : '—'] : []),
      ...(data.chip ? [c ? int(c.cores) : '—', c ? c.binding_limit : '—'] : []),
    ];
  });
  const numeric = headers.map((h) => !['layer', 'kind', 'binding limit'].includes(h));
  const totals = [
    '',
    'total',
    '',
    int(snn.layers.reduce((s, l) => s + l.neurons, 0)),
    '',
    '',
    num(snn.layers.reduce((s, l) => s + l.spikes_per_sample, 0)),
    num(snn.sops_per_sample),
    ...(rsm ? ['', num(rsm.sops_per_sample)] : []),
    ...(data.chip ? [`${int(data.chip.cores.filter((c) => c.layers.length > 0).length)} distinct`, ''] : []),
  ];
  const coreNote = data.chip
    ? ` “cores”: the cores holding at least one slice of the layer; a core shared by several layers counts for each, so the column sums to ${int(data.chip.layers.reduce((s, l) => s + l.cores, 0))} while the total is the distinct cores used.`
    : '';
  return (
    `<section id="layers"><h2>Per layer: firing rates, thresholds, synaptic operations</h2>` +
    `<div class="grid2">${figure(rates)}${figure(thresholds)}${figure(sops, 'SOPs are counted at the layer whose spikes cause them (log scale).')}` +
    `${figure(
      barChart({
        id: 'chart-spikes',
        kind: 'spikes',
        title: 'Spikes per inference, per layer',
        categories: ids,
        series: spikesSeries,
        yLabel: 'spikes / inference',
        xLabel: 'layer',
        log: true,
        width: HALF,
      }),
      'Log scale; a layer with no spikes (a readout) has no bar.',
    )}</div>` +
    table(headers, [...rows, totals], { numeric }) +
    `<p class="note">At T = ${esc(String(snn.T))} over ${esc(int(snn.samples))} samples; “inf.” is one inference (one sample, all T steps).` +
    `${snn.macs_per_sample > 0 ? ` The SNN also performs ${esc(num(snn.macs_per_sample))} dense MACs per inference (analog input layer or readout), not counted as SOPs.` : ''}${esc(coreNote)}</p>` +
    `</section>`
  );
}

/** Transformers: work per module under the counting rule, for the SNN and the SNN with masks. */
function moduleTables(data: ReportData): string {
  const runs = [
    ['SNN', data.snn],
    ['SNN + RSM', data.snn_rsm],
  ].filter((r): r is [string, SnnRun] => !!(r[1] as SnnRun | null | undefined)?.modules);
  if (runs.length === 0) return '';
  const headers = ['run', 'module', 'SOPs', 'spike pairs', 'analog × spike', 'spike-driven', 'MACs', 'softmax ops', 'spike-driven energy', 'energy (45 nm)', 'literature convention'];
  const rows = runs.flatMap(([name, run]) =>
    Object.entries(run.modules!).map(([module, m]) => [
      name,
      module,
      int(Math.round(m.sops)),
      int(Math.round(m.products)),
      int(Math.round(m.analog_spike_products)),
      int(Math.round(m.spike_driven)),
      int(Math.round(m.macs)),
      int(Math.round(m.softmax_ops)),
      fmtEnergy(m.spike_driven_pj),
      fmtEnergy(m.energy_45nm_pj),
      fmtEnergy(m.literature_pj),
    ]),
  );
  return (
    `<h3>Work per module, per inference</h3>` +
    `<p class="note">Every operation a spike triggers is an accumulation (E_AC): synaptic operations, spike-pair products (q·kᵀ) and analog × spike products (softmax · v); only analog × analog products are MACs. ` +
    `Modules come from the graph's residual structure. The literature convention (Spikformer, MST) charges each layer its input's firing rate × its dense FLOPs, so a q spike pays for every key.</p>` +
    table(headers, rows, { numeric: headers.map((_, i) => i >= 2) })
  );
}

function energySection(data: ReportData): string {
  if (data.energy.length === 0) {
    return `<section id="energy"><h2>Energy per inference</h2><p class="note">No energy model was applied.</p></section>`;
  }
  const anyRsm = data.energy.some((e) => typeof e.snn_rsm_per_inference === 'number');
  const series: BarSeries[] = [
    { name: 'ANN', values: data.energy.map((e) => e.ann_per_inference), colour: COLOUR.ann },
    { name: anyRsm ? 'SNN (no masks)' : 'SNN', values: data.energy.map((e) => e.snn_per_inference), colour: COLOUR.snn },
  ];
  if (anyRsm) series.push({ name: 'SNN + RSM', values: data.energy.map((e) => e.snn_rsm_per_inference ?? null), colour: COLOUR.rsm });
  const total = barChart({
    id: 'chart-energy-total',
    kind: 'energy-total',
    title: 'Energy per inference in each energy model',
    categories: data.energy.map((e) => e.name),
    series,
    yLabel: 'energy / inference',
    xLabel: 'energy model',
    log: true,
    yFormat: energyTick,
    valueFormat: fmtEnergy,
    maxLabelChars: 24,
    width: HALF,
  });
  const headers = ['energy model', 'ANN', anyRsm ? 'SNN (no masks)' : 'SNN', 'SNN / ANN', ...(anyRsm ? ['SNN + RSM', 'RSM / ANN'] : []), 'constants from'];
  const rows = data.energy.map((e) => [
    e.name,
    fmtEnergy(e.ann_per_inference),
    fmtEnergy(e.snn_per_inference),
    ratio(e.snn_per_inference, e.ann_per_inference),
    ...(anyRsm ? [fmtEnergy(e.snn_rsm_per_inference), ratio(e.snn_rsm_per_inference, e.ann_per_inference)] : []),
    e.source,
  ]);
  // A model without a per-layer split (the literature convention is a whole-network figure) has no chart.
  const perLayer = data.energy.map((e, i) => (e.per_layer.length ? energyLayersChart(e, i) : ''));
  return (
    `<section id="energy"><h2>Energy per inference: ANN vs SNN${anyRsm ? ' vs SNN + RSM' : ''}</h2>` +
    `<div class="grid2">${figure(total, 'Log scale. ANN: MACs × E(MAC); SNN: events × their cost in the model.')}${perLayer.join('')}</div>` +
    table(headers, rows, { numeric: headers.map((h) => h !== 'energy model' && h !== 'constants from') }) +
    moduleTables(data) +
    `</section>`
  );
}

function energyLayersChart(e: EnergyModel, i: number): string {
  const hasRsm = e.per_layer.some((l) => typeof l.snn_rsm === 'number');
  const series: BarSeries[] = [
    { name: 'ANN', values: e.per_layer.map((l) => l.ann), colour: COLOUR.ann },
    { name: hasRsm ? 'SNN (no masks)' : 'SNN', values: e.per_layer.map((l) => l.snn), colour: COLOUR.snn },
  ];
  if (hasRsm) series.push({ name: 'SNN + RSM', values: e.per_layer.map((l) => l.snn_rsm ?? null), colour: COLOUR.rsm });
  return figure(
    barChart({
      id: `chart-energy-layers-${i}`,
      kind: 'energy-layers',
      title: `Energy per layer — ${e.name}`,
      categories: e.per_layer.map((l) => l.id),
      series,
      yLabel: 'energy / inference',
      xLabel: 'layer',
      log: true,
      yFormat: energyTick,
      valueFormat: fmtEnergy,
      width: HALF,
    }),
    e.source,
  );
}

/** Cores of the chip view that hold at least one layer, and the sums the chip section states. */
function coreTotals(chip: ChipView): { used: number; shared: number; perLayerSum: number; slices: number } {
  const used = chip.cores.filter((c) => c.layers.length > 0);
  return {
    used: used.length,
    shared: used.filter((c) => c.layers.length > 1).length,
    perLayerSum: chip.layers.reduce((s, l) => s + l.cores, 0),
    slices: chip.layers.reduce((s, l) => s + l.slices, 0),
  };
}

/** "neurons on 12 cores, synapse words on 20": how many cores each limit binds. */
function bindingCounts(chip: ChipView): string {
  const n = new Map<string, number>();
  for (const c of chip.cores) if (c.layers.length > 0) n.set(c.binding_limit, (n.get(c.binding_limit) ?? 0) + 1);
  return [...n]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([l, k]) => `${l} on ${int(k)}`)
    .join(', ');
}

/** The core's limits in use, binding first: "synapse words 99.6 % (neurons 18.5 %, …)". */
function useText(c: ChipCore): string {
  const others = Object.entries(c.use)
    .filter(([l]) => l !== c.binding_limit)
    .map(([l, f]) => `${l} ${pct(f)}`);
  return `${c.binding_limit} ${pct(c.utilisation)}${others.length ? ` (${others.join(', ')})` : ''}`;
}

/** Largest number of cores for which the report lists every core in a table. */
const CORE_TABLE_MAX = 256;

function chipSection(data: ReportData): string {
  const chip = data.chip;
  if (!chip) return '';
  const layerIndex = new Map(chip.layers.map((l, i) => [l.id, i]));
  // Layers that are on cores but missing from the layer list still get a colour (after the listed ones).
  for (const c of chip.cores) for (const l of c.layers) if (!layerIndex.has(l.id)) layerIndex.set(l.id, layerIndex.size);
  const colourOf = (id: string) => categoryColour(layerIndex.get(id) ?? 0);
  const numberOf = (id: string) => (layerIndex.get(id) ?? 0) + 1;
  const tiles = `${chip.mesh.tiles_x}×${chip.mesh.tiles_y}`;
  const totals = coreTotals(chip);
  // Chips to draw: those the map uses, plus any that only routes cross (XY routes run through the routers of
  // board positions that hold no cores).
  const drawnChips = Math.max(1, chip.mesh.chips, ...chip.cores.map((c) => c.chip + 1), ...chip.links.map((l) => Math.max(l.chip ?? 0, l.to_chip ?? l.chip ?? 0) + 1));
  const routeOnly = drawnChips - Math.max(1, chip.mesh.chips);
  const multiChip = drawnChips > 1;
  const many = chip.cores.length > CORE_TABLE_MAX;
  const where = (c: ChipCore) => `chip ${c.chip}, tile (${c.tile_x}, ${c.tile_y}), core ${c.core_in_tile}`;

  // Cores: each filled to its binding use, the fill split by the layers' shares of its neurons.
  const cells: MeshCell[] = chip.cores.map((c) => {
    const neurons = c.layers.reduce((s, l) => s + l.neurons, 0);
    return {
      chip: c.chip,
      x: c.tile_x,
      y: c.tile_y,
      slot: c.core_in_tile,
      value: c.layers.length > 0 ? c.utilisation : null,
      parts: c.layers.map((l) => ({ colour: colourOf(l.id), share: neurons > 0 ? l.neurons / neurons : 1 / c.layers.length })),
      label: c.layers.map((l) => numberOf(l.id)).join('+'),
      title: [
        `core ${c.index} — ${where(c)}`,
        ...c.layers.map((l) => `${numberOf(l.id)} ${l.id}: ${int(l.neurons)} neurons${l.slices > 1 ? ` in ${l.slices} slices` : ''}`),
        // Beyond the per-core table's size, the tooltip names the binding limit only (bytes per core).
        many ? `binding limit: ${c.binding_limit} ${pct(c.utilisation)}` : `binding limit: ${useText(c)}`,
      ].join('\n'),
      data: { core: String(c.index), layers: c.layers.map((l) => numberOf(l.id)).join(' ') },
    };
  });
  const end = (c: number, p: [number, number]) => `chip ${c} (${p[0]}, ${p[1]})`;
  const links: MeshLink[] = chip.links.map((l) => {
    const fc = l.chip ?? 0;
    const tc = l.to_chip ?? fc;
    return {
      from: { chip: fc, x: l.from[0], y: l.from[1] },
      to: { chip: tc, x: l.to[0], y: l.to[1] },
      load: l.load,
      title: `link ${end(fc, l.from)} → ${end(tc, l.to)}${fc !== tc ? ' (chip to chip)' : ''}: ${fmtNum(l.load)} spikes / inference`,
    };
  });
  // Per chip: cores used, the layers on it, the mean fill.
  const chipInfo = Array.from({ length: drawnChips }, (_, k) => {
    const on = chip.cores.filter((c) => c.chip === k && c.layers.length > 0);
    const layerCores = new Map<string, number>();
    for (const c of on) for (const l of c.layers) layerCores.set(l.id, (layerCores.get(l.id) ?? 0) + 1);
    const ids = [...layerCores.keys()].sort((a, b) => numberOf(a) - numberOf(b));
    const capacity = chip.mesh.tiles_x * chip.mesh.tiles_y * chip.mesh.cores_per_tile;
    const span = ids.length === 0 ? 'routes only' : ids.length <= 3 ? `layer${ids.length > 1 ? 's' : ''} ${ids.map(numberOf).join(', ')}` : `${ids.length} layers`;
    const fill = on.length ? on.reduce((s, c) => s + c.utilisation, 0) / on.length : NaN;
    return {
      label: `chip ${k} · ${on.length}/${capacity} cores · ${span}`,
      shortLabel: `chip ${k} · ${span}`,
      title: [
        on.length ? `chip ${k}: ${on.length} of ${capacity} cores used, mean fill ${pct(fill)}` : `chip ${k}: no cores used; spike routes cross its mesh`,
        ...ids.map((id) => `${numberOf(id)} ${id}: ${int(layerCores.get(id))} core${layerCores.get(id) === 1 ? '' : 's'}`),
      ].join('\n'),
      on: on.length,
      layers: ids,
      fill,
    };
  });
  const legendNames = categoryLabels(chip.layers.map((l) => l.id), 26, true);
  const mesh = meshChart({
    id: 'chart-chip-mesh',
    kind: 'chip-mesh',
    title: `${multiChip ? `${chip.mesh.chips} ${chip.name} chips` : `The ${chip.name} chip`} (${tiles} tiles of ${chip.mesh.cores_per_tile} cores): each core filled to its binding limit, coloured by its layers`,
    chips: drawnChips,
    boardX: chip.board?.chips_x,
    tilesX: chip.mesh.tiles_x,
    tilesY: chip.mesh.tiles_y,
    coresPerTile: chip.mesh.cores_per_tile,
    cells,
    links,
    chipInfo,
    legend: chip.layers.map((l, i) => ({ name: legendNames[i]!, colour: colourOf(l.id) })),
    fillLabel: 'use of the core’s binding limit',
    loadLabel: 'spikes / inference',
    width: WIDE,
  });

  const layersChart = barChart({
    id: 'chart-chip-layers',
    kind: 'chip-layers',
    title: 'Cores per layer (a shared core counts for each of its layers)',
    categories: chip.layers.map((l) => l.id),
    numbered: true,
    series: [
      { name: 'cores holding the layer', values: chip.layers.map((l) => l.cores), colour: PALETTE.blue },
      { name: 'of them shared with other layers', values: chip.layers.map((l) => l.shared_cores), colour: PALETTE.orange },
    ],
    yLabel: 'cores',
    xLabel: 'layer',
    valueFormat: (v) => `${int(v)} cores`,
    width: HALF,
  });
  const sumNote =
    `Summed over layers: ${int(totals.perLayerSum)} core counts for ${int(totals.used)} distinct cores used` +
    (totals.shared > 0 ? ` — ${int(totals.shared)} of them hold slices of more than one layer and count once for each.` : ' (no core is shared).') +
    ` ${int(totals.slices)} slices in all.`;
  const layerRows = chip.layers.map((l, i) => [
    String(i + 1),
    l.id,
    int(l.neurons),
    int(l.slices),
    int(l.cores),
    int(l.shared_cores),
    l.binding_limit,
    pct(l.utilisation),
  ]);
  layerRows.push(['', 'total', int(chip.layers.reduce((s, l) => s + l.neurons, 0)), int(totals.slices), `${int(totals.used)} distinct (Σ ${int(totals.perLayerSum)})`, `${int(totals.shared)} distinct`, '', '']);
  const layerTable = table(
    ['#', 'layer', 'neurons', 'slices', 'cores holding it', 'shared', 'binding limit', 'its use of those cores’ limit'],
    layerRows,
    { numeric: [true, false, true, true, true, true, false, true] },
  );

  const busiest = [...chip.links].sort((a, b) => b.load - a.load).slice(0, 8);
  const totalLoad = chip.links.reduce((s, l) => s + l.load, 0);
  const crossing = chip.links.filter((l) => (l.to_chip ?? l.chip ?? 0) !== (l.chip ?? 0));
  const linkRows = busiest.map((l) => {
    const fc = l.chip ?? 0;
    const tc = l.to_chip ?? fc;
    return [end(fc, l.from), end(tc, l.to), num(l.load)];
  });
  const used = chip.cores.filter((c) => c.layers.length > 0);
  const meanUtil = used.length ? used.reduce((s, c) => s + c.utilisation, 0) / used.length : NaN;
  const limits = chip.limits ? Object.entries(chip.limits).map(([l, v]) => `${int(v)} ${l}`).join(', ') : '';
  const facts = table(
    ['', ''],
    [
      ['chip', chip.name],
      ['mesh', `${chip.mesh.chips} chip${chip.mesh.chips === 1 ? '' : 's'} × ${tiles} tiles × ${chip.mesh.cores_per_tile} cores${routeOnly > 0 ? `; spike routes also cross ${routeOnly} more chip${routeOnly === 1 ? '' : 's'} of the board (drawn, no cores used)` : ''}`],
      ...(limits ? [['limits per core', limits]] : []),
      ['cores used', `${int(totals.used)} of ${int(chip.mesh.chips * chip.mesh.tiles_x * chip.mesh.tiles_y * chip.mesh.cores_per_tile)}${totals.shared ? ` (${int(totals.shared)} shared by several layers)` : ''}`],
      ['slices', `${int(totals.slices)} on ${int(totals.used)} cores`],
      ['mean core fill', `${pct(meanUtil)} of each core’s binding limit (${bindingCounts(chip)})`],
      ['step latency', `${fmtNum(chip.step_latency_ns)} ns`],
      ['latency per inference', `${fmtNum((chip.step_latency_ns * data.snn.T) / 1000)} µs (T = ${data.snn.T})`],
      ['energy per inference (chip)', fmtEnergy(chip.energy_per_inference_pj)],
      ...(chip.host
        ? [
            [
              'host nodes',
              `${int(chip.host.nodes)} on ${chip.host.placement === 'off-chip' ? 'an off-chip host' : 'the embedded processors'}: ${fmtEnergy(chip.host.energy_pj)} (${pct(chip.host.energy_share)} of cores + host), ${fmtNum(chip.host.latency_ns / 1000)} µs (${pct(chip.host.latency_share)} of the latency) per inference`,
            ],
          ]
        : []),
      ['link traffic', `${num(totalLoad)} spike-hops / inference over ${int(chip.links.length)} links`],
      ...(multiChip ? [['between chips', `${num(crossing.reduce((s, l) => s + l.load, 0))} spikes / inference over ${int(crossing.length)} chip-to-chip links`]] : []),
    ],
    { cls: 'kv' },
  );
  const chipTable = multiChip
    ? `<h3>Chips</h3>${table(
        ['chip', 'cores used', 'layers', 'mean fill'],
        chipInfo.map((c, k) => [String(k), int(c.on), c.layers.map((id) => String(numberOf(id))).join(', ') || 'routes only', pct(c.fill)]),
        { numeric: [true, true, false, true] },
      )}`
    : '';
  const sortedCores = [...chip.cores].sort((a, b) => a.index - b.index);
  const coreTable =
    sortedCores.length <= CORE_TABLE_MAX
      ? `<details><summary>Every core: its layers and its use of each limit (${int(sortedCores.length)} cores)</summary>${table(
          ['core', 'chip', 'tile', 'layers (neurons)', 'binding limit', 'fill'],
          sortedCores.map((c) => [
            String(c.index),
            String(c.chip),
            `(${c.tile_x}, ${c.tile_y}) core ${c.core_in_tile}`,
            c.layers.map((l) => `${numberOf(l.id)} ${l.id} (${int(l.neurons)})`).join(', ') || '—',
            useText(c),
            pct(c.utilisation),
          ]),
          { numeric: [true, true, false, false, false, true], cls: 'cores' },
        )}</details>`
      : `<p class="note">${int(sortedCores.length)} cores: hover a core for its layers and limits (the per-core table is left out above ${CORE_TABLE_MAX} cores).</p>`;
  const caption =
    'Each core is outlined; its fill rises to the share of its binding limit in use (the largest of its limits as a fraction: neurons, input axons, output axons, synapse words) ' +
    'and is split left to right by its layers’ shares of its neurons. Tile coordinates are per chip. Hover a core, tile, chip or link for details; links run between neighbouring tiles' +
    `${multiChip ? ' and, across chip boundaries, between chips' : ''}; width and opacity grow with load.`;
  return (
    `<section id="chip"><h2>Chip view: ${esc(chip.name)}</h2>${figure(mesh, caption)}` +
    `<div class="grid2">${figure(layersChart, sumNote)}<div>${facts}${chipTable}</div></div>` +
    `<h3>Layers on the chip</h3>${layerTable}` +
    `<p class="note">A layer’s cores are those holding at least one of its slices; its use is its demand on its binding limit over those cores’ whole capacity, shared with the other layers on them.</p>` +
    `<div class="grid2"><div><h3>Busiest links</h3>${
      linkRows.length ? table(['from tile', 'to tile', 'spikes / inf.'], linkRows, { numeric: [false, false, true] }) : '<p class="note">No spike traffic between tiles.</p>'
    }</div><div><h3>Cores</h3>${coreTable}</div></div></section>`
  );
}

function provenanceSection(data: ReportData): string {
  const p = data.provenance;
  const rows: string[][] = [
    ['source model', p.source],
    ['sha256', p.sha256],
    ['compiled by', `snnc ${p.snnc}`],
  ];
  if (p.report_snnc) rows.push(['report made by', `snnc ${p.report_snnc}`]);
  if (p.ir) rows.push(['IR', p.ir]);
  rows.push(['calibration', p.calibration ? `${p.calibration.file} (${int(p.calibration.samples)} samples)` : 'none (thresholds without calibration data)']);
  if (p.evaluation) {
    rows.push(['evaluation inputs', p.evaluation.input]);
    if (p.evaluation.labels) rows.push(['evaluation labels', p.evaluation.labels]);
    rows.push(['evaluation samples', int(p.evaluation.samples)]);
  }
  rows.push(['time steps T', String(data.snn.T)]);
  if (typeof p.seed === 'number') rows.push(['seed', String(p.seed)]);
  if (p.map) rows.push(['core map', p.map]);
  const optionRows = Object.entries(p.options).map(([k, v]) => [k, jsonText(v)]);
  return (
    `<section id="provenance"><h2>Compile options and provenance</h2><div class="grid2"><div><h3>Provenance</h3>${table(['', ''], rows, { cls: 'kv' })}</div>` +
    `<div><h3>Compile options</h3>${optionRows.length ? table(['option', 'value'], optionRows, { cls: 'kv' }) : '<p class="note">No options recorded.</p>'}</div></div></section>`
  );
}

// ---------------------------------------------------------------------------------------------------------

/** The whole report as one HTML document. */
export function renderReport(data: ReportData): string {
  const title = data.title ?? `snnc report: ${baseName(data.provenance.source)}`;
  const sub = [
    `${baseName(data.provenance.source)} compiled by snnc ${data.provenance.snnc}`,
    `${int(data.snn.samples)} samples at T = ${data.snn.T}`,
    data.snn_rsm ? 'with and without RSM masks' : '',
    data.chip ? `mapped onto ${data.chip.name}` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // The report loads nothing: the browser is told so, and refuses any load that slipped in.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="snnc">',
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<header><h1>${esc(title)}</h1><p>${esc(sub)}</p></header>`,
    summarySection(data),
    warningsSection(data),
    accuracySection(data),
    layersSection(data),
    energySection(data),
    chipSection(data),
    provenanceSection(data),
    `<footer>Made by snnc${data.provenance.report_snnc ? ` ${esc(data.provenance.report_snnc)}` : ''}. This file is self-contained: no scripts, nothing loaded from anywhere.</footer>`,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
