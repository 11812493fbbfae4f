/**
 * Routers by name: the chip spec's `mesh.routing` picks how a message travels between two cores, as
 * `PLACERS` (targets/map/place.ts) picks a placement. A router returns the hops of each kind and the links
 * used; the virtual chip prices them with the spec's event table.
 */
import { SnncError } from '../../compiler/errors.ts';
import type { ChipSpec } from '../chip-spec.ts';
import { type Route, type SlotPosition, xyRoute } from '../map/route.ts';

export type Router = (spec: ChipSpec, from: SlotPosition, to: SlotPosition) => Route;

/** Dimension-order routing (Loihi 1 and 2): along x, then along y. */
export const ROUTERS: Record<string, Router> = { xy: xyRoute };

export function routerOf(spec: ChipSpec): Router {
  const router = ROUTERS[spec.mesh.routing];
  if (!router) throw new SnncError(`unknown routing '${spec.mesh.routing}' in chip ${spec.name}: routers are ${Object.keys(ROUTERS).join(', ')}`);
  return router;
}
