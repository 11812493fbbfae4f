/**
 * Random Spike Masking (MST's Masking_Spike, Wang et al., ICCV 2023): `--rsm <layer-or-glob>=<ratio>` masks the spike
 * inputs of every matching layer. An `rsm` node is placed right after the IF population on the path to
 * that layer only, so other consumers of the same spikes stay unmasked.
 */
import { SnncError } from '../errors.ts';
import { nodeById, pruneUnused } from '../ir/edit.ts';
import type { IrNode, RsmNode, SnnIr } from '../ir/types.ts';

export interface RsmSpec {
  pattern: string;
  ratio: number;
}

/** Index-only ops a spike stream may pass through between its IF population and the masked layer. */
const INDEX_ONLY = new Set(['reshape', 'transpose', 'select']);

export function parseRsmSpec(text: string): RsmSpec {
  const m = /^(.+)=([0-9.]+)$/.exec(text);
  const ratio = m ? Number(m[2]) : NaN;
  if (!m || !(ratio >= 0 && ratio < 1)) throw new SnncError(`--rsm ${text}: expected <layer-or-glob>=<ratio> with 0 ≤ ratio < 1`);
  return { pattern: m[1], ratio };
}

function globToRegExp(glob: string): RegExp {
  // *, ? and [...] keep their glob meaning; everything else is literal.
  const escaped = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

export function insertRsm(ir: SnnIr, specs: RsmSpec[]): SnnIr {
  let out = ir;
  for (const spec of specs) {
    if (spec.ratio === 0) continue;
    const re = globToRegExp(spec.pattern);
    const targets = out.nodes.filter((n) => n.kind !== 'rsm' && (re.test(n.id) || n.onnx.some((o) => re.test(o))));
    if (targets.length === 0) {
      const layers = out.nodes.filter((n) => n.kind === 'conv2d' || n.kind === 'dense').map((n) => n.id);
      throw new SnncError(`--rsm ${spec.pattern}: matches no layer (synaptic layers: ${layers.join(', ')})`);
    }
    for (const target of targets) {
      // Re-read the target after each edge: maskEdge returns a rewired copy, and a stale one would undo the previous edge.
      for (const input of target.inputs) out = maskEdge(out, nodeById(out).get(target.id)!, input, spec.ratio);
    }
  }
  // A chain copied for a masked consumer may leave the original with no consumer.
  return pruneUnused(out);
}

function maskEdge(ir: SnnIr, target: IrNode, input: string, ratio: number): SnnIr {
  const byId = nodeById(ir);
  if (byId.get(input)?.kind === 'rsm') {
    throw new SnncError(`--rsm: the input of ${target.id} is matched by two --rsm options`, { node: target.onnx[0], op: target.kind });
  }
  // Walk back through index-only ops to the IF population; the chain is duplicated for this consumer.
  const path: IrNode[] = [];
  let source = byId.get(input);
  while (source && INDEX_ONLY.has(source.kind)) {
    path.unshift(source);
    source = byId.get(source.inputs[0]);
  }
  if (!source || source.kind !== 'if') {
    const what = source ? `${source.kind} ${source.id}` : 'the analog input';
    throw new SnncError(`--rsm: the input of ${target.id} comes from ${what}, not from spiking neurons`, { node: target.onnx[0], op: target.kind });
  }
  const rsm: RsmNode = {
    id: `${source.id}->${target.id}.rsm`,
    kind: 'rsm',
    inputs: [source.id],
    shape: source.shape,
    onnx: [],
    ratio,
  };
  const copies = path.map((n) => ({ ...n, id: `${n.id}.${target.id}` }));
  let prev = rsm.id;
  const chain = copies.map((n) => {
    const c = { ...n, inputs: [prev] };
    prev = c.id;
    return c;
  });
  const rewired = { ...target, inputs: target.inputs.map((x) => (x === input ? prev : x)) };
  const at = ir.nodes.findIndex((n) => n.id === target.id);
  const nodes = [...ir.nodes.slice(0, at), rsm, ...chain, rewired, ...ir.nodes.slice(at + 1)];
  return { ...ir, nodes };
}
