/**
 * JSON Schema validation (draft 2020-12, ajv) of every artifact snnc writes or reads.
 * Schemas live in `schemas/` at the package root: the contract between the pipeline's stages.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
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

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

function validator(schema: string): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    ajv ??= (() => {
      const a = new Ajv2020({ allErrors: false, strict: false });
      addFormats(a);
      return a;
    })();
    const file = path.join(packageRoot(), 'schemas', `${schema}.schema.json`);
    fn = ajv.compile(JSON.parse(readFileSync(file, 'utf8')));
    compiled.set(schema, fn);
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
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SnncError(`not valid JSON (${(e as Error).message})`, { file: label });
  }
}

/** Throws a one-line SnncError naming the file and the first violation. */
export function validateDocument(schema: string, doc: unknown, file: string): void {
  const fn = validator(schema);
  if (!fn(doc)) {
    const e = fn.errors?.[0];
    const where = e?.instancePath || '(root)';
    throw new SnncError(`does not match the ${schema} schema at ${where}: ${e?.message ?? 'invalid'}`, { file });
  }
}
