/**
 * `snnc compile <model.onnx> -o model.snn.json`: ANN → spiking IR. Loads the model, runs the pass list
 * (compiler/lower.ts), calibrates ReLU thresholds on `--calib` data with the ANN executor, writes the IR
 * and its weights side file, and prints a layer summary on stderr (stdout: JSON with --json).
 */
import { SnncError } from '../../compiler/errors.ts';
import type { AnnGraph } from '../../compiler/graph.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import type { LowerOptions } from '../../compiler/lower.ts';
import type { MeasureDeficits } from '../../compiler/passes/calibrate-v0.ts';
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
  /** Default zero; `calibrated` shifts v(0) of balanced ReLU layers by their measured deficit (compiler/passes/calibrate-v0.ts). */
  vInit?: 'half' | 'zero' | 'calibrated';
  /** T at which `--v-init calibrated` measures (default 32). */
  calibSteps?: number;
  maxpool: 'error' | 'avg';
  rsm: string[];
  /** Who runs the ANN for threshold balancing: onnxruntime (`ort`), the reference executor (`js`), or `auto`. */
  calibrationEngine?: 'auto' | 'ort' | 'js';
  /** Neuron rule of every population (docs/conversion.md): if (default), lif with --leak λ, or signed-if; reset subtract (default) or zero. */
  neuron?: 'if' | 'lif' | 'signed-if';
  leak?: number;
  reset?: 'subtract' | 'zero';
  /** Up to k spikes per step (graded). */
  burst?: number;
  /** Pick the neuron rule for small T (lowLatencyChoice) and say which. */
  lowLatency?: boolean;
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
  const choice = options.lowLatency ? lowLatencyChoice(options) : undefined;
  const perChannel = Boolean(options.perChannel) || Boolean(choice?.perChannel);
  const vInitMode = choice?.vInit ?? options.vInit ?? 'zero';
  const neuron = { model: choice?.model ?? options.neuron ?? 'if', leak: options.leak, reset: options.reset ?? 'subtract', ...(options.burst !== undefined && { burst: options.burst }) } as const;
  if (neuron.model === 'lif' && neuron.leak === undefined) throw new SnncError('--neuron lif needs --leak <λ>, the membrane factor per step in (0, 1]');
  if (neuron.model !== 'lif' && neuron.leak !== undefined) throw new SnncError('--leak needs --neuron lif');
  if (vInitMode === 'calibrated' && !options.calib) throw new SnncError('--v-init calibrated measures on the calibration set: give one with --calib');
  if (options.calibSteps !== undefined && vInitMode !== 'calibrated') throw new SnncError('--calib-steps needs --v-init calibrated');
  const calibSteps = options.calibSteps ?? 32;
  const recorded = {
    percentile,
    per_channel: perChannel,
    v_init: vInitMode,
    maxpool: options.maxpool,
    rsm: options.rsm,
    input_divisor: divisor,
    calib_limit: options.calibLimit ?? null,
    // Recorded only when not IF/subtract, so the IRs of a plain compile keep their bytes.
    ...(neuron.model !== 'if' || neuron.reset !== 'subtract' ? { neuron: neuron.model, leak: neuron.leak ?? null, reset: neuron.reset } : {}),
    ...(options.burst !== undefined && { burst: options.burst }),
    ...(vInitMode === 'calibrated' && { calib_steps: calibSteps }),
    ...(choice && { low_latency: choice.reason }),
  };

  let calibrationSamples = 0;
  /** Who computed the activation statistics; unset when the model needed none (QCFS). */
  let calibrationEngine: 'js' | 'ort' | undefined;
  const progress = await createProgress('calibrate');
  const lowerOptions = {
    divisor,
    percentile,
    perChannel,
    // A calibrated v(0) starts from θ/2 (the rounding offset) and moves by what the calibration set measures.
    vInit: vInitMode === 'zero' ? 0 : 0.5,
    neuron,
    maxpool: options.maxpool,
    rsm,
    snncVersion: packageVersion(),
    recorded,
  };
  const early = await calibrateWithOrt(modelPath, graph, options, lowerOptions, progress);
  const lowered = lower(
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
  const { warnings } = lowered;
  const ir = vInitMode === 'calibrated' ? await calibrateOffsets(lowered.ir, graph, options, calibSteps) : lowered.ir;
  if (choice) process.stderr.write(`snnc: --low-latency: ${choice.reason}\n`);
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
    ...(choice && { low_latency: choice.reason }),
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

/**
 * What `--low-latency` picks (measured in docs/accuracy.md): signed IF neurons for every model — they remove
 * the conversion's temporal error (a neuron that sent too many spikes early takes them back), and with v(0) =
 * θ/2 a QCFS network at T = L is its quantised ANN up to the neurons' one-spike-per-step limit — and, for
 * balanced ReLU layers, thresholds per channel, which lose less at the low end than one θ per layer. Bursts
 * (the other graded rule) were not better on the fixtures, and a calibrated v(0) matters for binary-spike chips,
 * where signed spikes are not available.
 */
export function lowLatencyChoice(options: CompileOptions): { model: 'signed-if'; vInit: 'half'; perChannel: true; reason: string } {
  const taken = [
    options.neuron !== undefined && '--neuron',
    options.leak !== undefined && '--leak',
    options.burst !== undefined && '--burst',
    options.reset !== undefined && options.reset !== 'subtract' && '--reset zero',
    options.vInit !== undefined && '--v-init',
  ].filter(Boolean);
  if (taken.length > 0) throw new SnncError(`--low-latency picks the neuron rule itself: drop ${taken.join(', ')}`);
  return {
    model: 'signed-if',
    vInit: 'half',
    perChannel: true,
    reason:
      'picked signed-if neurons (SpikeZIP-TF\'s ST-BIF: −1 spikes while the net count is positive), v(0) = θ/2 and per-channel thresholds for balanced ReLU layers; ' +
      'a chip needs negative spikes for them: a second axon per neuron or graded spikes (Loihi 2, not Loihi 1)',
  };
}

/**
 * `--v-init calibrated`: shifts v(0) of balanced ReLU layers by what the SNN misses of the ANN's mean activation
 * at T (compiler/passes/calibrate-v0.ts), measured by `snnc diagnose`'s comparison on the first 256
 * calibration samples (raw values: the IR divides them by its divisor).
 */
async function calibrateOffsets(ir: SnnIr, graph: AnnGraph, options: CompileOptions, T: number): Promise<SnnIr> {
  const { calibrateV0, balancedPopulations } = await import('../../compiler/passes/calibrate-v0.ts');
  if (balancedPopulations(ir).length === 0) return ir;
  const limit = Math.min(options.calibLimit ?? Infinity, 256);
  const data = loadDataset({ input: options.calib!, limit, divisor: 1 }, graph.inputs[0]!);
  const x = Float32Array.from(data.x.data as ArrayLike<number>);
  process.stderr.write(`snnc: calibrating v(0) at T = ${T} on ${data.samples} samples\n`);
  return calibrateV0(ir, deficitMeasure(x), T);
}

/** The v(0) pass's measurement on raw samples x: per population, (ANN mean − SNN mean) / mean θ at T, from `snnc diagnose`. */
export function deficitMeasure(x: Float32Array): MeasureDeficits {
  return async (current, steps) => {
    const { diagnose } = await import('../../runtime/snn/diagnose.ts');
    const d = await diagnose(current, x, { T: steps });
    return new Map(
      d.layers.map((l) => {
        const at = l.at.find((a) => a.T === steps)!;
        const node = current.nodes.find((n) => n.id === l.id);
        const theta = node?.kind === 'if' ? meanOf(node.threshold) : 1;
        return [l.id, (at.ann_mean - at.snn_mean) / theta];
      }),
    );
  };
}

function meanOf(v: number | number[]): number {
  return typeof v === 'number' ? v : v.reduce((a, b) => a + b, 0) / v.length;
}

function summarise(ir: SnnIr): LayerSummary[] {
  return ir.nodes.map((n) => {
    const neurons = n.kind === 'if' ? n.shape.reduce((a, b) => a * b, 1) : 0;
    let threshold = '';
    let source = '';
    if (n.kind === 'if') {
      const t = Array.isArray(n.threshold) ? n.threshold : [n.threshold];
      threshold = t.length === 1 ? t[0].toPrecision(5) : `${Math.min(...t).toPrecision(4)}…${Math.max(...t).toPrecision(4)} (${t.length} ch)`;
      source = `${n.thresholdSource}, v0=${n.vInit}θ${n.model === 'lif' ? `, LIF λ=${n.leak}` : ''}${n.model === 'signed-if' ? ', signed' : ''}${n.burst ? `, bursts ≤ ${n.burst}` : ''}${n.reset === 'zero' ? ', reset to 0' : ''}`;
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
