/**
 * `snnc compile <model.onnx> -o model.snn.json`: ANN → spiking IR. Loads the model, runs the pass list
 * (compiler/lower.ts), calibrates ReLU thresholds on `--calib` data with the ANN executor, writes the IR
 * and its weights side file, and prints a layer summary on stderr (stdout: JSON with --json).
 */
import { SnncError } from '../../compiler/errors.ts';
import type { AnnGraph } from '../../compiler/graph.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import type { LowerOptions } from '../../compiler/lower.ts';
import type { LayerStats, StatsRequest } from '../../runtime/ann/calibrate.ts';
import { checkOutputPath, createProgress, formatTable, printJson, type Progress } from '../common.ts';
import { loadDataset, type Dataset } from '../data.ts';
import { packageVersion } from '../version.ts';
import { warnIfLimitExceeds } from './simulate.ts';

export interface CompileOptions {
  output: string;
  calib?: string;
  calibLimit?: number;
  inputDivisor?: number;
  percentile: number;
  maxNorm?: boolean;
  perChannel?: boolean;
  vInit: 'half' | 'zero';
  maxpool: 'error' | 'avg';
  rsm: string[];
  /** Who runs the ANN for threshold balancing: onnxruntime (`ort`), the reference executor (`js`), or `auto`. */
  calibrationEngine?: 'auto' | 'ort' | 'js';
  /** Neuron rule of every population (docs/conversion.md): if (default) or lif with --leak λ; reset subtract (default) or zero. */
  neuron?: 'if' | 'lif';
  leak?: number;
  reset?: 'subtract' | 'zero';
  json?: boolean;
}

export interface LayerSummary {
  id: string;
  kind: string;
  shape: number[];
  neurons: number;
  threshold: string;
  source: string;
}

export async function compile(modelPath: string, options: CompileOptions): Promise<void> {
  checkOutputPath(options.output);
  if (!options.output.endsWith('.json')) throw new SnncError('the IR file name must end in .json (e.g. model.snn.json)', { file: options.output });
  const [{ loadOnnx }, { lower }, { parseRsmSpec }, { writeIr, weightsFileFor }, { activationStats }] = await Promise.all([
    import('../../compiler/onnx/load.ts'),
    import('../../compiler/lower.ts'),
    import('../../compiler/passes/insert-rsm.ts'),
    import('../../compiler/ir/io.ts'),
    import('../../runtime/ann/calibrate.ts'),
  ]);
  const graph = loadOnnx(modelPath);
  const percentile = options.maxNorm ? 100 : options.percentile;
  if (!(percentile > 0 && percentile <= 100)) throw new SnncError(`--percentile ${percentile}: expected a value in (0, 100]`);
  const divisor = options.inputDivisor ?? 1;
  const rsm = options.rsm.map(parseRsmSpec);
  const neuron = { model: options.neuron ?? 'if', leak: options.leak, reset: options.reset ?? 'subtract' } as const;
  if (neuron.model === 'lif' && neuron.leak === undefined) throw new SnncError('--neuron lif needs --leak <λ>, the membrane factor per step in (0, 1]');
  if (neuron.model === 'if' && neuron.leak !== undefined) throw new SnncError('--leak needs --neuron lif');
  const recorded = {
    percentile,
    per_channel: Boolean(options.perChannel),
    v_init: options.vInit,
    maxpool: options.maxpool,
    rsm: options.rsm,
    input_divisor: divisor,
    calib_limit: options.calibLimit ?? null,
    // Recorded only when not IF/subtract, so the IRs of a plain compile keep their bytes.
    ...(neuron.model !== 'if' || neuron.reset !== 'subtract' ? { neuron: neuron.model, leak: neuron.leak ?? null, reset: neuron.reset } : {}),
  };

  let calibrationSamples = 0;
  /** Who computed the activation statistics; unset when the model needed none (QCFS). */
  let calibrationEngine: 'js' | 'ort' | undefined;
  const progress = await createProgress('calibrate');
  const lowerOptions = {
    divisor,
    percentile,
    perChannel: Boolean(options.perChannel),
    vInit: options.vInit === 'zero' ? 0 : 0.5,
    neuron,
    maxpool: options.maxpool,
    rsm,
    snncVersion: packageVersion(),
    recorded,
  };
  const early = await calibrateWithOrt(modelPath, graph, options, lowerOptions, progress);
  const { ir, warnings } = lower(
    graph,
    lowerOptions,
    options.calib
      ? (requests) => {
          const data = early?.data ?? loadDataset({ input: options.calib!, limit: options.calibLimit, divisor }, graph.inputs[0]!);
          calibrationSamples = data.samples;
          calibrationEngine = early?.stats ? 'ort' : 'js';
          warnIfLimitExceeds('--calib-limit', options.calibLimit, data.samples, options.calib!);
          try {
            return early?.stats ?? activationStats(graph, data.x, requests, { percentile, onProgress: (d, t) => progress.update(d, t) });
          } finally {
            progress.stop();
          }
        }
      : undefined,
  );
  if (options.calib) {
    ir.provenance.calibration = { file: options.calib, samples: calibrationSamples, ...(calibrationEngine && { engine: calibrationEngine }) };
  }
  writeIr(ir, options.output);

  for (const w of warnings) process.stderr.write(`snnc: warning: ${w}\n`);
  const layers = summarise(ir);
  const summary = {
    model: modelPath,
    output: options.output,
    weights: weightsFileFor(options.output),
    neurons: layers.reduce((n, l) => n + l.neurons, 0),
    calibration: options.calib ? { file: options.calib, samples: calibrationSamples } : null,
    calibration_engine: calibrationEngine ?? null,
    warnings,
    layers,
  };
  if (options.json) printJson(summary);
  process.stderr.write(renderSummary(summary));
}

/**
 * `--calibration-engine`: with onnxruntime, the statistics are computed before lowering, since the session runs
 * asynchronously and lower() asks for them synchronously. A first lower() that stops at its `calibrate` call
 * finds the activations to calibrate, after its refusals, so those still come before the data is read.
 * Returns the data set it loaded (reused by the js path) and the statistics when onnxruntime ran.
 */
async function calibrateWithOrt(
  modelPath: string,
  graph: AnnGraph,
  options: CompileOptions,
  lowerOptions: LowerOptions,
  progress: Progress,
): Promise<{ data: Dataset; stats?: Map<string, LayerStats> } | undefined> {
  const engine = options.calibrationEngine ?? 'auto';
  if (!options.calib || engine === 'js') return undefined;
  const [{ lower }, ortCalibration] = await Promise.all([import('../../compiler/lower.ts'), import('../../runtime/ann/calibrate-ort.ts')]);
  // lower() refuses unsupported models before it asks for statistics: stop it there, with the requests.
  let requests: StatsRequest[] = [];
  const stop = new Error('requests captured');
  try {
    lower(graph, lowerOptions, (r) => {
      requests = r;
      throw stop;
    });
  } catch (e) {
    if (e !== stop) throw e;
  }
  if (requests.length === 0) return undefined;
  const data = loadDataset({ input: options.calib, limit: options.calibLimit, divisor: lowerOptions.divisor }, graph.inputs[0]!);
  let chosen: 'ort' | 'js' = engine === 'ort' ? 'ort' : 'js';
  if (engine === 'auto') {
    try {
      chosen = ortCalibration.chooseCalibrationEngine(engine, ortCalibration.calibrationWork(graph, requests), data.samples);
    } catch {
      // Shapes the MAC count cannot infer: a model the reference executor also cannot run; let it say why.
    }
  }
  if (chosen === 'js') return { data };
  try {
    const stats = await ortCalibration.ortActivationStats(modelPath, graph, data.x, requests, {
      percentile: lowerOptions.percentile,
      onProgress: (d, t) => progress.update(d, t),
    });
    return { data, stats };
  } catch (e) {
    if (!(e instanceof SnncError)) throw e;
    if (engine === 'ort') throw new SnncError(`${e.detail}; --calibration-engine js calibrates with the reference executor`, e.where);
    process.stderr.write(`snnc: warning: ${e.detail}; calibrating with the reference executor instead\n`);
    return { data };
  }
}

function summarise(ir: SnnIr): LayerSummary[] {
  return ir.nodes.map((n) => {
    const neurons = n.kind === 'if' ? n.shape.reduce((a, b) => a * b, 1) : 0;
    let threshold = '';
    let source = '';
    if (n.kind === 'if') {
      const t = Array.isArray(n.threshold) ? n.threshold : [n.threshold];
      threshold = t.length === 1 ? t[0].toPrecision(5) : `${Math.min(...t).toPrecision(4)}…${Math.max(...t).toPrecision(4)} (${t.length} ch)`;
      source = `${n.thresholdSource}, v0=${n.vInit}θ${n.model === 'lif' ? `, LIF λ=${n.leak}` : ''}${n.reset === 'zero' ? ', reset to 0' : ''}`;
    } else if (n.kind === 'rsm') {
      threshold = `p=${n.ratio}`;
      source = 'random spike masking';
    }
    return { id: n.id, kind: n.kind, shape: n.shape, neurons, threshold, source };
  });
}

function renderSummary(s: { output: string; weights: string; neurons: number; layers: LayerSummary[] }): string {
  const rows = [['layer', 'kind', 'shape', 'neurons', 'θ', 'from'], ...s.layers.map((l) => [l.id, l.kind, `[${l.shape.join(',')}]`, l.neurons ? String(l.neurons) : '', l.threshold, l.source])];
  return `${formatTable(rows, new Set([3]))}\nwrote ${s.output} and ${s.weights}: ${s.layers.length} nodes, ${s.neurons} IF neurons\n`;
}
