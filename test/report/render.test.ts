import { describe, expect, it } from 'vitest';
import { chartIds, fmtEnergy, renderReport } from '../../report/render.ts';
import { barChart, categoryLabels, esc, fmtNum, lineChart, linearTicks, logTicks, meshChart, shorten } from '../../report/svg.ts';
import type { ReportData } from '../../report/types.ts';
import { chipView } from '../../cli/report-data.ts';
import { LOIHI1, sampleLargeChip, sampleLayers, sampleLinks, sampleMapDoc, sampleReport, TINY } from './sample.ts';

/** Opening tags of every <svg> in the document. */
function svgTags(html: string): string[] {
  return [...html.matchAll(/<svg\b[^>]*>/g)].map((m) => m[0]);
}

function attr(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

/** The document without the SVG namespace declarations (which name a namespace, not a resource). */
function withoutNamespaces(html: string): string {
  return html.replaceAll('xmlns="http://www.w3.org/2000/svg"', '');
}

describe('renderReport: sections and charts', () => {
  it('renders every section and chart of a full report, each chart with an id and data-chart', () => {
    const data = sampleReport();
    const html = renderReport(data);
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    for (const id of ['summary', 'warnings', 'accuracy', 'layers', 'energy', 'chip', 'provenance']) {
      expect(html).toContain(`<section id="${id}"`);
    }
    const tags = svgTags(html);
    expect(tags.map((t) => attr(t, 'id'))).toEqual(chartIds(data));
    expect(chartIds(data)).toEqual([
      'chart-accuracy',
      'chart-firing-rates',
      'chart-thresholds',
      'chart-sops',
      'chart-spikes',
      'chart-energy-total',
      'chart-energy-layers-0',
      'chart-energy-layers-1',
      'chart-energy-layers-2',
      'chart-chip-mesh',
      'chart-chip-layers',
    ]);
    for (const t of tags) {
      expect(attr(t, 'data-chart')).toMatch(/^[a-z-]+$/);
      expect(Number(attr(t, 'width'))).toBeGreaterThan(0);
      expect(Number(attr(t, 'height'))).toBeGreaterThan(0);
    }
    // RSM everywhere it applies.
    expect(html).toContain('SNN + RSM');
    expect(html).toContain('SNN (no masks)');
    // The energy models with their citations.
    expect(html).toContain('Horowitz, ISSCC 2014');
    expect(html).toContain('Davies et al., IEEE Micro 2018');
    expect(html).toContain('Boyle et al., TCAD 2025');
  });

  it('shows the summary figures: accuracy ANN vs SNN at T, SOPs, energy, cores, step latency', () => {
    const html = renderReport(sampleReport());
    const summary = html.slice(html.indexOf('<section id="summary"'), html.indexOf('</section>', html.indexOf('<section id="summary"')));
    expect(summary).toContain('SNN accuracy at T = 64');
    expect(summary).toContain('89.1 %'); // SNN at T = 64
    expect(summary).toContain('ANN 90.2 %: SNN −1.1 pp');
    expect(summary).toContain('SNN + RSM 88.5 %');
    expect(summary).toContain('16.3M'); // SOPs / inference
    expect(summary).toContain('68.1 µJ'); // ANN energy, 45 nm
    expect(summary).toContain('15.2 µJ (0.223×)'); // SNN energy, 45 nm
    expect(summary).toContain('Cores on loihi1');
    expect(summary).toContain(`>${sampleReport().chip!.cores.length}<`);
    expect(summary).toContain('4121 ns');
  });

  it('leaves out RSM, energy, chip and warnings when the data has none', () => {
    const data = sampleReport({ rsm: false, energy: false, chip: false, warnings: false });
    const html = renderReport(data);
    expect(svgTags(html).map((t) => attr(t, 'id'))).toEqual(['chart-accuracy', 'chart-firing-rates', 'chart-thresholds', 'chart-sops', 'chart-spikes']);
    expect(chartIds(data)).toEqual(['chart-accuracy', 'chart-firing-rates', 'chart-thresholds', 'chart-sops', 'chart-spikes']);
    expect(html).not.toContain('RSM');
    expect(html).not.toContain('<section id="chip"');
    expect(html).not.toContain('<section id="warnings"');
    expect(html).not.toContain('chart-energy');
    expect(html).toContain('No energy model was applied.');
    expect(html).toContain('<section id="provenance"');
  });

  it('shows the work per module of a transformer (every counting class and both energy figures), and none for a CNN', () => {
    const data = sampleReport();
    expect(renderReport(data)).not.toContain('Work per module');
    const work = (k: number) => ({
      sops: 1_000_000 * k, products: 20_000 * k, analog_spike_products: 30_000 * k, spike_driven: 1_050_000 * k, macs: 4_000 * k,
      softmax_ops: 500 * k, spike_driven_pj: 945_000 * k, energy_45nm_pj: 965_700 * k, literature_pj: 1_200_000 * k,
    });
    data.snn.modules = { attention: work(1), mlp: work(2), other: work(3), total: work(6) };
    const html = renderReport(data);
    const section = html.slice(html.indexOf('Work per module'), html.indexOf('</section>', html.indexOf('Work per module')));
    // Counts are printed with thin-space digit groups.
    const cells = [...section.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1].replace(/\s/g, ''));
    expect(cells.slice(0, 11)).toEqual(['SNN', 'attention', '1000000', '20000', '30000', '1050000', '4000', '500', fmtEnergy(945_000), fmtEnergy(965_700), fmtEnergy(1_200_000)].map((c) => c.replace(/\s/g, '')));
    expect(cells.slice(33, 36)).toEqual(['SNN', 'total', '6000000']);
    expect(section).toContain('only analog × analog products are MACs');
  });

  it('draws RSM without a chip, and a chip without RSM', () => {
    const a = renderReport(sampleReport({ chip: false }));
    expect(a).toContain('SNN + RSM');
    expect(a).not.toContain('chart-chip');
    const b = renderReport(sampleReport({ rsm: false }));
    expect(b).not.toContain('SNN + RSM');
    expect(b).toContain('id="chart-chip-mesh"');
    // Without masks the SNN series is just "SNN".
    expect(b).toContain('>SNN</text>');
  });

  it('lists provenance and every compile option', () => {
    const data = sampleReport();
    const html = renderReport(data);
    const prov = html.slice(html.indexOf('<section id="provenance"'));
    expect(prov).toContain('3f6c2a9e0b1d4c7f8a2e5b9d0c3f6a1e4b7d0a3c6f9e2b5d8a1c4f7e0b3d6a9c');
    expect(prov).toContain('fmnist_<wbr>calib_<wbr>x.<wbr>npy (512 samples)');
    for (const key of Object.keys(data.provenance.options)) expect(prov).toContain(`>${key.replaceAll('_', '_<wbr>')}</td>`);
    // Numbers are not broken inside.
    expect(prov).toContain('>99.99</td>');
    expect(prov).toContain('[&quot;act2:0.5&quot;]');
    expect(prov).toContain('>null</td>');
  });

  it('is one self-contained file: no scripts, no external fonts, images, styles or links', () => {
    for (const data of [sampleReport(), sampleReport({ rsm: false, energy: false, chip: false })]) {
      const html = withoutNamespaces(renderReport(data));
      expect(html).not.toMatch(/<script|<link|<img|<iframe|<object|<embed|@import|url\(|\ssrc=|\shref=|https?:|\/\//i);
      expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
    }
  });
});

describe('renderReport: escaping', () => {
  const payload = `<script>alert("x")</script><img src=x onerror='alert(1)'>&amp;`;

  function hostile(): ReportData {
    const data = sampleReport({ layerName: payload });
    data.title = payload;
    data.provenance.source = payload;
    data.provenance.options = { [payload]: payload, nested: { a: payload } };
    data.energy[0]!.name = payload;
    data.energy[0]!.source = payload;
    data.chip!.name = payload;
    data.chip!.layers[1]!.binding_limit = payload;
    data.warnings = [payload];
    data.snn.layers[1]!.kind = payload;
    return data;
  }

  it('escapes every piece of user text (layer names, options, model names, warnings, title)', () => {
    const html = renderReport(hostile());
    expect(html).not.toMatch(/<script|<img|onerror='/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain(`&lt;img src=x onerror=&#39;alert(1)&#39;&gt;&amp;amp;`);
    // In the <title> of the page and in the charts' tooltips too.
    expect(html).toMatch(/<title>&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
    expect(html).toContain('<title>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;alert(1)&#39;&gt;&amp;amp;\nSNN (no masks)');
  });

  it('keeps every tag balanced whatever the names are (no markup injected)', () => {
    const html = renderReport(hostile());
    const count = (re: RegExp) => (html.match(re) ?? []).length;
    for (const tag of ['svg', 'section', 'table', 'text', 'title', 'g']) {
      expect(count(new RegExp(`<${tag}[\\s>]`, 'g')), tag).toBe(count(new RegExp(`</${tag}>`, 'g')));
    }
  });
});

describe('renderReport: determinism', () => {
  it('renders the same bytes twice, and the same from a JSON round trip of the data', () => {
    const data = sampleReport({ extraLayers: 5 });
    const json = JSON.stringify(data);
    expect(JSON.parse(json)).toEqual(data); // plain JSON-able data
    const a = renderReport(data);
    expect(renderReport(data)).toBe(a);
    expect(renderReport(JSON.parse(json) as ReportData)).toBe(a);
    expect(JSON.stringify(data)).toBe(json); // rendering does not touch its input
  });

  it('writes no NaN, undefined, object text or long float noise', () => {
    for (const data of [sampleReport(), sampleReport({ rsm: false, chip: false, energy: false }), sampleReport({ extraLayers: 20 })]) {
      const html = renderReport(data);
      expect(html).not.toMatch(/NaN|undefined|\[object |Infinity/);
      expect(html).not.toMatch(/\.\d{7,}/); // coordinates have at most 2 decimals, labels 3–5 significant digits
    }
  });
});

/** The chip mesh of a rendered report, parsed: chips, tiles, used cores and links with their attributes. */
function parseMesh(html: string) {
  const start = html.indexOf('<svg xmlns="http://www.w3.org/2000/svg" id="chart-chip-mesh"');
  const svg = html.slice(start, html.indexOf('</svg>', start) + 6);
  const num = (tag: string, name: string) => Number(attr(tag, name));
  const rect = (tag: string) => ({ x: num(tag, 'x'), y: num(tag, 'y'), w: num(tag, 'width'), h: num(tag, 'height') });
  const chips = new Map([...svg.matchAll(/<rect class="chip" [^>]*>/g)].map((m) => [Number(attr(m[0], 'data-chip')), rect(m[0])]));
  const tiles = new Map([...svg.matchAll(/<rect class="tile" [^>]*>/g)].map((m) => [attr(m[0], 'data-tile')!, rect(m[0])]));
  const tileTitles = [...svg.matchAll(/<rect class="tile" [^>]*><title>([^<]*)<\/title>/g)].map((m) => m[1]!);
  const cores = [...svg.matchAll(/<g class="core"([^>]*)><title>([^<]*)<\/title>(.*?)<\/g>/gs)].map((m) => ({
    core: Number(attr(m[1]!, 'data-core')),
    layers: (attr(m[1]!, 'data-layers') ?? '').split(' ').filter(Boolean).map(Number),
    fill: Number(attr(m[1]!, 'data-fill')),
    title: m[2]!.replaceAll('&gt;', '>'),
    body: m[3]!,
  }));
  const links = [...svg.matchAll(/<line class="(link[^"]*)"( [^>]*)>/g)].map((m) => ({
    cls: m[1]!,
    end: attr(m[2]!, 'data-end'),
    from: attr(m[2]!, 'data-from')!,
    to: attr(m[2]!, 'data-to')!,
    p1: [num(m[2]!, 'x1'), num(m[2]!, 'y1')] as [number, number],
    p2: [num(m[2]!, 'x2'), num(m[2]!, 'y2')] as [number, number],
  }));
  return { svg, chips, tiles, tileTitles, cores, links };
}

/** Distance from a point to a rectangle (0 inside). */
function distance(p: [number, number], r: { x: number; y: number; w: number; h: number }): number {
  const dx = Math.max(r.x - p[0], 0, p[0] - (r.x + r.w));
  const dy = Math.max(r.y - p[1], 0, p[1] - (r.y + r.h));
  return Math.hypot(dx, dy);
}

/** Checks every drawn link: both ends name drawn tiles, a line runs from the one tile's edge to the other's, a stub from its tile's edge out of its chip's box. */
function checkLinks(mesh: ReturnType<typeof parseMesh>, tiles: { x: number; y: number }): void {
  expect(mesh.links.length).toBeGreaterThan(0);
  for (const l of mesh.links) {
    for (const e of [l.from, l.to]) {
      const [, xy] = e.split(':');
      const [x, y] = xy!.split(',').map(Number);
      expect(x, `${e}`).toBeLessThan(tiles.x);
      expect(y, `${e}`).toBeLessThan(tiles.y);
      expect(mesh.tiles.has(e), `link end ${e} is a drawn tile`).toBe(true);
    }
    const a = mesh.tiles.get(l.from)!;
    const b = mesh.tiles.get(l.to)!;
    const gap = 12;
    if (l.cls.includes('stub')) {
      const own = l.end === 'from' ? l.from : l.to;
      const tile = mesh.tiles.get(own)!;
      const chip = mesh.chips.get(Number(own.split(':')[0]))!;
      expect(distance(l.p1, tile), `stub ${l.from}→${l.to} starts at its tile`).toBeLessThan(3);
      expect(distance(l.p2, chip), `stub ${l.from}→${l.to} ends just outside its chip`).toBeGreaterThan(0);
      expect(distance(l.p2, chip)).toBeLessThan(20);
    } else {
      expect(distance(l.p1, a), `link ${l.from}→${l.to} starts at its tile`).toBeLessThan(gap);
      expect(distance(l.p2, b), `link ${l.from}→${l.to} ends at its tile`).toBeLessThan(gap);
      if (l.cls.includes('chip-link')) {
        // Across the boundary: the line leaves one chip's box and enters the other's.
        const ca = mesh.chips.get(Number(l.from.split(':')[0]))!;
        const cb = mesh.chips.get(Number(l.to.split(':')[0]))!;
        expect(distance(l.p1, ca)).toBe(0);
        expect(distance(l.p2, cb)).toBe(0);
      }
    }
  }
}

describe('renderReport: the chip view', () => {
  it('reads the map document as it is: every core lists the layers of its slices, per-layer cores are distinct cores', () => {
    const doc = sampleMapDoc(TINY, sampleLayers(['act1', 'act2', 'act3', 'fc']));
    const view = chipView(doc, { links: sampleLinks(doc), step_latency_ns: 1, energy_per_inference_pj: 1 });
    expect(view.cores.length).toBe(doc.cores.length);
    expect(view.mesh.chips).toBe(5);
    for (const c of view.cores) {
      const d = doc.cores[c.index]!;
      const expected = new Map<string, number>();
      for (const s of d.slices) expected.set(doc.slices[s]!.layer, (expected.get(doc.slices[s]!.layer) ?? 0) + doc.slices[s]!.neurons);
      expect(new Map(c.layers.map((l) => [l.id, l.neurons]))).toEqual(expected);
      // Tiles are per chip, and the chip is the document's.
      expect(c.chip).toBe(d.chip);
      expect(c.tile_x).toBeLessThan(TINY.tiles_x);
      expect(c.tile_y).toBeLessThan(TINY.tiles_y);
      expect(c.utilisation).toBe(Math.max(...Object.values(c.use)));
    }
    for (const l of view.layers) {
      const holding = new Set(doc.slices.filter((s) => s.layer === l.id).map((s) => s.core));
      expect(l.cores, l.id).toBe(holding.size);
      expect(l.slices).toBe(doc.slices.filter((s) => s.layer === l.id).length);
      expect(l.shared_cores).toBe([...holding].filter((c) => view.cores[c]!.layers.length > 1).length);
    }
    // Σ over layers of cores = Σ over cores of their layers.
    expect(view.layers.reduce((s, l) => s + l.cores, 0)).toBe(view.cores.reduce((s, c) => s + c.layers.length, 0));
    // Links: both ends local to their chips; a chip-to-chip link joins different chips.
    for (const k of view.links) {
      for (const [x, y] of [k.from, k.to]) {
        expect(x).toBeLessThan(TINY.tiles_x);
        expect(y).toBeLessThan(TINY.tiles_y);
      }
    }
    expect(view.links.some((k) => k.chip !== k.to_chip)).toBe(true);
  });

  for (const kind of ['single', 'multi'] as const) {
    it(`${kind} chip: cores show their layers and fills, counts agree with "cores used", links end at drawn tiles`, () => {
      const data = sampleReport({ chip: kind });
      const chip = data.chip!;
      const html = renderReport(data);
      const mesh = parseMesh(html);
      const number = new Map(chip.layers.map((l, i) => [l.id, i + 1]));
      // Every core drawn, with every layer of its slices in its data and its tooltip (layer → neurons).
      expect(mesh.cores.map((c) => c.core).sort((a, b) => a - b)).toEqual(chip.cores.map((c) => c.index).sort((a, b) => a - b));
      for (const drawn of mesh.cores) {
        const c = chip.cores.find((k) => k.index === drawn.core)!;
        expect(drawn.layers).toEqual(c.layers.map((l) => number.get(l.id)));
        for (const l of c.layers) expect(drawn.title).toContain(`${number.get(l.id)} ${l.id}: ${String(l.neurons).replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009')} neurons`);
        expect(drawn.title).toContain(`chip ${c.chip}, tile (${c.tile_x}, ${c.tile_y})`);
        expect(drawn.title).toContain(`binding limit: ${c.binding_limit}`);
        expect(drawn.fill).toBeCloseTo(c.utilisation, 2);
        // One fill part per layer.
        expect((drawn.body.match(/class="fill/g) ?? []).length).toBe(c.layers.length);
      }
      expect(mesh.cores.some((c) => c.layers.length > 1), 'some cores are shared').toBe(true);
      // Fills differ with use: a partly used core is drawn lower than a full one.
      const fills = new Set(mesh.cores.map((c) => c.fill));
      expect(fills.size).toBeGreaterThan(2);
      expect(Math.min(...fills)).toBeLessThan(0.8);
      // Per-layer core counts: the distinct cores holding the layer, in the bars' tooltips and the table.
      for (const l of chip.layers) {
        const holding = chip.cores.filter((c) => c.layers.some((k) => k.id === l.id)).length;
        expect(l.cores).toBe(holding);
        expect(html).toContain(`${esc(l.id)} — cores holding the layer: ${holding} cores</title>`);
      }
      // Totals agree: distinct cores = cores used; the per-layer sum is stated as such.
      const used = chip.cores.length;
      const sum = chip.layers.reduce((s, l) => s + l.cores, 0);
      expect(sum).toBeGreaterThan(used);
      const total = chip.mesh.chips * chip.mesh.tiles_x * chip.mesh.tiles_y * chip.mesh.cores_per_tile;
      expect(html).toContain(`<td>cores used</td><td>${used} of ${total} (`);
      expect(html).toContain(`>${used} distinct (Σ ${sum})</td>`);
      expect(html).toContain(`Summed over layers: ${sum} core counts for ${used} distinct cores used`);
      // Tiles are labelled per chip.
      expect(mesh.tiles.size).toBe(chip.mesh.chips * chip.mesh.tiles_x * chip.mesh.tiles_y);
      for (const t of mesh.tileTitles) {
        const m = /^chip (\d+), tile \((\d+), (\d+)\)$/.exec(t)!;
        expect(Number(m[2])).toBeLessThan(chip.mesh.tiles_x);
        expect(Number(m[3])).toBeLessThan(chip.mesh.tiles_y);
      }
      for (const m of html.matchAll(/<td>chip (\d+) \((\d+), (\d+)\)<\/td>/g)) {
        expect(Number(m[2])).toBeLessThan(chip.mesh.tiles_x);
        expect(Number(m[3])).toBeLessThan(chip.mesh.tiles_y);
      }
      expect(mesh.chips.size).toBeGreaterThanOrEqual(chip.mesh.chips);
      checkLinks(mesh, { x: chip.mesh.tiles_x, y: chip.mesh.tiles_y });
      if (kind === 'multi') {
        expect(mesh.links.filter((l) => l.cls.includes('chip-link')).length).toBeGreaterThan(0);
        expect(html).toContain('<h3>Chips</h3>');
      }
    });
  }

  it('a ~1000-core map on 8 chips: small cells without text, stubs between chips drawn apart, a report under 700 kB', () => {
    const data = sampleReport();
    data.chip = sampleLargeChip();
    const chip = data.chip;
    expect(chip.cores.length).toBeGreaterThan(950);
    expect(chip.mesh.chips).toBe(8);
    const html = renderReport(data);
    const mesh = parseMesh(html);
    expect(mesh.cores.length).toBe(chip.cores.length);
    expect(mesh.svg).not.toContain('class="core-label"');
    // The board's row of 8 chips is drawn as two rows of 4: chip 3 → chip 4 links become stubs.
    expect(mesh.links.some((l) => l.cls.includes('stub'))).toBe(true);
    checkLinks(mesh, { x: chip.mesh.tiles_x, y: chip.mesh.tiles_y });
    // No per-core table at this size; the chips' captions summarise.
    expect(html).not.toContain('<details>');
    expect(mesh.svg).toMatch(/>chip 7 · \d+\/128 cores · (\d+ layers|layers? [\d, ]+)</);
    expect(html.length).toBeLessThan(700_000);
    expect(mesh.svg.length).toBeLessThan(550_000);
  });
});

describe('svg helpers', () => {
  it('formats numbers compactly and deterministically', () => {
    expect(fmtNum(0)).toBe('0');
    expect(fmtNum(1)).toBe('1');
    expect(fmtNum(0.1871)).toBe('0.187');
    expect(fmtNum(1234)).toBe('1234');
    expect(fmtNum(123.456)).toBe('123');
    expect(fmtNum(12345)).toBe('12.3k');
    expect(fmtNum(16321384.1)).toBe('16.3M');
    expect(fmtNum(2.5e9)).toBe('2.5G');
    expect(fmtNum(999_960)).toBe('1000k');
    expect(fmtNum(-0.5)).toBe('−0.5');
    expect(fmtNum(3e-6)).toBe('3e-6');
    expect(fmtNum(Number.NaN)).toBe('n/a');
    expect(fmtEnergy(812)).toBe('812 pJ');
    expect(fmtEnergy(68.08e6)).toBe('68.1 µJ');
    expect(fmtEnergy(2.87e7)).toBe('28.7 µJ');
    expect(fmtEnergy(4.2e9)).toBe('4.2 mJ');
    expect(fmtEnergy(null)).toBe('—');
  });

  it('picks nice linear and decade ticks', () => {
    expect(linearTicks(0, 0.187, 5)).toEqual({ min: 0, max: 0.2, ticks: [0, 0.05, 0.1, 0.15, 0.2] });
    expect(linearTicks(0, 13, 5).ticks).toEqual([0, 5, 10, 15]);
    expect(linearTicks(2, 2).ticks.length).toBeGreaterThan(1);
    expect(logTicks(3e5, 10384521)).toEqual({ min: 1e5, max: 1e8, ticks: [1e5, 1e6, 1e7, 1e8] });
    // Just above a decade: one decade more below so the smallest bar shows.
    expect(logTicks(1.1e5, 2e6).ticks[0]).toBe(1e4);
  });

  it('shortens category labels and keeps them distinct', () => {
    expect(shorten('abcdefghij', 5)).toBe('ab…ij');
    expect(categoryLabels(['act1', 'act2'], 18)).toEqual(['act1', 'act2']);
    const onnx = [4, 5, 12].map((k) => `/features/features.${k}/conv_block/Relu_output_0`);
    expect(categoryLabels(onnx, 18)).toEqual(['…features.4…', '…features.5…', '…features.12…']);
    expect(categoryLabels(['act1', ...onnx], 18, true)).toEqual(['1 act1', '2 …features.4…', '3 …features.5…', '4 …features.12…']);
    // Names alike even after trimming: numbered.
    const alike = ['xxxxxxxxxxxxxxxxxxxxxxxxA_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy', 'xxxxxxxxxxxxxxxxxxxxxxxxB_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy'];
    const labels = categoryLabels(alike, 10);
    expect(new Set(labels).size).toBe(2);
    for (const l of labels) expect([...l].length).toBeLessThanOrEqual(10);
  });

  it('line chart: series, reference line, legend, axes and tooltips', () => {
    const svg = lineChart({
      id: 'c1',
      kind: 'accuracy',
      title: 'Acc',
      xLabel: 'T',
      yLabel: 'accuracy',
      series: [{ name: 'SNN', points: [[1, 0.1], [4, 0.8], [2, 0.5]] }],
      references: [{ name: 'ANN', value: 0.9 }],
      xScale: 'log2',
      yClamp: [0, 1],
    });
    expect(svg).toMatch(/^<svg [^>]*id="c1" data-chart="accuracy"/);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect((svg.match(/<circle class="mark"/g) ?? []).length).toBe(3);
    expect(svg).toContain('stroke-dasharray="6 4"'); // the reference line
    expect(svg).toContain('<title>ANN: 0.9</title>');
    expect(svg).toContain('class="legend"');
    expect(svg).toContain('<title>SNN: T = 4, accuracy = 0.8</title>');
    // x ticks at 1, 2, 4 for a log2 axis.
    expect([...svg.matchAll(/class="tick-label" x="[^"]*" y="[^"]*" text-anchor="middle"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual(['1', '2', '4']);
  });

  it('bar chart: grouped bars, log scale skips values ≤ 0, one tooltip per bar and per group', () => {
    const svg = barChart({
      id: 'b1',
      title: 'SOPs',
      categories: ['a', 'b', 'c'],
      series: [
        { name: 'S1', values: [10, 1000, 0] },
        { name: 'S2', values: [5, null, 100000] },
      ],
      yLabel: 'SOPs',
      log: true,
    });
    expect((svg.match(/<rect class="mark"/g) ?? []).length).toBe(4);
    expect((svg.match(/<rect class="hover"/g) ?? []).length).toBe(3);
    expect(svg).toContain('<title>c\nS1: 0\nS2: 100k</title>');
    expect(svg).toContain('SOPs (log)');
    for (const t of ['1', '10', '100', '1000', '10k', '100k']) expect(svg).toContain(`>${t}</text>`);
  });

  it('mesh chart: every core slot of every tile, used cores filled to their use and split by their parts, links with loads', () => {
    const svg = meshChart({
      id: 'm1',
      title: 'mesh',
      chips: 2,
      boardX: 2,
      tilesX: 3,
      tilesY: 2,
      coresPerTile: 4,
      cells: [
        { chip: 0, x: 0, y: 0, slot: 0, value: 1, parts: [{ colour: '#111111', share: 1 }], label: '1', title: 'core 0' },
        { chip: 1, x: 2, y: 1, slot: 3, value: 0.25, parts: [{ colour: '#222222', share: 0.75 }, { colour: '#333333', share: 0.25 }], label: '2+3', title: 'core 1' },
      ],
      links: [
        { from: { chip: 0, x: 0, y: 0 }, to: { chip: 0, x: 1, y: 0 }, load: 100, title: 'l1' },
        { from: { chip: 0, x: 2, y: 0 }, to: { chip: 1, x: 0, y: 0 }, load: 10, title: 'l2' },
      ],
      legend: [{ name: 'a', colour: '#111111' }],
      fillLabel: 'use',
      loadLabel: 'spikes',
    });
    expect((svg.match(/class="core unused"/g) ?? []).length).toBe(2 * 3 * 2 * 4 - 2);
    expect((svg.match(/<g class="core"/g) ?? []).length).toBe(2);
    expect((svg.match(/class="link mark"/g) ?? []).length).toBe(1);
    expect((svg.match(/class="link chip-link mark"/g) ?? []).length).toBe(1);
    expect((svg.match(/<rect class="chip"/g) ?? []).length).toBe(2);
    expect(svg).toContain('>chip 1<title>chip 1</title></text>');
    // The quarter-used core: two fill parts, 3 : 1 in width, a quarter of the cell high.
    const core = /<g class="core" data-fill="0.25">.*?<\/g>/.exec(svg)![0];
    const box = /<rect class="core-box mark" x="[^"]*" y="[^"]*" width="([^"]*)" height="([^"]*)"/.exec(core)!;
    const fills = [...core.matchAll(/<rect class="fill" x="[^"]*" y="[^"]*" width="([^"]*)" height="([^"]*)" fill="([^"]*)"/g)];
    expect(fills.map((f) => f[3])).toEqual(['#222222', '#333333']);
    expect(Number(fills[0]![1]) / Number(fills[1]![1])).toBeCloseTo(3, 1);
    expect(Number(fills[0]![2]) / Number(box[2])).toBeCloseTo(0.25, 2);
  });
});
