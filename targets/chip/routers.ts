/**
 * Routers by name: the chip spec's `mesh.routing` picks how a message travels between two cores, as
 * `PLACERS` (targets/map/place.ts) picks a placement. A router gives the route between two cores (hops of
 * each kind and the links used), and, for the virtual chip, the same per message without building it:
 * hop counts in O(1) and link loads accumulated per message and read once at the end, so a run never
 * needs a table over all pairs of cores.
 */
import { SnncError } from '../../compiler/errors.ts';
import { boardOf, type ChipSpec } from '../chip-spec.ts';
import { type Route, type SlotPosition, xyRoute } from '../map/route.ts';

/** A router for cores at fixed positions (core k at positions[k]). */
export interface PlacedRouter {
  /** Hops of the route from core a to core b: out[0] east-west, out[1] north-south, out[2] across chips. */
  hops(a: number, b: number, out: Int32Array): void;
  /** Counts `count` messages from core a to core b on every link of their route. */
  addLinks(a: number, b: number, count: number): void;
  /** Messages per link (link id as route.ts numbers them), links with none left out. */
  linkLoads(): Map<number, number>;
}

export interface Router {
  route(spec: ChipSpec, from: SlotPosition, to: SlotPosition): Route;
  place(spec: ChipSpec, positions: SlotPosition[]): PlacedRouter;
}

/** Placing any router from its routes alone: link loads per core pair, each pair's route walked once at the end. */
export function placedByRoutes(route: Router['route'], spec: ChipSpec, positions: SlotPosition[]): PlacedRouter {
  const N = positions.length;
  const pairs = new Map<number, number>();
  return {
    hops(a, b, out) {
      const r = route(spec, positions[a], positions[b]);
      out[0] = r.ew;
      out[1] = r.ns;
      out[2] = r.chip;
    },
    addLinks(a, b, count) {
      pairs.set(a * N + b, (pairs.get(a * N + b) ?? 0) + count);
    },
    linkLoads() {
      const loads = new Map<number, number>();
      for (const [pair, n] of pairs) for (const l of route(spec, positions[Math.floor(pair / N)], positions[pair % N]).links) loads.set(l, (loads.get(l) ?? 0) + n);
      return loads;
    },
  };
}

/**
 * Dimension-order routing (Loihi 1 and 2): along x, then along y (route.ts `xyRoute`). Hops in closed
 * form: a leg of |Δx| tiles crosses |Δ(chip column)| chip boundaries. Link loads as difference arrays per
 * row (the x leg, along the source's row) and per column (the y leg, along the destination's column).
 */
const xy: Router = {
  route: xyRoute,
  place(spec, positions) {
    const { tiles_x, tiles_y } = spec.mesh;
    const W = boardOf(spec).chips_x * tiles_x;
    const x = Int32Array.from(positions, (p) => p.x);
    const y = Int32Array.from(positions, (p) => p.y);
    const cx = Int32Array.from(positions, (p) => Math.floor(p.x / tiles_x));
    const cy = Int32Array.from(positions, (p) => Math.floor(p.y / tiles_y));
    // The mesh in use: tiles 0 .. w−1 by 0 .. h−1, one slot more for the differences' ends.
    const w = Math.max(0, ...x) + 2;
    const h = Math.max(0, ...y) + 2;
    const east = new Float64Array(w * h);
    const west = new Float64Array(w * h);
    const north = new Float64Array(w * h);
    const south = new Float64Array(w * h);
    return {
      hops(a, b, out) {
        const dcx = Math.abs(cx[b] - cx[a]);
        const dcy = Math.abs(cy[b] - cy[a]);
        out[0] = Math.abs(x[b] - x[a]) - dcx;
        out[1] = Math.abs(y[b] - y[a]) - dcy;
        out[2] = dcx + dcy;
      },
      addLinks(a, b, count) {
        // x leg on row y[a]: links leaving tiles x[a] .. x[b]−1 eastwards, or x[a] .. x[b]+1 westwards.
        const r = y[a] * w;
        if (x[b] > x[a]) {
          east[r + x[a]] += count;
          east[r + x[b]] -= count;
        } else if (x[b] < x[a]) {
          west[r + x[b] + 1] += count;
          west[r + x[a] + 1] -= count;
        }
        // y leg on column x[b] (stored column-major).
        const c = x[b] * h;
        if (y[b] > y[a]) {
          north[c + y[a]] += count;
          north[c + y[b]] -= count;
        } else if (y[b] < y[a]) {
          south[c + y[b] + 1] += count;
          south[c + y[a] + 1] -= count;
        }
      },
      linkLoads() {
        const loads = new Map<number, number>();
        const id = (tx: number, ty: number, dir: number) => (ty * W + tx) * 4 + dir;
        for (let ty = 0; ty < h; ty++) {
          let e = 0;
          let v = 0;
          for (let tx = 0; tx < w; tx++) {
            e += east[ty * w + tx];
            v += west[ty * w + tx];
            if (e !== 0) loads.set(id(tx, ty, 0), e);
            if (v !== 0) loads.set(id(tx, ty, 1), v);
          }
        }
        for (let tx = 0; tx < w; tx++) {
          let n = 0;
          let s = 0;
          for (let ty = 0; ty < h; ty++) {
            n += north[tx * h + ty];
            s += south[tx * h + ty];
            if (n !== 0) loads.set(id(tx, ty, 2), n);
            if (s !== 0) loads.set(id(tx, ty, 3), s);
          }
        }
        return loads;
      },
    };
  },
};

export const ROUTERS: Record<string, Router> = { xy };

export function routerOf(spec: ChipSpec): Router {
  const router = ROUTERS[spec.mesh.routing];
  if (!router) throw new SnncError(`unknown routing '${spec.mesh.routing}' in chip ${spec.name}: routers are ${Object.keys(ROUTERS).join(', ')}`);
  return router;
}
