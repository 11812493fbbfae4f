/**
 * Offset calibration of the initial membrane v(0) for balanced ReLU populations (the layer-wise offset of COS,
 * Hao et al., ICLR 2023, and the residual-membrane-potential idea of SRP, Hao et al., AAAI 2023): at a small
 * T an IF neuron sends fewer spikes than its ANN activation asks for (it starts empty, and deeper layers get
 * their input late), so its mean output rate × θ falls short of the ANN's mean activation by some d. One more
 * spike per neuron needs θ more charge, so raising v(0) by d·T (d·T/θ in units of θ) adds d to the mean output.
 * Layers are calibrated one after another, in order, each measured with the ones before it already shifted.
 *
 * The measurement (an SNN run and the IR's dense ANN on the calibration set) is the runtime's: it is passed in,
 * as calibration statistics are, so the compiler imports nothing of the runtime. QCFS populations keep θ/2,
 * which is already their exact offset (Bu et al., ICLR 2022).
 */
import type { IfNode, SnnIr } from '../ir/types.ts';

/** Per population id: the mean over calibration (sample, neuron) pairs of (ANN activation − rate × θ) / θ at T. */
export type MeasureDeficits = (ir: SnnIr, T: number) => Promise<Map<string, number>>;

/** The populations the pass calibrates: those whose θ came from threshold balancing (not QCFS's λ). */
export function balancedPopulations(ir: SnnIr): IfNode[] {
  return ir.nodes.filter((n): n is IfNode => n.kind === 'if' && !n.thresholdSource.startsWith('qcfs'));
}

/** v(0) of each balanced population shifted by its measured deficit × T, within [0, 1]·θ; 4 decimals, so the IR reads well. */
export async function calibrateV0(ir: SnnIr, measure: MeasureDeficits, T: number): Promise<SnnIr> {
  let current = ir;
  for (const target of balancedPopulations(ir)) {
    const deficit = (await measure(current, T)).get(target.id) ?? 0;
    const nodes = current.nodes.map((n) => {
      if (n.id !== target.id || n.kind !== 'if') return n;
      const vInit = Math.round(Math.min(1, Math.max(0, n.vInit + deficit * T)) * 1e4) / 1e4;
      return { ...n, vInit } satisfies IfNode;
    });
    current = { ...current, nodes };
  }
  return current;
}
