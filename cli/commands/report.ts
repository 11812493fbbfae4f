/**
 * `snnc report <model.snn.json> --input x.npy --labels y.npy [--map model.map.json] -o report.html`: one
 * self-contained HTML file (inline SVG, no network) with accuracy against T, per-layer diagnostics, energy in
 * every model, the chip view and the provenance. `--json` prints the measured data instead of a summary.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SnncError } from '../../compiler/errors.ts';
import { checkOutputPath, createProgress, printJson, writeFileAtomic } from '../common.ts';
import { inputScaleWarning } from '../../runtime/snn/diagnose.ts';
import type { ChipReport } from '../../targets/chip/simulate.ts';
import { type ImageFlags, imageOptions, openDataset, parseShard, scaleCheckSamples } from '../data.ts';
import { fileSha256, type Partial, toJsonArray, writePartial } from '../partial.ts';
import { packageVersion } from '../version.ts';
import { deserializeChunk, type SerializedChunk, serializeChunk, warnIfLimitExceeds } from './simulate.ts';

export interface ReportOptions extends ImageFlags {
  input: string;
  labels: string;
  map?: string;
  ann?: string;
  steps: number;
  limit?: number;
  chipLimit: number;
  seed: number;
  output: string;
  json?: boolean;
  /** `i/n`: measure shard i of n and write the partial result to `output` (snnc merge writes the page). */
  shard?: string;
}

export async function report(irPath: string, options: ReportOptions): Promise<void> {
  const shard = options.shard !== undefined ? parseShard(options.shard) : undefined;
  checkOutputPath(options.output);
  const [{ readIr }, { loadOnnx }, { readMap }, reportData, { renderReport }] = await Promise.all([
    import('../../compiler/ir/io.ts'),
    import('../../compiler/onnx/load.ts'),
    import('../../targets/map/map-file.ts'),
    import('../report-data.ts'),
    import('../../report/render.ts'),
  ]);
  const loadedMap = options.map ? readMap(options.map) : undefined;
  const ir = loadedMap?.ir ?? readIr(irPath);
  if (loadedMap && path.resolve(loadedMap.irFile) !== path.resolve(irPath)) {
    throw new SnncError(`the map was made for ${loadedMap.doc.ir.file}, not for ${irPath}`, { file: options.map });
  }
  const annPath = options.ann ?? ir.provenance.source;
  if (!existsSync(annPath)) {
    throw new SnncError(`the source model ${annPath} recorded in the IR is not there: give it with --ann <model.onnx>`, { file: irPath });
  }
  const data = await openDataset({ input: options.input, labels: options.labels, limit: options.limit, shard, images: imageOptions(options) }, { name: ir.input.id, dims: [-1, ...ir.input.shape] });
  warnIfLimitExceeds('--limit', options.limit, data.samples, options.input);
  const inputs = {
    ir,
    irFile: irPath,
    ann: loadOnnx(annPath),
    labels: data.labels!,
    samples: data.samples,
    evaluation: { input: options.input, labels: options.labels },
    T: options.steps,
    seed: options.seed,
    map: loadedMap && options.map ? { file: options.map, loaded: loadedMap } : undefined,
    chipSamples: options.chipLimit,
    snncVersion: packageVersion(),
    progress: createProgress,
  };
  // This run's samples stream from the source; the chip's (the first --chip-limit of the whole run: shard 0
  // runs the chip) and the first ones for the input-scale check (the same for every shard) are read here.
  let measured: Awaited<ReturnType<typeof reportData.measureReport>>;
  let scaleWarning: string | null;
  try {
    const chipX = loadedMap && data.from === 0 ? await data.source.read(0, Math.min(options.chipLimit, data.samples)) : null;
    scaleWarning = inputScaleWarning(await data.source.read(0, scaleCheckSamples(data.samples, data.source.sampleSize)), ir.input.divisor);
    measured = await reportData.measureReport(inputs, { source: data.source, from: data.from, to: data.to }, chipX);
  } finally {
    data.source.close();
  }
  if (shard) {
    const part: ReportPartialData = {
      ann: toJsonArray(measured.ann),
      converted: measured.converted ? toJsonArray(measured.converted) : null,
      snn: measured.snn.map(serializeChunk),
      snn_rsm: measured.snnRsm ? measured.snnRsm.map(serializeChunk) : null,
      chip: measured.chip,
      scale_warning: scaleWarning,
      labels: toJsonArray(data.labels!.subarray(data.from, data.to)),
    };
    const key: ReportKey = {
      ir: irPath,
      ir_sha256: fileSha256(irPath),
      ann: annPath,
      ann_sha256: fileSha256(annPath),
      map: options.map ?? null,
      map_sha256: options.map ? fileSha256(options.map) : null,
      input: options.input,
      labels: options.labels,
      limit: options.limit ?? null,
      T: options.steps,
      seed: options.seed,
      chip_limit: options.chipLimit,
      image_options: imageOptions(options),
      snnc: packageVersion(),
    };
    writePartial(options.output, 'report', key, shard, data, part);
    process.stderr.write(`wrote ${options.output}: shard ${shard.index}/${shard.count} of the report's measurements, samples ${data.from}…${data.to - 1} of ${data.samples}${measured.chip ? ' (and the virtual chip)' : ''}\n`);
    return;
  }
  const { data: result } = reportData.finishReport(inputs, measured, scaleWarning);
  if (result.ann_baseline.note) process.stderr.write(`snnc: note: ${result.ann_baseline.note}\n`);
  writeFileAtomic(options.output, renderReport(result));
  if (options.json) printJson(result);
  else process.stderr.write(`wrote ${options.output}\n`);
}

type ReportKey = {
  ir: string;
  ir_sha256: string;
  ann: string;
  ann_sha256: string;
  map: string | null;
  map_sha256: string | null;
  input: string;
  labels: string;
  limit: number | null;
  T: number;
  seed: number;
  chip_limit: number;
  image_options: ReturnType<typeof imageOptions>;
  snnc: string;
};

interface ReportPartialData {
  ann: number[];
  converted: number[] | null;
  snn: SerializedChunk[];
  snn_rsm: SerializedChunk[] | null;
  chip: ChipReport | null;
  scale_warning: string | null;
  labels: number[];
}

/** `snnc merge` of report parts: the HTML page one unsharded `snnc report` writes. */
export async function mergeReport(parts: Array<Partial & { file: string }>): Promise<string> {
  const [{ readIr }, { loadOnnx }, { readMap }, reportData, { renderReport }] = await Promise.all([
    import('../../compiler/ir/io.ts'),
    import('../../compiler/onnx/load.ts'),
    import('../../targets/map/map-file.ts'),
    import('../report-data.ts'),
    import('../../report/render.ts'),
  ]);
  const key = parts[0]!.key as ReportKey;
  for (const [file, sha] of [[key.ir, key.ir_sha256], [key.ann, key.ann_sha256], [key.map, key.map_sha256]] as const) {
    if (file && fileSha256(file) !== sha) throw new SnncError(`is not the file the parts were measured with (its sha256 differs from ${parts[0]!.file}'s)`, { file });
  }
  const loadedMap = key.map ? readMap(key.map) : undefined;
  const ir = loadedMap?.ir ?? readIr(key.ir);
  const data = parts.map((p) => {
    const d = p.data as ReportPartialData;
    if (!Array.isArray(d?.ann) || !Array.isArray(d.snn) || d.ann.length !== p.to - p.from) throw new SnncError('malformed report partial', { file: p.file });
    return d;
  });
  const cat = (pick: (d: ReportPartialData) => number[]) => Int32Array.from(data.flatMap(pick));
  const chip = data[0]!.chip;
  if (key.map && !chip) throw new SnncError('the first part has no virtual-chip run (shard 0 runs it)', { file: parts[0]!.file });
  const measured = {
    ann: cat((d) => d.ann),
    converted: data[0]!.converted ? cat((d) => d.converted ?? []) : null,
    snn: data.flatMap((d) => d.snn.map(deserializeChunk)),
    snnRsm: data[0]!.snn_rsm ? data.flatMap((d) => (d.snn_rsm ?? []).map(deserializeChunk)) : null,
    chip,
  };
  const inputs = {
    ir,
    irFile: key.ir,
    ann: loadOnnx(key.ann),
    labels: cat((d) => d.labels),
    samples: parts[0]!.samples,
    evaluation: { input: key.input, labels: key.labels },
    T: key.T,
    seed: key.seed,
    map: loadedMap && key.map ? { file: key.map, loaded: loadedMap } : undefined,
    chipSamples: key.chip_limit,
    snncVersion: key.snnc,
    progress: createProgress,
  };
  const { data: result } = reportData.finishReport(inputs, measured, data[0]!.scale_warning);
  return renderReport(result);
}
