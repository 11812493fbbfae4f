/**
 * Seeded fuzz of the input kinds fuzz.test.ts does not cover (issue 14): .npy data (through `snnc ann` and
 * `snnc simulate`, in process), core maps (readMap, configureChip, a short run of the virtual chip) and chip
 * specs (loadChipSpec on a file, then mapping and running a small network on the chip it describes).
 *
 * Every mutant is made field by field from a valid file and must be accepted (and then its result finite
 * and consistent, where that can be checked) or refused with a one-line SnncError that names the file.
 * Anything else (another exception type, an error naming no file or spanning lines, an accepted mutant with
 * a non-finite or inconsistent result, a mutant taking 20 s or more) is a failure that prints the mutant,
 * unless it is on the named KNOWN list below (bugs in code this test's author does not own, reported).
 * The counts per kind are printed at the end (docs/robustness.md quotes them).
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ann } from '../../cli/commands/ann.ts';
import { simulate } from '../../cli/commands/simulate.ts';
import { loadDataset } from '../../cli/data.ts';
import { SnncError } from '../../compiler/errors.ts';
import { writeIr } from '../../compiler/ir/io.ts';
import { barrierNs, coresPerChip, loadChipSpec, synapseWords } from '../../targets/chip-spec.ts';
import { configureChip, configureFromMap, runChip } from '../../targets/chip/simulate.ts';
import { buildMap, readMap, sha256, writeMap } from '../../targets/map/map-file.ts';
import { encodeNpy, readNpy } from '../../runtime/npy.ts';
import { compileFixture, fixture, samples } from '../targets/helpers.ts';
import { leaves, type Rng, rng } from '../helpers/fuzz.ts';


/** An accepted mutant whose result is not finite or not consistent: the "believable wrong answer". */
class Inconsistent extends Error {}
function check(ok: boolean, message: string): void {
  if (!ok) throw new Inconsistent(message);
}

/** Every number in a JSON-like value is finite. */
function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (value === null || typeof value !== 'object') return true;
  return Object.values(value).every(allFinite);
}

/**
 * Failures of code outside this test's reach, each reported with its mutant: matched by kind and by the
 * failure text, counted and printed, and left out of the assertion (every other mutant still runs).
 */
const KNOWN: Array<{ kind: string; match: RegExp; why: string }> = [];

const HANG_SECONDS = 20;

interface Tally {
  mutants: number;
  accepted: number;
  refused: number;
  internal: number;
  inconsistent: number;
  unclear: number;
  known: number;
  maxSeconds: number;
  failures: string[];
  knownSeen: string[];
}
const tallies = new Map<string, Tally>();

function tallyOf(kind: string): Tally {
  let t = tallies.get(kind);
  if (!t) {
    t = { mutants: 0, accepted: 0, refused: 0, internal: 0, inconsistent: 0, unclear: 0, known: 0, maxSeconds: 0, failures: [], knownSeen: [] };
    tallies.set(kind, t);
  }
  return t;
}

/**
 * Runs one mutant. `files` are the names a clean refusal may carry (the mutated file; for data, either
 * data file). An error thrown with no file by a later stage is `unclear`: the user cannot tell which input.
 */
async function trial(kind: string, what: string, files: string[], body: () => unknown): Promise<void> {
  const t = tallyOf(kind);
  t.mutants++;
  // FUZZ_TRACE=file: each mutant is appended before it runs (a crash of the process names its mutant).
  if (process.env.FUZZ_TRACE) appendFileSync(process.env.FUZZ_TRACE, `${what}\n`);
  const start = performance.now();
  let failure: string | undefined;
  let category: 'internal' | 'inconsistent' | 'unclear' | undefined;
  let outcome: 'accepted' | 'refused' | undefined;
  try {
    await body();
    t.accepted++;
    outcome = 'accepted';
  } catch (e) {
    if (e instanceof Inconsistent) {
      category = 'inconsistent';
      failure = `${what}: accepted, but ${e.message}`;
    } else if (!(e instanceof SnncError)) {
      category = 'internal';
      failure = `${what}: not a clean error: ${(e as Error)?.stack ?? String(e)}`;
    } else if (e.message.includes('\n') || !files.some((f) => e.message.includes(f))) {
      category = 'unclear';
      failure = `${what}: refused without naming the file in one line: ${JSON.stringify(e.message)}`;
    } else {
      t.refused++;
      outcome = 'refused';
    }
  }
  const seconds = (performance.now() - start) / 1000;
  if (process.env.FUZZ_TRACE) appendFileSync(process.env.FUZZ_TRACE, `  -> ${category ?? outcome} ${seconds.toFixed(3)} s\n`);
  t.maxSeconds = Math.max(t.maxSeconds, seconds);
  if (seconds >= HANG_SECONDS) failure = `${what}: took ${seconds.toFixed(1)} s (a hang: limit ${HANG_SECONDS} s)${failure ? `; ${failure}` : ''}`;
  if (!failure) return;
  if (category === 'inconsistent' || category === 'internal' || category === 'unclear') t[category]++;
  const known = KNOWN.find((k) => k.kind === kind && k.match.test(failure!));
  if (known) {
    t.known++;
    t.knownSeen.push(`${failure} [known: ${known.why}]`);
  } else t.failures.push(failure);
}

function expectClean(kind: string, minRefused: number, minAccepted: number): void {
  const t = tallyOf(kind);
  expect(t.failures, t.failures.join('\n\n')).toEqual([]);
  expect(t.maxSeconds).toBeLessThan(HANG_SECONDS);
  expect(t.refused).toBeGreaterThanOrEqual(minRefused);
  expect(t.accepted).toBeGreaterThanOrEqual(minAccepted);
}

const dir = mkdtempSync(path.join(tmpdir(), 'snnc-fuzz-inputs-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  const rows = [...tallies].map(([kind, t]) =>
    `${kind.padEnd(10)} ${String(t.mutants).padStart(7)} ${String(t.accepted).padStart(8)} ${String(t.refused).padStart(7)} ${String(t.internal).padStart(8)} ${String(t.inconsistent).padStart(12)} ${String(t.unclear).padStart(7)} ${String(t.known).padStart(5)} ${t.maxSeconds.toFixed(3).padStart(7)}`,
  );
  const known = [...tallies.values()].flatMap((t) => t.knownSeen);
  console.log(
    ['fuzz-inputs: kind  mutants accepted refused internal inconsistent unclear known  max s', ...rows, ...(known.length ? ['known failures:', ...known.slice(0, 20)] : [])].join('\n'),
  );
});

/** Runs a CLI command in process with stdout and stderr captured; returns what it printed on stdout. */
async function quietly(run: () => Promise<void>): Promise<string> {
  let out = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await run();
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- .npy

const N = 6;
const base = samples('digits_test_x.npy', 'digits_test_y.npy', N);

/** The fields of a .npy file, as it is written: magic, version, header length, the header dict, data. */
interface NpyParts {
  magic: number[];
  major: number;
  minor: number;
  /** Overrides the header length field (otherwise the header's own length). */
  headerLength?: number;
  descr: string;
  fortran: string;
  shape: string;
  /** Extra text inside the dict, or a replacement of the whole header. */
  extra: string;
  header?: string;
  data: Uint8Array;
}

function npyBytes(p: NpyParts): Uint8Array {
  const dict = p.header ?? `{'descr': '${p.descr}', 'fortran_order': ${p.fortran}, 'shape': ${p.shape}, ${p.extra}}`;
  const header = new TextEncoder().encode(`${dict.padEnd(118 - (p.major === 1 ? 0 : 2), ' ')}\n`);
  const prefix = p.major === 1 ? 10 : 12;
  const out = new Uint8Array(prefix + header.length + p.data.length);
  out.set(p.magic, 0);
  out[6] = p.major;
  out[7] = p.minor;
  const view = new DataView(out.buffer);
  const length = p.headerLength ?? header.length;
  if (p.major === 1) view.setUint16(8, length & 0xffff, true);
  else view.setUint32(8, length >>> 0, true);
  out.set(header, prefix);
  out.set(p.data, prefix + header.length);
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

function xParts(): NpyParts {
  return { magic: [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], major: 1, minor: 0, descr: '<f4', fortran: 'False', shape: `(${N}, 64)`, extra: '', data: bytesOf(base.input) };
}
function yParts(): NpyParts {
  return { ...xParts(), descr: '<i8', shape: `(${N},)`, data: bytesOf(BigInt64Array.from(base.labels, (v) => BigInt(v))) };
}

const ODD_FLOATS = [NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e39, 1e-45, -0, 1e30, 255];
const ODD_SHAPES = ['()', `(${N},)`, `(${N}, 64)`, `(64, ${N})`, `(${N}, 8, 8)`, '(0, 64)', `(${N}, 0)`, `(-${N}, 64)`, `(${N}, 64, 1)`, '(1e3, 64)', `(${2 ** 40}, 64)`, '(99999999999999999999, 64)', '(3, 64)', '(12, 64)', `(${N}, 64,)`, `(${N} 64)`, '(None, 64)', `(${N}, 32)`, `(${2 ** 31}, ${2 ** 31})`];
const ODD_DESCRS = ['<f4', '>f4', '<f8', '>f8', '|u1', '<i8', '>i8', '<i4', '|b1', '<f2', '<c8', '|O', '<U5', '<f16', 'f4', '<V8', '<u8', '<i2', '=f4', '|i1', '<u4', ''];

/** Re-encodes the sample values (or labels) in a dtype, so a dtype change keeps a consistent file. */
function recode(values: ArrayLike<number>, descr: string): Uint8Array | undefined {
  const code = descr.slice(1);
  const big = descr.startsWith('>');
  const make: Record<string, () => ArrayBufferView> = {
    f4: () => Float32Array.from(values),
    f8: () => Float64Array.from(values),
    u1: () => Uint8Array.from(values),
    i1: () => Int8Array.from(values),
    i2: () => Int16Array.from(values),
    i4: () => Int32Array.from(values),
    u4: () => Uint32Array.from(values),
    i8: () => BigInt64Array.from(Array.from(values), (v) => BigInt(Math.trunc(Number.isFinite(v) ? v : 0))),
    u8: () => BigUint64Array.from(Array.from(values), (v) => BigInt(Math.max(0, Math.trunc(Number.isFinite(v) ? v : 0)))),
    b1: () => Uint8Array.from(values, (v) => (v ? 1 : 0)),
  };
  if (!make[code]) return undefined;
  const view = make[code]();
  const bytes = bytesOf(view);
  const size = (view as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  if (big && size > 1) for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  return bytes;
}

/** One field-level mutation of a .npy file's parts; `values` are its elements (for re-encoding). */
function mutateNpy(p: NpyParts, values: ArrayLike<number>, r: Rng, labels: boolean): string {
  switch (r.int(labels ? 10 : 9)) {
    case 0: {
      const i = r.int(6);
      p.magic[i] = r.pick([0, 0x92, 0x4e, 0xff]);
      return `magic[${i}] = ${p.magic[i]}`;
    }
    case 1:
      p.major = r.pick([0, 1, 2, 3, 4, 255]);
      p.minor = r.pick([0, 1, 255]);
      return `version ${p.major}.${p.minor}`;
    case 2:
      p.headerLength = r.pick([0, 1, 117, 119, 0xffff, 2 ** 31, 2 ** 32 - 1]);
      return `header length ${p.headerLength}`;
    case 3: {
      p.descr = r.pick(ODD_DESCRS);
      if (r.next() < 0.5) {
        const data = recode(values, p.descr);
        if (data) p.data = data;
        return `descr '${p.descr}' (data re-encoded)`;
      }
      return `descr '${p.descr}'`;
    }
    case 4:
      p.fortran = r.pick(['True', 'False', '1', 'None', "'False'"]);
      return `fortran_order ${p.fortran}`;
    case 5:
      p.shape = r.pick(ODD_SHAPES);
      return `shape ${p.shape}`;
    case 6: {
      const what = r.pick(['truncate', 'extend', 'header cut', 'no shape', 'duplicate key', 'garbage']);
      if (what === 'truncate') p.data = p.data.subarray(0, r.int(p.data.length));
      else if (what === 'extend') p.data = Uint8Array.from([...p.data, ...new Uint8Array(1 + r.int(300))]);
      else if (what === 'header cut') p.header = `{'descr': '${p.descr}', 'fortran_order': False, 'sha`;
      else if (what === 'no shape') p.header = `{'descr': '${p.descr}', 'fortran_order': False, }`;
      else if (what === 'duplicate key') p.extra = `'shape': (${N * 2}, 64), `;
      else p.header = '\u0000\u00ff{}[]()' + "'".repeat(r.int(9));
      return what;
    }
    case 7: {
      // Fortran order on a file written in C order: the same bytes, reordered, must stay finite and sized.
      p.fortran = 'True';
      return 'fortran_order True';
    }
    case 8: {
      const copy = Array.from(values);
      const k = 1 + r.int(3);
      const changed: string[] = [];
      for (let j = 0; j < k; j++) {
        const i = r.int(copy.length);
        copy[i] = labels ? r.pick([-1, 9, 10, 11, 255, 2 ** 31, -(2 ** 31), 2 ** 40]) : r.pick(ODD_FLOATS);
        changed.push(`[${i}] = ${copy[i]}`);
      }
      const descr = labels ? r.pick(['<i8', '<i4', '<u8', '>i8']) : r.pick(['<f4', '<f8', '>f8']);
      p.descr = descr;
      p.data = recode(copy, descr)!;
      return `values ${changed.join(', ')} as ${descr}`;
    }
    default: {
      // Labels only: float labels, 2-D labels, one too few or too many.
      const what = r.pick(['float', '2-D', 'short', 'long']);
      if (what === 'float') {
        p.descr = '<f4';
        p.data = recode(values, '<f4')!;
      } else if (what === '2-D') p.shape = `(${N}, 1)`;
      else {
        const n = what === 'short' ? N - 1 : N + 1;
        p.shape = `(${n},)`;
        p.data = recode(Array.from({ length: n }, (_, i) => values[i % N]), '<i8')!;
      }
      return `labels ${what}`;
    }
  }
}

describe('fuzz: .npy inputs through ann and simulate', () => {
  const irFile = path.join(dir, 'digits.snn.json');
  writeIr(compileFixture('digits_mlp'), irFile);
  const model = fixture('digits_mlp.onnx');
  const xBase = path.join(dir, 'x.npy');
  const yBase = path.join(dir, 'y.npy');
  writeFileSync(xBase, npyBytes(xParts()));
  writeFileSync(yBase, npyBytes(yParts()));

  it('the unmutated files are accepted by both commands', async () => {
    expect(readNpy(xBase).shape).toEqual([N, 64]);
    const out = JSON.parse(await quietly(() => ann(model, { input: xBase, labels: yBase, json: true })));
    expect(out.samples).toBe(N);
    const sim = JSON.parse(await quietly(() => simulate(irFile, { input: xBase, labels: yBase, steps: 8, seed: 1, workers: 1, json: true })));
    expect(sim.samples).toBe(N);
  });

  it('300 mutants (sample and label files) are accepted consistently or refused with one line naming a file', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const labels = seed % 3 === 0;
      const parts = labels ? yParts() : xParts();
      const what = `npy seed ${seed} (${labels ? 'labels' : 'samples'}): ${mutateNpy(parts, labels ? base.labels : base.input, r, labels)}`;
      const file = path.join(dir, `m${seed}.npy`);
      writeFileSync(file, npyBytes(parts));
      const input = labels ? xBase : file;
      const labelFile = labels ? file : yBase;
      // loadDataset is what both commands read their data with; then each command runs on what it accepted.
      await trial('npy', what, [file], async () => {
        const data = loadDataset({ input, labels: labelFile, classes: 10 }, { name: 'input', dims: [-1, 64] });
        check(data.x.data.length === data.samples * 64 && data.x.dims.join() === `${data.samples},64`, `x has ${data.x.data.length} values, dims [${data.x.dims}] for ${data.samples} samples`);
        check(data.x.data.every(Number.isFinite), 'non-finite input values');
        check(data.labels!.length === data.samples && data.labels!.every((l) => l >= 0 && l < 10), `labels [${data.labels}] for ${data.samples} samples of 10 classes`);
        const a = JSON.parse(await quietly(() => ann(model, { input, labels: labelFile, json: true })));
        check(a.samples === data.samples && a.accuracy >= 0 && a.accuracy <= 1 && allFinite(a), `ann reported ${JSON.stringify(a)}`);
        const s = JSON.parse(await quietly(() => simulate(irFile, { input, labels: labelFile, steps: 8, seed: 1, workers: 1, json: true })));
        check(s.samples === data.samples && allFinite(s.accuracy) && allFinite(s.sops_per_sample), `simulate reported ${JSON.stringify(s.accuracy)}`);
      });
    }
    expectClean('npy', 100, 30);
  });
});

// ------------------------------------------------------------------------------------------ map and chip

const ODD_JSON = ['1e400', '-1e400', '0', '-1', '0.5', '1.5', '3', '1e30', '2147483648', '1099511627776', 'null', 'true', '"x"', '""', '[]', '[0]', '[0,1]', '[[0,1]]', '[[0,5000]]', '{}'];

/**
 * One field-level mutation of a JSON document: a value replaced by an odd one, a number nudged (+1, −1, ×2),
 * an array truncated, extended by a copy of its last item or with an item removed.
 */
function mutateJson(doc: unknown, paths: string[][], r: Rng): { text: string; what: string } {
  const target = r.pick(paths);
  const mutant = structuredClone(doc) as Record<string, unknown>;
  let parent = mutant as Record<string, unknown>;
  for (const k of target.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
  const key = target[target.length - 1];
  const old = parent[key];
  const where = `/${target.join('/')}`;
  const mode = r.int(4);
  if (Array.isArray(old) && mode < 2) {
    const op = r.pick(['truncate', 'extend', 'drop', 'reverse']);
    const arr = [...old];
    if (op === 'truncate') arr.length = r.int(arr.length);
    else if (op === 'extend') arr.push(structuredClone(arr[arr.length - 1] ?? 0));
    else if (op === 'drop') arr.splice(r.int(arr.length), 1);
    else arr.reverse();
    parent[key] = arr;
    return { text: JSON.stringify(mutant), what: `${where} ${op} (${old.length} → ${arr.length})` };
  }
  if (typeof old === 'number' && mode === 2) {
    const value = r.pick([old + 1, old - 1, old * 2, -old, old + 0.5, Math.floor(old / 2)]);
    parent[key] = value;
    return { text: JSON.stringify(mutant), what: `${where} = ${value} (was ${old})` };
  }
  const value = r.pick(ODD_JSON);
  parent[key] = '__MUTANT__';
  return { text: JSON.stringify(mutant).replace('"__MUTANT__"', value), what: `${where} = ${value}` };
}

describe('fuzz: core maps through readMap, configureChip and the virtual chip', () => {
  const ir = compileFixture('digits_mlp');
  const irFile = path.join(dir, 'map-ir.snn.json');
  writeIr(ir, irFile);
  const irSha = sha256(readFileSync(irFile));
  const loihi = loadChipSpec('loihi1');
  // A small chip, so that the digits MLP spreads over several cores and tiles; and a quantised map, so
  // that weight exponents are in the document.
  const small = structuredClone(loihi);
  small.limits.neurons.value = 32;
  small.mesh.tiles_x = 2;
  small.mesh.tiles_y = 2;
  small.mesh.cores_per_tile = 2;
  const docs = [
    buildMap(ir, 'map-ir.snn.json', irSha, small).doc,
    buildMap(ir, 'map-ir.snn.json', irSha, loihi, { quantize: 'per-core' }).doc,
  ];
  const input = samples('digits_test_x.npy', 'digits_test_y.npy', 2);

  it('the unmutated maps run on the virtual chip', () => {
    for (const [k, doc] of docs.entries()) {
      const file = path.join(dir, `base${k}.map.json`);
      writeMap(doc, file);
      const run = runChip(configureChip(readMap(file)), input.input, { T: 4, seed: 1, labels: input.labels });
      expect(allFinite(run.report.energy)).toBe(true);
    }
    expect(docs[0].cores.length).toBeGreaterThan(4);
  });

  it('400 mutants are accepted (and run finite) or refused with one line naming the map', async () => {
    for (let seed = 1; seed <= 400; seed++) {
      const r = rng(seed);
      const doc = docs[seed % 2];
      const paths = leaves(doc).filter((p) => p[0] !== 'ir' || r.next() < 0.2);
      const { text, what: mutation } = mutateJson(doc, paths, r);
      const file = path.join(dir, `m${seed}.map.json`);
      writeFileSync(file, text);
      const what = `map seed ${seed} (${seed % 2 ? 'quantised loihi1' : 'small chip'}): ${mutation}`;
      await trial('map', what, [file], () => {
        const loaded = readMap(file);
        const cfg = configureChip(loaded);
        const run = runChip(cfg, input.input, { T: 4, seed: 1, labels: input.labels });
        check(allFinite(run.report.energy) && allFinite(run.report.latency) && allFinite(run.report.counts), `the chip reported ${JSON.stringify(run.report.energy.per_step_pj)} pJ, ${JSON.stringify(run.report.latency.per_step_ns)} ns per step`);
        check(allFinite(run.report.accuracy), `accuracy ${JSON.stringify(run.report.accuracy)}`);
        check(configureFromMap(loaded.doc, loaded.ir).cores === loaded.doc.cores.length, 'cores');
      });
    }
    expectClean('map', 150, 20);
  });
});

describe('fuzz: chip specs through loadChipSpec, mapping and the virtual chip', () => {
  const specFile = fixture('../../targets/chips/loihi1.json');
  const doc = JSON.parse(readFileSync(specFile, 'utf8'));
  const paths = leaves(doc);
  const ir = compileFixture('digits_mlp');
  const input = samples('digits_test_x.npy', 'digits_test_y.npy', 2);

  it('300 mutants of loihi1.json are accepted (and map and run finite) or refused with one line naming the file', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const { text, what: mutation } = mutateJson(doc, paths, r);
      const file = path.join(dir, `chip${seed}.json`);
      writeFileSync(file, text);
      const what = `chip seed ${seed}: ${mutation}`;
      // What `snnc chip` names when the network cannot run on the described chip: the map made for it.
      const mapFile = path.join(dir, `chip${seed}.map.json`);
      await trial('chip', what, [file, mapFile], () => {
        const spec = loadChipSpec(file);
        const per = coresPerChip(spec);
        check(Number.isSafeInteger(per) && per >= 1, `${per} cores per chip`);
        for (const n of [1, 7, 64, 1000]) check(Number.isFinite(synapseWords(n, spec)) && synapseWords(n, spec) >= 1, `synapseWords(${n}) = ${synapseWords(n, spec)}`);
        for (const t of [1, 2, 5, 32, 100]) check(Number.isFinite(barrierNs(spec, t)) && barrierNs(spec, t) >= 0, `barrier at ${t} tiles = ${barrierNs(spec, t)} ns`);
        // Mapping and running on the described chip: a network that does not fit is refused (SnncError,
        // naming the network, not the spec: counted as accepted for the spec).
        let built;
        try {
          built = buildMap(ir, 'x', 'x'.repeat(64), spec);
        } catch (e) {
          if (e instanceof SnncError && !e.message.includes('\n')) return;
          throw e;
        }
        const run = runChip(configureChip({ doc: built.doc, ir, irFile: 'x', file: mapFile }), input.input, { T: 4, seed: 1, labels: input.labels });
        check(allFinite(run.report.energy) && allFinite(run.report.latency) && allFinite(run.report.counts), `the chip reported ${JSON.stringify(run.report.energy.per_step_pj)} pJ, ${JSON.stringify(run.report.latency.per_step_ns)} ns per step`);
      });
    }
    expectClean('chip', 100, 30);
  });
});
