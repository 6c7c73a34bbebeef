import { LineCounter, parseDocument } from 'yaml';
import { formatBytes } from '../config/yaml-file.js';
import { plural } from '../shared/text.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import type { ParsedRows, RawRow } from './parse-file.js';
import { AS_CSV, ListedProblems, memoryRefusal, RECORD_BYTES, YAML_MEMORY_PER_BYTE } from './memory.js';
import { keepFields } from './records.js';

/** YAML alias limit: a data file must not expand into gigabytes ("billion laughs"). */
const MAX_ALIASES = 50;

/**
 * The largest YAML text read as one document: a whole file up to this size, and each piece of a
 * larger one. The YAML library builds a node per value, 80 times the text's size in memory for
 * records of short fields, several hundred for a flow list of tiny values: a 4 MB file of 41,000 records stopped
 * a daemon with the deployment's 512 MiB. A larger file must be a plain list of records; it is read
 * a piece of up to PIECE_RECORDS records and this many characters at a time, each piece's document
 * let go once its records are taken, and a single record larger than this is refused.
 */
export const YAML_DOCUMENT_MAX_CHARS = 64 * 1024;

const PIECE_RECORDS = 1000;

/**
 * A YAML source's rows: a list of mappings. Problems are located; a file that is not valid YAML
 * gives no rows. `limits` are for tests (a small file read in pieces).
 */
export function parseYamlRows(
  text: string,
  name: string,
  keep?: ReadonlySet<string>,
  limits: {
    /** Bytes of memory the records may take (source/memory.ts). */
    budget?: number;
    wholeMaxChars?: number;
    pieceRecords?: number;
    pieceMaxChars?: number;
  } = {},
): ParsedRows {
  const columns = new Set<string>();
  if (text.length <= (limits.wholeMaxChars ?? YAML_DOCUMENT_MAX_CHARS)) {
    const read = readDocument(text, { name, keep, columns, firstLine: 1, firstRecord: 0 });
    const memory = text.length * YAML_MEMORY_PER_BYTE + read.rows.length * RECORD_BYTES;
    return read.invalid
      ? { rows: [], problems: read.problems }
      : { rows: read.rows, problems: read.problems, columns: [...columns], memory };
  }
  const list = recordStarts(text);
  if (!('starts' in list)) {
    const message =
      `a YAML source over 64 KB must be a plain list of records, each starting with "- " at the start of a ` +
      `line, and ${list.why}; export large sources as CSV or JSON`;
    return { rows: [], problems: [{ file: name, line: list.line, col: 1, message }] };
  }
  const { starts } = list;
  const budget = limits.budget ?? Number.POSITIVE_INFINITY;
  const need = text.length * YAML_MEMORY_PER_BYTE + starts.length * RECORD_BYTES;
  if (need > budget) {
    const subject = `is ${formatBytes(text.length)} of YAML (${plural(starts.length, 'record')}), which takes`;
    const message = memoryRefusal(subject, need, budget, AS_CSV);
    return { rows: [], problems: [{ file: name, line: 1, col: 1, message }] };
  }
  const pieceRecords = limits.pieceRecords ?? PIECE_RECORDS;
  const pieceChars = limits.pieceMaxChars ?? YAML_DOCUMENT_MAX_CHARS;
  const rows: RawRow[] = [];
  const problems = new ListedProblems();
  // As for a whole document: a file that is not valid YAML gives no rows, and its errors.
  const errors = new ListedProblems();
  // The line each piece starts on, counted on from the piece before.
  const walk = { line: 1, at: 0 };
  const lineAt = (offset: number) => {
    for (let i = text.indexOf('\n', walk.at); i >= 0 && i < offset; i = text.indexOf('\n', i + 1))
      walk.line++;
    walk.at = offset;
    return walk.line;
  };
  const endOf = (k: number) => (k + 1 < starts.length ? starts[k + 1]! : text.length);
  for (let k = 0; k < starts.length;) {
    const from = starts[k]!;
    if (endOf(k) - from > pieceChars) {
      const message = `record ${k + 1} is over ${formatBytes(pieceChars)}; no person's record is that large: check the file`;
      return { rows: [], problems: [{ file: name, line: lineAt(from), col: 1, message }] };
    }
    // Records while the piece stays within both limits (one at least).
    let next = k + 1;
    while (next < starts.length && next - k < pieceRecords && endOf(next) - from <= pieceChars) next++;
    const read = readDocument(text.slice(from, endOf(next - 1)), {
      name,
      keep,
      columns,
      firstLine: lineAt(from),
      firstRecord: k,
    });
    for (const p of read.problems) (read.invalid ? errors : problems).push(p);
    if (!read.invalid && errors.listed.length === 0) for (const r of read.rows) rows.push(r);
    k = next;
  }
  return errors.listed.length
    ? { rows: [], problems: errors.all() }
    : { rows, problems: problems.all(), columns: [...columns], memory: need };
}

interface ReadContext {
  name: string;
  keep: ReadonlySet<string> | undefined;
  columns: Set<string>;
  /** The line of the text's first character in the file, and how many records came before it. */
  firstLine: number;
  firstRecord: number;
}

/** One YAML document of records (a whole file, or a piece of one). */
function readDocument(text: string, ctx: ReadContext): ParsedRows & { invalid: boolean } {
  const { name } = ctx;
  const lineCounter = new LineCounter();
  const at = (line: number) => line + ctx.firstLine - 1;
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length) {
    return {
      invalid: true,
      rows: [],
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        return {
          file: name,
          line: at(pos.line),
          col: pos.col,
          message: `not valid YAML: ${e.message.split('\n')[0]!.split(' at line ')[0]}`,
        };
      }),
    };
  }
  const seq = doc.contents as { items?: Array<{ range?: [number, number, number] }> } | null;
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    return {
      invalid: false,
      rows: [],
      problems: [{ file: name, line: 1, col: 1, message: `cannot be read: ${(err as Error).message}` }],
    };
  }
  if (!Array.isArray(data))
    return {
      invalid: false,
      rows: [],
      problems: [{ file: name, line: 1, col: 1, message: 'must be a YAML list of records' }],
    };
  const rows: RawRow[] = [];
  const problems: Diagnostic[] = [];
  data.forEach((r, i) => {
    const start = seq?.items?.[i]?.range?.[0];
    const line = at(start !== undefined ? lineCounter.linePos(start).line : i + 1);
    const n = ctx.firstRecord + i + 1;
    if (!r || typeof r !== 'object' || Array.isArray(r))
      problems.push({ file: name, line, col: 1, message: `record ${n} is not a mapping` });
    else rows.push({ fields: keepFields(r as Record<string, unknown>, ctx.keep, ctx.columns), origin: line });
  });
  return { invalid: false, rows, problems };
}

/**
 * Where each record of a plain top-level list starts (a line beginning with "-" and a blank), or
 * the line where the text is something else: a piece of such a list is a list of the same records.
 * A `---` before the list and a `...` after it are allowed. Anchors (`&name`) are refused, outside
 * comments and quoted text, with the aliases that would use them: an alias may not find its anchor
 * in the same piece. (An alias missed here cannot do harm: it fails, located, as unresolved in its
 * piece, and each piece limits the aliases it expands.)
 */
function recordStarts(text: string): { starts: number[] } | { line: number; why: string } {
  const starts: number[] = [];
  let line = 0;
  let ended = false;
  for (let at = 0; at < text.length;) {
    line++;
    const start = at;
    const end = text.indexOf('\n', at);
    at = end < 0 ? text.length : end + 1;
    const content = text.slice(start, end < 0 ? text.length : end).replace(/\r$/, '');
    if (/^\s*(#.*)?$/.test(content)) continue;
    if (ended) return { line, why: 'there is more after the end of the document ("...")' };
    if (starts.length === 0 && /^---\s*(#.*)?$/.test(content)) continue;
    if (/^\.\.\.\s*(#.*)?$/.test(content)) {
      ended = true;
      continue;
    }
    if (/^-(\s|$)/.test(content)) starts.push(start);
    else if (!/^\s/.test(content) || starts.length === 0)
      return { line, why: 'this line neither starts a record ("- ") nor goes on with one (indented)' };
    if (ANCHOR.test(withoutQuotesAndComment(content)))
      return {
        line,
        why: 'anchors (&) and aliases (*) are not read in a YAML source this large; write the values out',
      };
  }
  return starts.length ? { starts } : { line: 1, why: 'it holds no record ("- ")' };
}

/**
 * An anchor or alias: `&` or `*` and a name where a node begins (a line's content, after `- `,
 * `? ` or `: `, or after `[`, `{` or `,`), not inside a value ("Sales &Marketing", "a *very* good").
 */
const ANCHOR = /(?:^\s*|[-?:]\s+|[[{,]\s*)[&*][^\s[\]{},]/;

/** A line without its quoted text and its comment, for finding anchors that are YAML's, not text. */
function withoutQuotesAndComment(line: string): string {
  return line.replace(/"(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?/g, '""').replace(/(^|\s)#.*$/, '');
}
