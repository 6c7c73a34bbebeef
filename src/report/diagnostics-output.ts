import { createHash } from 'node:crypto';
import { type Diagnostic, formatDiagnostic, severityOf } from '../shared/diagnostics.js';

/** How `validate` and `verify` print findings: for people, for scripts, and for forges' inline annotations. */
export const OUTPUT_FORMATS = ['text', 'json', 'github', 'gitlab'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface Findings {
  /** Which command found them: the check name forges show. */
  check: 'validate' | 'verify';
  diagnostics: readonly Diagnostic[];
  /** What was not checked, and why. */
  notes: readonly string[];
  /** Extra counts for the summary (templates, requests…). */
  counts?: Record<string, number>;
}

export interface Rendered {
  /** Data for machines (json, github, gitlab); empty for text. */
  stdout: string;
  /** For people: diagnostics and the summary in text format; notes in every format. */
  stderr: string;
}

export function countOf(diagnostics: readonly Diagnostic[]): { errors: number; warnings: number } {
  const errors = diagnostics.filter((d) => severityOf(d) === 'error').length;
  return { errors, warnings: diagnostics.length - errors };
}

export function renderFindings(f: Findings, format: OutputFormat, okLine: string): Rendered {
  const { errors, warnings } = countOf(f.diagnostics);
  const notes = f.notes.map((n) => `note: ${n}\n`).join('');
  const summary =
    errors || warnings
      ? `${plural(errors, 'error')}${warnings ? `, ${plural(warnings, 'warning')}` : ''}\n`
      : `${okLine}\n`;
  switch (format) {
    case 'text':
      return {
        stdout: '',
        stderr: `${f.diagnostics.map((d) => `${formatDiagnostic(d)}\n`).join('')}${notes}${summary}`,
      };
    case 'json':
      return {
        stdout: `${JSON.stringify(
          {
            ok: errors === 0,
            diagnostics: f.diagnostics.map((d) => ({
              file: d.file,
              line: d.line,
              col: d.col,
              severity: severityOf(d),
              message: d.message,
            })),
            notes: f.notes,
            counts: { errors, warnings, ...f.counts },
          },
          null,
          2,
        )}\n`,
        stderr: notes + summary,
      };
    case 'github':
      return {
        stdout: [
          ...f.diagnostics.map(
            (d) =>
              `::${severityOf(d)} file=${property(d.file)},line=${d.line},col=${d.col},title=${property(`reexport ${f.check}`)}::${data(d.message)}`,
          ),
          ...f.notes.map((n) => `::notice title=${property(`reexport ${f.check}`)}::${data(n)}`),
        ]
          .map((l) => `${l}\n`)
          .join(''),
        stderr: f.diagnostics.map((d) => `${formatDiagnostic(d)}\n`).join('') + notes + summary,
      };
    case 'gitlab':
      return {
        stdout: `${JSON.stringify(
          f.diagnostics.map((d) => ({
            description: d.message,
            check_name: `reexport-${f.check}`,
            fingerprint: fingerprint(f.check, d),
            severity: severityOf(d) === 'error' ? 'major' : 'minor',
            location: { path: d.file, lines: { begin: d.line } },
          })),
          null,
          2,
        )}\n`,
        stderr: f.diagnostics.map((d) => `${formatDiagnostic(d)}\n`).join('') + notes + summary,
      };
  }
}

/** Stable across runs, so GitLab can tell a new finding from one that was there before. */
function fingerprint(check: string, d: Diagnostic): string {
  return createHash('sha256').update(`${check}\0${d.file}\0${d.line}\0${d.col}\0${d.message}`).digest('hex');
}

/** GitHub workflow commands: the message escapes %, CR and LF; property values also `:` and `,`. */
function data(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function property(s: string): string {
  return data(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
