/**
 * `snnc export-nir <model.snn.json> -o model.nir`: the spiking IR as a NIR graph (HDF5), for other SNN
 * tools (snnTorch, Norse, Sinabs, Lava, …). See targets/nir/export.ts for the mapping.
 */
import { SnncError } from '../../compiler/errors.ts';
import { checkOutputPath, formatTable, printJson } from '../common.ts';

export interface ExportNirOptions {
  output: string;
  allowUnsupported?: boolean;
  json?: boolean;
}

export async function exportNirCommand(irPath: string, options: ExportNirOptions): Promise<void> {
  checkOutputPath(options.output);
  const [{ readIr }, { exportNir }] = await Promise.all([import('../../compiler/ir/io.ts'), import('../../targets/nir/export.ts')]);
  const ir = readIr(irPath);
  let summary: Awaited<ReturnType<typeof exportNir>>;
  try {
    summary = await exportNir(ir, options.output, { allowUnsupported: options.allowUnsupported });
  } catch (err) {
    // A refusal is about the IR: name its file, as every other error does.
    if (err instanceof SnncError && !err.where.file) throw new SnncError(err.message, { file: irPath });
    throw err;
  }
  if (summary.skipped.length) {
    const list = summary.skipped.map((s) => `${s.node} (${s.kind})`).join(', ');
    process.stderr.write(`snnc: warning: written as the identity, NIR cannot express them: ${list}\n`);
  }
  if (options.json) {
    printJson({ ir: irPath, ...summary });
    return;
  }
  const out: string[] = [];
  out.push(
    formatTable([
      ['NIR node', 'type', 'from', 'shape'],
      ...summary.nodes.map((n) => [n.name, n.type, n.from ?? '', `[${n.shape.join(', ')}]`]),
    ]),
  );
  if (summary.notes.length) out.push('', ...summary.notes.map((n) => `note: ${n}`));
  const types = Object.entries(summary.types)
    .map(([t, k]) => `${t} ${k}`)
    .join(', ');
  out.push(
    '',
    `wrote ${summary.file} (NIR ${summary.nir_version}, ${summary.bytes.toLocaleString('en-US')} bytes): ${summary.nodes.length} nodes (${types}), ${summary.edges} edges`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
