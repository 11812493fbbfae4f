/**
 * Which neuron rules a chip can run. Signed spikes (model 'signed-if') and bursts (`burst`) send a spike
 * with a payload: ±1 needs either a second axon per neuron (one for positive, one for negative spikes) or a
 * graded payload; up to k spikes per step need a graded payload. Loihi 1 has neither natively; Loihi 2 has
 * graded spikes (`neuron.graded_spikes` in its preset). The virtual chip models binary spikes only, so it
 * refuses graded populations on every chip, saying what the chip would need (docs/conversion.md).
 */
import { SnncError } from '../../compiler/errors.ts';
import type { NetworkPlan } from '../../runtime/snn/plan.ts';
import type { ChipSpec } from '../chip-spec.ts';

/** A one-line refusal of the first population the chip cannot run, or nothing. */
export function refuseGradedSpikes(plan: NetworkPlan, spec: ChipSpec): void {
  const pop = plan.pops.find((p) => p.signed || p.burst > 1);
  if (!pop) return;
  const rule = `${pop.model} neuron model${pop.burst > 1 ? ` with bursts of up to ${pop.burst} spikes per step` : ''}`;
  const chip = spec.neuron.graded_spikes
    ? `${spec.name} has graded spikes, which the virtual chip does not model yet`
    : `${spec.name} has no graded spikes (negative spikes would need a second axon per neuron, bursts a graded payload)`;
  throw new SnncError(`population ${pop.id} uses the ${rule}: ${chip}; run it with snnc simulate, or compile with --neuron if`);
}
