import { parse as parseCsv } from 'csv-parse/sync';
import { LineCounter, parseDocument } from 'yaml';
import { SourceError } from '../shared/errors.js';

export type SourceFormat = 'csv' | 'json' | 'yaml';

export interface RawRow {
  fields: Record<string, unknown>;
  origin: string;
}

export function formatOf(file: string, explicit?: SourceFormat): SourceFormat {
  if (explicit) return explicit;
  if (/\.csv$/i.test(file)) return 'csv';
  if (/\.json$/i.test(file)) return 'json';
  if (/\.ya?ml$/i.test(file)) return 'yaml';
  throw new SourceError(
    `${file}: cannot tell the format from the file name; name it .csv, .json or .yaml or give a format`,
  );
}

/** Parses a source file's text into rows, each with its line for messages. */
export function parseSourceText(text: string, name: string, format: SourceFormat, delimiter = ','): RawRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (format === 'csv') return parseCsvRows(text, name, delimiter);
  if (format === 'json') return parseJsonRows(text, name);
  return parseYamlRows(text, name);
}

/**
 * Lines are counted from the records when that is exact: no blank line (csv-parse skips those
 * without a trace) and no lone CR line ending. csv-parse's per-record `info` would say it always,
 * at the cost of a fresh object per record (a fifth of a large source's parse time).
 */
const LINES_NOT_COUNTABLE = /(?:^|\n)\r?\n|\r(?!\n)/;

function parseCsvRows(text: string, name: string, delimiter: string): RawRow[] {
  const countable = !LINES_NOT_COUNTABLE.test(text);
  try {
    const options = {
      columns: (header: string[]) => header.map((h) => h.trim()),
      delimiter,
      skip_empty_lines: true,
      relax_quotes: false,
    };
    if (countable) {
      const records = parseCsv<Record<string, string>>(text, options);
      let line = 2;
      return records.map((record) => {
        const row = { fields: record, origin: `${name}:${line}` };
        line += 1 + countNewlines(record);
        return row;
      });
    }
    const rows = parseCsv<CsvRowWithInfo>(text, { ...options, info: true }) as unknown as CsvRowWithInfo[];
    // info.lines is the line where the record ends; a quoted field can span lines, so count back.
    return rows.map(({ record, info }) => ({
      fields: record,
      origin: `${name}:${info.lines - countNewlines(record)}`,
    }));
  } catch (err) {
    const e = err as { message: string; lines?: number };
    throw new SourceError(
      `${name}${e.lines ? `:${e.lines}` : ''}: not valid CSV: ${e.message.replace(/^Invalid Record Length: /, '')}`,
    );
  }
}

function countNewlines(record: Record<string, string>): number {
  let n = 0;
  for (const k in record) {
    const v = record[k]!;
    for (let i = v.indexOf('\n'); i >= 0; i = v.indexOf('\n', i + 1)) n++;
  }
  return n;
}

function parseJsonRows(text: string, name: string): RawRow[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new SourceError(`${name}: not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(data)) throw new SourceError(`${name}: must be a JSON array of records`);
  // JSON.parse keeps no positions; the record's index is the honest location.
  return data.map((r, i) => {
    if (!r || typeof r !== 'object' || Array.isArray(r))
      throw new SourceError(`${name}: record ${i + 1} is not an object`);
    return { fields: r as Record<string, unknown>, origin: `${name}#${i + 1}` };
  });
}

function parseYamlRows(text: string, name: string): RawRow[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors[0]) {
    const pos = doc.errors[0].linePos?.[0];
    throw new SourceError(
      `${name}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${doc.errors[0].message.split('\n')[0]}`,
    );
  }
  const seq = doc.contents as { items?: Array<{ range?: [number, number, number] }> } | null;
  const data = doc.toJS({ maxAliasCount: 50 }) as unknown;
  if (!Array.isArray(data)) throw new SourceError(`${name}: must be a YAML list of records`);
  return data.map((r, i) => {
    if (!r || typeof r !== 'object' || Array.isArray(r))
      throw new SourceError(`${name}: record ${i + 1} is not a mapping`);
    const start = seq?.items?.[i]?.range?.[0];
    return {
      fields: r as Record<string, unknown>,
      origin: `${name}:${start !== undefined ? lineCounter.linePos(start).line : i + 1}`,
    };
  });
}

/** csv-parse's shape with `info: true` (its typings describe only the plain record). */
interface CsvRowWithInfo {
  record: Record<string, string>;
  info: { lines: number };
}
