/**
 * NIR export: the file read back with h5wasm is exactly the graph the exporter built (types, edges,
 * parameter arrays and their dtypes), the graph computes what the IR computes (a small NIR interpreter
 * against the snnc simulator), the same IR gives the same bytes, and what NIR cannot express is refused
 * by name — or skipped, with --allow-unsupported — without leaving a file behind.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeIr } from '../../compiler/ir/io.ts';
import type { IfNode, SnnIr } from '../../compiler/ir/types.ts';
import { lower, type LowerOptions } from '../../compiler/lower.ts';
import { loadOnnx } from '../../compiler/onnx/load.ts';
import { activationStats } from '../../runtime/ann/calibrate.ts';
import { readNpy, toFloatTensor } from '../../runtime/npy.ts';
import { simulate } from '../../runtime/snn/simulate.ts';
import { buildNirGraph, exportNir, guessChunk, NIR_DT, writeNirFile } from '../../targets/nir/export.ts';
import { type NirArray, type NirGraph, type NirRecord, readNir } from '../../targets/nir/import.ts';
import { IrBuilder, randomArray } from '../helpers/ir-builder.ts';

const root = resolve(import.meta.dirname, '..', '..');
const FIX = 'test/fixtures';
const tmp = mkdtempSync(join(tmpdir(), 'snnc-nir-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const OPTIONS: LowerOptions = {
  divisor: 1, percentile: 99.9, perChannel: false, vInit: 0.5, maxpool: 'error', rsm: [], snncVersion: 'test', recorded: {},
};

function fmnistIr(extra: Partial<LowerOptions> = {}): SnnIr {
  return lower(loadOnnx(`${FIX}/fmnist_cnn_qcfs.onnx`), { ...OPTIONS, divisor: 255, ...extra }).ir;
}

function digitsIr(): SnnIr {
  const graph = loadOnnx(`${FIX}/digits_mlp.onnx`);
  const calib = toFloatTensor(readNpy(`${FIX}/digits_calib_x.npy`));
  return lower(graph, OPTIONS, (requests) => activationStats(graph, calib, requests, { percentile: 99.9 })).ir;
}

function samples(name: string, n: number): { raw: Float32Array; per: number } {
  const x = readNpy(`${FIX}/${name}_test_x.npy`);
  const per = x.data.length / x.shape[0];
  return { raw: Float32Array.from(x.data.subarray(0, n * per) as ArrayLike<number>), per };
}

const arr = (v: unknown): NirArray => v as NirArray;
const nums = (v: unknown): number[] => Array.from(arr(v).data as ArrayLike<number | bigint>, Number);

/** Both graphs hold the same node names, types, parameters (dtype, shape, every value), metadata and edges. */
function expectSameGraph(read: NirGraph, built: NirGraph): void {
  expect(read.version).toBe(built.version);
  expect(read.edges).toEqual(built.edges);
  expect(Object.keys(read.nodes).sort()).toEqual(Object.keys(built.nodes).sort());
  const sameRecord = (a: NirRecord, b: NirRecord, where: string) => {
    expect(Object.keys(a).sort(), where).toEqual(Object.keys(b).sort());
    for (const key of Object.keys(b)) {
      const x = a[key];
      const y = b[key];
      if (typeof y === 'string') expect(x, `${where}/${key}`).toBe(y);
      else if ('dtype' in y) {
        const [ax, ay] = [x as NirArray, y as NirArray];
        expect(ax.dtype, `${where}/${key}`).toBe(ay.dtype);
        expect(ax.shape, `${where}/${key}`).toEqual(ay.shape);
        expect(ax.data.constructor, `${where}/${key}`).toBe(ay.data.constructor);
        expect(Array.from(ax.data as ArrayLike<number>), `${where}/${key}`).toEqual(Array.from(ay.data as ArrayLike<number>));
      } else sameRecord(x as NirRecord, y as NirRecord, `${where}/${key}`);
    }
  };
  for (const [name, node] of Object.entries(built.nodes)) {
    expect(read.nodes[name].type, name).toBe(node.type);
    sameRecord(read.nodes[name].params, node.params, name);
    sameRecord(read.nodes[name].metadata, node.metadata, `${name}/metadata`);
  }
  sameRecord(read.metadata, built.metadata, 'metadata');
}

/**
 * Runs a NIR graph for T steps on one sample, as a NIR simulator would: every node sums its incoming edges,
 * Input repeats the raw sample, IF integrates dt·r·I and (per its metadata) resets by subtraction from
 * v(0) = metadata v_init. Returns the mean of the Output over T — snnc's readout.
 */
function runNir(g: NirGraph, x: Float32Array, T: number): Float64Array {
  const incoming = new Map<string, string[]>();
  for (const [a, b] of g.edges) incoming.set(b, [...(incoming.get(b) ?? []), a]);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const p of incoming.get(n) ?? []) visit(p);
    order.push(n);
  };
  Object.keys(g.nodes).forEach(visit);
  const shapes = new Map<string, number[]>();
  const v = new Map<string, Float64Array>();
  let readout: Float64Array | undefined;
  for (let t = 0; t < T; t++) {
    const values = new Map<string, Float64Array>();
    for (const name of order) {
      const { type, params: p, metadata } = g.nodes[name];
      const srcs = incoming.get(name) ?? [];
      const inShape = srcs.length ? shapes.get(srcs[0])! : [];
      let input = new Float64Array(inShape.reduce((a, b) => a * b, 1));
      for (const s of srcs) values.get(s)!.forEach((z, i) => (input[i] += z));
      let out: Float64Array;
      let shape = inShape;
      switch (type) {
        case 'Input':
          shape = nums(p.shape);
          out = Float64Array.from(x);
          break;
        case 'Flatten': {
          const start = nums(p.start_dim)[0];
          const end = nums(p.end_dim)[0] < 0 ? inShape.length - 1 : nums(p.end_dim)[0];
          shape = [...inShape.slice(0, start), inShape.slice(start, end + 1).reduce((a, b) => a * b, 1), ...inShape.slice(end + 1)];
          out = input;
          break;
        }
        case 'Scale': {
          const s = nums(p.scale);
          out = input.map((z, i) => z * s[i]);
          break;
        }
        case 'Affine':
        case 'Linear': {
          const [o, k] = arr(p.weight).shape;
          const w = arr(p.weight).data as Float32Array;
          const b = p.bias ? (arr(p.bias).data as Float32Array) : new Float32Array(o);
          out = new Float64Array(o);
          for (let i = 0; i < o; i++) {
            let s = b[i];
            for (let j = 0; j < k; j++) s += w[i * k + j] * input[j];
            out[i] = s;
          }
          shape = [o];
          break;
        }
        case 'Conv2d':
        case 'SumPool2d': {
          const conv = type === 'Conv2d';
          const [c, h, wd] = inShape;
          const [co, ci, kh, kw] = conv ? arr(p.weight).shape : [c, 1, ...nums(p.kernel_size)];
          const [sh, sw] = nums(p.stride);
          const [ph, pw] = nums(p.padding);
          const [dh, dw] = conv ? nums(p.dilation) : [1, 1];
          const w = conv ? (arr(p.weight).data as Float32Array) : undefined;
          const b = conv ? (arr(p.bias).data as Float32Array) : undefined;
          const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
          const ow = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
          out = new Float64Array(co * oh * ow);
          for (let o = 0; o < co; o++) {
            for (let y = 0; y < oh; y++) {
              for (let xx = 0; xx < ow; xx++) {
                let s = b ? b[o] : 0;
                for (let k = 0; k < (conv ? ci : 1); k++) {
                  const ch = conv ? k : o;
                  for (let a = 0; a < kh; a++) {
                    const iy = y * sh - ph + a * dh;
                    if (iy < 0 || iy >= h) continue;
                    for (let bb = 0; bb < kw; bb++) {
                      const ix = xx * sw - pw + bb * dw;
                      if (ix < 0 || ix >= wd) continue;
                      s += (w ? w[((o * ci + k) * kh + a) * kw + bb] : 1) * input[(ch * h + iy) * wd + ix];
                    }
                  }
                }
                out[(o * oh + y) * ow + xx] = s;
              }
            }
          }
          shape = [co, oh, ow];
          break;
        }
        case 'IF': {
          expect((metadata as NirRecord).reset_mode).toBe('subtract');
          const r = arr(p.r).data as Float32Array;
          const theta = arr(p.v_threshold).data as Float32Array;
          const dt = nums(metadata.dt)[0];
          if (!v.has(name)) v.set(name, Float64Array.from(nums(metadata.v_init)));
          const vv = v.get(name)!;
          out = new Float64Array(vv.length);
          for (let i = 0; i < vv.length; i++) {
            vv[i] += r[i] * dt * input[i];
            if (vv[i] >= theta[i]) {
              vv[i] -= theta[i];
              out[i] = 1;
            }
          }
          shape = arr(p.r).shape;
          break;
        }
        case 'Output':
          out = input;
          readout ??= new Float64Array(out.length);
          out.forEach((z, i) => (readout![i] += z));
          break;
        default:
          throw new Error(`no interpreter for ${type}`);
      }
      values.set(name, out);
      shapes.set(name, shape);
    }
  }
  return readout!.map((z) => z / T);
}

/** max |NIR graph − snnc simulator| over the logits of `n` samples at T steps. */
async function semanticGap(ir: SnnIr, g: NirGraph, raw: Float32Array, per: number, n: number, T: number): Promise<number> {
  const r = await simulate(ir, raw.subarray(0, n * per), { T, workers: 1 });
  let gap = 0;
  for (let s = 0; s < n; s++) {
    const got = runNir(g, raw.subarray(s * per, (s + 1) * per), T);
    for (let c = 0; c < r.classes; c++) gap = Math.max(gap, Math.abs(got[c] - r.logits[s * r.classes + c]));
  }
  return gap;
}

describe('NIR export of the trained fixtures', () => {
  it('digits_mlp: read back exactly, mapped as Input → Flatten → Affine/IF ×2 → Affine → Output, same logits as snnc', async () => {
    const ir = digitsIr();
    const file = join(tmp, 'digits.nir');
    const summary = await exportNir(ir, file);
    const read = await readNir(file);
    const { graph } = buildNirGraph(ir);
    expectSameGraph(read, graph);

    expect(Object.fromEntries(Object.entries(read.nodes).map(([k, n]) => [k, n.type]))).toEqual({
      input: 'Input', flatten: 'Flatten', fc1: 'Affine', act1: 'IF', fc2: 'Affine', act2: 'IF', fc3: 'Affine', output: 'Output',
    });
    expect(read.edges).toEqual([['input', 'flatten'], ['flatten', 'fc1'], ['fc1', 'act1'], ['act1', 'fc2'], ['fc2', 'act2'], ['act2', 'fc3'], ['fc3', 'output']]);
    expect(summary.types).toEqual({ Input: 1, Flatten: 1, Affine: 3, IF: 2, Output: 1 });

    // Parameters against the IR: fc1 reads the analog input unscaled; fc2 reads act1's spikes, which carry θ1.
    const byId = new Map(ir.nodes.map((n) => [n.id, n]));
    const tensorOf = (id: string) => ir.tensors.get((byId.get(id) as { weight: string }).weight)!;
    expect(arr(read.nodes.fc1.params.weight).data).toEqual(tensorOf('fc1').data);
    const theta1 = (byId.get('act1') as IfNode).threshold as number;
    expect(Array.from(arr(read.nodes.fc2.params.weight).data as Float32Array)).toEqual(Array.from(tensorOf('fc2').data, (w) => Math.fround(w * theta1)));
    const act1 = read.nodes.act1;
    expect(arr(act1.params.v_threshold)).toMatchObject({ dtype: '<f4', shape: [128] });
    expect(nums(act1.params.v_threshold).every((t) => t === Math.fround(theta1))).toBe(true);
    expect(nums(act1.params.r).every((r) => r === 1 / NIR_DT)).toBe(true);
    expect(nums(act1.params.v_reset).every((r) => r === 0)).toBe(true);
    expect(act1.metadata.reset_mode).toBe('subtract');
    expect(nums(act1.metadata.dt)).toEqual([NIR_DT]);
    expect(nums(act1.metadata.v_init).every((v) => v === Math.fround(0.5 * theta1))).toBe(true);
    expect(read.nodes.flatten.params).toMatchObject({ start_dim: { dtype: '<i8', shape: [] }, end_dim: { dtype: '<i8', shape: [] } });
    expect([nums(read.nodes.flatten.params.start_dim)[0], nums(read.nodes.flatten.params.end_dim)[0], nums(read.nodes.flatten.params.input_type)]).toEqual([0, -1, [64]]);
    expect(nums(read.nodes.input.params.shape)).toEqual([64]);
    expect(nums(read.nodes.output.params.shape)).toEqual([10]);

    const { raw, per } = samples('digits', 4);
    expect(await semanticGap(ir, read, raw, per, 4, 32)).toBeLessThan(1e-5);
  });

  it('fmnist_cnn_qcfs: Conv2d with input_shape, SumPool2d + folded 1/49, Flatten; read back exactly; same logits as snnc', async () => {
    const ir = fmnistIr();
    const file = join(tmp, 'fmnist.nir');
    await exportNir(ir, file);
    const read = await readNir(file);
    expectSameGraph(read, buildNirGraph(ir).graph);

    expect(Object.fromEntries(Object.entries(read.nodes).map(([k, n]) => [k, n.type]))).toEqual({
      input: 'Input', conv1: 'Conv2d', act1: 'IF', conv2: 'Conv2d', act2: 'IF', conv3: 'Conv2d', act3: 'IF',
      pool: 'SumPool2d', flatten: 'Flatten', fc: 'Affine', output: 'Output',
    });
    const conv2 = read.nodes.conv2.params;
    expect(Object.keys(conv2).sort()).toEqual(['bias', 'dilation', 'groups', 'input_shape', 'padding', 'stride', 'weight']);
    expect(arr(conv2.weight)).toMatchObject({ dtype: '<f4', shape: [32, 16, 3, 3] });
    expect([nums(conv2.input_shape), nums(conv2.stride), nums(conv2.padding), nums(conv2.dilation), nums(conv2.groups)]).toEqual([[28, 28], [2, 2], [1, 1], [1, 1], [1]]);
    expect(arr(conv2.groups)).toMatchObject({ dtype: '<i8', shape: [] });
    // conv1 reads raw pixels: the IR's 1/255 sits in its weights.
    const conv1 = ir.nodes.find((n) => n.id === 'conv1') as { weight: string };
    expect(Array.from(arr(read.nodes.conv1.params.weight).data as Float32Array)).toEqual(Array.from(ir.tensors.get(conv1.weight)!.data, (w) => Math.fround(w * (1 / 255))));
    expect(nums(read.nodes.pool.params.kernel_size)).toEqual([7, 7]);
    expect(nums(read.nodes.flatten.params.input_type)).toEqual([64, 1, 1]);
    expect(arr(read.nodes.act3.params.v_threshold).shape).toEqual([64, 7, 7]);
    expect(nums(read.metadata.input_divisor)).toEqual([255]);

    const { raw, per } = samples('fmnist', 3);
    expect(await semanticGap(ir, read, raw, per, 3, 16)).toBeLessThan(1e-5);
  });

  it('writes gzip-compressed arrays with h5py\'s chunk choice (what NIR\'s writer produces)', () => {
    // Values from h5py 3.7's guess_chunk.
    expect(guessChunk([16, 28, 28], 4)).toEqual([8, 14, 14]);
    expect(guessChunk([128, 64], 4)).toEqual([64, 32]);
    expect(guessChunk([64, 32, 3, 3], 4)).toEqual([32, 16, 2, 2]);
    expect(guessChunk([1000, 1000], 4)).toEqual([63, 125]);
    expect(guessChunk([12544], 4)).toEqual([1568]);
    expect(guessChunk([4096, 4096], 4)).toEqual([128, 128]);
    expect(guessChunk([3], 8)).toEqual([3]);
  });

  it('is deterministic: the same IR gives byte-identical files, also across a change of the wall-clock second', async () => {
    const ir = digitsIr();
    await exportNir(ir, join(tmp, 'a.nir'));
    await new Promise((r) => setTimeout(r, 1100));
    await exportNir(ir, join(tmp, 'b.nir'));
    expect(readFileSync(join(tmp, 'a.nir')).equals(readFileSync(join(tmp, 'b.nir')))).toBe(true);
    // The wasm clock was pinned only during the write.
    expect(Date.now()).toBeGreaterThan(1e12);
  });
});

describe('what NIR cannot express', () => {
  it('refuses RSM masks by name, writes nothing; --allow-unsupported writes the unmasked graph and lists them', async () => {
    const ir = fmnistIr({ rsm: [{ pattern: 'conv[23]', ratio: 0.5 }] });
    const masks = ir.nodes.filter((n) => n.kind === 'rsm').map((n) => n.id);
    expect(masks).toHaveLength(2);
    const file = join(tmp, 'rsm.nir');
    const err = await exportNir(ir, file).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('SnncError');
    for (const id of masks) expect((err as Error).message).toContain(`${id} (rsm`);
    expect((err as Error).message).toContain('--allow-unsupported');
    expect((err as Error).message).not.toContain('\n');
    expect(existsSync(file)).toBe(false);

    const summary = await exportNir(ir, file, { allowUnsupported: true });
    expect(summary.skipped.map((s) => [s.node, s.kind])).toEqual(masks.map((id) => [id, 'rsm']));
    // Without its masks the network is the plain one.
    expectSameGraph(await readNir(file), buildNirGraph(fmnistIr()).graph);
  });

  it('refuses, in one message, every node NIR has no form for; the flag does not skip what changes shape or adds values', () => {
    const b = new IrBuilder([2, 6, 6]);
    const c1 = b.conv2d('input', randomArray(1, 4 * 1 * 3 * 3), [4, 1, 3, 3], { groups: 2, id: 'grouped' });
    const c2 = b.conv2d(c1, randomArray(2, 4 * 4 * 2 * 2), [4, 4, 2, 2], { pads: [0, 0, 1, 1], id: 'asym' });
    const t = b.transpose(c2, [0, 2, 1], 'tr');
    const a = b.add([t, t], [1, 1], 'sum');
    const bi = b.bias(a, randomArray(3, 4), [4, 1, 1], 'shift');
    const ir = b.build(bi);
    for (const allowUnsupported of [false, true]) {
      let message = '';
      try {
        buildNirGraph(ir, { allowUnsupported });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^cannot export to NIR: /);
      for (const id of ['grouped (conv2d', 'asym (conv2d: asymmetric padding', 'tr (transpose', 'sum (add', 'shift (bias']) expect(message).toContain(id);
      expect(message).not.toContain('--allow-unsupported');
    }
  });

  it('names the first eight refused nodes and counts the rest by kind, so the message stays readable', () => {
    const b = new IrBuilder([2, 3]);
    let x = 'input';
    for (let i = 0; i < 11; i++) x = b.transpose(x, [1, 0], `t${i}`);
    x = b.add([x, x], [1, 1], 'sum');
    let message = '';
    try {
      buildNirGraph(b.build(x));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^cannot export to NIR: t0 \(transpose/);
    expect(message).toContain('t7 (transpose');
    expect(message).not.toContain('t8 (transpose');
    expect(message).toMatch(/; and 4 more \(3 transpose, 1 add\)$/);
  });

  it('folds what it can (scale-only affine, pooling divisors with in-bounds counts, per-channel θ) and writes Scale only where it must', async () => {
    // input → IF straight from the analog input (θ × divisor), avg pool with padding that excludes pads,
    // a scale-only affine, per-channel thresholds, and spikes × 3 as the readout (Scale before Output).
    const b = new IrBuilder([2, 5, 5], 4);
    const a0 = b.if('input', 0.7, { id: 'in_if', vInit: 0.5 });
    const p0 = b.avgpool(a0, [3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: false, id: 'pool0' });
    const c1 = b.conv2d(p0, randomArray(4, 3 * 2 * 2 * 2), [3, 2, 2, 2], { bias: randomArray(5, 3, 0, 0.2), id: 'conv1' });
    const s1 = b.affine(c1, [0.5, 2, 1.5], [0, 0, 0], [3, 1, 1], 'scale1');
    const a1 = b.if(s1, [0.3, 0.4, 0.5], { axis: 0, vInit: 0.5, id: 'act1' });
    const f = b.reshape(a1, [3 * 2 * 2], 'flat');
    const d = b.dense(f, randomArray(6, 5 * 12), [5, 12], { id: 'fc' });
    const a2 = b.if(d, 0.25, { id: 'act2' });
    const out = b.affine(a2, [3], [0], [1], 'readout');
    const ir = b.build(out);

    const { graph, notes } = buildNirGraph(ir);
    expect(Object.fromEntries(Object.entries(graph.nodes).map(([k, n]) => [k, n.type]))).toEqual({
      input: 'Input', in_if: 'IF', pool0: 'SumPool2d', pool0_scale: 'Scale', conv1: 'Conv2d', act1: 'IF', flat: 'Flatten', fc: 'Linear', act2: 'IF', readout_scale: 'Scale', output: 'Output',
    });
    expect(nums(graph.nodes.in_if.params.v_threshold).every((t) => t === Math.fround(0.7 / 0.25))).toBe(true);
    expect(notes.some((n) => n.includes('scale1'))).toBe(true);
    // The pooling window's 1/count (9, 6 or 4 taps in bounds) and the affine's 0.5/2/1.5 end up in conv1 and act1.
    const file = join(tmp, 'synthetic.nir');
    await exportNir(ir, file);
    const read = await readNir(file);
    expectSameGraph(read, graph);
    const raw = randomArray(7, 3 * 50, 0, 4);
    expect(await semanticGap(ir, read, raw, 50, 3, 40)).toBeLessThan(1e-5);
  });
});

describe('files', () => {
  it('a failed write leaves the old file untouched and no temporary file', async () => {
    const dir = join(tmp, 'fail');
    mkdirSync(dir);
    const file = join(dir, 'model.nir');
    writeFileSync(file, 'old');
    const { graph } = buildNirGraph(digitsIr());
    // A parameter whose data does not fill its shape: h5wasm throws half-way through the file.
    const broken: NirGraph = { ...graph, nodes: { ...graph.nodes, zz: { type: 'Affine', params: { weight: { dtype: '<f4', shape: [3, 3], data: new Float32Array(2) } }, metadata: {} } } };
    await expect(writeNirFile(broken, file)).rejects.toThrow(/model\.nir: cannot write NIR file/);
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['model.nir']);
    await expect(writeNirFile(graph, join(dir, 'missing', 'x.nir'))).rejects.toThrow(/folder .* does not exist/);
    await expect(writeNirFile(graph, dir)).rejects.toThrow(/is a directory/);
  });

  it('the reader names what is wrong with a file that is not NIR', async () => {
    await expect(readNir(join(tmp, 'none.nir'))).rejects.toThrow(/none\.nir: no such file/);
    writeFileSync(join(tmp, 'text.nir'), 'hello');
    await expect(readNir(join(tmp, 'text.nir'))).rejects.toThrow(/not an HDF5 file/);
  });
});

describe('snnc export-nir', () => {
  const snnc = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'cli/snnc.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, SNNC_DEBUG: '', NO_COLOR: '1' } });

  it('writes the file and a JSON summary; refuses an IR with masks in one line (exit 2, no file); --allow-unsupported warns on stderr', () => {
    const irFile = join(tmp, 'rsm.snn.json');
    writeIr(fmnistIr({ rsm: [{ pattern: 'conv2', ratio: 0.25 }] }), irFile);
    const out = join(tmp, 'cli.nir');

    const refused = snnc('export-nir', irFile, '-o', out);
    expect(refused.status).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^snnc: [^\n]*rsm\.snn\.json: cannot export to NIR: act1->conv2\.rsm \(rsm: [^\n]*\n$/);
    expect(existsSync(out)).toBe(false);

    const ok = snnc('export-nir', irFile, '-o', out, '--allow-unsupported', '--json');
    expect(ok.status).toBe(0);
    expect(ok.stderr).toMatch(/^snnc: warning: [^\n]*act1->conv2\.rsm \(rsm\)\n$/);
    const summary = JSON.parse(ok.stdout) as { file: string; types: Record<string, number>; skipped: unknown[] };
    expect(summary.types).toEqual({ Input: 1, Conv2d: 3, IF: 3, SumPool2d: 1, Flatten: 1, Affine: 1, Output: 1 });
    expect(summary.skipped).toHaveLength(1);
    expect(existsSync(out)).toBe(true);
  });
});
