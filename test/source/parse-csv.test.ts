import { describe, expect, it } from 'vitest';
import { seededRandom } from '../harness/random.js';
import { parseCsvBytes, parseCsvRows, readCsvFast, readCsvWithCsvParse } from '../../src/source/parse-csv.js';
import type { ParsedRows, RawRow } from '../../src/source/parse-file.js';

/** Rows, problems and columns: what the fast reader and csv-parse must agree on (only the fast one counts memory). */
const withoutMemory = ({ memory: _, ...parsed }: ParsedRows) => parsed;

const PIECES = [
  'a',
  'Zz',
  '1001',
  'Ø',
  'æ',
  '€',
  '😀',
  ' ',
  '"',
  ',',
  ';',
  '\t',
  '\n',
  '\r\n',
  'x y',
  '\u00a0',
];
const NAMES = ['id', 'sn', ' givenName ', 'title', '', 'id', '__proto__', 'Åse', 'a;b', 'x"y'];

interface Case {
  text: string;
  delimiter: string;
  /** The line each data record starts on, when the text was not broken on purpose. */
  lines?: number[];
}

/** A CSV text as an HR export might write it, and, one time in three, broken in one of the ways csv-parse rejects or reads otherwise. */
function csvCase(seed: number): Case {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  // Non-ASCII delimiters of 2, 4 and 3 bytes go to csv-parse, whose raw text misreads them.
  const delimiter = pick([',', ',', ';', '\t', '|', ',', '¤', ';', '😀', '€']);
  const eol = r() < 0.5 ? '\n' : '\r\n';
  const width = 1 + Math.floor(r() * 4);
  const value = () => {
    let v = '';
    for (let n = Math.floor(r() * 4); n > 0; n--) v += pick(PIECES);
    return v;
  };
  const encode = (v: string) =>
    r() < 0.2 || v.includes(delimiter) || v.includes('"') || v.includes('\n') || v.includes('\r')
      ? `"${v.replaceAll('"', '""')}"`
      : v;
  const records: string[][] = [Array.from({ length: width }, () => pick(NAMES))];
  for (let n = Math.floor(r() * 6); n > 0; n--) records.push(Array.from({ length: width }, value));
  let text = '';
  const lines: number[] = [];
  records.forEach((record, i) => {
    while (r() < 0.15) text += eol;
    if (i > 0) lines.push(text.split('\n').length);
    const line = record.map(encode).join(delimiter);
    // A line of one empty value is an empty line, which csv-parse skips: quote it to keep the record.
    text += (line === '' ? '""' : line) + (i < records.length - 1 || r() < 0.5 ? eol : '');
  });
  if (r() < 0.67) return { text, delimiter, lines };
  let at = Math.floor(r() * (text.length + 1));
  // Text decoded from UTF-8 never holds half a surrogate pair.
  if (/[\ud800-\udbff]/.test(text.charAt(at - 1))) at--;
  const broken = pick([
    '"', // a stray or unclosed quote
    ' "', // a quote after a space
    '"x"y', // text after a closing quote
    delimiter, // a field too many
    '\r', // a lone CR
    eol === '\n' ? '\r\n' : '\n', // line ends that change kind
    `${eol}${delimiter}`, // a short record
  ]);
  return { text: text.slice(0, at) + broken + text.slice(at), delimiter };
}

describe('the fast CSV reader', () => {
  it('gives the rows, fields, lines and problems csv-parse gives, on thousands of random texts', () => {
    let fast = 0;
    let fellBack = 0;
    for (let seed = 1; seed <= 4000; seed++) {
      const { text, delimiter, lines } = csvCase(seed);
      const expected = readCsvWithCsvParse(text, 'r.csv', delimiter);
      const got = readCsvFast(Buffer.from(text), 0, delimiter, (names) => names.map((h) => h.trim()));
      if (got) fast++;
      else fellBack++;
      const context = `seed ${seed}: ${JSON.stringify(text)}`;
      expect(withoutMemory(parseCsvRows(text, 'r.csv', delimiter)), context).toEqual(expected);
      // The bytes of the file, with a BOM now and then, read as the text is.
      const bom = seed % 5 === 0 ? '\ufeff' : '';
      expect(withoutMemory(parseCsvBytes(Buffer.from(bom + text), 'r.csv', delimiter)), context).toEqual(
        expected,
      );
      if (lines && expected.rows.length === lines.length)
        expect(
          expected.rows.map((row) => row.origin),
          context,
        ).toEqual(lines);
    }
    // Both ways were taken often enough for the comparison to mean something.
    expect(fast).toBeGreaterThan(1500);
    expect(fellBack).toBeGreaterThan(800);
  });

  it('keeps only the columns asked for, fast or through csv-parse, and still names every column', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const { text, delimiter } = csvCase(seed);
      const keep = new Set(NAMES.filter((_, i) => (seed >> i) % 2 === 1).map((n) => n.trim()));
      const whole = readCsvWithCsvParse(text, 'r.csv', delimiter);
      const only = (fields: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(fields).filter(([k]) => keep.has(k)));
      const expected = { ...whole, rows: whole.rows.map((r) => ({ ...r, fields: only(r.fields) })) };
      const context = `seed ${seed}: ${JSON.stringify(text)}`;
      expect(withoutMemory(parseCsvRows(text, 'r.csv', delimiter, keep)), context).toEqual(expected);
      expect(withoutMemory(parseCsvBytes(Buffer.from(text), 'r.csv', delimiter, keep)), context).toEqual(
        expected,
      );
      expect(readCsvWithCsvParse(text, 'r.csv', delimiter, keep), context).toEqual(expected);
    }
  });

  it('reads a large export it does not fall back on, non-ASCII and long values included', () => {
    const lines = ['employeeId;givenName;sn;title'];
    for (let i = 0; i < 2000; i++)
      lines.push(`${100000 + i};Åse ${i};"Ødegård; ""jr"""; Seniorrådgiver ved avdeling ${i % 7}`);
    const text = `${lines.join('\r\n')}\r\n`;
    expect(readCsvFast(Buffer.from(text), 0, ';', (names) => names)).toBeDefined();
    const parsed = withoutMemory(parseCsvBytes(Buffer.from(text), 'p.csv', ';'));
    expect(parsed).toEqual(readCsvWithCsvParse(text, 'p.csv', ';'));
    expect(parsed.columns).toEqual(['employeeId', 'givenName', 'sn', 'title']);
    expect(parsed.rows[1999]).toEqual({
      fields: {
        employeeId: '101999',
        givenName: 'Åse 1999',
        sn: 'Ødegård; "jr"',
        title: ' Seniorrådgiver ved avdeling 4',
      },
      origin: 2001,
    });
  });

  it('reads a file with a non-ASCII delimiter as csv-parse does (its bytes are not one a character)', () => {
    for (const delimiter of ['§', '¦', 'ø', '€']) {
      const text = `id${delimiter}name${delimiter}mail\n1${delimiter}Bob${delimiter}b@x\n2${delimiter}Åse${delimiter}a@x\n`;
      const parsed = parseCsvBytes(Buffer.from(text), 'd.csv', delimiter);
      expect(parsed, delimiter).toEqual(readCsvWithCsvParse(text, 'd.csv', delimiter));
      expect(parsed.rows[1]?.fields, delimiter).toEqual({ id: '2', name: 'Åse', mail: 'a@x' });
    }
  });

  it('unescapes a field of a million doubled quotes in one copy, not a string per pair', () => {
    const quotes = '""'.repeat(1_000_000);
    const text = `id,note\n1,"${quotes}"\n`;
    const parsed = parseCsvBytes(Buffer.from(text), 'q.csv', ',');
    expect(parsed.rows[0]?.fields.note).toBe('"'.repeat(1_000_000));
    expect((readCsvFast(Buffer.from(text), 0, ',', (names) => names) as RawRow[])[0]?.fields.note).toBe(
      '"'.repeat(1_000_000),
    );
  });

  it('leaves a file of thousands of columns to csv-parse, with the same rows', () => {
    const names = Array.from({ length: 2000 }, (_, i) => `c${i}`);
    const text = `${names.join(',')}\n${names.map((_, i) => i).join(',')}\n`;
    expect(readCsvFast(Buffer.from(text), 0, ',', (n) => n)).toBeUndefined();
    expect(withoutMemory(parseCsvBytes(Buffer.from(text), 'w.csv', ','))).toEqual(
      readCsvWithCsvParse(text, 'w.csv', ','),
    );
  });
});
