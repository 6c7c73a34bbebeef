import { describe, expect, it } from 'vitest';
import { SourceError } from '../../src/shared/errors.js';
import { parseSourceBytes, parseSourceRows, parseSourceText } from '../../src/source/parse-file.js';
import { collectRecords } from '../../src/source/records.js';
import { jsonMemory } from '../../src/source/memory.js';

describe('source files', () => {
  it('read CSV with a BOM, quoted fields, embedded commas, quotes and newlines, and Norwegian text', () => {
    const csv =
      '\uFEFFemployeeId,givenName,title\n1001,Åse,"Rådgiver, økonomi"\n1002,Bjørn,"Sier ""hei""\nto linjer"\n1003,Ærø,Leder\n';
    const rows = parseSourceText(csv, 'a.csv', 'csv');
    expect(rows).toEqual([
      { fields: { employeeId: '1001', givenName: 'Åse', title: 'Rådgiver, økonomi' }, origin: 2 },
      {
        fields: { employeeId: '1002', givenName: 'Bjørn', title: 'Sier "hei"\nto linjer' },
        origin: 3,
      },
      { fields: { employeeId: '1003', givenName: 'Ærø', title: 'Leder' }, origin: 5 },
    ]);
  });

  it('give each CSV record the line it starts on, with Windows line ends and blank lines too', () => {
    const lines = (csv: string) => parseSourceText(csv, 'a.csv', 'csv').map((r) => r.origin);
    expect(lines('id,t\r\n1,"a\r\nb"\r\n2,c\r\n3,"x\ny\nz"\r\n4,d\r\n')).toEqual([2, 4, 5, 8]);
    expect(lines('id,t\n\n1,a\n\n\n2,"b\nc"\n3,d\n')).toEqual([3, 6, 8]);
    expect(lines('\nid,t\n1,a\n')).toEqual([3]);
    expect(lines('id,t\r1,a\r2,b\r')).toEqual([2, 3]);
  });

  it('read a semicolon-separated CSV, as Norwegian Excel writes it', () => {
    expect(parseSourceText('employeeId;sn\n1;Ås\n', 'a.csv', 'csv', ';')[0]?.fields).toEqual({
      employeeId: '1',
      sn: 'Ås',
    });
  });

  it('say which CSV line is broken', () => {
    expect(() => parseSourceText('a,b\n1,2\n3,4,5\n', 'a.csv', 'csv')).toThrow(SourceError);
    expect(() => parseSourceText('a,b\n1,2\n3,4,5\n', 'a.csv', 'csv')).toThrow(/^a\.csv:3:1: not valid CSV/);
  });

  it('stop reading a CSV file after 100 problems in its records, and say so at the last one', () => {
    let csv = 'id,name\n';
    for (let i = 0; i < 5000; i++) csv += i % 10 === 0 ? `${i},"Jo" Hansen\n` : `${i},Kari\n`;
    const parsed = parseSourceRows(csv, 'a.csv', 'csv');
    expect(parsed.problems.length).toBe(101);
    expect(parsed.problems[0]).toMatchObject({
      file: 'a.csv',
      line: 2,
      message: expect.stringMatching(/^not valid CSV/),
    });
    expect(parsed.problems[100]!.message).toMatch(
      /100 problems in records by this line; the rest of the file was not read/,
    );
    // The header's problems are not the records': one broken record after 150 empty names is read on.
    const header = parseSourceRows(`id${','.repeat(150)}\n1\n2${','.repeat(150)}\n`, 'b.csv', 'csv');
    expect(header.problems.some((p) => /rest of the file/.test(p.message))).toBe(false);
  });

  it('read a JSON array and a YAML list, with positions', () => {
    expect(parseSourceText('[{"employeeId": 1001, "sn": "Ødegård"}]', 'a.json', 'json')).toEqual([
      { fields: { employeeId: 1001, sn: 'Ødegård' }, origin: 1 },
    ]);
    expect(() => parseSourceText('[\n  {"a": "[{,"},\n\n  {"a": 2}, 3\n]', 'a.json', 'json')).toThrow(
      /^a\.json:4:13: record 3 is not an object/,
    );
    expect(
      parseSourceText('[\n  {"a": "[{,\\"}"},\n\n  {"a": 2}\n]', 'a.json', 'json').map((r) => r.origin),
    ).toEqual([2, 4]);
    expect(
      parseSourceText(
        '- employeeId: "1001"\n  sn: Ås\n- employeeId: "1002"\n  sn: Øye\n',
        'a.yaml',
        'yaml',
      ).map((r) => r.origin),
    ).toEqual([1, 3]);
    expect(() => parseSourceText('{"a": 1}', 'a.json', 'json')).toThrow(/must be a JSON array/);
    expect(() => parseSourceText('- a: [1\n', 'a.yaml', 'yaml')).toThrow(/^a\.yaml:\d+:\d+: not valid YAML/);
  });

  it('give every record of a long JSON file its line and column, and keep only the fields asked for', () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ id: String(i), sn: `S${i}`, note: 'x' }));
    // Pretty-printed (5 lines a record after the opening bracket), then a broken record at the end.
    const text = `${JSON.stringify(records, null, 2).slice(0, -2)},\n  7\n]`;
    const parsed = parseSourceRows(text, 'a.json', 'json', ',', new Set(['id', 'sn']));
    expect(parsed.rows.map((r) => r.origin)).toEqual(records.map((_, i) => 2 + 5 * i));
    expect(parsed.rows[2999]!.fields).toEqual({ id: '2999', sn: 'S2999' });
    // Validation still knows every field a record has, read or not ("did you mean …?").
    expect(parsed.columns).toEqual(['id', 'sn', 'note']);
    expect(parsed.problems).toEqual([
      { file: 'a.json', line: 2 + 5 * 3000, col: 3, message: 'record 3001 is not an object' },
    ]);
    const yaml = parseSourceRows(
      '- id: "1"\n  sn: Ås\n  note: x\n- id: "2"\n',
      'a.yaml',
      'yaml',
      ',',
      new Set(['id']),
    );
    expect(yaml.rows).toEqual([
      { fields: { id: '1' }, origin: 1 },
      { fields: { id: '2' }, origin: 4 },
    ]);
    expect(yaml.columns).toEqual(['id', 'sn', 'note']);
    // A field named __proto__ stays a field of the record, not its prototype.
    const proto = parseSourceRows(
      '[{"id": "1", "__proto__": {"x": 1}}]',
      'a.json',
      'json',
      ',',
      new Set(['id', '__proto__']),
    );
    expect(Object.hasOwn(proto.rows[0]!.fields, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(proto.rows[0]!.fields)).toBe(Object.prototype);
  });

  it('read JSON record by record as a whole parse would, and say where broken JSON is broken', () => {
    const keep = new Set(['id']);
    const read = (text: string) => parseSourceRows(text, 'a.json', 'json', ',', keep);
    // What a whole JSON.parse gives, record for record (the reference).
    const whole = (text: string) =>
      (JSON.parse(text) as unknown[]).map((r) =>
        r && typeof r === 'object' && !Array.isArray(r) ? { id: (r as { id?: unknown }).id } : r,
      );
    for (const text of [
      '[]',
      ' \n[ ] \n',
      '[{"id":"1","x":"]},{["},{"id":"2","q":"\\"]\\\\"}]',
      '[\n {"id": "3", "n": [1, {"a": [2]}]} ,\n\t{"id": 4, "s": "\\u005d"}\n]\n',
      '[{"id":"5"}, 6, "seven", [8], null]',
    ]) {
      const parsed = read(text);
      const expected = whole(text);
      expect(parsed.rows.map((r) => r.fields)).toEqual(
        expected
          .filter((r) => r && typeof r === 'object' && !Array.isArray(r))
          .map((r) => ((r as { id?: unknown }).id === undefined ? {} : r)),
      );
      expect(parsed.problems.length).toBe(
        expected.filter((r) => !r || typeof r !== 'object' || Array.isArray(r)).length,
      );
    }
    // Every field a record has is still named, read or not.
    expect(read('[{"id":"1","x":1},{"id":"2","y":[{"z":1}]}]').columns).toEqual(['id', 'x', 'y']);
    // Broken: the place JSON.parse names, as before.
    for (const [text, at] of [
      ['[{"id":"1"},]', /^a\.json:1:\d+: not valid JSON/],
      ['[,{"id":"1"}]', /^a\.json:1:\d+: not valid JSON/],
      ['[{"id":"1"} {"id":"2"}]', /^a\.json:1:\d+: not valid JSON/],
      ['[{"id":"1"}] x', /^a\.json:1:\d+: not valid JSON/],
      ['[{"id":"1"}', /^a\.json:1:\d+: not valid JSON/],
      ['[\n{"id": "1"},\n{"id": tru}\n]', /^a\.json:3:\d+: not valid JSON/],
    ] as const)
      expect(() => parseSourceText(text, 'a.json', 'json'), text).toThrow(at);
  });

  it('name at most five places of a repeated ID, however many records share it', () => {
    const rows = Array.from({ length: 40_000 }, (_, i) => ({ fields: { id: '0' }, origin: i + 2 }));
    const data = collectRecords('a.csv', rows, 'id', 'd');
    expect(data.records).toEqual([]);
    expect(data.issues.length).toBe(40_000);
    expect(data.issues[0]!.message).toBe(
      'repeats `id` 0 (a.csv:2, a.csv:3, a.csv:4, a.csv:5, a.csv:6 and 39,995 more); these records are left out until the source is fixed',
    );
  });

  it('turn numeric IDs into text and keep records with other types', () => {
    const data = collectRecords(
      'a.json',
      parseSourceText('[{"id": 7}, {"id": {"x": 1}}, {"id": null}]', 'a.json', 'json'),
      'id',
      'd',
    );
    expect(data.records.map((r) => r.id)).toEqual(['7']);
    expect(data.issues.map((i) => i.message)).toEqual([
      '`id` is not a single value; the record is left out',
      'has no `id`; the record is left out',
    ]);
  });
});

describe('a source larger than the memory it may take', () => {
  const csv = `id,mail,note\n${Array.from({ length: 1000 }, (_, i) => `${i},u${i}@kommune.no,${'x'.repeat(200)}`).join('\n')}\n`;
  const read = (text: string, format: 'csv' | 'json' | 'yaml', budget: number, keep?: ReadonlySet<string>) =>
    parseSourceBytes(Buffer.from(text), `data/hr.${format}`, format, ',', keep, budget);
  const refusal = (file: string, line: unknown, message: RegExp) => [
    { file, line, col: 1, message: expect.stringMatching(message) },
  ];

  it('is refused before it is read when it is JSON, counted by its values, not guessed from its size', () => {
    const json = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ id: i, note: 'x'.repeat(100) })));
    expect(read(json, 'json', 1_000_000).rows).toHaveLength(1000);
    // 9 KB of empty records: 3,000 objects, each far more in memory than its 3 bytes (20 times
    // the file is not enough).
    const tiny = `[${Array(3000).fill('{}').join(',')}]`;
    expect(read(tiny, 'json', 20 * tiny.length)).toEqual({
      rows: [],
      problems: refusal(
        'data/hr.json',
        1,
        /^is 8\.8 KiB of JSON, which takes about \d+\.\d KiB of memory, more than the 175\.8 KiB this daemon has for a source; export it as CSV/,
      ),
    });
  });

  it('counts each field name of a JSON file once: names repeated in every record are shared', () => {
    const records = (name: (r: number, k: number) => string) =>
      JSON.stringify(
        Array.from({ length: 200 }, (_, r) =>
          Object.fromEntries(Array.from({ length: 100 }, (_, k) => [name(r, k), 'v'])),
        ),
      );
    // Two files of the same size: in one the names repeat, in the other no name does.
    const shared = records((r, k) => `f${String(k).padStart(6, '0')}`);
    const distinct = records((r, k) => `f${String(r * 100 + k).padStart(6, '0')}`);
    expect(distinct.length).toBe(shared.length);
    expect(jsonMemory(Buffer.from(distinct))).toBeGreaterThan(1.5 * jsonMemory(Buffer.from(shared)));
  });

  it('lists a hundred records that are not objects, and counts the rest', () => {
    const problems = read(`[${Array(250).fill('0').join(',')}]`, 'json', 1_000_000).problems;
    expect(problems).toHaveLength(101);
    expect(problems[99]?.message).toBe('record 100 is not an object');
    expect(problems[100]?.message).toBe('150 more problems like these are not listed');
  });

  it('is read as far as what a CSV file keeps fits, and refused at the line where it no longer does', () => {
    // The long column is not kept: 1,000 records of two short values fit in 400 KB.
    expect(read(csv, 'csv', 400_000, new Set(['id', 'mail'])).rows).toHaveLength(1000);
    const refused = read(csv, 'csv', 400_000);
    expect(refused.rows).toEqual([]);
    expect(refused.problems).toEqual(
      refusal(
        'data/hr.csv',
        expect.any(Number),
        /^its records up to this line take about \d+\.\d KiB of memory, more than the 390\.6 KiB this daemon has for a source; give the daemon more memory/,
      ),
    );
    // With the note kept a record is more than twice as large: the budget runs out before the end.
    expect(refused.problems[0]!.line).toBeGreaterThan(300);
    expect(refused.problems[0]!.line).toBeLessThan(1000);
  });

  it('is refused before csv-parse reads a CSV file the fast reader does not take, if it would not fit', () => {
    // A quote inside an unquoted field, on line 7: csv-parse's, which holds every column and a
    // record per line. The message says where the file stops being one the fast reader takes.
    const broken = csv.replace('u5@kommune.no', 'u5@"kommune.no');
    expect(read(broken, 'csv', 2_000_000).problems[0]?.message).toMatch(/^not valid CSV/);
    expect(read(broken, 'csv', 500_000).problems).toEqual(
      refusal(
        'data/hr.csv',
        7,
        /^a quote inside a field that does not start with one: such a file is read by a slower CSV reader that holds every column, here about \d+\.\d KiB of memory, more than the 488\.3 KiB this daemon has for a source; correct the file from this line on/,
      ),
    );
  });
});
