/**
 * Every layer's per-kind table covers the kinds the registry (compiler/ir/kinds.ts) gives it. TypeScript
 * already reports a missing entry (the tables are typed Record<FinalKind | LinearKind | AnalogKind, …>);
 * this checks the objects themselves, which a cast could get past, and that the old exported lists agree.
 */
import { describe, expect, it } from 'vitest';
import { ANALOG_KINDS, FINAL_KINDS, LINEAR_KINDS } from '../../compiler/ir/kinds.ts';
import { ANALOG_EVALUATORS, LINEAR_EVALUATORS, RATE_EVALUATORS } from '../../runtime/ir/evaluate.ts';
import { LINEAR_KINDS as SIMULATOR_LINEAR_KINDS, SCATTERS } from '../../runtime/snn/linear.ts';
import { ANALOG_KINDS as SIMULATOR_ANALOG_KINDS } from '../../runtime/snn/plan.ts';
import { NIR_FORMS } from '../../targets/nir/export.ts';
import { ONNX_FORMS } from '../../targets/onnx/export.ts';

const sorted = (xs: Iterable<string>) => [...xs].sort();

describe('per-kind tables', () => {
  it('every final kind has a rate-limit evaluator (runtime/ir/evaluate.ts)', () => {
    expect(sorted(Object.keys(RATE_EVALUATORS))).toEqual(sorted(FINAL_KINDS));
    for (const f of Object.values(RATE_EVALUATORS)) expect(typeof f).toBe('function');
  });

  it('every linear kind has a scatter map (runtime/snn/linear.ts) and a dense evaluator', () => {
    expect(sorted(Object.keys(SCATTERS))).toEqual(sorted(LINEAR_KINDS));
    expect(sorted(Object.keys(LINEAR_EVALUATORS))).toEqual(sorted(LINEAR_KINDS));
    expect(sorted(SIMULATOR_LINEAR_KINDS)).toEqual(sorted(LINEAR_KINDS));
  });

  it('every analog kind has an evaluator, and the simulator treats the same kinds as analog', () => {
    expect(sorted(Object.keys(ANALOG_EVALUATORS))).toEqual(sorted(ANALOG_KINDS));
    expect(sorted(SIMULATOR_ANALOG_KINDS)).toEqual(sorted(ANALOG_KINDS));
  });

  it('every final kind has a NIR form: a writer, or an explicit refusal', () => {
    expect(sorted(Object.keys(NIR_FORMS))).toEqual(sorted(FINAL_KINDS));
    for (const [kind, form] of Object.entries(NIR_FORMS)) {
      const ok = 'refused' in form ? typeof form.refused === 'function' : typeof form.write === 'function';
      expect(ok, kind).toBe(true);
    }
  });

  it('every final kind has an ONNX form: a writer, the loop body, or an explicit refusal', () => {
    expect(sorted(Object.keys(ONNX_FORMS))).toEqual(sorted(FINAL_KINDS));
    for (const [kind, form] of Object.entries(ONNX_FORMS)) {
      const ok = 'write' in form ? typeof form.write === 'function' : typeof ('loop' in form ? form.loop : form.refused) === 'string';
      expect(ok, kind).toBe(true);
    }
  });
});
