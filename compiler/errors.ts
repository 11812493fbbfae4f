/**
 * The one error type users see. The CLI prints `snnc: <message>` on one line and exits 2;
 * anything else that escapes is a bug and gets a stack trace.
 */
export class SnncError extends Error {
  constructor(
    readonly detail: string,
    readonly where: { file?: string; node?: string; op?: string } = {},
  ) {
    super(SnncError.format(detail, where));
    this.name = 'SnncError';
  }

  /** The same error, naming `file` if it named none: stages below the CLI know nodes, not files. */
  inFile(file: string): SnncError {
    return this.where.file ? this : new SnncError(this.detail, { ...this.where, file });
  }

  static format(message: string, where: { file?: string; node?: string; op?: string }): string {
    const parts: string[] = [];
    if (where.file) parts.push(where.file);
    if (where.node) parts.push(`node ${where.node}${where.op ? ` (${where.op})` : ''}`);
    else if (where.op) parts.push(`op ${where.op}`);
    return oneLine(parts.length ? `${parts.join(': ')}: ${message}` : message);
  }
}

/** Names inside a damaged file can hold anything: escape control characters so an error stays one line. */
export function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
