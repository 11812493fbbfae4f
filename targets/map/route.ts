/**
 * Where a physical core sits, and how a spike message travels between two cores: dimension-order (XY)
 * routing over the global tile mesh. Chips tile the board's mesh (board.chips_x × board.chips_y; the spec's
 * `board`, else its largest system: chooseBoard in place.ts sets `board` before placing), so a multi-chip
 * system is one larger mesh whose links across a chip boundary are chip-to-chip hops.
 *
 * Physical cores ("slots") are numbered chip by chip (chips row-major on the board), tile by tile within
 * a chip (row-major), core by core within a tile.
 */
import { boardOf, type ChipSpec, coresPerChip } from '../chip-spec.ts';

export interface SlotPosition {
  slot: number;
  chip: number;
  /** Tile on the global mesh. */
  x: number;
  y: number;
  /** Core within its tile. */
  core: number;
}

export function slotPosition(spec: ChipSpec, slot: number): SlotPosition {
  const { tiles_x, tiles_y, cores_per_tile } = spec.mesh;
  const perChip = coresPerChip(spec);
  const chip = Math.floor(slot / perChip);
  const inChip = slot - chip * perChip;
  const tile = Math.floor(inChip / cores_per_tile);
  const chipsX = boardOf(spec).chips_x;
  const cx = chip % chipsX;
  const cy = Math.floor(chip / chipsX);
  return { slot, chip, x: cx * tiles_x + (tile % tiles_x), y: cy * tiles_y + Math.floor(tile / tiles_x), core: inChip % cores_per_tile };
}

/** Global tile index of a slot (cores of one tile share it). */
export function tileOf(spec: ChipSpec, p: SlotPosition): number {
  return p.y * boardOf(spec).chips_x * spec.mesh.tiles_x + p.x;
}

export interface Route {
  /** Tile-to-tile hops along x and y inside chips, and links that cross from one chip to another. */
  ew: number;
  ns: number;
  chip: number;
  /** Links traversed, as link ids (see linkEnds). */
  links: number[];
}

/** Link id: (tile index on the global mesh)·4 + direction (0: +x, 1: −x, 2: +y, 3: −y). */
function linkId(spec: ChipSpec, x: number, y: number, dir: number): number {
  return (y * boardOf(spec).chips_x * spec.mesh.tiles_x + x) * 4 + dir;
}

export function linkEnds(spec: ChipSpec, id: number): { from: [number, number]; to: [number, number] } {
  const width = boardOf(spec).chips_x * spec.mesh.tiles_x;
  const dir = id % 4;
  const tile = (id - dir) / 4;
  const x = tile % width;
  const y = Math.floor(tile / width);
  const to: [number, number] = dir === 0 ? [x + 1, y] : dir === 1 ? [x - 1, y] : dir === 2 ? [x, y + 1] : [x, y - 1];
  return { from: [x, y], to };
}

/** XY routing: along x to the destination column, then along y. Same-tile messages take no link. */
export function xyRoute(spec: ChipSpec, a: SlotPosition, b: SlotPosition): Route {
  const { tiles_x, tiles_y } = spec.mesh;
  const route: Route = { ew: 0, ns: 0, chip: 0, links: [] };
  let { x, y } = a;
  while (x !== b.x) {
    const step = b.x > x ? 1 : -1;
    route.links.push(linkId(spec, x, y, step > 0 ? 0 : 1));
    if (Math.floor(x / tiles_x) !== Math.floor((x + step) / tiles_x)) route.chip++;
    else route.ew++;
    x += step;
  }
  while (y !== b.y) {
    const step = b.y > y ? 1 : -1;
    route.links.push(linkId(spec, x, y, step > 0 ? 2 : 3));
    if (Math.floor(y / tiles_y) !== Math.floor((y + step) / tiles_y)) route.chip++;
    else route.ns++;
    y += step;
  }
  return route;
}

/** Hops of the XY route between two slots (tile hops plus chip crossings), without building it. */
export function hopsBetween(a: SlotPosition, b: SlotPosition): number {
  return Math.abs(a.x - b.x) + Math.abs(a.y - b.y);
}

/** Chips needed for `cores` cores, or an error message naming the board limit. */
export function chipsFor(spec: ChipSpec, cores: number): number {
  return Math.max(1, Math.ceil(cores / coresPerChip(spec)));
}
