/**
 * JSON Schema validation (draft 2020-12, ajv) of every artifact snnc writes or reads.
 * Schemas live in `schemas/` at the package root: the contract between the pipeline's stages.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { SnncError } from './errors.ts';

const addFormats = addFormatsModule.default;

/** The package root: the nearest folder above this file holding `schemas/` (works from source and from dist/). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'schemas', 'ir.schema.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('snnc: cannot find the schemas/ folder of the package');
    dir = up;
  }
  return dir;
}

/** Fast: stops at the first error. Only a document that fails is validated again with allErrors, to explain it. */
const checkers = { first: new Map<string, ValidateFunction>(), all: new Map<string, ValidateFunction>() };
const instances: { first?: Ajv2020; all?: Ajv2020 } = {};

function validator(schema: string, mode: 'first' | 'all' = 'first'): ValidateFunction {
  let fn = checkers[mode].get(schema);
  if (!fn) {
    const ajv = (instances[mode] ??= (() => {
      const a = new Ajv2020({ allErrors: mode === 'all', strict: false });
      addFormats(a);
      return a;
    })());
    const file = path.join(packageRoot(), 'schemas', `${schema}.schema.json`);
    fn = ajv.compile(JSON.parse(readFileSync(file, 'utf8')));
    checkers[mode].set(schema, fn);
  }
  return fn;
}

/**
 * Reads a JSON artifact and validates it against `schemas/<schema>.schema.json`; every failure (missing
 * file, bad JSON, schema violation) is a one-line SnncError naming `label` (the file, by default).
 */
export function readDocument<T>(schema: string, file: string, label = file): T {
  const doc = readJson(file, label);
  validateDocument(schema, doc, label);
  return doc as T;
}

/** The parse half of `readDocument`, for callers whose own check runs the schema. */
export function readJson(file: string, label = file): unknown {
  if (!existsSync(file)) throw new SnncError('no such file', { file: label });
  if (!statSync(file).isFile()) throw new SnncError('not a regular file (a directory?)', { file: label });
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SnncError(`not valid JSON (${(e as Error).message})`, { file: label });
  }
  const overflow = firstInfinity(doc, '');
  if (overflow !== undefined) throw new SnncError(`${overflow || '(root)'} is a number beyond the range of a double (parsed as ±Infinity)`, { file: label });
  return doc;
}

/** JSON has no Infinity, but 1e400 parses to it and a schema's "type": "number" accepts it. */
function firstInfinity(value: unknown, at: string): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : at;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value)) {
    const found = firstInfinity(child, `${at}/${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Throws a one-line SnncError naming the file and the most specific violation. */
export function validateDocument(schema: string, doc: unknown, file: string): void {
  if (validator(schema)(doc)) return;
  const all = validator(schema, 'all');
  all(doc);
  const e = mostSpecific(all.errors ?? []);
  const where = e?.instancePath || '(root)';
  throw new SnncError(`does not match the ${schema} schema at ${where}: ${e?.message ?? 'invalid'}`, { file });
}

interface Explanation {
  instancePath: string;
  message?: string;
}

/**
 * The error that explains a failure. For a `oneOf` (IR nodes by kind, a threshold that is a number or a
 * list) the first error ajv meets is usually from a branch that was never meant to match ("must have
 * required property 'weight'" for an IF node): drop branches that rule themselves out by a discriminator
 * (`const`/`enum` on a property, such as `kind`) or by the instance's type, then take the deepest error.
 */
function mostSpecific(errors: ErrorObject[]): Explanation | undefined {
  // A branch is a schema path (shared by every item of an array) applied at one instance path.
  const ruledOut: { branch: string; instance: string }[] = [];
  const allowed: ErrorObject[] = [];
  for (const e of errors) {
    const branch = /^(.*\/(?:oneOf|anyOf)\/\d+)\//.exec(e.schemaPath)?.[1];
    if (!branch) continue;
    const rest = e.schemaPath.slice(branch.length);
    const discriminator = (e.keyword === 'const' || e.keyword === 'enum') && /^\/properties\/[^/]+\/(const|enum)$/.test(rest);
    const wrongType = e.keyword === 'type' && rest === '/type';
    if (discriminator) allowed.push(e);
    if (discriminator) ruledOut.push({ branch, instance: e.instancePath.replace(/\/[^/]*$/, '') });
    if (wrongType) ruledOut.push({ branch, instance: e.instancePath });
  }
  const within = (e: ErrorObject, r: { branch: string; instance: string }) =>
    e.schemaPath.startsWith(`${r.branch}/`) && (e.instancePath === r.instance || e.instancePath.startsWith(`${r.instance}/`));
  const aggregate = new Set(['oneOf', 'anyOf', 'allOf', 'if', 'not']);
  const relevant = errors.filter((e) => !aggregate.has(e.keyword) && !ruledOut.some((r) => within(e, r)));
  if (!relevant.length && allowed.length) return noBranch(allowed);
  const pool = relevant.length ? relevant : errors;
  return pool.reduce<Explanation | undefined>((best, e) => (!best || depth(e) > depth(best) ? e : best), undefined);
}

/** Every branch ruled itself out by its discriminator: list the values they accept (`kind` must be one of …). */
function noBranch(discriminators: ErrorObject[]): Explanation {
  const values = discriminators.flatMap((e) => (e.keyword === 'const' ? [e.params.allowedValue] : (e.params.allowedValues as unknown[])));
  return { instancePath: discriminators[0].instancePath, message: `must be one of ${[...new Set(values)].join(', ')}` };
}

function depth(e: Explanation): number {
  return e.instancePath.split('/').length;
}
