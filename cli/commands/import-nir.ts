/**
 * `snnc import-nir <model.nir> -o model.snn.json`: a NIR graph (HDF5, as NIR's Python `nir.write` and
 * `snnc export-nir` write it) as a spiking IR, so networks trained directly as SNNs (snnTorch, Sinabs,
 * Norse export NIR) can be simulated, mapped and costed. See targets/nir/import.ts (`nirToIr`) for what
 * is read and how: Input, Output, Affine, Linear, Conv2d, Flatten, SumPool2d, Scale, IF and LIF.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SnncError } from '../../compiler/errors.ts';
import { checkOutputPath, formatTable, printJson } from '../common.ts';
import { packageVersion } from '../version.ts';

export interface ImportNirOptions {
  output: string;
  dt?: number;
  json?: boolean;
}

export async function importNirCommand(nirPath: string, options: ImportNirOptions): Promise<void> {
  checkOutputPath(options.output);
  if (!options.output.endsWith('.json')) throw new SnncError('the IR file name must end in .json (e.g. model.snn.json)', { file: options.output });
  const [{ readNir, nirToIr }, { writeIr, weightsFileFor }] = await Promise.all([import('../../targets/nir/import.ts'), import('../../compiler/ir/io.ts')]);
  const graph = await readNir(nirPath);
  let imported: ReturnType<typeof nirToIr>;
  try {
    const sha256 = createHash('sha256').update(readFileSync(nirPath)).digest('hex');
    imported = nirToIr(graph, { dt: options.dt, source: { file: nirPath, sha256 }, snncVersion: packageVersion() });
  } catch (err) {
    if (err instanceof SnncError) throw err.inFile(nirPath);
    throw err;
  }
  writeIr(imported.ir, options.output);
  const { ir, populations, dt, notes } = imported;
  const summary = {
    nir: nirPath,
    output: options.output,
    weights: weightsFileFor(options.output),
    nir_version: graph.version,
    dt,
    ir_version: ir.version,
    nodes: ir.nodes.map((n) => ({ id: n.id, kind: n.kind, shape: n.shape })),
    populations,
    notes,
  };
  if (options.json) {
    printJson(summary);
    return;
  }
  const rule = (p: (typeof populations)[number]) => `${p.model === 'lif' ? `LIF λ=${Array.isArray(p.leak) ? `${Math.min(...p.leak).toPrecision(4)}…${Math.max(...p.leak).toPrecision(4)}` : p.leak!.toPrecision(6)}` : 'IF'}, reset ${p.reset}`;
  const out = [
    formatTable([
      ['layer', 'kind', 'shape', 'neuron'],
      ...ir.nodes.map((n) => {
        const p = populations.find((q) => q.id === n.id);
        return [n.id, n.kind, `[${n.shape.join(',')}]`, p ? rule(p) : ''];
      }),
    ]),
  ];
  if (notes.length) out.push('', ...notes.map((n) => `note: ${n}`));
  const neurons = populations.reduce((a, p) => a + p.neurons, 0);
  out.push('', `wrote ${options.output} and ${summary.weights} (IR version ${ir.version}, dt = ${dt} s): ${ir.nodes.length} nodes, ${neurons} neurons in ${populations.length} populations`);
  process.stdout.write(`${out.join('\n')}\n`);
}
