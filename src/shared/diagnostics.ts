/** A problem found in a file, located so that an editor or a reviewer can jump to it. */
export interface Diagnostic {
  /** Path as the user knows it: relative to the config repository, or as given for the daemon config. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  message: string;
  /** Absent means error. A warning is worth a look but fails nothing (e.g. an ID the source lacks). */
  severity?: Severity;
}

export type Severity = 'error' | 'warning';

export const severityOf = (d: Diagnostic): Severity => d.severity ?? 'error';
export const isError = (d: Diagnostic): boolean => severityOf(d) === 'error';

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${severityOf(d) === 'warning' ? 'warning: ' : ''}${d.message}`;
}

/** Sorted by file, then position, so output is stable across runs and file systems. */
export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return [...ds].sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.col - b.col ||
      a.message.localeCompare(b.message),
  );
}
