/**
 * The exported ONNX model (snnc export-onnx) against the event-driven simulator on fmnist_cnn_qcfs, the first
 * 1000 test images at T = 32: accuracy at every checked T (1, 2, …, 32; 8 and 16 among them) from both, how
 * many spike counts differ per neuron and image, the SOPs recomputed from the exported spike counts, and
 * images/s of each on two CPU cores (onnxruntime-node with 2 intra-op threads, batches of 25; the simulator
 * with 2 workers). Wall-clock rates depend on what else the machine runs; images per CPU second (all threads)
 * much less so. Writes JSON on stdout when run alone:
 *
 *   npx tsx bench/export-onnx.ts [samples]
 */
import { SnncError } from '../compiler/errors.ts';
import { lower } from '../compiler/lower.ts';
import { loadOnnx } from '../compiler/onnx/load.ts';
import { readNpy } from '../runtime/npy.ts';
import { buildPlan } from '../runtime/snn/plan.ts';
import { simulatePlan } from '../runtime/snn/simulate.ts';
import { exportOnnx } from '../targets/onnx/export.ts';
import { runOnnxExport, sopsFromSpikeCounts } from '../targets/onnx/run.ts';

const T = 32;
const PIXELS = 28 * 28;
const BATCH = 25;

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1e6;
}

export async function benchExportOnnx(samples = 1000): Promise<Record<string, unknown>> {
  const { ir } = lower(loadOnnx('test/fixtures/fmnist_cnn_qcfs.onnx'), {
    divisor: 255, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'bench', recorded: {},
  });
  const x = Float32Array.from((readNpy('test/fixtures/fmnist_test_x.npy').data as Uint8Array).subarray(0, samples * PIXELS));
  const labels = Int32Array.from(readNpy('test/fixtures/fmnist_test_y.npy').data.subarray(0, samples) as ArrayLike<number>, Number);
  const t0 = performance.now();
  const { bytes } = exportOnnx(ir, { T });
  const exportMs = performance.now() - t0;

  let onnx: Awaited<ReturnType<typeof runOnnxExport>>;
  const cpu0 = process.cpuUsage();
  try {
    onnx = await runOnnxExport(bytes, ir, x, { T, labels, batch: BATCH, threads: 2, keepCounts: true });
  } catch (e) {
    if (e instanceof SnncError) return { export_onnx_fmnist_qcfs: { skipped: e.message } };
    throw e;
  }
  const onnxCpu = cpuSeconds(cpu0);
  const plan = buildPlan(ir);
  const cpu1 = process.cpuUsage();
  const sim = await simulatePlan(plan, x, { T, labels, workers: 2 });
  const simCpu = cpuSeconds(cpu1);

  // Spike counts per neuron and image: the simulator's, from its spike lists, a batch at a time.
  const P = plan.pops.length;
  let spikes = 0;
  let absDiff = 0;
  let neuronsDiffering = 0;
  const imageDiffers = new Uint8Array(samples);
  const perLayer: Record<string, number> = {};
  for (let from = 0; from < samples; from += BATCH) {
    const n = Math.min(BATCH, samples - from);
    const rec = await simulatePlan(plan, x.subarray(from * PIXELS, (from + n) * PIXELS), { T, workers: 1, recordSpikes: true });
    // Masks are keyed by the sample index: this network has none, so a batch alone sees the same spikes.
    plan.pops.forEach((p, pi) => {
      const exported = onnx.counts!.get(p.id)!;
      const count = new Float32Array(p.size);
      for (let s = 0; s < n; s++) {
        count.fill(0);
        const r = rec.spikes![s];
        for (let t = 1; t <= T; t++) for (let k = r.offsets[(t - 1) * P + pi]; k < r.offsets[(t - 1) * P + pi + 1]; k++) count[r.indices[k]]++;
        for (let i = 0; i < p.size; i++) {
          spikes += count[i];
          const d = Math.abs(count[i] - exported[(from + s) * p.size + i]);
          if (d > 0) {
            absDiff += d;
            neuronsDiffering++;
            imageDiffers[from + s] = 1;
            perLayer[p.id] = (perLayer[p.id] ?? 0) + d;
          }
        }
      }
    });
  }
  let predictionDiffs = 0;
  for (let e = 0; e < onnx.predictions.length; e++) if (onnx.predictions[e] !== sim.checkpoint_predictions[e]) predictionDiffs++;
  const sops = sopsFromSpikeCounts(plan, onnx.spikeTotals).total / samples;
  const round = (a: Record<string, number>) => Object.fromEntries(Object.entries(a).map(([k, v]) => [k, +v.toFixed(4)]));
  return {
    export_onnx_fmnist_qcfs: {
      samples,
      T,
      model_bytes: bytes.length,
      export_ms: +exportMs.toFixed(1),
      onnx: { runtime: 'onnxruntime-node (CPU)', threads: 2, batch: BATCH, seconds: +onnx.seconds.toFixed(3), images_per_s: +(samples / onnx.seconds).toFixed(1), images_per_cpu_s: +(samples / onnxCpu).toFixed(1), accuracy: round(onnx.accuracy!) },
      simulate: { workers: 2, seconds: +sim.seconds.toFixed(3), images_per_s: +(samples / sim.seconds).toFixed(1), images_per_cpu_s: +(samples / simCpu).toFixed(1), accuracy: round(sim.accuracy!) },
      accuracy_equal: Object.fromEntries(onnx.checkpoints.map((t) => [t, onnx.accuracy![t] === sim.accuracy![t]])),
      prediction_differences: predictionDiffs,
      spike_counts: { spikes, abs_difference: absDiff, neurons_differing: neuronsDiffering, images_differing: imageDiffers.reduce((a, b) => a + b, 0), per_layer: perLayer },
      sops_per_sample: { from_exported_counts: sops, simulate: sim.sops_per_sample, relative_difference: +(sops / sim.sops_per_sample - 1).toExponential(2) },
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchExportOnnx(Number(process.argv[2] ?? 1000)), null, 2));
}
