/**
 * `snnc merge part-*.json -o result.json`: combines the partial results of a sharded run (`--shard i/n -o
 * part.json` of simulate, ann, chip or report) into the result one unsharded run writes with `-o`, byte for
 * byte. Parts that do not belong together (another model, T, seed or data; overlapping or missing samples)
 * are refused naming the file (cli/partial.ts).
 */
import { SnncError } from '../../compiler/errors.ts';
import { writeFileAtomic } from '../../runtime/npy.ts';
import { checkOutputPath } from '../common.ts';
import { readParts } from '../partial.ts';

export interface MergeOptions {
  output: string;
}

export async function merge(files: string[], options: MergeOptions): Promise<void> {
  checkOutputPath(options.output);
  const parts = readParts(files);
  const command = parts[0]!.command;
  let text: string;
  if (command === 'simulate') text = await (await import('./simulate.ts')).mergeSimulate(parts);
  else if (command === 'ann') text = await (await import('./ann.ts')).mergeAnn(parts);
  else if (command === 'chip') text = await (await import('./chip.ts')).mergeChip(parts);
  else if (command === 'report') text = await (await import('./report.ts')).mergeReport(parts);
  else throw new SnncError(`parts of 'snnc ${command}' cannot be merged`, { file: parts[0]!.file });
  writeFileAtomic(options.output, text);
  process.stderr.write(`merged ${parts.length} part${parts.length === 1 ? '' : 's'} of snnc ${command} (${parts[0]!.samples} samples) into ${options.output}\n`);
}
