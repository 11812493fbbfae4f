/**
 * Streamed inputs (issue 17): memory must not grow with the data set. Each step runs as its own process,
 * its peak RSS taken from GNU time and its RSS sampled every 250 ms (to show that it stays flat):
 *
 * - fmnist_simulate_10k: `snnc simulate` over the 10,000 Fashion-MNIST test images at T = 32 (target: < 1 GB);
 * - big_read_all: a 50,000 × 3 × 224 × 224 uint8 .npy (7.5 GB, written into --dir, never into the
 *   repository; the free space is checked first) read sample window by window through the same source
 *   `simulate` uses, converting each window to float32 (memory flat: the second half of the pass no higher
 *   than the first quarter, plus a little);
 * - big_ann_prefix: `snnc ann` on a ResNet-18 at 224 (bench/models/make_torchvision.py, as bench/scale.ts)
 *   over the first --prefix samples of that file;
 * - big_simulate_last: `snnc simulate --shard 49999/50000` of the converted ResNet-18: only the last sample
 *   is read (before streaming, the file could not be read at all: Node reads at most 2 GiB at once).
 *
 * Usage: npx tsx bench/stream.ts [--dir /tmp/snnc-stream] [--steps a,b,…] [--prefix 8] [--keep] [--no-save]
 * Merges its numbers into bench/results.json under `stream`. The big file is deleted afterwards unless --keep.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const REPO = resolve(import.meta.dirname, '..');
const RESULTS_FILE = join(REPO, 'bench', 'results.json');
const SCALE_DIR = '/tmp/snnc-scale';
const BIG = { samples: 50_000, shape: [3, 224, 224] };
const MB = 1024 * 1024;

const { values: opts } = parseArgs({
  options: {
    dir: { type: 'string', default: '/tmp/snnc-stream' },
    steps: { type: 'string' },
    prefix: { type: 'string', default: '8' },
    keep: { type: 'boolean', default: false },
    'no-save': { type: 'boolean', default: false },
    'read-pass': { type: 'string' },
  },
});

// Child mode: read every sample of a .npy through the streamed source.
if (opts['read-pass']) {
  const { openSource } = await import('../runtime/data/open.ts');
  const { forEachWindow } = await import('../runtime/data/source.ts');
  const source = await openSource({ kind: 'npy', path: opts['read-pass'] });
  let sum = 0;
  const t0 = performance.now();
  await forEachWindow(source, 0, source.samples, (x) => {
    for (let i = 0; i < x.length; i += 4099) sum += x[i]!;
  }, 255);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ samples: source.samples, seconds, checksum: sum })}\n`);
  process.exit(0);
}

const dir = resolve(opts.dir!);
mkdirSync(dir, { recursive: true });
const prefix = Number(opts.prefix);
const ALL = ['fmnist_simulate_10k', 'big_read_all', 'big_ann_prefix', 'big_simulate_last'] as const;
type Step = (typeof ALL)[number];
const steps = (opts.steps ? opts.steps.split(',') : [...ALL]) as Step[];
for (const s of steps) if (!ALL.includes(s)) throw new Error(`unknown step ${s} (steps: ${ALL.join(', ')})`);

interface Run {
  command: string;
  exit_code: number | null;
  seconds: number;
  cpu_seconds: number | null;
  peak_rss_mb: number;
  /** [seconds, RSS MiB] every 250 ms (thinned to at most 40 points). */
  rss_mb_series: Array<[number, number]>;
  stdout_tail: string;
  stderr_tail: string;
}

function run(label: string, args: string[]): Promise<Run> {
  const timeFile = join(dir, `${label}.time`);
  const useTime = existsSync('/usr/bin/time');
  const [cmd, argv] = useTime ? ['/usr/bin/time', ['-f', '%e %M %U %S', '-o', timeFile, process.execPath, ...args]] : [process.execPath, args];
  process.stderr.write(`bench:stream: ${label}: node ${args.join(' ')}\n`);
  const child = spawn(cmd, argv, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-20000)));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const t0 = performance.now();
  const series: Array<[number, number]> = [];
  const poll = setInterval(() => {
    // The node process: time's child (or the child itself without GNU time).
    const pids = useTime ? readChildren(child.pid!) : [child.pid!];
    const rss = pids.reduce((a, p) => a + rssMb(p), 0);
    if (rss > 0) series.push([+((performance.now() - t0) / 1000).toFixed(2), +rss.toFixed(1)]);
  }, 250);
  return new Promise((done) =>
    child.on('close', (code) => {
      clearInterval(poll);
      const seconds = (performance.now() - t0) / 1000;
      let peak = Math.max(0, ...series.map((s) => s[1]));
      let cpu: number | null = null;
      if (useTime && existsSync(timeFile)) {
        const [, m, u, s] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(/\s+/).map(Number);
        if (Number.isFinite(m)) peak = Math.max(peak, m! / 1024);
        if (Number.isFinite(u) && Number.isFinite(s)) cpu = +(u! + s!).toFixed(2);
      }
      const thin = Math.max(1, Math.ceil(series.length / 40));
      done({
        command: `node ${args.join(' ')}`,
        exit_code: code,
        seconds: +seconds.toFixed(2),
        cpu_seconds: cpu,
        peak_rss_mb: Math.round(peak),
        rss_mb_series: series.filter((_, i) => i % thin === 0 || i === series.length - 1),
        stdout_tail: stdout.trim().split('\n').slice(-3).join('\n').slice(-600),
        stderr_tail: stderr.trim().split('\n').slice(-2).join('\n'),
      });
    }),
  );
}

function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function rssMb(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

const cli = ['--import', 'tsx', join(REPO, 'cli', 'snnc.ts')];
const fx = (name: string) => join(REPO, 'test', 'fixtures', name);

/** Writes the synthetic uint8 file: a seeded xorshift pattern, a sample at a time (so this process stays small too). */
function writeBigNpy(path: string): void {
  const sampleBytes = BIG.shape.reduce((a, b) => a * b, 1);
  const need = BIG.samples * sampleBytes + 128;
  // Kept from an earlier --keep run: the header is 128 bytes.
  if (existsSync(path) && statSync(path).size === need) return;
  const free = statfsSync(dir).bavail * statfsSync(dir).bsize;
  if (free < need * 1.2) throw new Error(`${dir}: ${(free / 1e9).toFixed(1)} GB free, the synthetic file needs ${(need / 1e9).toFixed(1)} GB`);
  const dict = `{'descr': '|u1', 'fortran_order': False, 'shape': (${BIG.samples}, ${BIG.shape.join(', ')}), }`;
  const headerLength = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const head = Buffer.alloc(10 + headerLength, 0x20);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(headerLength, 8);
  head.write(dict, 10, 'latin1');
  head[10 + headerLength - 1] = 0x0a;
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  writeSync(fd, head);
  const block = Buffer.alloc(sampleBytes * 16);
  let s = 0x9e3779b9;
  const t0 = performance.now();
  const words = new Int32Array(block.buffer, block.byteOffset, block.length >> 2);
  for (let at = 0; at < BIG.samples; at += 16) {
    for (let i = 0; i < words.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      words[i] = s;
    }
    writeSync(fd, block, 0, Math.min(16, BIG.samples - at) * sampleBytes);
  }
  closeSync(fd);
  renameSync(tmp, path);
  process.stderr.write(`bench:stream: wrote ${path} (${(need / 1e9).toFixed(2)} GB) in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

const results: Partial<Record<Step, Run & Record<string, unknown>>> = {};
const bigFile = join(dir, 'big_uint8_50000x3x224x224.npy');
const needsBig = steps.some((s) => s.startsWith('big_'));
try {
  if (steps.includes('fmnist_simulate_10k')) {
    const ir = join(dir, 'fmnist_cnn_qcfs.snn.json');
    spawnSync(process.execPath, [...cli, 'compile', fx('fmnist_cnn_qcfs.onnx'), '-o', ir, '--input-divisor', '255'], { cwd: REPO, stdio: 'ignore' });
    const r = await run('fmnist_simulate_10k', [...cli, 'simulate', ir, '--input', fx('fmnist_test_x.npy'), '--labels', fx('fmnist_test_y.npy'), '-T', '32', '--json']);
    let accuracy: unknown = null;
    try {
      accuracy = JSON.parse(r.stdout_tail.slice(r.stdout_tail.indexOf('{'))).accuracy?.['32'] ?? null;
    } catch {
      /* --json output longer than the tail: the accuracy is in the log */
    }
    results.fmnist_simulate_10k = { ...r, samples: 10_000, T: 32, target_peak_rss_mb: 1024, met: r.exit_code === 0 && r.peak_rss_mb < 1024, accuracy_T32: accuracy };
  }
  if (needsBig) writeBigNpy(bigFile);
  if (steps.includes('big_read_all')) {
    const r = await run('big_read_all', ['--import', 'tsx', join(REPO, 'bench', 'stream.ts'), '--read-pass', bigFile]);
    const late = r.rss_mb_series.filter(([t]) => t >= r.seconds / 2).map(([, m]) => m);
    const early = r.rss_mb_series.filter(([t]) => t <= r.seconds / 4).map(([, m]) => m);
    const growth = Math.max(0, ...late) - Math.max(0, ...early);
    const pass = JSON.parse(r.stdout_tail.split('\n').at(-1) || '{}') as { seconds?: number };
    results.big_read_all = {
      ...r,
      file_gb: +((BIG.samples * 3 * 224 * 224) / 1e9).toFixed(2),
      read_gb_per_s: pass.seconds ? +((BIG.samples * 3 * 224 * 224) / 1e9 / pass.seconds).toFixed(2) : null,
      rss_growth_second_half_mb: Math.round(growth),
      met: r.exit_code === 0 && growth < 64 && r.peak_rss_mb < 1024,
    };
  }
  const resnet = join(SCALE_DIR, 'resnet18_224.onnx');
  if ((steps.includes('big_ann_prefix') || steps.includes('big_simulate_last')) && !existsSync(resnet)) {
    throw new Error(`${resnet} missing: run bench/models/make_torchvision.py (npx tsx bench/scale.ts makes it)`);
  }
  if (steps.includes('big_ann_prefix')) {
    const r = await run('big_ann_prefix', [...cli, 'ann', resnet, '--input', bigFile, '--limit', String(prefix), '--input-divisor', '255', '--batch-size', '4', '--json']);
    results.big_ann_prefix = { ...r, samples: prefix, met: r.exit_code === 0 && r.peak_rss_mb < 3072 };
  }
  if (steps.includes('big_simulate_last')) {
    const ir = join(dir, 'resnet18_224.snn.json');
    const c = spawnSync(process.execPath, [...cli, 'compile', resnet, '-o', ir, '--maxpool', 'avg', '--calib', join(SCALE_DIR, 'resnet18_224_calib_x.npy')], { cwd: REPO, encoding: 'utf8' });
    if (c.status !== 0) throw new Error(`compile resnet18_224: ${c.stderr.trim().split('\n').at(-1)}`);
    const r = await run('big_simulate_last', [...cli, 'simulate', ir, '--input', bigFile, '--input-divisor', '255', '-T', '8', '--shard', `${BIG.samples - 1}/${BIG.samples}`, '-o', join(dir, 'last.part.json')]);
    results.big_simulate_last = { ...r, samples: 1, T: 8, met: r.exit_code === 0 && r.peak_rss_mb < 3072 };
  }
} finally {
  if (needsBig && !opts.keep) rmSync(bigFile, { force: true });
}

for (const [step, r] of Object.entries(results)) {
  process.stdout.write(`${step.padEnd(22)} exit ${r!.exit_code}  ${String(r!.seconds).padStart(7)} s  peak RSS ${String(r!.peak_rss_mb).padStart(5)} MB  ${r!.met ? 'met' : 'NOT met'}\n`);
}

if (!opts['no-save']) {
  const all: Record<string, unknown> = existsSync(RESULTS_FILE) ? JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) : {};
  const previous = ((all.stream as { steps?: object } | undefined)?.steps ?? {}) as Record<string, unknown>;
  all.stream = {
    description:
      'issue 17: streamed inputs, one child process per step; peak_rss_mb = GNU time / sampled VmRSS; big_* use a synthetic ' +
      `${BIG.samples} × ${BIG.shape.join(' × ')} uint8 .npy written at run time (never committed)`,
    date: new Date().toISOString(),
    node_version: process.version,
    machine: { cpus: availableParallelism(), memory_gb: +(totalmem() / 1024 / MB).toFixed(1) },
    commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).stdout.trim(),
    steps: { ...previous, ...results },
  };
  const tmp = `${RESULTS_FILE}.${process.pid}.tmp`;
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`);
  renameSync(tmp, RESULTS_FILE);
  process.stderr.write(`wrote ${RESULTS_FILE} (key "stream")\n`);
}
