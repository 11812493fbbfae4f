/**
 * `snnc export-onnx <model.snn.json> -T 32 -o model.snn.onnx`: the spiking IR as a time-stepped ONNX model
 * (a Loop over T with the membranes as loop state), for ONNX runtimes on GPUs. See targets/onnx/export.ts
 * and docs/export-onnx.md.
 */
import { SnncError } from '../../compiler/errors.ts';
import type { AttentionMode } from '../../runtime/snn/engine.ts';
import { checkOutputPath, formatTable, printJson, writeFileAtomic } from '../common.ts';

export interface ExportOnnxCommandOptions {
  output: string;
  steps: number;
  attention?: AttentionMode;
  json?: boolean;
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export async function exportOnnxCommand(irPath: string, options: ExportOnnxCommandOptions): Promise<void> {
  checkOutputPath(options.output);
  const [{ readIr }, { exportOnnx }] = await Promise.all([import('../../compiler/ir/io.ts'), import('../../targets/onnx/export.ts')]);
  const ir = readIr(irPath);
  let result: ReturnType<typeof exportOnnx>;
  try {
    result = exportOnnx(ir, { T: options.steps, attention: options.attention });
  } catch (err) {
    // A refusal is about the IR: name its file, as every other error does.
    if (err instanceof SnncError) throw err.inFile(irPath);
    throw err;
  }
  writeFileAtomic(options.output, result.bytes);
  const { summary } = result;
  if (options.json) {
    printJson({ ir: irPath, file: options.output, ...summary });
    return;
  }
  const rows = (list: typeof summary.inputs) => list.map((t) => [t.name, `[${t.shape.join(', ')}]`, t.dtype, t.role]);
  process.stdout.write(
    [
      formatTable([['input', 'shape', 'type', 'holds'], ...rows(summary.inputs)]),
      '',
      formatTable([['output', 'shape', 'type', 'holds'], ...rows(summary.outputs)]),
      '',
      `wrote ${options.output} (ONNX opset ${summary.opset}, ${summary.bytes.toLocaleString('en-US')} bytes): a Loop over T = ${summary.T} steps, ` +
        `${count(summary.populations, 'IF population')}, ${count(summary.masks, 'mask')}, ${count(summary.static_nodes, 'IR node')} before the loop and ${summary.loop_nodes} in it`,
    ].join('\n') + '\n',
  );
}
