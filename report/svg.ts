/**
 * Small, dependency-free SVG chart helpers for the HTML report: a line chart, a grouped bar chart and a mesh
 * heat-map. Each returns one `<svg>` string with a visible title, axes, ticks, axis labels, a legend and
 * `<title>` tooltips on every mark.
 *
 * Output is deterministic: numbers are written with fixed rules (no locale), nothing random, no dates. Text
 * widths are estimated (no font metrics here), so layouts leave generous room. Every data mark carries
 * class "mark" so a test can find the drawn data; all text passed in is escaped.
 */

// ---------------------------------------------------------------------------------------------------------
// Text and numbers

/** Escape text for HTML/SVG element content and attribute values. */
export function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A coordinate: at most 2 decimals, no trailing zeros, never "-0". */
export function coord(v: number): string {
  const r = Math.round(v * 100) / 100;
  return String(r === 0 ? 0 : r);
}

/** Strip trailing zeros of a fixed-point string ("1.50" → "1.5", "2.00" → "2"). */
function trimZeros(s: string): string {
  return s.includes('.') && !s.includes('e') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

const SI: Array<[number, string]> = [
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/**
 * A compact number for labels and ticks: 3 significant digits, SI suffix (k, M, G, T) from 10 000 up,
 * exponent form below 1e-4. Deterministic (no locale).
 */
export function fmtNum(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'n/a' : v > 0 ? '∞' : '−∞';
  if (v === 0) return '0';
  const sign = v < 0 ? '−' : '';
  const a = Math.abs(v);
  if (a >= 1e15 || a < 1e-4) {
    const [m, e] = a.toExponential(digits - 1).split('e');
    return `${sign}${trimZeros(m!)}e${e!.replace('+', '')}`;
  }
  if (a >= 1e4) {
    for (const [scale, suffix] of SI) {
      if (a >= scale) {
        let s = trimZeros((a / scale).toPrecision(digits));
        // 999.6k rounds to "1.00e+3"-like forms with toPrecision: keep it fixed-point.
        if (s.includes('e')) s = trimZeros((a / scale).toFixed(0));
        return `${sign}${s}${suffix}`;
      }
    }
  }
  const p = a.toPrecision(digits);
  return sign + (p.includes('e') ? trimZeros(a.toFixed(0)) : trimZeros(p));
}

/** A fraction as a percentage with fixed decimals: 0.8912 → "89.1 %". */
export function fmtPct(v: number, decimals = 1): string {
  if (!Number.isFinite(v)) return 'n/a';
  return `${(v * 100).toFixed(decimals)} %`;
}

/** Rough rendered width of a string in px (no font metrics: 0.6 em per character, a bit more for capitals). */
export function textWidth(text: string, fontSize: number): number {
  let w = 0;
  for (const ch of text) w += /[A-Z0-9%@#MW]/.test(ch) ? 0.66 : ch === ' ' || ch === '.' || ch === ',' ? 0.32 : 0.58;
  return w * fontSize;
}

/** Shorten long text in the middle: "/features/features.3/Conv_output_0" → "/features/f…v_output_0". */
export function shorten(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  const head = Math.ceil((max - 1) / 2);
  const tail = max - 1 - head;
  return chars.slice(0, head).join('') + '…' + chars.slice(chars.length - tail).join('');
}

const SEPARATORS = '/.:_-';

/**
 * Axis labels for categories, at most `max` characters each, distinct where the names are: first the names
 * shortened in the middle; if that makes two alike (ONNX names often share a long prefix and suffix), the
 * prefix and suffix common to all long names are cut at a "/" (or another separator) and replaced by "…"; if
 * labels still collide, each is numbered (1-based, as in the report's tables).
 */
export function categoryLabels(names: string[], max: number, numbered = false): string[] {
  if (numbered) {
    const width = String(names.length).length + 1;
    return categoryLabels(names, Math.max(4, max - width)).map((l, i) => (/^\d+ /.test(l) && l.startsWith(`${i + 1} `) ? l : `${i + 1} ${l}`));
  }
  const unique = (ls: string[]) => new Set(ls).size === new Set(names).size;
  const plain = names.map((n) => shorten(n, max));
  if (unique(plain)) return plain;
  const long = names.filter((n) => [...n].length > max);
  let prefix = long[0] ?? '';
  let suffix = long[0] ?? '';
  for (const n of long) {
    while (!n.startsWith(prefix)) prefix = prefix.slice(0, -1);
    while (!n.endsWith(suffix)) suffix = suffix.slice(1);
  }
  const cutPrefix = (p: string) => {
    const slash = p.lastIndexOf('/');
    if (slash > 0) return p.slice(0, slash + 1);
    let i = p.length;
    while (i > 0 && !SEPARATORS.includes(p[i - 1]!)) i--;
    return p.slice(0, i);
  };
  const cutSuffix = (x: string) => {
    const slash = x.indexOf('/');
    if (slash >= 0 && slash < x.length - 1) return x.slice(slash);
    let i = 0;
    while (i < x.length && !SEPARATORS.includes(x[i]!)) i++;
    return x.slice(i);
  };
  const p = cutPrefix(prefix);
  const sfx = cutSuffix(suffix);
  const trimmed = names.map((n) => {
    if ([...n].length <= max || long.length < 2 || p.length + sfx.length >= n.length) return shorten(n, max);
    const core = n.slice(p.length, n.length - sfx.length);
    return shorten(`${p ? '…' : ''}${core}${sfx ? '…' : ''}`, max);
  });
  if (unique(trimmed)) return trimmed;
  return names.map((n, i) => `${i + 1} ${shorten(trimmed[i]!, Math.max(4, max - String(i + 1).length - 1))}`);
}

// ---------------------------------------------------------------------------------------------------------
// Colours

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
export const PALETTE = {
  grey: '#555555',
  blue: '#0072B2',
  orange: '#E69F00',
  green: '#009E73',
  vermillion: '#D55E00',
  purple: '#CC79A7',
  sky: '#56B4E9',
  yellow: '#F0E442',
} as const;

const SERIES_COLOURS = [PALETTE.blue, PALETTE.orange, PALETTE.green, PALETTE.vermillion, PALETTE.purple, PALETTE.sky, PALETTE.grey];

/** The i-th default series colour. */
export function seriesColour(i: number): string {
  return SERIES_COLOURS[i % SERIES_COLOURS.length]!;
}

const VIRIDIS: Array<[number, number, number]> = [
  [0x44, 0x01, 0x54],
  [0x3b, 0x52, 0x8b],
  [0x21, 0x91, 0x8c],
  [0x5e, 0xc9, 0x62],
  [0xfd, 0xe7, 0x25],
];

/** Viridis colour for t in [0, 1] (clamped): perceptually uniform, readable in grey-scale. */
export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  const hex = (k: number) => Math.round(a[k]! + (b[k]! - a[k]!) * f).toString(16).padStart(2, '0');
  return `#${hex(0)}${hex(1)}${hex(2)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Scales and ticks

interface Ticks {
  min: number;
  max: number;
  ticks: number[];
}

function niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * mag;
}

/** Round tick values so float noise (0.30000000000000004) never reaches the output. */
function clean(v: number): number {
  const r = Number(v.toPrecision(12));
  return r === 0 ? 0 : r;
}

/** Nice linear ticks covering [min, max]. */
export function linearTicks(min: number, max: number, count = 5): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { min: 0, max: 1, ticks: [0, 0.5, 1] };
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep(max - min, count);
  const lo = clean(Math.floor(min / step + 1e-9) * step);
  const hi = clean(Math.ceil(max / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let i = 0; ; i++) {
    const t = clean(lo + i * step);
    if (t > hi + step * 1e-6) break;
    ticks.push(t);
  }
  return { min: lo, max: hi, ticks };
}

/** Decade ticks covering the positive values in [min, max]. */
export function logTicks(minPositive: number, max: number): Ticks {
  if (!(minPositive > 0) || !(max > 0)) return { min: 1, max: 10, ticks: [1, 10] };
  let lo = Math.floor(Math.log10(minPositive) + 1e-9);
  // A bar just above the bottom decade would hardly show: start one decade lower.
  if (Math.log10(minPositive) - lo < 0.3) lo -= 1;
  let hi = Math.ceil(Math.log10(max) - 1e-9);
  if (hi <= lo) hi = lo + 1;
  // Keep at most ~8 labelled decades: thin out by 2, 3, … when the range is wide.
  const every = Math.max(1, Math.ceil((hi - lo) / 8));
  lo = Math.floor(lo / every) * every;
  hi = Math.ceil(hi / every) * every;
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e += every) ticks.push(clean(10 ** e));
  return { min: 10 ** lo, max: 10 ** hi, ticks };
}

// ---------------------------------------------------------------------------------------------------------
// Shared pieces

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, DejaVu Sans, Liberation Sans, Arial, sans-serif"';
const TITLE_SIZE = 14;
const TICK_SIZE = 11;
const LABEL_SIZE = 12;
const LEGEND_SIZE = 12;

interface LegendItem {
  name: string;
  colour: string;
  kind: 'box' | 'line';
  dash?: string;
}

/** Lay out legend items left to right, wrapping; returns the SVG and the height used. */
function legend(items: LegendItem[], x0: number, y0: number, maxWidth: number): { svg: string; height: number } {
  if (items.length === 0) return { svg: '', height: 0 };
  const rowH = 18;
  let x = x0;
  let y = y0;
  const parts: string[] = [];
  for (const item of items) {
    const w = (item.kind === 'line' ? 26 : 16) + textWidth(item.name, LEGEND_SIZE) + 18;
    if (x > x0 && x + w > x0 + maxWidth) {
      x = x0;
      y += rowH;
    }
    const swatch =
      item.kind === 'line'
        ? `<line x1="${coord(x)}" y1="${coord(y + 6)}" x2="${coord(x + 20)}" y2="${coord(y + 6)}" stroke="${item.colour}" stroke-width="2.5"${item.dash ? ` stroke-dasharray="${item.dash}"` : ''}/>`
        : `<rect x="${coord(x)}" y="${coord(y)}" width="12" height="12" rx="2" fill="${item.colour}"/>`;
    const tx = x + (item.kind === 'line' ? 26 : 16);
    parts.push(
      `<g class="legend-item">${swatch}<text x="${coord(tx)}" y="${coord(y + 10.5)}" font-size="${LEGEND_SIZE}" fill="#222">${esc(item.name)}</text></g>`,
    );
    x += w;
  }
  return { svg: `<g class="legend">${parts.join('')}</g>`, height: y - y0 + rowH };
}

/** Opening tag of a chart, with id, data-chart, size, accessible title and the visible title. */
function open(id: string, kind: string, width: number, height: number, title: string, description: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" id="${esc(id)}" data-chart="${esc(kind)}" class="chart" width="${coord(width)}" height="${coord(height)}" ` +
    `viewBox="0 0 ${coord(width)} ${coord(height)}" role="img" aria-labelledby="${esc(id)}-title" ${FONT}>` +
    `<title id="${esc(id)}-title">${esc(description ? `${title}: ${description}` : title)}</title>` +
    `<rect class="bg" x="0" y="0" width="${coord(width)}" height="${coord(height)}" fill="#ffffff"/>` +
    `<text class="chart-title" x="12" y="20" font-size="${TITLE_SIZE}" font-weight="600" fill="#111">${esc(title)}</text>`
  );
}

function yAxisLabel(text: string, x: number, yMid: number): string {
  return `<text class="axis-label" transform="translate(${coord(x)} ${coord(yMid)}) rotate(-90)" text-anchor="middle" font-size="${LABEL_SIZE}" fill="#333">${esc(text)}</text>`;
}

function xAxisLabel(text: string, xMid: number, y: number): string {
  return `<text class="axis-label" x="${coord(xMid)}" y="${coord(y)}" text-anchor="middle" font-size="${LABEL_SIZE}" fill="#333">${esc(text)}</text>`;
}

/** Horizontal grid lines, y tick marks and labels. */
function yAxis(ticks: number[], y: (v: number) => number, left: number, right: number, format: (v: number) => string): string {
  const parts: string[] = [];
  for (const t of ticks) {
    const yy = y(t);
    parts.push(
      `<line class="grid" x1="${coord(left)}" y1="${coord(yy)}" x2="${coord(right)}" y2="${coord(yy)}" stroke="#e3e3e3" stroke-width="1"/>` +
        `<line x1="${coord(left - 5)}" y1="${coord(yy)}" x2="${coord(left)}" y2="${coord(yy)}" stroke="#444"/>` +
        `<text class="tick-label" x="${coord(left - 8)}" y="${coord(yy + 4)}" text-anchor="end" font-size="${TICK_SIZE}" fill="#333">${esc(format(t))}</text>`,
    );
  }
  return `<g class="y-axis">${parts.join('')}</g>`;
}

// ---------------------------------------------------------------------------------------------------------
// Line chart

export interface LineSeries {
  name: string;
  /** [x, y] points; drawn in the order given after sorting by x. */
  points: Array<[number, number]>;
  colour?: string;
  /** SVG stroke-dasharray, e.g. "6 4". */
  dash?: string;
}

export interface ReferenceLine {
  name: string;
  value: number;
  colour?: string;
  dash?: string;
}

export interface LineChartSpec {
  id: string;
  /** Value of the data-chart attribute (defaults to "line"). */
  kind?: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  /** Horizontal reference lines across the whole plot (e.g. the ANN's accuracy). */
  references?: ReferenceLine[];
  /** "log2" places x = 1, 2, 4, … evenly (for T). Default linear. */
  xScale?: 'linear' | 'log2';
  /** Clamp the automatic y range to these bounds (e.g. [0, 1] for accuracy). */
  yClamp?: [number, number];
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
  width?: number;
  height?: number;
}

export function lineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 560;
  const height = spec.height ?? 340;
  const xFormat = spec.xFormat ?? ((v: number) => fmtNum(v));
  const yFormat = spec.yFormat ?? ((v: number) => fmtNum(v));
  const refs = spec.references ?? [];
  const series = spec.series.map((s, i) => ({
    ...s,
    colour: s.colour ?? seriesColour(i),
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (spec.xScale !== 'log2' || x > 0)).sort((a, b) => a[0] - b[0]),
  }));

  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [...series.flatMap((s) => s.points.map((p) => p[1])), ...refs.map((r) => r.value).filter(Number.isFinite)];
  let yMin = ys.length ? Math.min(...ys) : 0;
  let yMax = ys.length ? Math.max(...ys) : 1;
  const span = yMax - yMin || Math.abs(yMax) || 1;
  yMin -= span * 0.08;
  yMax += span * 0.08;
  let yt = linearTicks(yMin, yMax, 5);
  if (spec.yClamp) {
    const [lo, hi] = spec.yClamp;
    const min = Math.max(lo, yt.min);
    const max = Math.min(hi, yt.max);
    yt = { min, max, ticks: yt.ticks.filter((t) => t >= min - 1e-12 && t <= max + 1e-12) };
  }

  // x scale
  const log2 = spec.xScale === 'log2';
  const tx = (v: number) => (log2 ? Math.log2(v) : v);
  let xLo = xs.length ? Math.min(...xs.map(tx)) : 0;
  let xHi = xs.length ? Math.max(...xs.map(tx)) : 1;
  if (xHi === xLo) {
    xLo -= 1;
    xHi += 1;
  }
  let xTicks: number[];
  if (log2) {
    xTicks = [];
    for (let e = Math.ceil(xLo - 1e-9); e <= Math.floor(xHi + 1e-9); e++) xTicks.push(2 ** e);
    // Thin out so labels never crowd: at most ~12.
    const every = Math.max(1, Math.ceil(xTicks.length / 12));
    xTicks = xTicks.filter((_, i) => i % every === 0);
  } else {
    const t = linearTicks(xLo, xHi, 6);
    xTicks = t.ticks;
    xLo = t.min;
    xHi = t.max;
  }

  // Layout
  const tickLabelW = Math.max(...yt.ticks.map((t) => textWidth(yFormat(t), TICK_SIZE)), 10);
  const left = 12 + LABEL_SIZE + 10 + tickLabelW + 10;
  const right = 24;
  const legendItems: LegendItem[] = [
    ...series.map((s) => ({ name: s.name, colour: s.colour, kind: 'line' as const, dash: s.dash })),
    ...refs.map((r, i) => ({ name: r.name, colour: r.colour ?? PALETTE.grey, kind: 'line' as const, dash: r.dash ?? (i === 0 ? '6 4' : '2 3') })),
  ];
  const lg = legend(legendItems, left, 32, width - left - right);
  const top = 32 + lg.height + 12;
  const bottom = 52;
  const plotW = width - left - right;
  const plotH = Math.max(40, height - top - bottom);
  const padX = 14;
  const x = (v: number) => left + padX + ((tx(v) - xLo) / (xHi - xLo)) * (plotW - 2 * padX);
  const y = (v: number) => top + plotH - ((v - yt.min) / (yt.max - yt.min || 1)) * plotH;

  const parts: string[] = [open(spec.id, spec.kind ?? 'line', width, height, spec.title, `${spec.yLabel} against ${spec.xLabel}`)];
  parts.push(lg.svg);
  parts.push(yAxis(yt.ticks, y, left, left + plotW, yFormat));
  // x axis
  const xa: string[] = [`<line x1="${coord(left)}" y1="${coord(top + plotH)}" x2="${coord(left + plotW)}" y2="${coord(top + plotH)}" stroke="#444"/>`];
  for (const t of xTicks) {
    const xx = x(t);
    xa.push(
      `<line x1="${coord(xx)}" y1="${coord(top + plotH)}" x2="${coord(xx)}" y2="${coord(top + plotH + 5)}" stroke="#444"/>` +
        `<text class="tick-label" x="${coord(xx)}" y="${coord(top + plotH + 18)}" text-anchor="middle" font-size="${TICK_SIZE}" fill="#333">${esc(xFormat(t))}</text>`,
    );
  }
  parts.push(`<g class="x-axis">${xa.join('')}</g>`);
  parts.push(`<line x1="${coord(left)}" y1="${coord(top)}" x2="${coord(left)}" y2="${coord(top + plotH)}" stroke="#444"/>`);
  parts.push(yAxisLabel(spec.yLabel, 12 + LABEL_SIZE, top + plotH / 2));
  parts.push(xAxisLabel(spec.xLabel, left + plotW / 2, height - 12));

  // Reference lines
  refs.forEach((r, i) => {
    if (!Number.isFinite(r.value)) return;
    const yy = y(r.value);
    const colour = r.colour ?? PALETTE.grey;
    parts.push(
      `<g class="reference"><line class="mark" x1="${coord(left)}" y1="${coord(yy)}" x2="${coord(left + plotW)}" y2="${coord(yy)}" stroke="${colour}" stroke-width="2" stroke-dasharray="${r.dash ?? (i === 0 ? '6 4' : '2 3')}">` +
        `<title>${esc(`${r.name}: ${yFormat(r.value)}`)}</title></line></g>`,
    );
  });

  // Series
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${coord(x(px))} ${coord(y(py))}`).join(' ');
    const dots = s.points
      .map(
        ([px, py]) =>
          `<circle class="mark" cx="${coord(x(px))}" cy="${coord(y(py))}" r="4" fill="${s.colour}" stroke="#fff" stroke-width="1.5"><title>${esc(`${s.name}: ${spec.xLabel} = ${xFormat(px)}, ${spec.yLabel} = ${yFormat(py)}`)}</title></circle>`,
      )
      .join('');
    parts.push(
      `<g class="series"><path class="mark" d="${d}" fill="none" stroke="${s.colour}" stroke-width="2.5" stroke-linejoin="round"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}><title>${esc(s.name)}</title></path>${dots}</g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------------------
// Grouped bar chart

export interface BarSeries {
  name: string;
  /** One value per category; null (or ≤ 0 on a log scale) draws no bar. */
  values: Array<number | null | undefined>;
  colour?: string;
  /** Per-bar colours overriding `colour` (e.g. colour by a category of the bar). */
  colours?: Array<string | undefined>;
}

export interface BarChartSpec {
  id: string;
  /** Value of the data-chart attribute (defaults to "bar"). */
  kind?: string;
  title: string;
  /** Category names (user text: escaped, shortened on the axis, full in tooltips). */
  categories: string[];
  series: BarSeries[];
  yLabel: string;
  xLabel?: string;
  log?: boolean;
  yFormat?: (v: number) => string;
  /** Tooltip value text (defaults to yFormat). */
  valueFormat?: (v: number) => string;
  /** Legend entries to show instead of one per series (e.g. when bars are coloured per value). */
  legend?: Array<{ name: string; colour: string }>;
  /** Number the category labels 1, 2, … (to match a table or another chart). */
  numbered?: boolean;
  /** Longest category label on the axis, in characters (default 18). */
  maxLabelChars?: number;
  width?: number;
  height?: number;
}

export function barChart(spec: BarChartSpec): string {
  const width = spec.width ?? 560;
  const baseHeight = spec.height ?? 340;
  const yFormat = spec.yFormat ?? ((v: number) => fmtNum(v));
  const valueFormat = spec.valueFormat ?? yFormat;
  const series = spec.series.map((s, i) => ({ ...s, colour: s.colour ?? seriesColour(i) }));
  const n = spec.categories.length;
  const values = series.flatMap((s) => s.values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)));
  const log = Boolean(spec.log);

  let yt: Ticks;
  if (log) {
    const pos = values.filter((v) => v > 0);
    yt = logTicks(pos.length ? Math.min(...pos) : 1, pos.length ? Math.max(...pos) : 10);
  } else {
    const lo = Math.min(0, ...values);
    const hi = Math.max(0, ...values);
    yt = linearTicks(lo, hi === lo ? lo + 1 : hi, 5);
  }

  const maxChars = spec.maxLabelChars ?? 18;
  const labels = categoryLabels(spec.categories, maxChars, spec.numbered);
  const labelW = labels.map((l) => textWidth(l, TICK_SIZE));
  const maxLabelW = Math.max(0, ...labelW);

  const tickLabelW = Math.max(...yt.ticks.map((t) => textWidth(yFormat(t), TICK_SIZE)), 10);
  const left = 12 + LABEL_SIZE + 10 + tickLabelW + 10;
  const right = 16;
  const legendItems: LegendItem[] = (spec.legend ?? series.map((s) => ({ name: s.name, colour: s.colour }))).map((l) => ({ ...l, kind: 'box' as const }));
  const lg = legend(legendItems, left, 32, width - left - right);
  const top = 32 + lg.height + 12;

  // Category labels: horizontal if they fit their group, else vertical; when even vertical labels would touch,
  // only every k-th category is labelled (all are named in the tooltips).
  const groupW = (width - left - right) / Math.max(1, n);
  const rotate = maxLabelW > groupW - 6;
  const every = rotate ? Math.max(1, Math.ceil((TICK_SIZE + 4) / groupW)) : 1;
  const labelBand = rotate ? maxLabelW + 16 : TICK_SIZE + 12;
  // Vertical labels take their room below the plot, not from it.
  const height = baseHeight + labelBand - (TICK_SIZE + 12);
  const bottom = labelBand + (spec.xLabel ? 26 : 10);
  const plotW = width - left - right;
  const plotH = Math.max(40, height - top - bottom);

  const y = log
    ? (v: number) => top + plotH - ((Math.log10(v) - Math.log10(yt.min)) / (Math.log10(yt.max) - Math.log10(yt.min))) * plotH
    : (v: number) => top + plotH - ((v - yt.min) / (yt.max - yt.min || 1)) * plotH;
  const base = log ? top + plotH : y(Math.max(yt.min, Math.min(0, yt.max)));

  const description = `${spec.yLabel} per ${spec.xLabel ?? 'category'}${log ? ' (log scale)' : ''}`;
  const parts: string[] = [open(spec.id, spec.kind ?? 'bar', width, height, spec.title, description)];
  parts.push(lg.svg);
  parts.push(yAxis(yt.ticks, y, left, left + plotW, yFormat));

  const inner = groupW * 0.78;
  const barW = series.length ? inner / series.length : inner;
  const groups: string[] = [];
  spec.categories.forEach((cat, ci) => {
    const gx = left + ci * groupW;
    const cx = gx + groupW / 2;
    const tipLines = series.map((s) => {
      const v = s.values[ci];
      return `${s.name}: ${typeof v === 'number' && Number.isFinite(v) ? valueFormat(v) : 'n/a'}`;
    });
    const g: string[] = [
      `<g class="group">`,
      // A transparent hover target over the whole group, with every value of the group in its tooltip.
      `<rect class="hover" x="${coord(gx)}" y="${coord(top)}" width="${coord(groupW)}" height="${coord(plotH)}" fill="transparent"><title>${esc([cat, ...tipLines].join('\n'))}</title></rect>`,
    ];
    series.forEach((s, si) => {
      const v = s.values[ci];
      if (typeof v !== 'number' || !Number.isFinite(v) || (log && v <= 0)) return;
      const bx = cx - inner / 2 + si * barW;
      const clamped = log ? Math.min(yt.max, Math.max(yt.min, v)) : Math.min(yt.max, Math.max(yt.min, v));
      const yy = y(clamped);
      const y0 = Math.min(yy, base);
      const h = Math.max(1, Math.abs(base - yy));
      g.push(
        `<rect class="mark" x="${coord(bx + 0.5)}" y="${coord(y0)}" width="${coord(Math.max(1, barW - 1))}" height="${coord(h)}" fill="${s.colours?.[ci] ?? s.colour}"><title>${esc(`${cat} — ${s.name}: ${valueFormat(v)}`)}</title></rect>`,
      );
    });
    const ly = top + plotH + 8;
    const label = ci % every !== 0
      ? ''
      : rotate
      ? `<text class="tick-label category" transform="translate(${coord(cx + TICK_SIZE * 0.35)} ${coord(ly)}) rotate(-90)" text-anchor="end" font-size="${TICK_SIZE}" fill="#333">${esc(labels[ci]!)}<title>${esc(cat)}</title></text>`
      : `<text class="tick-label category" x="${coord(cx)}" y="${coord(ly + TICK_SIZE)}" text-anchor="middle" font-size="${TICK_SIZE}" fill="#333">${esc(labels[ci]!)}<title>${esc(cat)}</title></text>`;
    g.push(label, '</g>');
    groups.push(g.join(''));
  });
  parts.push(`<g class="groups">${groups.join('')}</g>`);
  parts.push(
    `<line x1="${coord(left)}" y1="${coord(base)}" x2="${coord(left + plotW)}" y2="${coord(base)}" stroke="#444"/>` +
      `<line x1="${coord(left)}" y1="${coord(top)}" x2="${coord(left)}" y2="${coord(top + plotH)}" stroke="#444"/>`,
  );
  parts.push(yAxisLabel(spec.yLabel + (log ? ' (log)' : ''), 12 + LABEL_SIZE, top + plotH / 2));
  if (spec.xLabel) parts.push(xAxisLabel(spec.xLabel, left + plotW / 2, height - 10));
  parts.push('</svg>');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------------------
// Chip map: chips of tiles of cores

/** Colours for categories such as layers: the Okabe–Ito set, then more, cycled (neighbours always differ). */
const CATEGORY_COLOURS = [
  PALETTE.blue,
  PALETTE.orange,
  PALETTE.green,
  PALETTE.vermillion,
  PALETTE.purple,
  PALETTE.sky,
  PALETTE.yellow,
  '#8C564B',
  '#17BECF',
  '#7F3C8D',
  '#BCBD22',
  PALETTE.grey,
];

/** The i-th category colour (cycled after 12). */
export function categoryColour(i: number): string {
  return CATEGORY_COLOURS[((i % CATEGORY_COLOURS.length) + CATEGORY_COLOURS.length) % CATEGORY_COLOURS.length]!;
}

export interface MeshPart {
  colour: string;
  /** Share of the filled width, in [0, 1]; the parts of a cell sum to 1. */
  share: number;
}

export interface MeshCell {
  chip: number;
  /** Tile coordinates on its chip. */
  x: number;
  y: number;
  /** Core slot within the tile, 0 … coresPerTile − 1. */
  slot: number;
  /** Filled fraction of the core in [0, 1], drawn as the height of its fill; null draws an unused core. */
  value: number | null;
  /** The fill, split left to right into these colours by share (e.g. one part per layer on the core). */
  parts: MeshPart[];
  /** A short label drawn in the cell when it fits (e.g. the layer numbers). */
  label?: string;
  /** Tooltip text. */
  title: string;
  /** Extra attributes on the core's element, written as data-<name>. Names: lower-case letters and dashes. */
  data?: Record<string, string>;
}

export interface MeshEnd {
  chip: number;
  /** Tile coordinates on that chip. */
  x: number;
  y: number;
}

export interface MeshLink {
  from: MeshEnd;
  to: MeshEnd;
  load: number;
  title: string;
}

export interface MeshChip {
  /** Caption above the chip's box; `shortLabel` (or a shortened form) where it does not fit the box's width. */
  label: string;
  shortLabel?: string;
  /** Tooltip of the chip's box. */
  title: string;
}

export interface MeshSpec {
  id: string;
  kind?: string;
  title: string;
  chips: number;
  /** Chips per row of the board: chip k sits at column k mod boardX, row ⌊k / boardX⌋ (default: one row). */
  boardX?: number;
  tilesX: number;
  tilesY: number;
  coresPerTile: number;
  cells: MeshCell[];
  links: MeshLink[];
  /** One entry per chip (caption and tooltip); default "chip k". */
  chipInfo?: MeshChip[];
  /** What the fill colours stand for, one legend entry each (e.g. the layers). */
  legend: Array<{ name: string; colour: string }>;
  /** What the height of a core's fill shows, for the legend ("use of the binding limit"). */
  fillLabel: string;
  /** Unit of a link's load, for the legend ("spikes / inference"). */
  loadLabel: string;
  width?: number;
}

/**
 * A multi-chip board as it is: chips as separate boxes at their board positions, each an X × Y mesh of tiles
 * of cores. A used core is an outlined cell filled from the bottom to its `value`, the fill split into its
 * `parts` colours; an unused core is grey. Links run between neighbouring tiles, edge to edge, also across
 * chip boundaries (between the boxes). Sizes scale with the board: thousands of cores become small cells
 * without text, and the chips' captions carry the summary. Every link carries data-from/data-to
 * ("chip:x,y") and every tile data-tile, so a test can check that each link ends at a drawn tile.
 */
export function meshChart(spec: MeshSpec): string {
  const width = spec.width ?? 1100;
  const chips = Math.max(1, spec.chips);
  const boardX = Math.max(1, spec.boardX ?? chips);
  const boardCols = Math.min(chips, boardX);
  const tilesX = Math.max(1, spec.tilesX);
  const tilesY = Math.max(1, spec.tilesY);
  const cpt = Math.max(1, spec.coresPerTile);
  const cols = Math.ceil(Math.sqrt(cpt));
  const rows = Math.ceil(cpt / cols);

  const margin = 16;
  const chipPad = 6;
  const chipGap = 26;
  const captionH = 18;
  const avail = width - 2 * margin;
  const pitchFor = (k: number) => Math.max(3, Math.min(112, Math.floor(((avail - k * 2 * chipPad - (k - 1) * chipGap) / (k * tilesX)) * 4) / 4));
  // Chips sit as on the board while tiles stay readable; a wide board is drawn in rows of fewer chips (a divisor
  // of the board's width when one is close), and a link between chips not drawn side by side becomes two stubs.
  const READABLE = 18;
  let drawCols = boardCols;
  while (drawCols > 1 && pitchFor(drawCols) < READABLE) drawCols--;
  if (drawCols < boardCols) {
    for (let d = drawCols; d > drawCols / 2; d--) {
      if (boardCols % d === 0) {
        drawCols = d;
        break;
      }
    }
  }
  /** Where chip c is drawn: its board position, board rows cut into rows of drawCols. */
  const rowsPerBoardRow = Math.ceil(boardCols / drawCols);
  const drawnAt = (c: number): [number, number] => {
    const col = c % boardX;
    const row = Math.floor(c / boardX);
    return [col % drawCols, row * rowsPerBoardRow + Math.floor(col / drawCols)];
  };
  let drawRows = 0;
  for (let c = 0; c < chips; c++) drawRows = Math.max(drawRows, drawnAt(c)[1] + 1);
  const pitch = pitchFor(drawCols);
  const tileGap = pitch >= 24 ? pitch * 0.3 : Math.max(1, pitch * 0.22);
  const tile = pitch - tileGap;
  const chipW = tilesX * pitch + 2 * chipPad;
  const chipH = tilesY * pitch + 2 * chipPad;
  const small = tile < 28; // cells without text, thin strokes

  // Legend: the fill, unused cores, link widths, then the colours (wrapping).
  const legendTop = 34;
  const cl: string[] = [];
  let lx = margin;
  const ly = legendTop;
  cl.push(
    `<rect x="${coord(lx)}" y="${coord(ly)}" width="12" height="12" fill="#ffffff" stroke="#888888"/>` +
      `<rect x="${coord(lx)}" y="${coord(ly + 6)}" width="12" height="6" fill="${PALETTE.grey}"/>` +
      `<text x="${coord(lx + 16)}" y="${coord(ly + 10.5)}" font-size="${LEGEND_SIZE}" fill="#222">${esc(`fill height: ${spec.fillLabel}`)}</text>`,
  );
  lx += 16 + textWidth(`fill height: ${spec.fillLabel}`, LEGEND_SIZE) + 22;
  cl.push(
    `<rect x="${coord(lx)}" y="${coord(ly)}" width="12" height="12" fill="#eeeeee" stroke="#bbbbbb"/>` +
      `<text x="${coord(lx + 16)}" y="${coord(ly + 10.5)}" font-size="${LEGEND_SIZE}" fill="#222">unused core</text>`,
  );
  lx += 16 + textWidth('unused core', LEGEND_SIZE) + 22;
  const loads = spec.links.map((l) => l.load).filter((v) => Number.isFinite(v) && v > 0);
  const maxLoad = loads.length ? Math.max(...loads) : 0;
  const maxStroke = Math.max(1.2, Math.min(6, pitch * 0.1));
  const minStroke = Math.min(1.2, maxStroke * 0.4);
  const strokeFor = (load: number) => (maxLoad > 0 ? minStroke + (maxStroke - minStroke) * Math.sqrt(Math.max(0, load) / maxLoad) : minStroke);
  const linkLabel = `link load (${spec.loadLabel})`;
  cl.push(`<text x="${coord(lx)}" y="${coord(ly + 10.5)}" font-size="${LEGEND_SIZE}" fill="#222">${esc(linkLabel)}</text>`);
  lx += textWidth(linkLabel, LEGEND_SIZE) + 12;
  if (maxLoad > 0) {
    for (const f of [0.1, 0.5, 1]) {
      const v = maxLoad * f;
      const label = fmtNum(v);
      cl.push(
        `<line x1="${coord(lx)}" y1="${coord(ly + 6)}" x2="${coord(lx + 26)}" y2="${coord(ly + 6)}" stroke="${PALETTE.vermillion}" stroke-width="${coord(Math.max(1.5, strokeFor(v)))}" stroke-linecap="round"/>` +
          `<text class="tick-label" x="${coord(lx + 13)}" y="${coord(ly + 26)}" text-anchor="middle" font-size="${TICK_SIZE}" fill="#333">${esc(label)}</text>`,
      );
      lx += Math.max(40, textWidth(label, TICK_SIZE) + 14);
    }
  } else {
    cl.push(`<text x="${coord(lx)}" y="${coord(ly + 10.5)}" font-size="${LEGEND_SIZE}" fill="#666">no traffic</text>`);
  }
  const colours = legend(
    spec.legend.map((l) => ({ ...l, kind: 'box' as const })),
    margin,
    legendTop + 34,
    avail,
  );
  const legendH = 34 + colours.height;
  const gridTop = legendTop + legendH + 8;
  const height = gridTop + drawRows * (captionH + chipH) + (drawRows - 1) * chipGap + margin;

  /** Top-left corner of a chip's box. */
  const chipBox = (c: number): [number, number] => {
    const [col, row] = drawnAt(c);
    return [margin + col * (chipW + chipGap), gridTop + row * (captionH + chipH + chipGap) + captionH];
  };
  /** Top-left corner of a tile. */
  const tileAt = (e: MeshEnd): [number, number] => {
    const [bx, by] = chipBox(e.chip);
    return [bx + chipPad + e.x * pitch + tileGap / 2, by + chipPad + e.y * pitch + tileGap / 2];
  };

  const parts: string[] = [
    open(spec.id, spec.kind ?? 'mesh', width, height, spec.title, `cores filled by ${spec.fillLabel} and coloured by ${spec.legend.length ? 'their share of each legend entry' : 'use'}; lines are links sized by ${spec.loadLabel}`),
  ];
  parts.push(`<g class="legend">${cl.join('')}</g>`, colours.svg);

  // Chips, tiles and cores.
  const byTile = new Map<string, MeshCell[]>();
  for (const c of spec.cells) {
    const key = `${c.chip}:${c.x},${c.y}`;
    const list = byTile.get(key) ?? [];
    list.push(c);
    byTile.set(key, list);
  }
  const cellGap = tile >= 20 ? 2 : tile >= 8 ? 0.75 : 0.4;
  const cellW = Math.max(0.5, (tile - (cols + 1) * cellGap) / cols);
  const cellH = Math.max(0.5, (tile - (rows + 1) * cellGap) / rows);
  const fs = Math.max(9, Math.min(12, Math.floor(cellH * 0.36)));
  const out: string[] = [];
  for (let c = 0; c < chips; c++) {
    const [bx, by] = chipBox(c);
    const info = spec.chipInfo?.[c] ?? { label: `chip ${c}`, title: `chip ${c}` };
    const fits = (t: string) => textWidth(t, TICK_SIZE) <= chipW - 4;
    const caption = fits(info.label) ? info.label : info.shortLabel && fits(info.shortLabel) ? info.shortLabel : shorten(info.shortLabel ?? info.label, Math.max(6, Math.floor((chipW - 4) / (TICK_SIZE * 0.62))));
    out.push(
      `<rect class="chip" data-chip="${c}" x="${coord(bx)}" y="${coord(by)}" width="${coord(chipW)}" height="${coord(chipH)}" rx="5" fill="#fafafa" stroke="#777777"><title>${esc(info.title)}</title></rect>`,
      `<text class="chip-label" x="${coord(bx + 2)}" y="${coord(by - 5)}" font-size="${TICK_SIZE}" fill="#333">${esc(caption)}<title>${esc(info.title)}</title></text>`,
    );
    for (let ty = 0; ty < tilesY; ty++) {
      for (let tx = 0; tx < tilesX; tx++) {
        const [x0, y0] = tileAt({ chip: c, x: tx, y: ty });
        out.push(
          `<rect class="tile" data-tile="${c}:${tx},${ty}" x="${coord(x0)}" y="${coord(y0)}" width="${coord(tile)}" height="${coord(tile)}"${small ? ' fill="#c8c8c8"' : ' rx="3" fill="#f2f2f2" stroke="#aaaaaa"'}><title>${esc(`chip ${c}, tile (${tx}, ${ty})`)}</title></rect>`,
        );
        const cells = byTile.get(`${c}:${tx},${ty}`) ?? [];
        const bySlot = new Map(cells.map((cell) => [cell.slot, cell]));
        for (let s = 0; s < cpt; s++) {
          const cx = x0 + cellGap + (s % cols) * (cellW + cellGap);
          const cy = y0 + cellGap + Math.floor(s / cols) * (cellH + cellGap);
          const cell = bySlot.get(s);
          const box = `x="${coord(cx)}" y="${coord(cy)}" width="${coord(cellW)}" height="${coord(cellH)}"`;
          if (!cell || cell.value === null || !Number.isFinite(cell.value)) {
            out.push(`<rect class="core unused" ${box} fill="#e6e6e6">${cell ? `<title>${esc(cell.title)}</title>` : ''}</rect>`);
            continue;
          }
          const v = Math.min(1, Math.max(0, cell.value));
          const data = Object.entries(cell.data ?? {})
            .filter(([k]) => /^[a-z][a-z-]*$/.test(k))
            .map(([k, d]) => ` data-${k}="${esc(d)}"`)
            .join('');
          // The fill: from the bottom up to v, split left to right by the parts' shares. A core filled to the top
          // needs no box under it (its first fill part is then its mark).
          const fh = Math.max(small ? 0.4 : 1, v * cellH);
          const full = fh >= cellH - 0.05;
          const g: string[] = [`<g class="core"${data} data-fill="${coord(v)}"><title>${esc(cell.title)}</title>`];
          if (!full || !small) g.push(`<rect class="core-box mark" ${box} fill="#ffffff"${small ? '' : ' stroke="#8a8a8a" stroke-width="0.75"'}/>`);
          const total = cell.parts.reduce((a, p) => a + Math.max(0, p.share), 0) || 1;
          let acc = 0;
          let first = full && small;
          for (const p of cell.parts) {
            const w = (Math.max(0, p.share) / total) * cellW;
            if (w <= 0) continue;
            g.push(`<rect class="fill${first ? ' mark' : ''}" x="${coord(cx + acc)}" y="${coord(cy + cellH - fh)}" width="${coord(w)}" height="${coord(fh)}" fill="${p.colour}"/>`);
            first = false;
            acc += w;
          }
          if (cell.parts.length === 0) g.push(`<rect class="fill${first ? ' mark' : ''}" x="${coord(cx)}" y="${coord(cy + cellH - fh)}" width="${coord(cellW)}" height="${coord(fh)}" fill="${PALETTE.grey}"/>`);
          if (cell.label && !small && cellW >= textWidth(cell.label, fs) + 4 && cellH >= fs + 4) {
            g.push(
              `<text class="core-label" x="${coord(cx + cellW / 2)}" y="${coord(cy + fs + 1)}" text-anchor="middle" font-size="${fs}" fill="#111" stroke="#ffffff" stroke-width="2.5" paint-order="stroke" pointer-events="none">${esc(cell.label)}</text>`,
            );
          }
          g.push('</g>');
          out.push(g.join(''));
        }
      }
    }
  }
  parts.push(`<g class="tiles">${out.join('')}</g>`);

  // Links, edge to edge between neighbouring tiles (across the gap between two chips' boxes for a chip-to-chip
  // link), offset to the right of their direction so that the two directions of one link stay apart.
  const linkSvg: string[] = [];
  // On a small drawing the two directions of a link are one line (their loads added, both in the tooltip).
  let drawn = spec.links;
  if (small) {
    const key = (e: MeshEnd) => `${e.chip}:${e.x},${e.y}`;
    const pairs = new Map<string, MeshLink>();
    for (const l of spec.links) {
      const [a, b] = [key(l.from), key(l.to)].sort();
      const k = `${a}|${b}`;
      const seen = pairs.get(k);
      pairs.set(k, seen ? { ...seen, load: seen.load + l.load, title: `${seen.title}\n${l.title}` } : l);
    }
    drawn = [...pairs.values()];
  }
  const sorted = [...drawn].sort((a, b) => a.load - b.load);
  const off = small ? 0 : Math.max(0.6, Math.min(3, tileGap / 4));
  for (const l of sorted) {
    const [ax0, ay0] = tileAt(l.from);
    const [bx0, by0] = tileAt(l.to);
    const ax = ax0 + tile / 2;
    const ay = ay0 + tile / 2;
    const bx = bx0 + tile / 2;
    const by = by0 + tile / 2;
    const dx = bx - ax;
    const dy = by - ay;
    const len = Math.hypot(dx, dy);
    if (len === 0) continue;
    const ux = dx / len;
    const uy = dy / len;
    // Leave each tile at its edge along the direction (square tiles: half side / max(|ux|, |uy|)).
    const edge = tile / 2 / Math.max(Math.abs(ux), Math.abs(uy)) + Math.min(1, tileGap / 6);
    const px = -uy * off;
    const py = ux * off;
    const busy = l.load > 0 ? 0.55 + 0.45 * Math.sqrt(l.load / (maxLoad || 1)) : 0.35;
    const cross = l.from.chip !== l.to.chip;
    const attrs = `data-from="${l.from.chip}:${l.from.x},${l.from.y}" data-to="${l.to.chip}:${l.to.x},${l.to.y}"`;
    const look = `stroke-opacity="${coord(busy)}" stroke-width="${coord(strokeFor(l.load))}"`;
    if (cross) {
      // Chips side by side on the board but not in the drawing: a stub out of each end's chip, in the link's
      // board direction, reaching into the gap between boxes.
      const board = (c: number) => [c % boardX, Math.floor(c / boardX)];
      const [fa, fb] = [board(l.from.chip), board(l.to.chip)];
      const [da, db] = [drawnAt(l.from.chip), drawnAt(l.to.chip)];
      if (fb[0]! - fa[0]! !== db[0] - da[0] || fb[1]! - fa[1]! !== db[1] - da[1]) {
        const bux = Math.sign(fb[0]! - fa[0]!);
        const buy = Math.sign(fb[1]! - fa[1]!);
        const reach = chipPad + tileGap / 2 + chipGap * 0.4;
        const stub = (cx0: number, cy0: number, sx: number, sy: number, which: string, title: string) =>
          linkSvg.push(
            `<line class="link chip-link stub${l.load > 0 ? ' mark' : ''}" data-end="${which}" ${attrs} x1="${coord(cx0 + sx * (tile / 2 + 1))}" y1="${coord(cy0 + sy * (tile / 2 + 1))}" ` +
              `x2="${coord(cx0 + sx * (tile / 2 + reach))}" y2="${coord(cy0 + sy * (tile / 2 + reach))}" ${look} stroke-dasharray="3 2"><title>${esc(title)}</title></line>`,
          );
        stub(ax, ay, bux, buy, 'from', `${l.title} (chip ${l.to.chip} is drawn elsewhere)`);
        stub(bx, by, -bux, -buy, 'to', `${l.title} (chip ${l.from.chip} is drawn elsewhere)`);
        continue;
      }
    }
    linkSvg.push(
      `<line class="link${cross ? ' chip-link' : ''}${l.load > 0 ? ' mark' : ''}" ${attrs} ` +
        `x1="${coord(ax + ux * edge + px)}" y1="${coord(ay + uy * edge + py)}" x2="${coord(bx - ux * edge + px)}" y2="${coord(by - uy * edge + py)}" ${look}><title>${esc(l.title)}</title></line>`,
    );
  }
  parts.push(`<g class="links" stroke="${PALETTE.vermillion}" stroke-linecap="round">${linkSvg.join('')}</g>`);
  parts.push('</svg>');
  return parts.join('');
}
