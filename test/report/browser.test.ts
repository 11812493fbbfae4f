/**
 * The report as a person sees it: rendered by headless Chromium (Debian's package, /usr/bin/chromium).
 *
 * 1. Layout probe: a copy of the report gets one inline script (allowed by its hash in the report's own
 *    Content-Security-Policy, which still forbids every load) that runs after the page has loaded and laid out,
 *    measures every chart and writes the measurements into the DOM; `--dump-dom` hands them back. Checked: every
 *    expected chart is there with a non-zero size, has drawn children and data marks of non-zero size, no two
 *    labels of a chart overlap, no label sticks out of its chart, the page does not overflow sideways, nothing
 *    was fetched, and no script other than the probe exists (layer names are hostile in one variant).
 * 2. Screenshot of the unmodified report at 1280 px wide, kept as test-artifacts/report.png; its pixels must
 *    show the series colours (the charts were painted, not just present in the DOM).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartIds, renderReport } from '../../report/render.ts';
import type { ReportData } from '../../report/types.ts';
import { sampleLargeChip, sampleReport } from './sample.ts';
import { root, snnc } from '../helpers/cli.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
  '--force-device-scale-factor=1',
];
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');
const WIDTH = 1280;

let work = '';

/** Each test fails (rather than being skipped) when Chromium is not installed. */
function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `headless Chromium is needed for the report's browser test and ${CHROMIUM} is missing: install it with ` +
        '`apt-get update && apt-get install -y chromium` (Debian\'s package; .ci/run does this in CI)',
    );
  }
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'snnc-report-'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Run Chromium once with a fresh profile; returns stdout. */
function chromium(args: string[]): string {
  const profile = mkdtempSync(join(work, 'profile-'));
  try {
    const r = spawnSync(CHROMIUM, [...FLAGS, `--user-data-dir=${profile}`, ...args], {
      encoding: 'utf8',
      timeout: 90_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`chromium exited with ${r.status} (${r.signal ?? 'no signal'}): ${r.stderr.slice(-2000)}`);
    return r.stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

// Runs in the page after load: measures every chart, writes base64 JSON into <pre id="snnc-probe">.
const PROBE = `
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
addEventListener('load', () => {
  const rect = (el) => { const b = el.getBoundingClientRect(); return { x: b.left, y: b.top, w: b.width, h: b.height }; };
  const charts = [...document.querySelectorAll('svg[data-chart]')].map((svg) => {
    const box = rect(svg);
    const children = [...svg.querySelectorAll('*')].filter((el) => !['title', 'desc', 'defs', 'g'].includes(el.tagName.toLowerCase()));
    const sized = children.filter((el) => { const b = rect(el); return b.w > 0 && b.h > 0; }).length;
    const marks = [...svg.querySelectorAll('.mark')];
    const visibleMarks = marks.filter((el) => {
      const b = rect(el);
      const t = el.tagName.toLowerCase();
      return t === 'line' || t === 'path' ? b.w + b.h > 0 : b.w > 0 && b.h > 0;
    }).length;
    const texts = [...svg.querySelectorAll('text')].map((el) => ({ text: [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.data).join(''), ...rect(el) }))
      .filter((t) => t.w > 0 && t.h > 0);
    const overlaps = [];
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
      const a = texts[i], b = texts[j];
      const ox = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
      const oy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
      // Glyph boxes include line spacing: ignore slivers of a couple of pixels.
      if (ox > 2 && oy > 3) overlaps.push(a.text + ' / ' + b.text);
    }
    const outside = texts.filter((t) => t.x < box.x - 1 || t.y < box.y - 1 || t.x + t.w > box.x + box.w + 1 || t.y + t.h > box.y + box.h + 1).map((t) => t.text);
    return { id: svg.id, kind: svg.getAttribute('data-chart'), w: box.w, h: box.h, children: children.length, sized, marks: marks.length, visibleMarks, texts: texts.length, overlaps, outside };
  });
  // The chip mesh: tiles, chips, cores (with their fills) and links in page coordinates.
  const meshSvg = document.getElementById('chart-chip-mesh');
  const at = (el, x, y) => { const p = new DOMPoint(x, y).matrixTransform(el.getScreenCTM()); return [p.x, p.y]; };
  const mesh = meshSvg && {
    tiles: Object.fromEntries([...meshSvg.querySelectorAll('rect.tile')].map((t) => [t.dataset.tile, rect(t)])),
    tileTitles: [...meshSvg.querySelectorAll('rect.tile > title')].map((t) => t.textContent),
    chips: Object.fromEntries([...meshSvg.querySelectorAll('rect.chip')].map((t) => [t.dataset.chip, rect(t)])),
    cores: [...meshSvg.querySelectorAll('g.core')].map((g) => {
      const box = g.querySelector('rect.core-box') || g.querySelector('rect.fill');
      const fills = [...g.querySelectorAll('rect.fill')].map(rect);
      return { core: Number(g.dataset.core), layers: g.dataset.layers, fill: Number(g.dataset.fill), title: g.querySelector('title').textContent, cellH: rect(box).h, fillH: fills.length ? Math.max(...fills.map((f) => f.h)) : 0, parts: fills.length };
    }),
    links: [...meshSvg.querySelectorAll('line.link')].map((l) => ({
      cls: l.getAttribute('class'), end: l.dataset.end || null, from: l.dataset.from, to: l.dataset.to,
      p1: at(l, l.x1.baseVal.value, l.y1.baseVal.value), p2: at(l, l.x2.baseVal.value, l.y2.baseVal.value),
    })),
  };
  const result = {
    mesh,
    charts,
    violations: window.__violations,
    resources: performance.getEntriesByType('resource').map((r) => r.name),
    scripts: document.scripts.length,
    title: document.title,
    page: { width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight, viewport: innerWidth },
    text: document.body.innerText,
  };
  const pre = document.createElement('pre');
  pre.id = 'snnc-probe';
  pre.textContent = btoa(unescape(encodeURIComponent(JSON.stringify(result))));
  document.body.appendChild(pre);
});
`;

interface ChartProbe {
  id: string;
  kind: string;
  w: number;
  h: number;
  children: number;
  sized: number;
  marks: number;
  visibleMarks: number;
  texts: number;
  overlaps: string[];
  outside: string[];
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface MeshProbe {
  tiles: Record<string, Box>;
  tileTitles: string[];
  chips: Record<string, Box>;
  cores: Array<{ core: number; layers: string; fill: number; title: string; cellH: number; fillH: number; parts: number }>;
  links: Array<{ cls: string; end: string | null; from: string; to: string; p1: [number, number]; p2: [number, number] }>;
}

interface Probe {
  mesh: MeshProbe | null;
  charts: ChartProbe[];
  violations: string[];
  resources: string[];
  scripts: number;
  title: string;
  page: { width: number; height: number; viewport: number };
  text: string;
}

const CSP = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`;

/** Load the report with the probe in Chromium and return the measurements. */
function probe(html: string, name: string): Probe {
  requireChromium();
  expect(html).toContain(CSP);
  const hash = createHash('sha256').update(PROBE).digest('base64');
  const probed = html.replace(
    CSP,
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${hash}'"><script>${PROBE}</script>`,
  );
  const file = join(work, `${name}-probe.html`);
  writeFileSync(file, probed);
  const dom = chromium([`--window-size=${WIDTH},2000`, '--dump-dom', `file://${file}`]);
  const m = /<pre id="snnc-probe">([A-Za-z0-9+/=]+)<\/pre>/.exec(dom);
  if (!m) throw new Error(`the layout probe wrote nothing: the page did not load or the script was blocked. DOM starts: ${dom.slice(0, 500)}`);
  return JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8')) as Probe;
}

/** Minimal PNG reader (8-bit RGB/RGBA, not interlaced, as Chromium writes): width, height, pixel getter. */
function readPng(file: string): { width: number; height: number; pixel: (x: number, y: number) => [number, number, number] } {
  const buf = readFileSync(file);
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let pos = 8;
  let width = 0;
  let height = 0;
  let colourType = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect(data[8], 'bit depth').toBe(8);
      colourType = data[9]!;
      expect(data[12], 'interlace').toBe(0);
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const bpp = colourType === 6 ? 4 : colourType === 2 ? 3 : 0;
  expect(bpp, `PNG colour type ${colourType}`).toBeGreaterThan(0);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = out.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? out.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      let v = src[i]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      row[i] = v & 0xff;
    }
  }
  return { width, height, pixel: (x, y) => [out[y * stride + x * bpp]!, out[y * stride + x * bpp + 1]!, out[y * stride + x * bpp + 2]!] };
}

function countColour(png: ReturnType<typeof readPng>, hex: string): number {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  let n = 0;
  for (let y = 0; y < png.height; y += 2) {
    for (let x = 0; x < png.width; x += 2) {
      const [pr, pg, pb] = png.pixel(x, y);
      if (Math.abs(pr - r) <= 6 && Math.abs(pg - g) <= 6 && Math.abs(pb - b) <= 6) n++;
    }
  }
  return n;
}

function checkCharts(data: ReportData, p: Probe): void {
  const expected = chartIds(data);
  expect(p.charts.map((c) => c.id)).toEqual(expected);
  for (const c of p.charts) {
    const where = `chart ${c.id}`;
    expect(c.w, `${where}: width`).toBeGreaterThan(200);
    expect(c.h, `${where}: height`).toBeGreaterThan(150);
    expect(c.children, `${where}: child elements`).toBeGreaterThan(10);
    expect(c.sized, `${where}: child elements with non-zero size`).toBeGreaterThan(10);
    expect(c.visibleMarks, `${where}: data marks with non-zero size`).toBeGreaterThan(0);
    expect(c.texts, `${where}: visible labels`).toBeGreaterThan(3);
    expect(c.overlaps, `${where}: overlapping labels`).toEqual([]);
    expect(c.outside, `${where}: labels outside the chart`).toEqual([]);
  }
  expect(p.resources, 'resources fetched').toEqual([]);
  expect(p.violations, 'loads the report tried').toEqual([]);
  expect(p.scripts, 'scripts in the page (the probe only)').toBe(1);
  expect(p.page.width, 'horizontal overflow').toBeLessThanOrEqual(p.page.viewport);
}

function distance(p: [number, number], r: Box): number {
  return Math.hypot(Math.max(r.x - p[0], 0, p[0] - (r.x + r.w)), Math.max(r.y - p[1], 0, p[1] - (r.y + r.h)));
}

/**
 * The chip view as drawn: every core lists the layers of its slices and is filled to its use, per-layer core
 * counts are the distinct cores holding the layer and the totals agree with "cores used", tiles are labelled per
 * chip, and every drawn link ends at a drawn tile (a stub: at its own chip's edge).
 */
function checkMesh(data: ReportData, p: Probe): void {
  const chip = data.chip!;
  const mesh = p.mesh!;
  expect(mesh, 'chip mesh drawn').toBeTruthy();
  const number = new Map(chip.layers.map((l, i) => [l.id, i + 1]));
  expect(mesh.cores.length).toBe(chip.cores.length);
  for (const drawn of mesh.cores) {
    const c = chip.cores.find((k) => k.index === drawn.core)!;
    expect(drawn.layers, `core ${c.index}`).toBe(c.layers.map((l) => number.get(l.id)).join(' '));
    for (const l of c.layers) expect(drawn.title).toContain(`${number.get(l.id)} ${l.id}: `);
    expect(drawn.parts).toBe(c.layers.length);
    // The fill's painted height is the core's use of its binding limit.
    expect(Math.abs(drawn.fillH / drawn.cellH - c.utilisation), `core ${c.index} fill`).toBeLessThan(0.08);
  }
  for (const l of chip.layers) expect(l.cores).toBe(chip.cores.filter((c) => c.layers.some((k) => k.id === l.id)).length);
  const used = chip.cores.length;
  const sum = chip.layers.reduce((s, l) => s + l.cores, 0);
  expect(p.text).toMatch(new RegExp(`cores used\\s+${used.toLocaleString('en').replaceAll(',', '\u2009')} of `));
  expect(p.text).toContain(`${used.toLocaleString('en').replaceAll(',', '\u2009')} distinct cores used`);
  expect(p.text).toContain(`Σ ${sum.toLocaleString('en').replaceAll(',', '\u2009')})`);
  for (const t of mesh.tileTitles) {
    const m = /^chip (\d+), tile \((\d+), (\d+)\)$/.exec(t)!;
    expect(mesh.chips[m[1]!], `tile ${t} is on a drawn chip`).toBeTruthy();
    expect(Number(m[2])).toBeLessThan(chip.mesh.tiles_x);
    expect(Number(m[3])).toBeLessThan(chip.mesh.tiles_y);
  }
  expect(Object.keys(mesh.chips).length).toBeGreaterThanOrEqual(chip.mesh.chips);
  for (const l of mesh.links) {
    const a = mesh.tiles[l.from];
    const b = mesh.tiles[l.to];
    expect(a, `link start ${l.from} is a drawn tile`).toBeTruthy();
    expect(b, `link end ${l.to} is a drawn tile`).toBeTruthy();
    if (l.cls.includes('stub')) {
      const own = l.end === 'from' ? l.from : l.to;
      const box = mesh.chips[own.split(':')[0]!]!;
      expect(distance(l.p1, mesh.tiles[own]!)).toBeLessThan(3);
      expect(distance(l.p2, box)).toBeGreaterThan(0);
      expect(distance(l.p2, box)).toBeLessThan(20);
    } else {
      expect(distance(l.p1, a!), `link ${l.from} → ${l.to} starts at its tile`).toBeLessThan(12);
      expect(distance(l.p2, b!), `link ${l.from} → ${l.to} ends at its tile`).toBeLessThan(12);
    }
  }
}

describe('report in headless Chromium', () => {
  it('draws every chart of a full report (RSM, three energy models, chip), and the screenshot shows them', () => {
    const data = sampleReport();
    const html = renderReport(data);
    const p = probe(html, 'full');
    checkCharts(data, p);
    expect(p.charts.map((c) => c.kind)).toEqual([
      'accuracy',
      'firing-rates',
      'thresholds',
      'sops',
      'spikes',
      'energy-total',
      'energy-layers',
      'energy-layers',
      'energy-layers',
      'chip-mesh',
      'chip-layers',
    ]);
    const mesh = p.charts.find((c) => c.id === 'chart-chip-mesh')!;
    // Every core + every link with traffic.
    expect(mesh.visibleMarks).toBe(data.chip!.cores.length + data.chip!.links.filter((l) => l.load > 0).length);
    checkMesh(data, p);
    for (const heading of ['Summary', 'Accuracy against T', 'Per layer', 'Energy per inference', 'Chip view: loihi1', 'Compile options and provenance']) {
      expect(p.text).toContain(heading);
    }

    // Screenshot of the unmodified report, tall enough for the whole page.
    const file = join(work, 'report.html');
    writeFileSync(file, html);
    mkdirSync(ARTIFACTS, { recursive: true });
    const png = join(ARTIFACTS, 'report.png');
    rmSync(png, { force: true });
    const height = Math.max(4000, Math.ceil(p.page.height));
    chromium([`--window-size=${WIDTH},${height}`, `--screenshot=${png}`, `file://${file}`]);
    expect(existsSync(png), `screenshot ${png}`).toBe(true);
    const img = readPng(png);
    expect(img.width).toBe(WIDTH);
    expect(img.height).toBe(height);
    // The series colours were painted (sampled every other pixel): SNN blue, RSM orange, ANN grey.
    expect(countColour(img, '#0072b2')).toBeGreaterThan(2000);
    expect(countColour(img, '#e69f00')).toBeGreaterThan(1000);
    expect(countColour(img, '#555555')).toBeGreaterThan(500);
  });

  it('draws the charts of a minimal report (no RSM, no energy, no chip) with a hostile layer name', () => {
    const hostile = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>';
    const data = sampleReport({ rsm: false, chip: false, energy: false, warnings: false, layerName: hostile });
    const p = probe(renderReport(data), 'minimal');
    checkCharts(data, p);
    expect(p.charts.map((c) => c.id)).toEqual(['chart-accuracy', 'chart-firing-rates', 'chart-thresholds', 'chart-sops', 'chart-spikes']);
    // The name shows as text (in the layer table), and nothing of it ran or loaded.
    expect(p.text).toContain(hostile);
    expect(p.title).not.toBe('pwned');
    expect(p.title).toContain('fmnist_cnn_qcfs.onnx');
  });

  it('draws every chart of the report `snnc demo` writes from real runs', () => {
    const out = join(work, 'demo');
    const r = snnc('demo', '--out', out, '--samples', '48', '--chip-samples', '4', '-T', '16', '--json');
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.files.report).toBe(join(out, 'report.html'));
    const data = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ReportData;
    expect(data.chip?.cores.length).toBe(summary.cores);
    expect(data.energy.map((m) => m.name)).toEqual(['45 nm', 'loihi1', 'loihi1-sanafe']);
    const p = probe(readFileSync(join(out, 'report.html'), 'utf8'), 'demo');
    checkCharts(data, p);
    expect(p.charts.map((c) => c.id)).toContain('chart-chip-mesh');
    checkMesh(data, p);
  });

  it('draws a multi-chip map from real runs: compile, map onto small chips, report', () => {
    const out = join(work, 'multi');
    mkdirSync(out, { recursive: true });
    const spec = JSON.parse(readFileSync(join(root, 'targets', 'chips', 'loihi1.json'), 'utf8'));
    spec.name = 'loihi1-small';
    // 8 cores a chip, 3 chips to a row of the board: the demo's 32 cores take chips 0–3, and XY routes from
    // chip 3 (second row) to chips 1 and 2 run through chip 4, which holds no core.
    spec.mesh = { ...spec.mesh, tiles_x: 2, tiles_y: 2, cores_per_tile: 2 };
    spec.board = { chips_x: 3, chips_y: 2, source: 'test: 3 chips to a row' };
    writeFileSync(join(out, 'small.json'), JSON.stringify(spec));
    const ir = join(out, 'f.snn.json');
    const map = join(out, 'f.map.json');
    let r = snnc('compile', 'test/fixtures/fmnist_cnn_qcfs.onnx', '-o', ir, '--input-divisor', '255');
    expect(r.status, r.stderr).toBe(0);
    r = snnc('map', ir, '-o', map, '--chip', join(out, 'small.json'));
    expect(r.status, r.stderr).toBe(0);
    r = snnc('report', ir, '--input', 'test/fixtures/fmnist_test_x.npy', '--labels', 'test/fixtures/fmnist_test_y.npy', '--map', map, '-o', join(out, 'report.html'), '--limit', '16', '--chip-limit', '2', '-T', '8', '--json');
    expect(r.status, r.stderr).toBe(0);
    const data = JSON.parse(r.stdout) as ReportData;
    expect(data.chip!.mesh.chips).toBeGreaterThan(1);
    expect(data.chip!.links.some((l) => (l.chip ?? 0) !== (l.to_chip ?? l.chip ?? 0)), 'chip-to-chip links').toBe(true);
    const p = probe(readFileSync(join(out, 'report.html'), 'utf8'), 'multi');
    checkCharts(data, p);
    checkMesh(data, p);
    expect(p.mesh!.links.some((l) => l.cls.includes('chip-link'))).toBe(true);
  });

  it('draws a ~1000-core map on 8 chips readably (small cells, captions per chip, stubs between chip rows)', () => {
    const data = sampleReport();
    data.chip = sampleLargeChip();
    const p = probe(renderReport(data), 'large');
    checkCharts(data, p);
    checkMesh(data, p);
    const mesh = p.charts.find((c) => c.id === 'chart-chip-mesh')!;
    expect(mesh.h).toBeLessThan(900);
  });

  it('keeps labels apart with 24 layers of long ONNX names', () => {
    const data = sampleReport({ extraLayers: 20 });
    const p = probe(renderReport(data), 'many');
    checkCharts(data, p);
  });
});
