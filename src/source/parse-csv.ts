import { createRequire } from 'node:module';
import type * as CsvParseSync from 'csv-parse/sync';
import type { Diagnostic } from '../shared/diagnostics.js';
import { formatCount } from '../shared/text.js';
import { csvParseMemory, memoryRefusal, MORE_MEMORY, RECORD_BYTES, VALUE_BYTES } from './memory.js';
import type { ParsedRows, RawRow } from './parse-file.js';

/**
 * Reads CSV text (without its BOM) into rows keyed by the header's trimmed names. A file of the shape
 * nearly every HR export has is read by `readCsvFast`; anything else goes to csv-parse, which
 * locates every broken row.
 */
export function parseCsvRows(
  text: string,
  name: string,
  delimiter: string,
  keep?: ReadonlySet<string>,
): ParsedRows {
  return readCsv(Buffer.from(text), 0, () => text, name, delimiter, keep);
}

/**
 * The same from the file's UTF-8 bytes, which must be valid. The fast reader walks the bytes
 * themselves (every byte it looks for is ASCII, and no byte of a multi-byte UTF-8 character is;
 * a text copy of a 90 MB export would be 90 MB more while it is read), and decodes as UTF-8 only
 * the values that hold a non-ASCII byte: the other values are one-byte strings, half the memory
 * of slices of a decoded text once it holds a single "ø".
 */
export function parseCsvBytes(
  bytes: Buffer,
  name: string,
  delimiter: string,
  keep?: ReadonlySet<string>,
  budget = Number.POSITIVE_INFINITY,
): ParsedRows {
  // One BOM goes with the UTF-8 decoding, a second one with the text's (parseSourceRows).
  let start = 0;
  while (start < 6 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf)
    start += 3;
  const text = () => {
    const decoded = new TextDecoder('utf-8').decode(bytes);
    return decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
  };
  return readCsv(bytes, start, text, name, delimiter, keep, budget);
}

/**
 * The fast reader over the bytes from `start`; csv-parse over the text when it declines. Refused,
 * located, when the records would take more than `budget` bytes of memory (see parse-file.ts).
 */
function readCsv(
  bytes: Buffer,
  start: number,
  text: () => string,
  name: string,
  delimiter: string,
  keep: ReadonlySet<string> | undefined,
  budget = Number.POSITIVE_INFINITY,
): ParsedRows {
  const problems: Diagnostic[] = [];
  const header = headerNames(name, problems);
  const declined = { line: 1, why: '', held: 0 };
  const rows = readCsvFast(bytes, start, delimiter, header, keep, budget, declined);
  const refused = (line: number, message: string): ParsedRows => ({
    rows: [],
    problems: [{ file: name, line, col: 1, message }],
  });
  if (rows && 'tooLargeAt' in rows) {
    const subject = 'its records up to this line take';
    return refused(rows.tooLargeAt, memoryRefusal(subject, rows.held, budget, MORE_MEMORY));
  }
  if (rows) return withColumns({ rows, problems, memory: declined.held }, header.names);
  const need = Number.isFinite(budget) ? csvParseMemory(bytes, Buffer.from(delimiter)[0]!) : 0;
  if (need > budget) {
    const subject = `${declined.why}: such a file is read by a slower CSV reader that holds every column, here`;
    const advice = `correct the file from this line on, or ${MORE_MEMORY}`;
    return refused(declined.line, memoryRefusal(subject, need, budget, advice));
  }
  return { ...readCsvWithCsvParse(text(), name, delimiter, keep), ...(need ? { memory: need } : {}) };
}

/**
 * The header's names, trimmed; an empty or repeated name is reported on line 1. Remembers them
 * (`names`): rows may hold only some of the columns.
 */
function headerNames(
  name: string,
  problems: Diagnostic[],
): ((header: string[]) => string[]) & { names: string[] } {
  const at = (message: string) => problems.push({ file: name, line: 1, col: 1, message });
  const read = (header: string[]) => {
    const names = header.map((h) => h.trim());
    read.names = names;
    const seen = new Map<string, number>();
    names.forEach((h, i) => {
      if (h === '') at(`column ${i + 1} has no name in the header line; name it or remove it`);
      else if (seen.has(h))
        at(`the column \`${h}\` appears twice (columns ${seen.get(h)! + 1} and ${i + 1}); keep one`);
      seen.set(h, i);
    });
    return names;
  };
  read.names = [] as string[];
  return read;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/**
 * RFC 4180 with the given one-character delimiter and LF or CRLF line ends: the rows, with the line
 * each starts on, exactly as csv-parse (strict quotes, empty lines skipped) would give them, or
 * undefined where csv-parse might differ or fail (a quote inside an unquoted field, text after a
 * closing quote, an unclosed quote, a wrong field count, a lone CR, line ends that change kind).
 * Why not csv-parse itself: on a 100,000-row, 3.9 MB export it takes 0.25–0.45 s (a Buffer walked a
 * byte at a time, a fresh field buffer per field); this loop takes about a tenth of that. papaparse
 * (0.12 s) is lenient where csv-parse is strict, so its rows would still need this check.
 */
const MIXED_ENDS = 'its line end is not of the kind the first line has (LF and CRLF mixed)';

/** Above this many columns (no HR export has them) the file is read by csv-parse. */
const MAX_FAST_COLUMNS = 1000;

export function readCsvFast(
  bytes: Buffer,
  start: number,
  delimiter: string,
  header: (names: string[]) => string[],
  keep?: ReadonlySet<string>,
  budget = Number.POSITIVE_INFINITY,
  /**
   * Filled in as the reader ends: where and why it declined, when it does (for a message about a
   * file too large for csv-parse), and what the records it kept take in memory.
   */
  report?: { line: number; why: string; held: number },
): RawRow[] | { tooLargeAt: number; held: number } | undefined {
  const decline = (at: number, why: string) => {
    if (report) Object.assign(report, { line: at, why });
    return undefined;
  };
  // Only an ASCII delimiter is one byte.
  if (delimiter.length !== 1 || delimiter.charCodeAt(0) >= 0x80)
    return decline(1, 'the delimiter is not one ASCII character');
  const sep = delimiter.charCodeAt(0);
  if (sep === QUOTE || sep === LF || sep === CR) return decline(1, 'the delimiter is a quote or a line end');
  const buf = bytes as Slicing;
  const n = buf.length;
  // csv-parse takes the first line end outside quotes as the record delimiter: 1 LF, 2 CRLF.
  let ends = 0;
  let line = 1;
  let pos = start;
  // What the records kept so far take in memory, about (source/memory.ts).
  let held = 0;
  const value = (from: number, to: number, high: number) => {
    held += to - from + VALUE_BYTES;
    return high < 0x80 ? buf.latin1Slice(from, to) : buf.utf8Slice(from, to);
  };
  let names: string[] | undefined;
  const rows: RawRow[] = [];
  const record: string[] = [];
  let shape: Record<string, string> = {};
  // The columns a record keeps (all of them without `keep`), and which to cut from the bytes at all.
  let kept: number[] = [];
  let cut: boolean[] | undefined;
  while (pos < n) {
    const first = buf[pos]!;
    if (first === LF || first === CR) {
      // An empty line: csv-parse skips it.
      if (first === LF ? ends === 2 : ends === 1 || buf[pos + 1] !== LF) return decline(line, MIXED_ENDS);
      ends = first === LF ? 1 : 2;
      pos += ends;
      line++;
      continue;
    }
    const start = line;
    let count = 0;
    for (;;) {
      let c = buf[pos];
      let high = 0;
      if (c === QUOTE) {
        let from = pos + 1;
        let i = from;
        for (;;) {
          if (i >= n) return decline(start, 'a quoted field is not closed');
          c = buf[i]!;
          high |= c;
          if (c === QUOTE) {
            if (buf[i + 1] !== QUOTE) break;
            i += 2;
            from = i;
            continue;
          }
          if (c === LF) line++;
          else if (c === CR && buf[i + 1] !== LF)
            return decline(line, 'a carriage return without a line feed');
          i++;
        }
        if (cut && !cut[count]) record[count++] = '';
        else if (from === pos + 1) record[count++] = value(from, i, high);
        // Between the quotes every quote is one of a pair: one copy without them, decoded once.
        else {
          held += i - pos + VALUE_BYTES;
          record[count++] = unquote(buf, pos + 1, i, high);
        }
        pos = i + 1;
        c = buf[pos];
        if (pos < n && c !== sep && c !== LF && c !== CR) return decline(line, 'text after a closing quote');
      } else {
        let i = pos;
        for (; i < n; i++) {
          c = buf[i]!;
          if (c === sep || c === LF || c === CR) break;
          if (c === QUOTE) return decline(line, 'a quote inside a field that does not start with one');
          high |= c;
        }
        record[count] = cut && !cut[count] ? '' : value(pos, i, high);
        count++;
        pos = i;
      }
      if (pos >= n) break;
      pos++;
      if (c === sep) continue;
      if (c === LF ? ends === 2 : ends === 1 || buf[pos] !== LF) return decline(line, MIXED_ENDS);
      ends = c === LF ? 1 : 2;
      if (ends === 2) pos++;
      line++;
      break;
    }
    if (names === undefined) {
      // Spreading a row of thousands of fields costs more than csv-parse's way (a 200,000-column
      // file took twice as long): such files are csv-parse's.
      if (count > MAX_FAST_COLUMNS) return decline(1, `over ${formatCount(MAX_FAST_COLUMNS)} columns`);
      names = header(record.slice(0, count));
      const wanted = names.map((name) => !keep || keep.has(name));
      kept = names.flatMap((_, k) => (wanted[k] ? [k] : []));
      shape = fieldsShape(kept.map((k) => names![k]!));
      if (keep) cut = wanted;
      continue;
    }
    if (count !== names.length)
      return decline(start, `${formatCount(count)} fields where the header has ${formatCount(names.length)}`);
    // A copy of one object with the fields already in place is half the work of adding them one by
    // one. Assignments as csv-parse makes them: a repeated column's last value wins, a column named
    // __proto__ is dropped.
    const fields = { ...shape };
    for (const k of kept) fields[names[k]!] = record[k]!;
    rows.push({ fields, origin: start });
    held += RECORD_BYTES;
    if (held > budget) return { tooLargeAt: start, held };
  }
  if (report) report.held = held;
  return rows;
}

/** Node's Latin-1 and UTF-8 slices without toString's argument checks (invalid UTF-8 gives U+FFFD). */
type Slicing = Buffer & {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
};

/**
 * An object with the columns as its own properties, every one inside the object: made by
 * JSON.parse, which sizes an object for its properties, where adding them one by one puts those
 * past the fourth in a second store (100,000 of them for 100,000 records: 3 MB of heap). A column named
 * __proto__ is left out, as csv-parse's assignment leaves it out.
 */
function fieldsShape(names: readonly string[]): Record<string, string> {
  const keys = names.filter((n) => n !== '__proto__');
  return JSON.parse(`{${keys.map((k) => `${JSON.stringify(k)}:""`).join(',')}}`) as Record<string, string>;
}

/** A record's fields that are in `keep`, in their order. */
function keptFields(record: Record<string, string>, keep: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in record) if (keep.has(k)) out[k] = record[k]!;
  return out;
}

/** A quoted field's bytes with each doubled quote made one, decoded once. */
function unquote(bytes: Buffer, from: number, to: number, high: number): string {
  const out = Buffer.allocUnsafe(to - from);
  let w = 0;
  for (let i = from; i < to; i++) {
    const c = bytes[i]!;
    out[w++] = c;
    if (c === QUOTE) i++;
  }
  return out.toString(high < 0x80 ? 'latin1' : 'utf8', 0, w);
}

/** How many problems in records csv-parse reports before the rest of the file is left unread. */
const MAX_CSV_PROBLEMS = 100;

class TooBroken extends Error {}

/** csv-parse, which reports every broken row with its line (up to MAX_CSV_PROBLEMS problems). */
export function readCsvWithCsvParse(
  text: string,
  name: string,
  delimiter: string,
  keep?: ReadonlySet<string>,
): ParsedRows {
  const problems: Diagnostic[] = [];
  const header = headerNames(name, problems);
  // Loaded on the first file the fast reader hands over: most sources never need it.
  const { parse: parseCsv } = createRequire(import.meta.url)('csv-parse/sync') as typeof CsvParseSync;
  let rows: CsvRowWithInfo[];
  // The broken records' problems, not the header's (a record can give two).
  let skipped = 0;
  try {
    rows = parseCsv<CsvRowWithInfo>(text, {
      columns: header,
      delimiter,
      skip_empty_lines: true,
      relax_quotes: false,
      info: true,
      raw: true,
      skip_records_with_error: true,
      on_skip: (err) => {
        if (!err) return undefined;
        const e = err as { message: string; lines?: number };
        problems.push({
          file: name,
          line: e.lines ?? 1,
          col: 1,
          message: `not valid CSV: ${e.message.replace(/^Invalid Record Length: /, '')}`,
        });
        // A file this broken is refused whatever the rest holds; reading on costs csv-parse time
        // that grows with the square of the rows (it keeps each broken record's text).
        if (++skipped >= MAX_CSV_PROBLEMS) throw new TooBroken();
        return undefined;
      },
    }) as unknown as CsvRowWithInfo[];
  } catch (err) {
    if (!(err instanceof TooBroken)) throw err;
    const last = problems[problems.length - 1]!;
    problems.push({
      ...last,
      message: `not valid CSV: ${MAX_CSV_PROBLEMS} problems in records by this line; the rest of the file was not read`,
    });
    return { rows: [], problems };
  }
  // csv-parse tells where a record ends (info.bytes, its line end included) and its text (raw: the
  // empty lines before it included, each line end's LF left out after a CR); the record starts
  // after those empty lines. Its line count cannot be used, as it counts a CRLF inside quotes twice,
  // nor can the values, as a repeated column keeps only one of them.
  const bytes = Buffer.from(text);
  // raw keeps only the first byte of each delimiter between fields; of a non-ASCII delimiter
  // that is a broken UTF-8 sequence, which raw holds as U+FFFD (3 bytes): one per delimiter, as
  // many as a valid record has fields, less one.
  const delimiterBytes = Buffer.byteLength(delimiter);
  const perDelimiter = delimiterBytes === 1 ? 0 : delimiterBytes - 3;
  const misread = perDelimiter * (header.names.length - 1);
  let offset = 0;
  let line = 1;
  return withColumns(
    {
      rows: rows.map(({ record, info, raw }) => {
        let start = info.bytes - Buffer.byteLength(raw) - misread;
        if (raw.endsWith('\r') && bytes[info.bytes - 1] === LF) start--;
        while (bytes[start] === LF || bytes[start] === CR) start++;
        for (; offset < start; offset++) {
          const b = bytes[offset];
          if (b === LF || (b === CR && bytes[offset + 1] !== LF)) line++;
        }
        return { fields: keep ? keptFields(record, keep) : record, origin: line };
      }),
      problems,
    },
    header.names,
  );
}

/** Every row of a CSV file has its header's fields (a repeated name once, `__proto__` never). */
/** The file's columns as a record would hold them all (a repeated name once, no __proto__). */
function withColumns(parsed: ParsedRows, header: readonly string[]): ParsedRows {
  return { ...parsed, columns: parsed.rows.length ? Object.keys(fieldsShape(header)) : [] };
}

/** csv-parse's shape with `info: true` (its typings describe only the plain record). */
interface CsvRowWithInfo {
  record: Record<string, string>;
  info: { bytes: number };
  raw: string;
}
