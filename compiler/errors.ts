/**
 * The one error type users see. The CLI prints `snnc: <message>` on one line and exits 2;
 * anything else that escapes is a bug and gets a stack trace.
 */
export interface ErrorPlace {
  file?: string;
  node?: string;
  op?: string;
  /** A tensor (initializer, IR weight, data array) the error is about. */
  tensor?: string;
}

export class SnncError extends Error {
  constructor(
    readonly detail: string,
    readonly where: ErrorPlace = {},
  ) {
    super(SnncError.format(detail, where));
    this.name = 'SnncError';
  }

  /** The same error, naming `file` if it named none: stages below the CLI know nodes, not files. */
  inFile(file: string): SnncError {
    return this.where.file ? this : new SnncError(this.detail, { ...this.where, file });
  }

  static format(message: string, where: ErrorPlace): string {
    const parts: string[] = [];
    if (where.file) parts.push(where.file);
    if (where.node) parts.push(`node ${where.node}${where.op ? ` (${where.op})` : ''}`);
    else if (where.op) parts.push(`op ${where.op}`);
    if (where.tensor) parts.push(`tensor ${where.tensor}`);
    return oneLine(parts.length ? `${parts.join(': ')}: ${message}` : message);
  }
}

/** Names inside a damaged file can hold anything: escape control characters so an error stays one line. */
export function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The first index holding NaN or ±Infinity, or -1. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/** Flat index → `[i, j, k]` in C order (for messages). */
export function indexIn(dims: readonly number[], flat: number): string {
  const index = new Array<number>(dims.length);
  for (let a = dims.length - 1; a >= 0; a--) {
    const d = dims[a] || 1;
    index[a] = flat % d;
    flat = Math.floor(flat / d);
  }
  return `[${index.join(', ')}]`;
}

/**
 * A NaN or ±Inf in a weight gives a plausible-looking wrong answer downstream, never a crash: refuse it
 * where it enters, naming the tensor and its first bad element.
 */
export function checkFinite(data: ArrayLike<number>, dims: readonly number[], where: ErrorPlace, why = ''): void {
  const i = firstNonFinite(data);
  if (i < 0) return;
  const at = dims.length > 1 ? `index ${indexIn(dims, i)}` : `index ${i}`;
  throw new SnncError(`${data[i]} at ${at}${why ? ` ${why}` : ''}: every value must be finite`, where);
}
