/**
 * Import direction and module cycles (docs/architecture.md, "Import direction"). Every .ts file's import
 * specifiers are read from its text (static `import … from`, `import '…'`, `export … from`, dynamic
 * `import('…')`), relative ones are resolved to files, and:
 *
 * - direction: no file imports a folder it is not allowed to (RULES below), type-only imports included,
 *   since a type still ties the folders' designs together;
 * - cycles: the files of compiler/, runtime/ and targets/ form no import cycle. Type-only imports
 *   (`import type`, `export type`, `typeof import('…')`) are left out here because TypeScript erases them and
 *   they cannot make modules load in a different order; dynamic imports count (they are real module edges).
 *
 * `import { type A } from` is not type-only: with verbatimModuleSyntax it stays in the output as `import {}`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Which top-level folders a folder must not import. A file directly under the root is folder ''. */
const RULES: Record<string, string[]> = {
  compiler: ['runtime', 'targets', 'cli', 'report', 'bench', 'test', 'scripts'],
  runtime: ['targets', 'cli', 'report', 'bench', 'test', 'scripts'],
  targets: ['cli', 'report', 'bench', 'test', 'scripts'],
  report: ['cli', 'bench', 'test', 'scripts'],
  cli: ['bench', 'test', 'scripts'],
  scripts: ['cli'],
  '': ['cli'],
};
/** Files in these folders may not be in an import cycle with each other. */
const ACYCLIC = new Set(['compiler', 'runtime', 'targets']);
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'fixtures-src', 'out']);

interface ImportRef {
  specifier: string;
  typeOnly: boolean;
  dynamic: boolean;
}

/**
 * The source with comments replaced by spaces; strings, template literals and regular expressions are kept
 * (a `//` inside them is not a comment). Newlines stay, so offsets and line numbers are unchanged.
 */
function stripComments(src: string): string {
  const out = src.split('');
  const templateDepth: number[] = []; // brace depth at which each open `${` returns to its template
  let braces = 0;
  let last = ''; // the last significant character outside comments, to tell a regex `/` from division
  let lastWord = '';
  let i = 0;
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  const skipString = (q: string) => {
    for (i++; i < src.length && src[i] !== q; i++) if (src[i] === '\\') i++;
    i++;
  };
  const skipTemplate = () => {
    // i is just past a '`' or a '}' that closes a `${`
    for (; i < src.length; i++) {
      if (src[i] === '\\') i++;
      else if (src[i] === '`') { i++; return; }
      else if (src[i] === '$' && src[i + 1] === '{') { templateDepth.push(braces); braces++; i += 2; return; }
    }
  };
  while (i < src.length) {
    const c = src[i];
    const d = src[i + 1];
    if (c === '/' && d === '/') {
      const end = src.indexOf('\n', i);
      const to = end < 0 ? src.length : end;
      blank(i, to);
      i = to;
    } else if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2);
      const to = end < 0 ? src.length : end + 2;
      blank(i, to);
      i = to;
    } else if (c === '"' || c === "'") {
      skipString(c);
      last = c;
    } else if (c === '`') {
      i++;
      skipTemplate();
      last = '`';
    } else if (c === '/' && (last === '' || /[(,=:[!&|?{};+\-*%<>~^]/.test(last) || /^(return|typeof|case|do|else|in|of|void|yield|await)$/.test(lastWord))) {
      // a regular expression literal
      let inClass = false;
      for (i++; i < src.length && src[i] !== '\n'; i++) {
        if (src[i] === '\\') i++;
        else if (src[i] === '[') inClass = true;
        else if (src[i] === ']') inClass = false;
        else if (src[i] === '/' && !inClass) break;
      }
      i++;
      last = '/';
      lastWord = '';
    } else {
      if (c === '{') braces++;
      else if (c === '}') {
        braces--;
        if (templateDepth.length && templateDepth[templateDepth.length - 1] === braces) {
          templateDepth.pop();
          i++;
          skipTemplate();
          last = '`';
          continue;
        }
      }
      if (/[\w$]/.test(c)) {
        const m = /^[\w$]+/.exec(src.slice(i, i + 64))!;
        lastWord = m[0];
        last = 'a';
        i += m[0].length;
        continue;
      }
      if (!/\s/.test(c)) {
        last = c;
        lastWord = '';
      }
      i++;
    }
  }
  return out.join('');
}

const STATIC_IMPORT = /(?<![\w$.])import\s+(type\s+)?(?:[\w$]+\s*,?\s*)?(?:\{[^}]*\}|\*\s*as\s+[\w$]+)?\s*from\s*(['"])([^'"\n]+)\2/g;
const SIDE_EFFECT_IMPORT = /(?<![\w$.])import\s*(['"])([^'"\n]+)\1/g;
const RE_EXPORT = /(?<![\w$.])export\s+(type\s+)?(?:\*(?:\s*as\s+[\w$]+)?|\{[^}]*\})\s*from\s*(['"])([^'"\n]+)\2/g;
const DYNAMIC_IMPORT = /(typeof\s+)?(?<![\w$.])import\s*\(\s*(['"`])([^'"`\n$]+)\2\s*(?:,[^)]*)?\)(\s*\.\s*[\w$]+)?/g;

/** Every import specifier of a module's source text. */
function importsOf(src: string): ImportRef[] {
  const code = stripComments(src);
  const refs: ImportRef[] = [];
  for (const m of code.matchAll(STATIC_IMPORT)) refs.push({ specifier: m[3], typeOnly: m[1] !== undefined, dynamic: false });
  for (const m of code.matchAll(SIDE_EFFECT_IMPORT)) refs.push({ specifier: m[2], typeOnly: false, dynamic: false });
  for (const m of code.matchAll(RE_EXPORT)) refs.push({ specifier: m[3], typeOnly: m[1] !== undefined, dynamic: false });
  for (const m of code.matchAll(DYNAMIC_IMPORT)) {
    // `typeof import('x')` and `import('x').Name` (other than .then/.catch/.finally) are types
    const member = m[4]?.replace(/[\s.]/g, '');
    const typeOnly = m[1] !== undefined || (member !== undefined && !['then', 'catch', 'finally'].includes(member));
    refs.push({ specifier: m[3], typeOnly, dynamic: true });
  }
  return refs;
}

/** Every .ts file of the repository (relative, with '/'), leaving out dependencies and build outputs. */
function sourceFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || SKIP_DIRS.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.ts')) found.push(relative(ROOT, path).split(sep).join('/'));
    }
  };
  walk(ROOT);
  return found.sort();
}

const folderOf = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '');

interface Edge {
  from: string;
  to: string; // repository-relative path of the imported file
  ref: ImportRef;
}

/** The project-internal import edges (relative specifiers), and those that name no existing file. */
function importGraph(): { edges: Edge[]; unresolved: string[] } {
  const edges: Edge[] = [];
  const unresolved: string[] = [];
  for (const file of sourceFiles()) {
    for (const ref of importsOf(readFileSync(join(ROOT, file), 'utf8'))) {
      if (!ref.specifier.startsWith('.')) continue; // packages and node: builtins
      const abs = resolve(ROOT, dirname(file), ref.specifier);
      const target = [abs, abs.replace(/\.js$/, '.ts')].find((p) => existsSync(p));
      const to = relative(ROOT, target ?? abs).split(sep).join('/');
      if (!target) {
        if (folderOf(file) !== 'test') unresolved.push(`${file}: ${ref.specifier}`);
        continue;
      }
      edges.push({ from: file, to, ref });
    }
  }
  return { edges, unresolved };
}

/** Import direction violations, one line each: `importer → imported (specifier)`. */
function directionViolations(edges: Edge[]): string[] {
  return edges
    .filter((e) => RULES[folderOf(e.from)]?.includes(folderOf(e.to)))
    .map((e) => `${e.from} → ${e.to}${e.ref.typeOnly ? ' (type-only)' : ''}`);
}

/** Every elementary cycle found by a depth-first search (one per back edge), as `a → b → … → a`. */
function findCycles(graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles = new Set<string>();
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === 'open') {
        const cycle = stack.slice(stack.lastIndexOf(next));
        // the same cycle reached from another node prints the same: start it at its smallest file
        const k = cycle.indexOf([...cycle].sort()[0]);
        const rotated = [...cycle.slice(k), ...cycle.slice(0, k)];
        cycles.add([...rotated, rotated[0]].join(' → '));
      } else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return [...cycles].sort();
}

describe('reading import specifiers', () => {
  it('finds static, side-effect, re-export and dynamic imports and tells type-only ones', () => {
    const src = [
      "import { a, type B } from './a.ts';",
      "import type { C } from \"./c.ts\";",
      "import D, { e } from './d.ts';",
      "import * as F from './f.ts';",
      "import './side.ts';",
      "export { g } from './g.ts';",
      "export type { H } from './h.ts';",
      "export * from './i.ts';",
      "const j = await import('./j.ts');",
      "type K = typeof import('./k.ts');",
      "type L = import('./l.ts').Thing;",
      "import('./m.ts').then(() => 1);",
      'import {',
      '  n,',
      "} from './n.ts';",
    ].join('\n');
    const refs = importsOf(src).map((r) => `${r.specifier}${r.typeOnly ? ' type' : ''}${r.dynamic ? ' dynamic' : ''}`).sort();
    expect(refs).toEqual([
      './a.ts', './c.ts type', './d.ts', './f.ts', './g.ts', './h.ts type', './i.ts', './j.ts dynamic', './k.ts type dynamic',
      './l.ts type dynamic', './m.ts dynamic', './n.ts', './side.ts',
    ]);
  });

  it('ignores imports in comments, and comment markers inside strings and regular expressions', () => {
    const src = [
      '// import { x } from "./commented.ts";',
      '/* export * from "./block.ts"; */',
      "const url = 'http://example.org'; import { y } from './y.ts';",
      'const re = /\\/\\/ not a comment/; import { z } from "./z.ts";',
      'const t = `a ${`b ${1}`} // c`; import { w } from "./w.ts";',
      '/** see `import(\'./doc.ts\')` */',
    ].join('\n');
    expect(importsOf(src).map((r) => r.specifier).sort()).toEqual(['./w.ts', './y.ts', './z.ts']);
  });

  it('reports a cycle once, from its smallest file', () => {
    const graph = new Map([['b', ['c']], ['c', ['a', 'd']], ['a', ['b']], ['d', []]]);
    expect(findCycles(graph)).toEqual(['a → b → c → a']);
    expect(findCycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
  });
});

describe('import direction (docs/architecture.md)', () => {
  const { edges, unresolved } = importGraph();

  it('resolves every relative import outside test/ to a file', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(unresolved).toEqual([]);
  });

  it('imports only down the pipeline: compiler ← runtime ← targets ← report ← cli', () => {
    expect(directionViolations(edges)).toEqual([]);
  });

  it('has no import cycle among the files of compiler/, runtime/ and targets/', () => {
    const graph = new Map<string, string[]>();
    for (const e of edges) {
      if (e.ref.typeOnly || !ACYCLIC.has(folderOf(e.from)) || !ACYCLIC.has(folderOf(e.to))) continue;
      graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
    }
    expect(findCycles(graph)).toEqual([]);
  });
});
