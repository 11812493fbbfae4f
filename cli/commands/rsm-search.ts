/**
 * `snnc rsm-search <model.snn.json> --input val_x.npy --labels val_y.npy -T 64`: per-site Random Spike
 * Masking ratios (MST's masks, Wang et al., ICCV 2023, chosen per site instead of one ratio everywhere) that
 * minimise the network's spike-driven energy (every spike-triggered accumulation × E_AC, docs/transformers.md)
 * while the accuracy on the given validation data stays within `--budget` percentage points of the unmasked SNN
 * at the same T.
 *
 * A site is a node whose spike inputs can be masked (each of its inputs comes from IF neurons through
 * index-only ops): by default every such node of the attention module (found from the graph's structure), e.g.
 * the q/k/v and proj layers, q·kᵀ (its q and k spikes) and the softmax or bias after the score neurons.
 *
 * Coordinate search: every site is first tried alone at the top ratio of the grid (a screen); sites are then
 * visited in order of the energy that screen saved, and each takes the largest ratio of the grid that keeps the
 * accuracy within budget and lowers the energy, given the ratios already chosen. At most sites × (1 + grid)
 * simulations of the validation data.
 */
import { SnncError } from '../../compiler/errors.ts';
import { tensorSize } from '../../compiler/graph.ts';
import type { SnnIr } from '../../compiler/ir/types.ts';
import type { AttentionMode, SimulationResult } from '../../runtime/snn/simulate.ts';
import { formatTable, printJson } from '../common.ts';
import { loadDataset } from '../data.ts';

export interface RsmSearchOptions {
  input: string;
  labels: string;
  steps: number;
  limit?: number;
  seed: number;
  workers?: number;
  attention?: AttentionMode;
  sites?: string[];
  grid: string;
  budget: number;
  json?: boolean;
}

interface Trial {
  ratios: Record<string, number>;
  accuracy: number;
  spike_driven_pj: number;
  attention_spike_driven_pj: number;
}

export interface SearchStep {
  site: string;
  screen: { ratio: number; accuracy: number; spike_driven_pj: number };
  ratio: number;
  accuracy: number;
  spike_driven_pj: number;
  attention_spike_driven_pj: number;
}

export function parseGrid(text: string): number[] {
  const grid = text.split(',').map((s) => Number(s.trim()));
  if (grid.length === 0 || grid.some((r) => !(r > 0 && r < 1))) throw new SnncError(`--grid ${text}: expected comma-separated ratios in (0, 1), e.g. 0.25,0.5,0.75,0.9`);
  return [...new Set(grid)].sort((a, b) => b - a);
}

export async function rsmSearch(irPath: string, options: RsmSearchOptions): Promise<void> {
  const result = await searchRsm(irPath, options);
  if (options.json) printJson(result);
  else process.stdout.write(renderSearch(result));
}

export type RsmSearchResult = Awaited<ReturnType<typeof searchRsm>>;

/** The search itself: what `rsm-search --json` prints. */
export async function searchRsm(irPath: string, options: RsmSearchOptions) {
  const [{ readIr }, sim, { insertRsm }, { moduleMap, MODULES }] = await Promise.all([
    import('../../compiler/ir/io.ts'),
    import('../../runtime/snn/simulate.ts'),
    import('../../compiler/passes/insert-rsm.ts'),
    import('../../runtime/snn/modules.ts'),
  ]);
  const grid = parseGrid(options.grid);
  if (!(options.budget >= 0)) throw new SnncError(`--budget ${options.budget}: expected percentage points ≥ 0`);
  const ir = readIr(irPath);
  if (ir.nodes.some((n) => n.kind === 'rsm')) throw new SnncError(`${irPath} already has masks: give rsm-search the IR compiled without --rsm`, { file: irPath });
  const classes = tensorSize(ir.output.shape);
  const data = loadDataset({ input: options.input, labels: options.labels, limit: options.limit, classes }, { name: ir.input.id, dims: [-1, ...ir.input.shape] });
  const x = data.x.data as Float32Array;
  const labels = data.labels!;

  // Candidate sites: nodes whose every input is spikes (insertRsm accepts them), in the attention module unless named.
  const masks = (ratios: Record<string, number>): SnnIr => insertRsm(ir, Object.entries(ratios).filter(([, r]) => r > 0).map(([pattern, ratio]) => ({ pattern: exact(pattern), ratio })));
  const maskable = (id: string) => {
    try {
      masks({ [id]: 0.5 });
      return true;
    } catch (e) {
      if (e instanceof SnncError) return false;
      throw e;
    }
  };
  const modules = moduleMap(ir);
  let sites: string[];
  if (options.sites?.length) {
    const patterns = options.sites.map(globToRegExp);
    sites = ir.nodes.filter((n) => patterns.some((p) => p.test(n.id))).map((n) => n.id);
    if (sites.length === 0) throw new SnncError(`--sites ${options.sites.join(' ')}: matches no node of ${irPath}`, { file: irPath });
    const bad = sites.filter((s) => !maskable(s));
    if (bad.length) throw new SnncError(`--sites: ${bad.join(', ')} has an input that is not spikes (only spike edges can be masked)`, { file: irPath });
  } else {
    sites = ir.nodes.filter((n) => modules.get(n.id) === MODULES.indexOf('attention') && n.kind !== 'if' && !['reshape', 'transpose', 'select'].includes(n.kind) && maskable(n.id)).map((n) => n.id);
    if (sites.length === 0) throw new SnncError(`${irPath} has no attention module with maskable spike inputs: name the sites with --sites`, { file: irPath });
  }

  let runs = 0;
  const evaluate = async (ratios: Record<string, number>): Promise<Trial> => {
    const r: SimulationResult = await sim.simulate(masks(ratios), x, { T: options.steps, seed: options.seed, labels, workers: options.workers, attention: options.attention });
    runs++;
    process.stderr.write(`rsm-search: run ${runs}: ${describe(ratios)} → accuracy ${pct(r.accuracy![String(options.steps)])}, spike-driven ${uj(r.work.spike_driven_pj)}\n`);
    return { ratios, accuracy: r.accuracy![String(options.steps)], spike_driven_pj: r.work.spike_driven_pj, attention_spike_driven_pj: r.modules.attention.spike_driven_pj };
  };

  const base = await evaluate({});
  const floor = base.accuracy - options.budget / 100;
  const top = grid[0];
  const screens = new Map<string, Trial>();
  for (const site of sites) screens.set(site, await evaluate({ [site]: top }));
  const order = [...sites].sort((a, b) => screens.get(a)!.spike_driven_pj - screens.get(b)!.spike_driven_pj || sites.indexOf(a) - sites.indexOf(b));

  let best = base;
  const steps: SearchStep[] = [];
  for (const site of order) {
    const screen = screens.get(site)!;
    let chosen = 0;
    for (const ratio of grid) {
      // Alone at the top ratio, this site already failed the budget or saved nothing: skip that trial.
      const trial = ratio === top && Object.keys(best.ratios).length === 0 ? screen : await evaluate({ ...best.ratios, [site]: ratio });
      if (trial.accuracy >= floor - 1e-12 && trial.spike_driven_pj < best.spike_driven_pj) {
        best = trial;
        chosen = ratio;
        break;
      }
    }
    steps.push({
      site,
      screen: { ratio: top, accuracy: screen.accuracy, spike_driven_pj: screen.spike_driven_pj },
      ratio: chosen,
      accuracy: best.accuracy,
      spike_driven_pj: best.spike_driven_pj,
      attention_spike_driven_pj: best.attention_spike_driven_pj,
    });
  }
  const flags = Object.entries(best.ratios).map(([site, ratio]) => `--rsm '${site}=${ratio}'`);
  const result = {
    ir: irPath,
    input: options.input,
    labels: options.labels,
    T: options.steps,
    samples: data.samples,
    seed: options.seed,
    attention: options.attention ?? 'accumulated',
    grid,
    budget_pp: options.budget,
    runs,
    unmasked: { accuracy: base.accuracy, spike_driven_pj: base.spike_driven_pj, attention_spike_driven_pj: base.attention_spike_driven_pj },
    steps,
    ratios: best.ratios,
    chosen: { accuracy: best.accuracy, spike_driven_pj: best.spike_driven_pj, attention_spike_driven_pj: best.attention_spike_driven_pj },
    flags,
  };
  return result;
}

function renderSearch(result: RsmSearchResult): string {
  const { unmasked: base, steps, flags, grid } = result;
  const top = grid[0];
  const change = (a: number, b: number) => `${(100 * (a / b - 1)).toFixed(1)} %`;
  return (
    [
      `${result.samples} validation samples, T = ${result.T}, ${result.attention} attention, seed ${result.seed}; budget ${result.budget_pp} pp below the unmasked SNN (${pct(base.accuracy)}); ${result.runs} simulations`,
      '',
      formatTable(
        [
          ['site', `alone at ${top}: accuracy`, 'energy', 'chosen ratio', 'accuracy', 'spike-driven energy', 'change', 'attention', 'change'],
          ['(unmasked)', '', '', '', pct(base.accuracy), uj(base.spike_driven_pj), '', uj(base.attention_spike_driven_pj), ''],
          ...steps.map((s) => [
            s.site,
            pct(s.screen.accuracy),
            uj(s.screen.spike_driven_pj),
            s.ratio ? String(s.ratio) : '—',
            pct(s.accuracy),
            uj(s.spike_driven_pj),
            change(s.spike_driven_pj, base.spike_driven_pj),
            uj(s.attention_spike_driven_pj),
            change(s.attention_spike_driven_pj, base.attention_spike_driven_pj),
          ]),
        ],
        new Set([1, 2, 3, 4, 5, 6, 7, 8]),
      ),
      '',
      flags.length ? flags.join(' ') : '(no site can be masked within the budget)',
      '',
    ].join('\n')
  );
}

/** A node id as an --rsm pattern that matches only it (glob characters escaped as classes). */
function exact(id: string): string {
  return id.replace(/[*?[\]]/g, (c) => `[${c}]`);
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

function describe(ratios: Record<string, number>): string {
  const e = Object.entries(ratios);
  return e.length ? e.map(([s, r]) => `${s}=${r}`).join(' ') : 'no masks';
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)} %`;
}

function uj(pj: number): string {
  return `${(pj / 1e6).toFixed(4)} µJ`;
}
