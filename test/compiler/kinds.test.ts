/**
 * The IR kind registry (compiler/ir/kinds.ts) against what is kept outside TypeScript's reach: the IR schema's
 * kind list and required fields, and the derived kind lists.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tensorRefs } from '../../compiler/ir/edit.ts';
import { ANALOG_KINDS, FINAL_KINDS, IR_KINDS, KINDS, kindInfo, LINEAR_KINDS } from '../../compiler/ir/kinds.ts';
import type { IrNode } from '../../compiler/ir/types.ts';

interface SchemaBranch {
  properties: { kind: { const?: string; enum?: string[] } };
  required?: string[];
}
const schema = JSON.parse(readFileSync(new URL('../../schemas/ir.schema.json', import.meta.url), 'utf8'));
const branches: SchemaBranch[] = schema.$defs.node.oneOf;
const kindsOf = (b: SchemaBranch) => b.properties.kind.enum ?? [b.properties.kind.const!];
/** Tensor fields a node may leave out (the schema does not require them). */
const OPTIONAL: Record<string, string[]> = { conv2d: ['bias'], dense: ['bias'] };

describe('the kind registry', () => {
  it('lists exactly the kinds of schemas/ir.schema.json, each once', () => {
    const inSchema = branches.flatMap(kindsOf);
    expect(new Set(inSchema).size).toBe(inSchema.length);
    expect([...inSchema].sort()).toEqual([...IR_KINDS].sort());
  });

  it("names as tensor fields only fields the schema knows: required, or one of the kind's optional ones", () => {
    for (const b of branches) {
      for (const kind of kindsOf(b)) {
        const required = new Set(b.required ?? []);
        for (const field of KINDS[kind as keyof typeof KINDS].tensors as readonly string[]) {
          expect(required.has(field) || (OPTIONAL[kind] ?? []).includes(field), `${kind}.${field}`).toBe(true);
        }
        for (const field of OPTIONAL[kind] ?? []) expect(required.has(field), `${kind}.${field}`).toBe(false);
      }
    }
  });

  it('finds every tensor field typed as a tensor name in the schema (a string; `value` is shared with ONNX value names)', () => {
    const shared: Record<string, { $ref?: string; type?: string; additionalProperties?: { $ref?: string } }> = schema.$defs.node.properties;
    const fields = new Set(IR_KINDS.flatMap((k) => KINDS[k].tensors as readonly string[]));
    for (const field of fields) {
      const p = shared[field];
      expect(p, field).toBeDefined();
      const ok = p.$ref === '#/$defs/tensorName' || p.additionalProperties?.$ref === '#/$defs/tensorName' || (field === 'value' && p.type === 'string');
      expect(ok, field).toBe(true);
    }
  });

  it('derives the kind lists from the roles: final ⇔ not ann-only, linear = synaptic ∪ linear, analog', () => {
    for (const kind of IR_KINDS) {
      const { role, final } = KINDS[kind];
      expect(final, kind).toBe(role !== 'ann-only');
      expect(FINAL_KINDS.has(kind), kind).toBe(final);
      expect(LINEAR_KINDS.has(kind), kind).toBe(role === 'synaptic' || role === 'linear');
      expect(ANALOG_KINDS.has(kind), kind).toBe(role === 'analog');
    }
    // The lists the simulator and the compiler kept by hand before the registry, unchanged.
    expect([...FINAL_KINDS].sort()).toEqual(
      ['conv2d', 'dense', 'avgpool2d', 'reshape', 'transpose', 'select', 'add', 'bias', 'concat', 'affine', 'mean', 'if', 'rsm', 'matmul', 'softmax'].sort(),
    );
    expect([...LINEAR_KINDS].sort()).toEqual(['conv2d', 'dense', 'avgpool2d', 'reshape', 'transpose', 'select', 'add', 'bias', 'concat', 'affine', 'mean'].sort());
    expect([...ANALOG_KINDS].sort()).toEqual(['matmul', 'softmax']);
  });

  it('finds no record for a string that is not a kind (prototype keys included)', () => {
    expect(kindInfo('lif')).toBeUndefined();
    expect(kindInfo('toString')).toBeUndefined();
    expect(kindInfo('conv2d')).toBe(KINDS.conv2d);
  });

  it("tensorRefs reads the kind's tensor fields in order, optional ones only when set", () => {
    const base = { id: 'n', inputs: ['x'], shape: [1], onnx: [] };
    const node = (n: object) => ({ ...base, ...n }) as unknown as IrNode;
    expect(tensorRefs(node({ kind: 'conv2d', weight: 'w', strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], groups: 1 }))).toEqual(['w']);
    expect(tensorRefs(node({ kind: 'dense', weight: 'w', bias: 'b' }))).toEqual(['w', 'b']);
    expect(tensorRefs(node({ kind: 'batchnorm', scale: 'g', shift: 'b', mean: 'm', variance: 'v', epsilon: 1e-5, axis: 0 }))).toEqual(['g', 'b', 'm', 'v']);
    expect(tensorRefs(node({ kind: 'affine', scale: 's', shift: 't' }))).toEqual(['s', 't']);
    expect(tensorRefs(node({ kind: 'bias', value: 'c' }))).toEqual(['c']);
    expect(tensorRefs(node({ kind: 'select', index: 'i' }))).toEqual(['i']);
    expect(tensorRefs(node({ kind: 'onnx', op: 'Mul', attrs: {}, constants: { 1: 'k', 3: 'j' }, value: 'y' }))).toEqual(['k', 'j']);
    // `value` of an activation or IF node is an ONNX value name, not a tensor.
    expect(tensorRefs(node({ kind: 'relu', value: 'y' }))).toEqual([]);
    expect(tensorRefs(node({ kind: 'if', threshold: 1, axis: 0, vInit: 0.5, reset: 'subtract', thresholdSource: 'max', value: 'y' }))).toEqual([]);
  });
});
