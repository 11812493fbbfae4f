/**
 * AnnGraph → spiking IR: the pass list, in one visible place. Each pass is a function IR → IR in
 * compiler/passes/. Calibration (running the ANN on a data set) is the caller's: the compiler asks for
 * the statistics it needs through `calibrate`, so it never imports the runtime.
 */
import { SnncError } from './errors.ts';
import type { AnnGraph } from './graph.ts';
import type { SnnIr } from './ir/types.ts';
import { importOnnx } from './onnx/to-ir.ts';
import { captureActivations } from './passes/capture-activations.ts';
import { constantArithmetic } from './passes/constant-arithmetic.ts';
import { foldBatchnorm } from './passes/fold-batchnorm.ts';
import { mergeBias } from './passes/merge-bias.ts';
import type { ActivationStats, CalibrationRequest, NeuronOptions } from './passes/convert-neurons.ts';
import { activationAxis, calibrationRequests, convertNeurons } from './passes/convert-neurons.ts';
import type { MaxPoolPolicy } from './passes/convert-pooling.ts';
import { convertPooling } from './passes/convert-pooling.ts';
import type { RsmSpec } from './passes/insert-rsm.ts';
import { insertRsm } from './passes/insert-rsm.ts';
import { checkSupported } from './passes/check-supported.ts';

export interface LowerOptions extends NeuronOptions {
  divisor: number;
  maxpool: MaxPoolPolicy;
  rsm: RsmSpec[];
  snncVersion: string;
  /** Recorded verbatim as provenance. */
  recorded: Record<string, unknown>;
}

export type Calibrate = (requests: CalibrationRequest[]) => Map<string, ActivationStats>;

export interface Lowered {
  ir: SnnIr;
  warnings: string[];
}

/** The ANN-level passes: everything up to, not including, the choice of thresholds. */
export function lowerAnn(graph: AnnGraph, opts: Pick<LowerOptions, 'divisor' | 'snncVersion' | 'recorded'>): SnnIr {
  let ir = importOnnx(graph, { divisor: opts.divisor, snncVersion: opts.snncVersion, options: opts.recorded });
  ir = captureActivations(ir);
  ir = constantArithmetic(ir);
  ir = foldBatchnorm(ir);
  ir = mergeBias(ir);
  return ir;
}

export function lower(graph: AnnGraph, opts: LowerOptions, calibrate?: Calibrate): Lowered {
  try {
    return runPasses(graph, opts, calibrate);
  } catch (e) {
    throw e instanceof SnncError ? e.inFile(graph.source.path) : e;
  }
}

function runPasses(graph: AnnGraph, opts: LowerOptions, calibrate?: Calibrate): Lowered {
  const warnings: string[] = [];
  const ir = lowerAnn(graph, opts);
  refuseBeforeCalibration(ir, opts);
  const requests = calibrationRequests(ir);
  const stats = requests.length && calibrate ? calibrate(requests) : new Map<string, ActivationStats>();
  return { ir: thresholdedPasses(ir, stats, opts, warnings), warnings };
}

/** Everything from the choice of thresholds on. */
function thresholdedPasses(ir: SnnIr, stats: Map<string, ActivationStats>, opts: LowerOptions, warnings: string[]): SnnIr {
  ir = convertNeurons(ir, stats, opts);
  ir = convertPooling(ir, opts.maxpool, warnings);
  ir = insertRsm(ir, opts.rsm);
  return checkSupported(ir);
}

/**
 * Calibration can take minutes, and no refusal after it depends on its numbers: the passes run once on
 * unit thresholds first, so an unsupported model (MaxPool, LayerNorm, GELU, a --rsm that matches no layer)
 * is refused before any data is read.
 */
function refuseBeforeCalibration(ir: SnnIr, opts: LowerOptions): void {
  const unit = new Map<string, ActivationStats>();
  for (const n of ir.nodes) {
    if (n.kind === 'relu' || n.kind === 'relu6') unit.set(n.value, { layer: 1, channels: new Array<number>(n.shape[activationAxis(n.shape)]).fill(1) });
  }
  thresholdedPasses(ir, unit, opts, []);
}
