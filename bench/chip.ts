/**
 * Virtual chip benchmark: fmnist_cnn_qcfs mapped onto loihi1 (float weights, as `snnc demo` runs it, and
 * per-group quantised weights), the first 100 test images at T = 32 through runChip. Configuration (synapse
 * lists, routes) is timed apart from the run. Wall-clock rates depend on what else the machine runs.
 */
import { loadOnnx } from '../compiler/onnx/load.ts';
import { lower } from '../compiler/lower.ts';
import { readNpy } from '../runtime/npy.ts';
import { configureFromMap, runChip } from '../targets/chip/simulate.ts';
import { loadChipSpec } from '../targets/chip-spec.ts';
import { buildMap } from '../targets/map/map-file.ts';
import type { QuantizeMode } from '../targets/map/quantize.ts';

const SAMPLES = 100;
const T = 32;
const PIXELS = 28 * 28;

export function benchChip(): Record<string, unknown> {
  const { ir } = lower(loadOnnx('test/fixtures/fmnist_cnn_qcfs.onnx'), {
    divisor: 255, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'bench', recorded: {},
  });
  const x = readNpy('test/fixtures/fmnist_test_x.npy');
  const input = Float32Array.from((x.data as Uint8Array).subarray(0, SAMPLES * PIXELS));
  const spec = loadChipSpec('loihi1');
  const out: Record<string, unknown> = {};
  for (const quantize of [null, 'per-group'] as Array<QuantizeMode | null>) {
    const { doc } = buildMap(ir, 'bench', '0'.repeat(64), spec, { quantize });
    const t0 = performance.now();
    const cfg = configureFromMap(doc, ir);
    const configureMs = performance.now() - t0;
    const t1 = performance.now();
    const { report } = runChip(cfg, input, { T });
    const seconds = (performance.now() - t1) / 1000;
    out[`chip_fmnist_qcfs${quantize ? '_quantized' : ''}`] = {
      samples: SAMPLES,
      T,
      cores: cfg.cores,
      seconds: +seconds.toFixed(3),
      images_per_s: +(SAMPLES / seconds).toFixed(1),
      sops_per_s: +((report.counts.synaptic_op * SAMPLES) / seconds).toExponential(3),
      messages_per_sample: Math.round(report.counts.message_out),
      configure_ms: +configureMs.toFixed(1),
    };
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(benchChip(), null, 2));
}
