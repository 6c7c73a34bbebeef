import { formatBytes } from '../config/yaml-file.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { SourceError } from '../shared/errors.js';
import { AS_CSV, jsonMemory, ListedProblems, memoryRefusal } from './memory.js';
import { parseCsvBytes, parseCsvRows } from './parse-csv.js';
import { parseYamlRows } from './parse-yaml.js';
import { keepFields } from './records.js';

export type SourceFormat = 'csv' | 'json' | 'yaml';

export interface RawRow {
  fields: Record<string, unknown>;
  /**
   * Where the row came from: its line in the file being read (a number: "file:line" is made only
   * when a message needs it), or a text such as an LDAP DN.
   */
  origin: number | string;
}

/** Rows, and the located problems that kept rows (or the whole file) out. */
export interface ParsedRows {
  rows: RawRow[];
  problems: Diagnostic[];
  /**
   * Every field name a row has (CSV: the header's); a row holds only those asked for when the
   * parse was given the fields to keep.
   */
  columns?: string[];
  /** What the rows take in memory, about (source/memory.ts), when the reader counted it. */
  memory?: number;
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

/** Parses a source file's text into rows; throws SourceError with every located problem (runtime use). */
export function parseSourceText(text: string, name: string, format: SourceFormat, delimiter = ','): RawRow[] {
  return withoutProblems(parseSourceRows(text, name, format, delimiter)).rows;
}

/** The parsed rows; throws SourceError with every located problem when there is one (runtime use). */
export function withoutProblems(parsed: ParsedRows): ParsedRows {
  if (parsed.problems.length) throw new SourceError(parsed.problems.map(problemText).join('; '));
  return parsed;
}

/** Parses a source file's text into rows, each with its line for messages; problems are collected, not thrown. */
export function parseSourceRows(
  text: string,
  name: string,
  format: SourceFormat,
  delimiter = ',',
  keep?: ReadonlySet<string>,
  budget?: number,
): ParsedRows {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // A record keeps only the fields asked for (plan/used-fields.ts).
  if (format === 'csv') return parseCsvRows(text, name, delimiter, keep);
  if (format === 'json') return parseJsonRows(text, name, keep);
  return parseYamlRows(text, name, keep, { budget });
}

/**
 * parseSourceRows of a file's bytes, which must be valid UTF-8. `budget`: the bytes of memory the
 * records may take. A file that would take more is refused with a located problem instead of
 * being read: a pull request may add any file, and one the daemon's memory cannot hold would stop
 * it (a 4 MB YAML file of 41,000 records did, with the deployment's 512 MiB).
 */
export function parseSourceBytes(
  bytes: Buffer,
  name: string,
  format: SourceFormat,
  delimiter = ',',
  keep?: ReadonlySet<string>,
  budget = Number.POSITIVE_INFINITY,
): ParsedRows {
  if (format === 'csv') return parseCsvBytes(bytes, name, delimiter, keep, budget);
  const text = () => new TextDecoder('utf-8').decode(bytes);
  if (format === 'yaml') return parseSourceRows(text(), name, format, delimiter, keep, budget);
  const need = jsonMemory(bytes);
  if (need > budget) {
    const subject = `is ${formatBytes(bytes.length)} of JSON, which takes`;
    const message = memoryRefusal(subject, need, budget, AS_CSV);
    return { rows: [], problems: [{ file: name, line: 1, col: 1, message }] };
  }
  return { ...parseSourceRows(text(), name, format, delimiter, keep), memory: need };
}

function problemText(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

function parseJsonRows(text: string, name: string, keep?: ReadonlySet<string>): ParsedRows {
  const fail = (line: number, col: number, message: string): ParsedRows => ({
    rows: [],
    problems: [{ file: name, line, col, message }],
  });
  const isRecord = (r: unknown): r is Record<string, unknown> =>
    !!r && typeof r === 'object' && !Array.isArray(r);
  // Every field any record has, kept or not: validation names them ("did you mean …?").
  const columns = new Set<string>();
  /** JSON.parse's error, at its position in the text (`from`: where the parsed part starts). */
  const broken = (err: unknown, from: number) => {
    const message = (err as Error).message;
    const pos = /position (\d+)/.exec(message);
    const { line, col } = positionOf(text, from + (pos ? Number(pos[1]) : 0));
    return fail(line, col, `not valid JSON: ${message.replace(/ (?:in|after) JSON at position \d+.*$/, '')}`);
  };
  // Record by record: each parsed alone and let go once its kept fields are copied, so that an
  // export of 40 fields is never held whole as objects (120 MB of JSON was 565 MB of them). A
  // text that is not one array is parsed whole, which says where it is not.
  const data: unknown[] = [];
  const starts: number[] = [];
  let failed: ParsedRows | undefined;
  const array = eachJsonArrayElement(text, (start, end) => {
    let r: unknown;
    try {
      r = JSON.parse(text.slice(start, end));
    } catch (err) {
      // Located in its record, at least (Node's message does not always say the position). More
      // after a whole record is, in the array, a missing comma or bracket.
      const after = /after JSON at position (\d+)/.exec((err as Error).message);
      failed = after
        ? broken(new Error(`Expected ',' or ']' after array element in JSON at position ${after[1]}`), start)
        : broken(err, start);
      return false;
    }
    starts.push(start);
    data.push(isRecord(r) ? keepFields(r, keep, columns) : r);
    return true;
  });
  if (failed) return failed;
  if (!array) {
    // Not one array of records: the whole parse says where it is not JSON, or what it is.
    try {
      JSON.parse(text);
    } catch (err) {
      return broken(err, 0);
    }
    return fail(1, 1, 'must be a JSON array of records');
  }
  const rows: RawRow[] = [];
  const problems = new ListedProblems();
  // The records start in order, so one walk through the text finds every record's line (from the
  // start for each, 100,000 records took minutes).
  const walk = startOfText();
  data.forEach((r, i) => {
    const { line, col } = advancePosition(text, walk, starts[i]!);
    if (!isRecord(r)) problems.push({ file: name, line, col, message: `record ${i + 1} is not an object` });
    else rows.push({ fields: r, origin: line });
  });
  return { rows, problems: problems.all(), columns: [...columns] };
}

/** Where a walk through a text has got to: the line, where it starts, and the next line end after `at`. */
interface TextWalk {
  line: number;
  lineStart: number;
  at: number;
  /** The first line end at or after `at` (the text's length when there is none); -1 until found. */
  next: number;
}

const startOfText = (): TextWalk => ({ line: 1, lineStart: 0, at: 0, next: -1 });

/**
 * The line and column of `offset`, walking on from where `walk` stopped (offsets must not go
 * back). The next line end is remembered: a file on one line is searched once, not once per
 * record (a 5.8 MB JSON file on one line took 100 s).
 */
function advancePosition(text: string, walk: TextWalk, offset: number): { line: number; col: number } {
  if (offset < walk.at) Object.assign(walk, startOfText());
  const lineEnd = (from: number) => {
    const i = text.indexOf('\n', from);
    return i < 0 ? text.length : i;
  };
  if (walk.next < walk.at) walk.next = lineEnd(walk.at);
  while (walk.next < offset) {
    walk.line++;
    walk.lineStart = walk.next + 1;
    walk.next = lineEnd(walk.lineStart);
  }
  walk.at = Math.max(offset, walk.lineStart);
  return { line: walk.line, col: offset - walk.lineStart + 1 };
}

/**
 * Calls `visit` with where each element of a top-level JSON array starts and ends, in order, as
 * it finds them; false when the text is not one array with only whitespace around it (or `visit`
 * stopped). Strings are skipped with their escapes; the elements themselves are JSON.parse's.
 */
function eachJsonArrayElement(text: string, visit: (start: number, end: number) => boolean): boolean {
  const white = (c: string) => c === ' ' || c === '\n' || c === '\r' || c === '\t';
  let i = 0;
  while (i < text.length && white(text[i]!)) i++;
  if (text[i] !== '[') return false;
  // Nesting inside the current element; the element's first offset, or -1 between elements.
  let depth = 0;
  let open = -1;
  let elements = 0;
  let closed = false;
  for (i++; i < text.length && !closed; i++) {
    const c = text[i]!;
    if (depth === 0 && (c === ',' || c === ']')) {
      // `[]` is an empty array; a comma with no element before it, or a trailing one, is not JSON.
      if (open < 0 && !(c === ']' && elements === 0)) return false;
      if (open >= 0) {
        elements++;
        if (!visit(open, i)) return false;
      }
      open = -1;
      closed = c === ']';
      continue;
    }
    if (depth === 0 && white(c)) continue;
    if (open < 0) open = i;
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '[' || c === '{') depth++;
    else if ((c === ']' || c === '}') && --depth < 0) return false;
  }
  if (!closed) return false;
  for (; i < text.length; i++) if (!white(text[i]!)) return false;
  return true;
}

function positionOf(text: string, offset: number): { line: number; col: number } {
  return advancePosition(text, startOfText(), offset);
}
