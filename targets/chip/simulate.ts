/**
 * The virtual chip: runs a core map event by event on a chip described by its spec (never a hard-coded
 * Loihi). Per time step and per layer (a phase): each core holding the layer's neurons updates them
 * (active or inactive), fires, and sends one message per (spike, destination slice) through its output
 * axons; messages travel the mesh by XY routing (hops east-west, north-south, across chips); each receiving
 * core runs the synaptic ops of the message's synapse list. A barrier closes the step. Counts of every
 * event give the energy (chip event table, 45 nm model, ANN baseline) and the phase model of energy.ts
 * gives the latency, per step and per inference.
 *
 * Exactness. Without quantisation the chip must produce exactly the spikes of the functional simulator
 * (runtime/snn/engine.ts) for the same IR, inputs and seed. Membranes and currents are float64 and
 * floating-point addition is not associative, so a neuron whose input were summed in another order could
 * land on the other side of its threshold. The chip therefore accumulates every neuron's input in the
 * engine's order: the constant base (biases, then the input currents in input order), then the layers in
 * the plan's `order`, each layer's streams in order, each stream's spikes in ascending neuron index, and
 * delivers them through the plan's own routes (routes.ts: a conv twin, a dense matrix, a small table) with
 * the engine's kernels, route by route as the engine does; a quantised map's plan holds tables of the
 * quantised weights, delivered the same way. Spike masks come from the same counter-based hash (rng.ts).
 * On Loihi itself the accumulators are integers, where order does not matter.
 *
 * Scale. Nothing is listed per synapse: each core's share of an operator is the part of the route's
 * targets its slices hold, and a spike's messages (one per destination slice) and synaptic ops are counted
 * from the route in closed form (messages.ts) on an element's first spike and kept per signature of equal
 * messages (run.ts); hops and link loads come from the spec's router (routers.ts), never from a table over
 * core pairs.
 * Memory is O(weights + neurons + cores), not O(synapses) nor O(cores²). Events are counted apart from the
 * delivery; counts are integers (exact in any order) and route energies are summed message by message in
 * spike order.
 *
 * Neurons. Each population runs the IR's rule (kernels.wat `integrateCores`, the simulator's `integrate`
 * counted per core): v ← λ·v + I, spike at v ≥ θ, reset by subtraction or to zero, λ = 1 for IF and the
 * node's leak for LIF (float64, not Loihi's 12-bit decay). Loihi 1's native neuron resets to zero; IF
 * neurons converted from an ANN reset by subtraction (Loihi 2 microcode). `reset` overrides every
 * population's reset (to run subtract-reset neurons as the chip's native ones) and the report says which.
 *
 * The entry point of three parts: configure.ts (a map → which core holds what, checked against the spec's
 * resource model; each spike's messages, messages.ts; routes by the spec's router, routers.ts), run.ts
 * (the steps, counting events by name)
 * and account.ts (events → energy, latency and the report).
 */
export { type ChipConfig, configureChip, configureFromMap } from './configure.ts';
export { type ChipOptions, runChip } from './run.ts';
export { assemble } from './account.ts';
export type { ChipCoreReport, ChipLayerReport, ChipReport, ChipRun, SampleSubtotals, Totals, TraceCore, TracePhase, TraceStep } from './account.ts';
