import { describe, expect, it } from 'vitest';
import { capsOf, emptyUse, LIMITS, loadChipSpec, R, RESOURCES, useRecord } from '../../targets/chip-spec.ts';

describe('named per-core resources', () => {
  it('R gives every resource its position in LIMITS, and RESOURCES describes each', () => {
    expect(Object.keys(R).sort()).toEqual([...LIMITS].sort());
    LIMITS.forEach((l, i) => expect(R[l]).toBe(i));
    for (const l of LIMITS) {
      expect(RESOURCES[l].text.length).toBeGreaterThan(0);
      expect(RESOURCES[l].counts.length).toBeGreaterThan(0);
    }
    expect(emptyUse()).toEqual(LIMITS.map(() => 0));
  });

  it('capsOf and useRecord read the same numbers as the spec by name', () => {
    const spec = loadChipSpec('loihi1');
    const caps = capsOf(spec);
    expect(caps[R.neurons]).toBe(1024);
    expect(caps[R.input_axons]).toBe(4096);
    expect(caps[R.output_axons]).toBe(4096);
    expect(caps[R.synapse_words]).toBe(16384);
    expect(useRecord(caps)).toEqual(Object.fromEntries(LIMITS.map((l) => [l, spec.limits[l].value])));
  });
});
