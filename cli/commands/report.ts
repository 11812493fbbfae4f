/**
 * `snnc report <model.snn.json> --input x.npy --labels y.npy [--map model.map.json] -o report.html`: one
 * self-contained HTML file (inline SVG, no network) with accuracy against T, per-layer diagnostics, energy in
 * every model, the chip view and the provenance. `--json` prints the measured data instead of a summary.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SnncError } from '../../compiler/errors.ts';
import { checkOutputPath, createProgress, printJson, writeFileAtomic } from '../common.ts';
import { type ImageFlags, imageOptions, loadDatasetStreamed } from '../data.ts';
import { packageVersion } from '../version.ts';
import { warnIfLimitExceeds } from './simulate.ts';

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
}

export async function report(irPath: string, options: ReportOptions): Promise<void> {
  checkOutputPath(options.output);
  const [{ readIr }, { loadOnnx }, { readMap }, { collectReport }, { renderReport }] = await Promise.all([
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
  const data = await loadDatasetStreamed({ input: options.input, labels: options.labels, limit: options.limit, images: imageOptions(options) }, { name: ir.input.id, dims: [-1, ...ir.input.shape] });
  warnIfLimitExceeds('--limit', options.limit, data.samples, options.input);
  const { data: reportData } = await collectReport({
    ir,
    irFile: irPath,
    ann: loadOnnx(annPath),
    x: data.x.data as Float32Array,
    labels: data.labels!,
    samples: data.samples,
    evaluation: { input: options.input, labels: options.labels },
    T: options.steps,
    seed: options.seed,
    map: loadedMap && options.map ? { file: options.map, loaded: loadedMap } : undefined,
    chipSamples: options.chipLimit,
    snncVersion: packageVersion(),
    progress: createProgress,
  });
  if (reportData.ann_baseline.note) process.stderr.write(`snnc: note: ${reportData.ann_baseline.note}\n`);
  writeFileAtomic(options.output, renderReport(reportData));
  if (options.json) printJson(reportData);
  else process.stderr.write(`wrote ${options.output}\n`);
}
