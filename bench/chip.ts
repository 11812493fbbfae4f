/**
 * Virtual chip benchmark: fmnist_cnn_qcfs mapped onto loihi1 (float weights, as `snnc demo` runs it, and
 * per-group quantised weights), the first 100 test images at T = 32 through runChip. Configuration (synapse
 * lists, routes) is timed apart from the run. Wall-clock rates depend on what else the machine runs.
 */
import { loadOnnx } from '../compiler/onnx/load.ts';
import { lower } from '../compiler/lower.ts';
import { readNpy, toLabels } from '../runtime/npy.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeIr } from '../compiler/ir/io.ts';
import { runChipThreads } from '../targets/chip/parallel.ts';
import { configureChip, configureFromMap, runChip } from '../targets/chip/simulate.ts';
import { readMap, sha256, writeMap } from '../targets/map/map-file.ts';
import { loadChipSpec } from '../targets/chip-spec.ts';
import { buildMap } from '../targets/map/map-file.ts';
import type { QuantizeMode } from '../targets/map/quantize.ts';

const SAMPLES = 100;
const T = 32;
const PIXELS = 28 * 28;
/** Samples of the threads' comparison (enough that starting a worker and configuring its chip are a small part). */
const THREAD_SAMPLES = 1000;

export async function benchChip(): Promise<Record<string, unknown>> {
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
  // `snnc chip --workers 2`: the same 1000 samples on 1 and 2 threads, from a map file (each worker configures its own chip from it).
  const dir = mkdtempSync(join(tmpdir(), 'snnc-bench-chip-'));
  try {
    const irFile = join(dir, 'fm.snn.json');
    writeIr(ir, irFile);
    const { doc } = buildMap(ir, 'fm.snn.json', sha256(readFileSync(irFile)), spec, {});
    writeMap(doc, join(dir, 'fm.map.json'));
    const cfg = configureChip(readMap(join(dir, 'fm.map.json')));
    const many = Float32Array.from((x.data as Uint8Array).subarray(0, THREAD_SAMPLES * PIXELS));
    const labels = toLabels(readNpy('test/fixtures/fmnist_test_y.npy')).subarray(0, THREAD_SAMPLES);
    for (const workers of [1, 2]) {
      const t0 = performance.now();
      const run = workers === 1 ? runChip(cfg, many, { T, labels }) : await runChipThreads(join(dir, 'fm.map.json'), cfg, many, { T, labels }, workers);
      const seconds = (performance.now() - t0) / 1000;
      out[`chip_fmnist_qcfs_w${workers}`] = { samples: THREAD_SAMPLES, T, workers, seconds: +seconds.toFixed(3), images_per_s: +(THREAD_SAMPLES / seconds).toFixed(1), accuracy: run.report.accuracy?.[String(T)] ?? null };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchChip(), null, 2));
}
