/**
 * Scale benchmark (issue 11): the networks people convert, run through the CLI as a user would.
 *
 *   npm run bench:scale [-- --models resnet34_32,vgg16_32] [--steps compile,simulate] [--timeout 300]
 *                          [--mem-limit 16] [--out-dir /tmp/snnc-scale] [--cli path/to/snnc.ts|snnc.js] [--no-save]
 *
 * The models (torchvision ResNet-18 and MobileNet-V2 at 224×224, ResNet-34 and the CIFAR form of VGG-16-BN at
 * 32×32; random weights, re-drawn BatchNorm statistics, opset 13) are written by bench/models/make_torchvision.py
 * into --out-dir (default /tmp/snnc-scale, outside the repository); this script runs it when they are missing.
 * mst_swint_32 (issue 12) is a Swin-T-sized Masked Spiking Transformer (embed 96, depths 2-2-6-2, heads
 * 3-6-12-24, window 4, 32×32 RGB input with 2×2 patches; untrained), written by
 * fixtures-src/make_mst_fixtures.py --only swint when missing: compile (no calibration: QCFS) and simulate one
 * image at T = 16, each within 60 s and 2 GB; map and chip run it too (host nodes on the embedded processors),
 * without labels and with the CNNs' map and chip targets; its population map is skipped.
 * For each model, one after the other, each step is a separate child process of the CLI:
 *
 *   compile   snnc compile <model>.onnx --calib <16 images> [--maxpool avg]
 *   simulate  snnc simulate (1 image, T = 32): SOPs per image and SOP/s (one image runs on one thread)
 *   map       snnc map --chip loihi1 (onto the smallest Loihi 1 system that holds it: the 224 models take Pohoiki Beach's 64 chips)
 *   map_population  snnc map --chip loihi1 --synapses population (cores with Loihi's shared-weight synapses, and without)
 *   chip      snnc chip (1 image, T = 8) on the map, or on the population map when only that one succeeded
 *
 * Each child runs under /usr/bin/time (wall time, peak RSS, CPU time) with a time limit (--timeout seconds;
 * SIGTERM, then SIGKILL 5 s later) and a memory cap (--mem-limit GB over the RSS of the child's whole process tree,
 * polled every 250 ms; SIGKILL). A step that fails, times out or is killed is recorded with its exit code and the
 * last line of its stderr, and the steps that need its output are recorded as skipped. Every child's stdout and
 * stderr are kept in <out-dir>/runs/<model>/. The table goes to stdout; the results are merged into
 * bench/results.json under `scale` (per model and step, each step with its date), with the issue's targets and
 * whether each is met. Not a timed test: nothing here runs under `npm test`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const REPO = resolve(import.meta.dirname, '..');
const RESULTS_FILE = join(REPO, 'bench', 'results.json');
const GENERATOR = join(REPO, 'bench', 'models', 'make_torchvision.py');
const PYTHON = '/usr/bin/python3';
const GNU_TIME = '/usr/bin/time';

const MODELS = ['resnet18_224', 'mobilenet_v2_224', 'resnet34_32', 'vgg16_32', 'mst_swint_32'] as const;
/** The transformer row: its own generator, T and targets (issue 12). */
const MST = 'mst_swint_32';
const MST_GENERATOR = join(REPO, 'fixtures-src', 'make_mst_fixtures.py');
const MST_T = 16;
const MST_TARGETS: Partial<Record<Step, { max_s: number; max_rss_mb: number }>> = {
  compile: { max_s: 60, max_rss_mb: 2 * 1024 },
  simulate: { max_s: 60, max_rss_mb: 2 * 1024 },
};
const STEPS = ['compile', 'simulate', 'map', 'chip', 'map_population'] as const;
type Step = (typeof STEPS)[number];
/** The order steps run in: the chip runs on whichever map succeeded, so both maps come first. */
const RUN_ORDER: readonly Step[] = ['compile', 'simulate', 'map', 'map_population', 'chip'];
const SIM_T = 32;
const CHIP_T = 8;
const MB = 1024 * 1024;

/** Issue 11's "done when": each step within these limits on a 2-core machine (GB read as GiB). */
const TARGETS: Record<Step, { max_s: number; max_rss_mb: number }> = {
  compile: { max_s: 120, max_rss_mb: 3 * 1024 },
  simulate: { max_s: 120, max_rss_mb: 3 * 1024 },
  map: { max_s: 120, max_rss_mb: 3 * 1024 },
  chip: { max_s: 240, max_rss_mb: 4 * 1024 },
  map_population: { max_s: 120, max_rss_mb: 3 * 1024 },
};
const SOPS_TARGET = { model: 'resnet18_224', sops_per_cpu_s: 1e9 };

interface Manifest {
  [model: string]: {
    files: { onnx: string; calib_x: string; test_x: string; test_y: string };
    input_shape: number[];
    classes: number;
    params: number;
    maxpool: boolean;
  };
}

interface StepRecord {
  status: 'ok' | 'fail' | 'timeout' | 'killed' | 'skipped';
  seconds: number | null;
  peak_rss_mb: number | null;
  cpu_s: number | null;
  exit_code: number | null;
  signal?: string;
  error?: string;
  command: string;
  date: string;
  [metric: string]: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Options

const { values: opts } = parseArgs({
  options: {
    models: { type: 'string', default: MODELS.join(',') },
    steps: { type: 'string', default: STEPS.join(',') },
    timeout: { type: 'string', default: '300' },
    'mem-limit': { type: 'string', default: '16' },
    'out-dir': { type: 'string', default: '/tmp/snnc-scale' },
    cli: { type: 'string' },
    'no-save': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  process.stdout.write(
    [
      'usage: npm run bench:scale -- [options]',
      `  --models a,b       subset of ${MODELS.join(', ')} (default: all, in that order)`,
      `  --steps a,b        subset of ${STEPS.join(', ')} (default: all); a step whose input is missing is skipped`,
      '  --timeout <s>      time limit per step in seconds (default 300)',
      '  --mem-limit <GB>   kill a step whose process tree holds more than this RSS (default 16)',
      '  --out-dir <dir>    models and run outputs (default /tmp/snnc-scale; must be outside the repository)',
      '  --cli <file>       the CLI to run: a .ts (run with tsx) or .js file (default: cli/snnc.ts of this checkout)',
      '  --no-save          print the table only; leave bench/results.json alone',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

function fail(message: string): never {
  process.stderr.write(`bench:scale: ${message}\n`);
  process.exit(2);
}

const models = opts.models.split(',').filter(Boolean);
const steps = new Set(opts.steps.split(',').filter(Boolean));
for (const m of models) if (!(MODELS as readonly string[]).includes(m)) fail(`unknown model ${m}; known: ${MODELS.join(', ')}`);
for (const s of steps) if (!(STEPS as readonly string[]).includes(s)) fail(`unknown step ${s}; known: ${STEPS.join(', ')}`);
const timeoutS = Number(opts.timeout);
if (!(timeoutS > 0)) fail(`--timeout must be a positive number of seconds, got ${opts.timeout}`);
const memLimitGb = Number(opts['mem-limit']);
if (!(memLimitGb > 0)) fail(`--mem-limit must be a positive number of GB, got ${opts['mem-limit']}`);
const memLimitMb = memLimitGb * 1024;
const outDir = resolve(opts['out-dir']);
if (!relative(REPO, outDir).startsWith('..') && !isAbsolute(relative(REPO, outDir))) {
  fail(`--out-dir ${outDir} is inside the repository; the models are large and must not be committed`);
}
const cliFile = resolve(opts.cli ?? join(REPO, 'cli', 'snnc.ts'));
if (!existsSync(cliFile)) fail(`CLI ${cliFile} not found${cliFile.endsWith('.js') ? ' (npm run build writes dist/)' : ''}`);
const cliArgv = cliFile.endsWith('.ts') ? ['--import', 'tsx', cliFile] : [cliFile];
const cliLabel = `node ${cliArgv.map((a) => (isAbsolute(a) && !relative(REPO, a).startsWith('..') ? relative(REPO, a) : a)).join(' ')}`;

// ---------------------------------------------------------------------------------------------------------------
// Models

function ensureModels(): Manifest {
  const torchvision = models.filter((m) => m !== MST);
  const manifest = torchvision.length ? ensureTorchvision(torchvision) : {};
  if (models.includes(MST)) manifest[MST] = ensureMst();
  return manifest;
}

/** The Swin-T-sized MST: generated into --out-dir when missing (about a minute). */
function ensureMst(): Manifest[string] {
  const onnx = `${MST}.onnx`;
  const x = `${MST}_x.npy`;
  if (!existsSync(join(outDir, onnx)) || !existsSync(join(outDir, x))) {
    const how = `${PYTHON} ${relative(REPO, MST_GENERATOR)} --only swint ${outDir}`;
    process.stderr.write(`bench:scale: generating ${MST}: ${how}\n`);
    const gen = spawnSync(PYTHON, [MST_GENERATOR, '--only', 'swint', outDir], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (gen.status !== 0) fail(`the MST generator failed (exit ${gen.status}): ${how}`);
  }
  return { files: { onnx, calib_x: x, test_x: x, test_y: '' }, input_shape: [3, 32, 32], classes: 10, params: 27505232, maxpool: false };
}

function ensureTorchvision(models: string[]): Manifest {
  const manifestFile = join(outDir, 'manifest.json');
  const have = (): Manifest | null => {
    if (!existsSync(manifestFile)) return null;
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
    const complete = models.every((m) => manifest[m] && Object.values(manifest[m].files).every((f) => existsSync(join(outDir, f))));
    return complete ? manifest : null;
  };
  const found = have();
  if (found) return found;
  const how = `${PYTHON} ${relative(REPO, GENERATOR)} ${outDir} --models ${models.join(',')}`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision, onnx, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    fail(
      `models missing in ${outDir}, and ${PYTHON} cannot import torch/torchvision/onnx/numpy ` +
        `(apt-get install -y python3-torch python3-torchvision python3-onnx python3-numpy); then: ${how}`,
    );
  }
  process.stderr.write(`bench:scale: generating the models: ${how}\n`);
  const gen = spawnSync(PYTHON, [GENERATOR, outDir, '--models', models.join(',')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (gen.status !== 0) fail(`the model generator failed (exit ${gen.status}): ${how}`);
  return have() ?? fail(`the generator ran but ${manifestFile} still lacks some of ${models.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Running one child: wall time, peak RSS, CPU time, time limit, memory cap

interface ChildResult {
  exitCode: number | null;
  signal: string | null;
  wallS: number;
  peakRssMb: number;
  cpuS: number | null;
  killed: 'timeout' | 'memory' | null;
  stdout: string;
  lastStderr: string;
}

let current: { pids: () => number[] } | null = null;

function procChildren(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      /* the task ended */
    }
  }
  return out;
}

function processTree(root: number): number[] {
  const seen: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    seen.push(pid);
    queue.push(...procChildren(pid));
  }
  return seen;
}

/** VmRSS and VmHWM of a process in MiB (0 when it is gone). */
function memoryMb(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

function killTree(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

function lastLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const lines = text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split(/[\r\n]+/).map((l) => l.trim()).filter(Boolean);
  return lines.at(-1) ?? '';
}

async function runChild(label: string, args: string[], logBase: string): Promise<ChildResult> {
  const useTime = existsSync(GNU_TIME);
  const timeFile = `${logBase}.time`;
  rmSync(timeFile, { force: true });
  const nodeArgs = [...cliArgv, ...args];
  const [cmd, argv] = useTime
    ? [GNU_TIME, ['-f', '%e %M %U %S', '-o', timeFile, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const stderrFd = openSync(`${logBase}.stderr.log`, 'w');
  const child = spawn(cmd, argv, {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const t0 = performance.now();
  const stdout: Buffer[] = [];
  let stderrTail = '';
  child.stdout.on('data', (d: Buffer) => stdout.push(d));
  child.stderr.on('data', (d: Buffer) => {
    writeSync(stderrFd, d);
    stderrTail = (stderrTail + d.toString('utf8')).slice(-16384);
  });

  // The tree below the child (under /usr/bin/time: the node process and anything it starts); time itself is
  // left alone so that it still reports.
  const below = () => processTree(child.pid!).filter((p) => !useTime || p !== child.pid);
  current = { pids: below };
  let killed: ChildResult['killed'] = null;
  let peakHwm = 0;
  let peakTreeRss = 0;
  let lastBeat = 0;
  const poll = setInterval(() => {
    const pids = below();
    let rss = 0;
    for (const p of pids) {
      const m = memoryMb(p);
      rss += m.rss;
      peakHwm = Math.max(peakHwm, m.hwm);
    }
    peakTreeRss = Math.max(peakTreeRss, rss);
    const elapsed = (performance.now() - t0) / 1000;
    if (!killed && rss > memLimitMb) {
      killed = 'memory';
      killTree(pids, 'SIGKILL');
    } else if (!killed && elapsed > timeoutS) {
      killed = 'timeout';
      killTree(pids, 'SIGTERM');
      setTimeout(() => killTree(below(), 'SIGKILL'), 5000).unref();
    }
    if (elapsed - lastBeat >= 30) {
      lastBeat = elapsed;
      process.stderr.write(`  ${label}: ${elapsed.toFixed(0)} s, RSS ${(rss / 1024).toFixed(2)} GB\n`);
    }
  }, 250);

  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on('close', (c, s) => done([c, s])));
  clearInterval(poll);
  current = null;
  closeSync(stderrFd);
  const wallS = (performance.now() - t0) / 1000;

  const result: ChildResult = {
    exitCode: code,
    signal,
    wallS,
    peakRssMb: Math.max(peakHwm, peakTreeRss),
    cpuS: null,
    killed,
    stdout: Buffer.concat(stdout).toString('utf8'),
    lastStderr: lastLine(stderrTail),
  };
  if (useTime && existsSync(timeFile)) {
    // "Command terminated by signal N" (or "Command exited with non-zero status N") may precede the format line.
    const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
    const sig = /terminated by signal (\d+)/.exec(lines.join('\n'));
    const [e, m, u, s] = lines.at(-1)!.trim().split(/\s+/).map(Number);
    if ([e, m, u, s].every(Number.isFinite)) {
      result.wallS = e;
      result.peakRssMb = Math.max(m / 1024, peakHwm);
      result.cpuS = +(u + s).toFixed(2);
    }
    if (sig) {
      result.signal = signalName(Number(sig[1]));
      result.exitCode = 128 + Number(sig[1]);
    }
  }
  return result;
}

function signalName(n: number): string {
  const names: Record<number, string> = { 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };
  return names[n] ?? `signal ${n}`;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (current) killTree(current.pids(), 'SIGKILL');
    process.stderr.write(`bench:scale: ${sig}: stopped (results.json not written)\n`);
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The steps

function parseJson(text: string): Record<string, any> | null {
  try {
    return JSON.parse(text) as Record<string, any>;
  } catch {
    return null;
  }
}

const round = (x: number, digits = 2) => +x.toFixed(digits);

/** What each step's --json output contributes to its record. */
const METRICS: Record<Step, (j: Record<string, any>, r: ChildResult) => Record<string, unknown>> = {
  compile: (j) => ({
    neurons: j.neurons,
    layers: Array.isArray(j.layers) ? j.layers.length : undefined,
    warnings: Array.isArray(j.warnings) ? j.warnings.length : undefined,
  }),
  simulate: (j, r) => {
    const sops = j.sops_per_sample * j.samples;
    return {
      samples: j.samples,
      T: j.T,
      sops_per_sample: Math.round(j.sops_per_sample),
      macs_per_sample: Math.round(j.macs_per_sample),
      sim_seconds: round(j.seconds, 3),
      // SOPs per second of plan building and simulation (wall), and per CPU-second of every thread over that span (simulate --json's own count).
      sops_per_s: +(sops / j.seconds).toExponential(3),
      sops_per_cpu_s: typeof j.sops_per_cpu_second === 'number' ? +j.sops_per_cpu_second.toExponential(3) : null,
      // The whole process's CPU time (loading, plan building and simulation): a lower bound.
      sops_per_process_cpu_s: r.cpuS ? +(sops / r.cpuS).toExponential(3) : null,
      // Transformers: spike-driven work per module (modules found from the graph's structure).
      ...(j.attention ? { spike_driven_per_module: Object.fromEntries(Object.entries(j.modules as Record<string, { spike_driven: number }>).map(([k, m]) => [k, Math.round(m.spike_driven)])) } : {}),
    };
  },
  map: (j) => mapFigures(j),
  map_population: (j) => mapFigures(j),
  chip: (j) => ({
    samples: j.samples,
    T: j.T,
    synaptic_ops: j.counts?.synaptic_op,
    chip_hops: j.counts?.chip_hop,
    energy_uj: j.energy?.per_inference?.chip?.total_pj != null ? round(j.energy.per_inference.chip.total_pj / 1e6, 3) : undefined,
    latency_us: j.latency?.per_inference_ns != null ? round(j.latency.per_inference_ns / 1e3, 1) : undefined,
    run_seconds: j.seconds != null ? round(j.seconds, 3) : undefined,
  }),
};

/** What a map's --json summary says about its size: cores, chips, tiles, links, hops, and cores without population synapses. */
function mapFigures(j: Record<string, any>): Record<string, unknown> {
  return {
    cores: j.totals?.cores,
    chips: j.totals?.chips,
    // The system the map was placed on (the smallest of the chip's that holds it).
    board: j.board?.name ?? (j.board ? `${j.board.chips_x} x ${j.board.chips_y}` : undefined),
    tiles: j.totals?.tiles,
    lower_bound_cores: j.totals?.lower_bound?.cores,
    synapses: j.totals?.synapses,
    neurons: j.totals?.neurons,
    synapses_mode: j.options?.synapses,
    output_axons: j.options?.output_axons ?? 'neuron',
    links: j.totals?.links?.used,
    inter_chip_links: j.totals?.links?.inter_chip,
    spike_hops: j.traffic?.spike_hops?.placed != null ? Math.round(j.traffic.spike_hops.placed) : undefined,
    chip_hops: j.traffic?.chip_hops != null ? Math.round(j.traffic.chip_hops) : undefined,
    discrete_cores: j.discrete?.cores,
    discrete_refused: j.discrete?.refused,
  };
}

async function runModel(model: string, manifest: Manifest): Promise<Partial<Record<Step, StepRecord>>> {
  const m = manifest[model];
  const dir = join(outDir, 'runs', model);
  mkdirSync(dir, { recursive: true });
  const file = (name: keyof Manifest[string]['files']) => join(outDir, m.files[name]);
  const ir = join(dir, `${model}.snn.json`);
  const map = join(dir, `${model}.map.json`);
  const popMap = map.replace(/\.map\.json$/, '.pop.map.json');
  const mst = model === MST;
  const plan: Record<Step, { args: string[]; needs: string | null; writes: string[] }> = {
    compile: mst ? { args: ['compile', file('onnx'), '-o', ir, '--json'], needs: null, writes: [ir, ir.replace(/\.json$/, '.bin')] } : {
      args: ['compile', file('onnx'), '-o', ir, '--calib', file('calib_x'), ...(m.maxpool ? ['--maxpool', 'avg'] : []), '--json'],
      needs: null,
      writes: [ir, ir.replace(/\.json$/, '.bin')],
    },
    simulate: {
      args: mst
        ? ['simulate', ir, '--input', file('test_x'), '--limit', '1', '-T', String(MST_T), '--json']
        : ['simulate', ir, '--input', file('test_x'), '--labels', file('test_y'), '--limit', '1', '-T', String(SIM_T), '--json'],
      needs: ir,
      writes: [],
    },
    map: { args: ['map', ir, '--chip', 'loihi1', '-o', map, '--json'], needs: ir, writes: [map] },
    chip: {
      args: ['chip', map, '--input', file('test_x'), ...(mst ? [] : ['--labels', file('test_y')]), '--limit', '1', '-T', String(CHIP_T), '--json'],
      needs: map,
      writes: [],
    },
    // The same map with Loihi's population synapses: issue 11 asks for cores with and without them.
    map_population: { args: ['map', ir, '--chip', 'loihi1', '--synapses', 'population', '-o', popMap, '--json'], needs: ir, writes: [popMap] },
  };
  const failedOutputs = new Map<string, string>(); // output file -> why it is not there
  const records: Partial<Record<Step, StepRecord>> = {};
  for (const step of RUN_ORDER) {
    if (!steps.has(step)) continue;
    // The chip runs on the map, or on the population map when the map failed and that one did not.
    if (step === 'chip' && !existsSync(map)) {
      const other = [popMap].find((f) => existsSync(f) && !failedOutputs.has(f));
      if (other) {
        plan.chip.args[1] = other;
        plan.chip.needs = other;
      }
    }
    const { args, needs, writes } = plan[step];
    const command = `snnc ${args.map((a) => (isAbsolute(a) ? relative(outDir, a) : a)).join(' ')}`;
    const date = new Date().toISOString();
    const base = { seconds: null, peak_rss_mb: null, cpu_s: null, exit_code: null, command, date, commit: cliCommit };
    if (mst && step === 'map_population') {
      records[step] = { status: 'skipped', ...base, error: 'skipped: the transformer row maps with the default layout only' };
      continue;
    }
    if (needs && (failedOutputs.has(needs) || !existsSync(needs))) {
      const producer = needs === ir ? 'compile' : needs === popMap ? 'map_population' : 'map';
      const why = failedOutputs.get(needs) ?? `no ${relative(outDir, needs)} (run ${producer} first)`;
      records[step] = { status: 'skipped', ...base, error: `skipped: ${why}` };
      for (const w of writes) failedOutputs.set(w, why);
      process.stderr.write(`${model} ${step}: skipped (${why})\n`);
      continue;
    }
    for (const w of writes) rmSync(w, { force: true }); // never let a later step read an earlier run's output
    process.stderr.write(`${model} ${step}: ${command}\n`);
    const r = await runChild(`${model} ${step}`, args, join(dir, step));
    writeFileSync(join(dir, `${step}.stdout.json`), r.stdout);
    const ok = r.exitCode === 0 && !r.killed;
    const record: StepRecord = {
      status: ok ? 'ok' : r.killed === 'timeout' ? 'timeout' : r.killed === 'memory' ? 'killed' : 'fail',
      ...base,
      seconds: round(r.wallS, 1),
      peak_rss_mb: Math.round(r.peakRssMb),
      cpu_s: r.cpuS,
      exit_code: r.exitCode,
    };
    if (r.signal) record.signal = r.signal;
    if (!ok) {
      const what =
        r.killed === 'timeout'
          ? `timed out after ${timeoutS} s`
          : r.killed === 'memory'
            ? `killed: RSS over the ${memLimitGb} GB cap`
            : r.signal
              ? `killed by ${r.signal}`
              : `exit ${r.exitCode}`;
      record.error = r.lastStderr ? `${what}; ${r.lastStderr}` : what;
      for (const w of writes) failedOutputs.set(w, `${step} ${record.status === 'fail' ? 'failed' : record.status === 'killed' ? 'was killed' : 'timed out'}`);
    } else {
      const j = parseJson(r.stdout);
      if (j) Object.assign(record, METRICS[step](j, r));
      else record.error = 'exit 0 but stdout is not one JSON object';
    }
    records[step] = record;
    process.stderr.write(`${model} ${step}: ${describe(record)}\n`);
  }
  return records;
}

// ---------------------------------------------------------------------------------------------------------------
// Table, targets, results.json

function gb(mb: number | null): string {
  return mb == null ? '' : `${(mb / 1024).toFixed(2)} GB`;
}

function describe(r: StepRecord): string {
  if (r.status === 'skipped') return 'skipped';
  const status = r.status === 'ok' ? 'ok' : `${r.status.toUpperCase()} (exit ${r.exit_code})`;
  const cpu = r.cpu_s != null ? ` (cpu ${r.cpu_s.toFixed(1)})` : '';
  // Map steps: the cores and chips of the mapping.
  const size = r.status === 'ok' && typeof r.cores === 'number' ? `, ${r.cores} cores / ${r.chips} chips` : '';
  return `${r.seconds} s${cpu}, ${gb(r.peak_rss_mb)}${size}, ${status}`;
}

function table(results: Record<string, Partial<Record<Step, StepRecord>>>, only: string[]): string {
  const header = ['model', ...STEPS.map((s) => (s === 'simulate' ? `simulate (1 image, T=${SIM_T}; ${MST}: T=${MST_T})` : s === 'chip' ? `chip (1 image, T=${CHIP_T})` : s)), 'SOP per CPU-s'];
  const rows = only.map((model) => {
    const r = results[model] ?? {};
    const sops = r.simulate?.status === 'ok' ? (r.simulate.sops_per_cpu_s as number | undefined) : undefined;
    return [model, ...STEPS.map((s) => (r[s] ? describe(r[s]!) : '—')), sops != null ? sops.toExponential(2) : '—'];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]) => `| ${cells.map((x, c) => x.padEnd(widths[c])).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  const errors = only.flatMap((model) =>
    STEPS.filter((s) => results[model]?.[s]?.error && results[model]?.[s]?.status !== 'skipped').map(
      (s) => `${model} ${s}: ${results[model]![s]!.error}`,
    ),
  );
  return [...out, ...(errors.length ? ['', ...errors] : [])].join('\n');
}

function targets(results: Record<string, Partial<Record<Step, StepRecord>>>): Record<string, unknown> {
  const perModel: Record<string, unknown> = {};
  let all: boolean | null = true;
  const and = (met: boolean | null) => {
    if (met === false) all = false;
    else if (met === null && all) all = null;
  };
  for (const model of MODELS) {
    const r = results[model] ?? {};
    perModel[model] = Object.fromEntries(
      STEPS.map((s) => {
        const rec = r[s];
        const t = (model === MST ? MST_TARGETS[s] : TARGETS[s]) ?? TARGETS[s];
        const met =
          !rec || rec.status === 'skipped'
            ? null
            : rec.status === 'ok' && rec.seconds! <= t.max_s && rec.peak_rss_mb! <= t.max_rss_mb;
        and(met);
        return [s, met];
      }),
    );
  }
  const sim = results[SOPS_TARGET.model]?.simulate;
  const measured = sim?.status === 'ok' ? ((sim.sops_per_cpu_s as number | undefined) ?? null) : null;
  const sopsMet = sim && sim.status !== 'skipped' ? measured != null && measured >= SOPS_TARGET.sops_per_cpu_s : null;
  and(sopsMet);
  return {
    limits: TARGETS,
    note: 'met, per model and step: within the limits (true), failed or over them (false), not run or skipped (null)',
    met: perModel,
    sops_per_cpu_s: { model: SOPS_TARGET.model, target: SOPS_TARGET.sops_per_cpu_s, measured, met: sopsMet },
    all_met: all,
  };
}

/** The commit of the checkout the CLI comes from, and whether its source differs from that commit. */
function gitDescribe(): string {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: dirname(cliFile), encoding: 'utf8' });
  const top = git('rev-parse', '--show-toplevel').stdout?.trim();
  const head = git('rev-parse', '--short', 'HEAD').stdout?.trim();
  if (!top || !head) return 'unknown (the CLI is not in a git checkout)';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'cli', 'compiler', 'runtime', 'targets'], {
    cwd: top,
    encoding: 'utf8',
  }).stdout.trim();
  return `${head}${dirty ? ' + uncommitted changes in cli/compiler/runtime/targets' : ''}`;
}

const cliCommit = gitDescribe();
const manifest = ensureModels();
const runs: Record<string, Partial<Record<Step, StepRecord>>> = {};
const started = performance.now();
for (const model of models) runs[model] = await runModel(model, manifest);
const minutes = (performance.now() - started) / 60000;

// Merge into what results.json already has (read again now: another bench may have written it meanwhile).
const results: Record<string, any> = existsSync(RESULTS_FILE) ? JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) : {};
const previous = (results.scale?.models ?? {}) as Record<string, { steps?: Partial<Record<Step, StepRecord>> }>;
const merged: Record<string, Partial<Record<Step, StepRecord>>> = {};
for (const model of MODELS) {
  // Steps no longer run (map_board: the plain map now picks the system) are dropped with their stale records.
  const kept = Object.entries(previous[model]?.steps ?? {}).filter(([step]) => (STEPS as readonly string[]).includes(step));
  const steps = { ...Object.fromEntries(kept), ...(runs[model] ?? {}) };
  if (Object.keys(steps).length) merged[model] = steps;
}

process.stdout.write(`${table(runs, models)}\n`);
process.stdout.write(`(${minutes.toFixed(1)} min; ${cliLabel}; logs in ${join(outDir, 'runs')})\n`);

if (!opts['no-save']) {
  results.scale = {
    description:
      'issue 11: torchvision models (bench/models/make_torchvision.py) through the CLI, one child process per step; ' +
      `seconds = wall, peak_rss_mb = the child's peak RSS (GNU time), simulate = 1 image at T = ${SIM_T}, chip = 1 image at T = ${CHIP_T}`,
    date: new Date().toISOString(),
    node_version: process.version,
    machine: { cpus: availableParallelism(), memory_gb: round(totalmem() / 1024 / MB, 1) },
    cli: cliLabel,
    commit: cliCommit,
    timeout_s: timeoutS,
    mem_limit_gb: memLimitGb,
    models: Object.fromEntries(
      Object.entries(merged).map(([model, steps]) => {
        const m = manifest[model];
        return [model, { params: m?.params, input_shape: m?.input_shape, classes: m?.classes, maxpool_avg: m?.maxpool, steps }];
      }),
    ),
    targets: targets(merged),
  };
  const tmp = `${RESULTS_FILE}.${process.pid}.tmp`;
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(tmp, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(tmp, RESULTS_FILE);
  process.stderr.write(`wrote ${RESULTS_FILE} (key "scale")\n`);
}
