/** Graph handling at 10⁵ nodes: the topological sort and the consumer maps must stay near-linear. */
import { describe, expect, it } from 'vitest';
import { loadOnnxBytes } from '../../compiler/onnx/load.ts';
import { lowerAnn } from '../../compiler/lower.ts';
import { buildModel, type NodeSpec } from '../helpers/onnx-builder.ts';

/** One used Relu and `unused` more that read the input and feed nothing (valid ONNX; a fuzzer found it hung). */
function unusedNodesModel(unused: number): Uint8Array {
  const nodes: NodeSpec[] = [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }];
  for (let i = 0; i < unused; i++) nodes.push({ op: 'Relu', inputs: ['x'], outputs: [`unused${i}`] });
  return buildModel({ nodes, inputs: [{ name: 'x', dims: ['N', 4] }], outputs: [{ name: 'y', dims: ['N', 4] }] });
}

/** The sort as it was before the heap (re-sorting the ready list at every pop): the order must not change. */
function referenceOrder(nodes: NodeSpec[], available: Set<string>): string[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const pending = nodes.map((n) => n.inputs.filter((x) => !available.has(x)));
  const missing = pending.map((xs) => new Set(xs).size);
  const ready: number[] = [];
  missing.forEach((m, i) => m === 0 && ready.push(i));
  const order: string[] = [];
  while (ready.length) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(nodes[i].name!);
    for (const o of nodes[i].outputs) {
      nodes.forEach((c, k) => {
        if (pending[k].includes(o) && --missing[k] === 0) ready.push(k);
      });
    }
  }
  return order;
}

/** A random DAG of Add/Relu nodes listed in a shuffled order (seeded), with repeated inputs. */
function shuffledDag(seed: number, size: number): NodeSpec[] {
  let s = seed;
  const random = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const values = ['x'];
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < size; i++) {
    const a = values[Math.floor(random() * values.length)];
    const b = random() < 0.3 ? a : values[Math.floor(random() * values.length)];
    nodes.push({ op: 'Add', inputs: [a, b], outputs: [`v${i}`], name: `n${i}` });
    values.push(`v${i}`);
  }
  for (let i = nodes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [nodes[i], nodes[j]] = [nodes[j], nodes[i]];
  }
  return nodes;
}

describe('large graphs', () => {
  it('loads a model with 100,000 unused nodes in a few seconds', () => {
    const bytes = unusedNodesModel(100_000);
    const start = performance.now();
    const graph = loadOnnxBytes(bytes, { path: 'unused.onnx' });
    const seconds = (performance.now() - start) / 1000;
    expect(graph.nodes).toHaveLength(100_001);
    expect(graph.nodes[0].outputs).toEqual(['y']);
    expect(seconds).toBeLessThan(4); // 70 s with the former quadratic sort
  });

  it('lowers it too: the passes build their consumer maps in linear time', () => {
    const graph = loadOnnxBytes(unusedNodesModel(100_000), { path: 'unused.onnx' });
    const start = performance.now();
    const ir = lowerAnn(graph, { divisor: 1, snncVersion: 'test', recorded: {} });
    expect((performance.now() - start) / 1000).toBeLessThan(15); // minutes with the former quadratic consumer maps
    expect(ir.nodes.map((n) => n.kind)).toEqual(['relu']);
  });

  it('orders shuffled graphs exactly as the former quadratic sort did', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const nodes = shuffledDag(seed, 60);
      const last = nodes.reduce((a, n) => (Number(n.outputs[0].slice(1)) > Number(a.slice(1)) ? n.outputs[0] : a), 'v0');
      const bytes = buildModel({ nodes, inputs: [{ name: 'x', dims: ['N', 4] }], outputs: [{ name: last, dims: ['N', 4] }] });
      const graph = loadOnnxBytes(bytes, { path: 'dag.onnx' });
      expect(graph.nodes.map((n) => n.name)).toEqual(referenceOrder(nodes, new Set(['x', ''])));
    }
  });
});
