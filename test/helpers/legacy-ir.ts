/**
 * An IR document as snnc wrote it before version 4: the three camelCase node keys and a version number
 * that marked the neuron rules in use (1 plain, 2 LIF or reset to zero, 3 signed or burst spikes). Built from
 * a version-4 document by renaming its keys back, so tests can check the reader of the previous versions.
 */
const CAMEL = { v_init: 'vInit', threshold_source: 'thresholdSource', count_include_pad: 'countIncludePad' } as Record<string, string>;

export function legacyIrDoc<T extends { version: number; nodes: Array<Record<string, unknown>> }>(doc: T, version: 1 | 2 | 3): T {
  const nodes = doc.nodes.map((node) => Object.fromEntries(Object.entries(node).map(([key, value]) => [CAMEL[key] ?? key, value])));
  return { ...doc, version, nodes };
}
