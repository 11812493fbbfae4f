import { describe, expect, it } from 'vitest';
import { chartIds, fmtEnergy, renderReport } from '../../report/render.ts';
import { barChart, categoryLabels, fmtNum, lineChart, linearTicks, logTicks, meshChart, shorten } from '../../report/svg.ts';
import type { ReportData } from '../../report/types.ts';
import { sampleReport } from './sample.ts';

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
