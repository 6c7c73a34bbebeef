import { describe, expect, it } from 'vitest';
import type { ParsedRows } from '../../src/source/parse-file.js';
import { parseYamlRows } from '../../src/source/parse-yaml.js';
import { seededRandom } from '../harness/random.js';

/** Read as one document, and in pieces of `piece` records (as a file over the size limit is). */
/** Rows, problems and columns (what the two ways must agree on; each counts its memory its own way). */
const withoutMemory = ({ memory: _, ...parsed }: ParsedRows) => parsed;
const whole = (text: string, keep?: ReadonlySet<string>) =>
  withoutMemory(parseYamlRows(text, 'data/hr.yaml', keep, { wholeMaxChars: Number.POSITIVE_INFINITY }));
const pieces = (text: string, piece: number, keep?: ReadonlySet<string>, pieceMaxChars?: number) =>
  withoutMemory(
    parseYamlRows(text, 'data/hr.yaml', keep, { wholeMaxChars: 0, pieceRecords: piece, pieceMaxChars }),
  );

/** Picks and coin flips from a seeded generator, so a failure can be replayed. */
function random(seed: number) {
  const next = seededRandom(seed);
  return {
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}

/** One record as people write YAML by hand, in many of its shapes. */
function record(r: ReturnType<typeof random>, i: number): string {
  const name = r.pick(['Åse', 'Bjørn', 'Kari Nordmann', "O'Neil", 'R&D', 'a: b', '- x', '#1', '']);
  const plain = r.pick(['Åse', 'Bjørn', 'Kari Nordmann', "O'Neil", 'R&D', 'x # comment']);
  const value = r.pick([
    plain,
    JSON.stringify(name),
    `'${name.replace(/'/g, "''")}'`,
    `"${name}\n    continued"`,
    `|\n    line one\n    - not a record\n`,
    `>-\n    folded\n    text`,
    '~',
    '007',
    'true',
    '[a, b]',
  ]);
  const body = [`employeeId: ${i}`, `name: ${value}`];
  if (r.chance(0.3)) body.push('# a comment inside', `title: ${r.pick(['Rådgiver', '"Sjef"', 'x # y'])}`);
  if (r.chance(0.2)) body.push('address:\n    street: Storgata 1\n    zip: "0155"');
  const shape = r.pick(['inline', 'inline', 'inline', 'below', 'scalar', 'empty']);
  if (shape === 'scalar') return `- just text ${i}\n`;
  if (shape === 'empty') return '-\n';
  if (shape === 'below') return `-\n  ${body.join('\n  ')}\n`;
  return `- ${body.join('\n  ')}\n`;
}

function file(seed: number, n: number, crlf = false): string {
  const r = random(seed);
  let out = r.chance(0.5) ? '# HR export\n\n' : '';
  for (let i = 1; i <= n; i++) {
    out += record(r, i);
    if (r.chance(0.1)) out += r.chance(0.5) ? '\n' : '# between records\n';
  }
  return crlf ? out.replace(/\n/g, '\r\n') : out;
}

describe('a YAML source read in pieces', () => {
  it('gives the rows, lines and problems of the whole document', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const text = file(seed, 40, seed % 5 === 0);
      const expected = whole(text);
      expect(expected.problems.filter((p) => p.message.startsWith('not valid'))).toEqual([]);
      for (const piece of [1, 3, 7])
        expect(pieces(text, piece), `seed ${seed}, piece ${piece}`).toEqual(expected);
      const keep = new Set(['employeeId', 'title']);
      expect(pieces(text, 4, keep)).toEqual(whole(text, keep));
      // Pieces cut by size as well: as many records as fit in 400 characters.
      expect(pieces(text, 1000, undefined, 400), `seed ${seed}, 400 characters`).toEqual(expected);
    }
  });

  it('locates a YAML error in a later piece as the whole document does, and gives no rows', () => {
    const text = `${file(7, 30)}- employeeId: 31\n  name: [unclosed\n${file(8, 5)}`;
    const expected = whole(text);
    expect(expected.rows).toEqual([]);
    expect(expected.problems[0]?.message).toMatch(/^not valid YAML/);
    expect(pieces(text, 4)).toEqual(expected);
  });

  it('says what a large YAML source must be when it is not a plain list of records, and where', () => {
    for (const [text, line, why] of [
      ['- &a { employeeId: 1 }\n- *a\n', 1, /anchors \(&\) and aliases \(\*\) are not read/],
      ['- employeeId: 1\n  name: &n Kari\n- employeeId: 2\n  name: *n\n', 2, /anchors/],
      ['%YAML 1.2\n---\n- employeeId: 1\n', 1, /this line neither starts a record/],
      ['- employeeId: 1\n---\n- employeeId: 2\n', 2, /this line neither starts a record/],
      ['- employeeId: 1\n...\n- employeeId: 2\n', 3, /there is more after the end of the document/],
      ['# HR\nemployees:\n  - employeeId: 1\n', 2, /this line neither starts a record/],
      ['  - employeeId: 1\n', 1, /this line neither starts a record/],
      ['[{ employeeId: 1 }]\n', 1, /this line neither starts a record/],
      ['# nothing yet\n', 1, /it holds no record/],
    ] as const) {
      const read = pieces(text, 10);
      expect(read.rows, text).toEqual([]);
      expect(read.problems, text).toEqual([
        {
          file: 'data/hr.yaml',
          line,
          col: 1,
          message: expect.stringMatching(
            /^a YAML source over 64 KB must be a plain list of records, each starting with "- " at the start of a line, and .*; export large sources as CSV or JSON$/,
          ),
        },
      ]);
      expect(read.problems[0]?.message, text).toMatch(why);
    }
  });

  it('takes a document marker before the list and after it, and & and * in comments and quoted text', () => {
    for (const text of [
      '---\n- employeeId: 1\n- employeeId: 2\n...\n# end\n',
      '# *** NB: ask HR *** \n- employeeId: 1\n  dept: "Drift & *Vedlikehold*" # &not an anchor\n- employeeId: 2\n  note: \'*fast*\'\n',
    ])
      expect(pieces(text, 1), text).toEqual(whole(text));
  });

  it('refuses a record larger than a piece may be, where it starts', () => {
    const text = `- employeeId: 1\n- employeeId: 2\n  note: ${'x'.repeat(500)}\n- employeeId: 3\n`;
    expect(pieces(text, 1000, undefined, 400)).toEqual({
      rows: [],
      problems: [
        {
          file: 'data/hr.yaml',
          line: 2,
          col: 1,
          message: "record 2 is over 400 bytes; no person's record is that large: check the file",
        },
      ],
    });
  });

  it('refuses a large file whose records would not fit in the memory a source may take', () => {
    const text = '- id: 1\n  note: x\n'.repeat(100);
    const read = (budget: number) =>
      parseYamlRows(text, 'data/hr.yaml', undefined, { wholeMaxChars: 0, budget });
    expect(read(80_000).rows).toHaveLength(100);
    expect(read(40_000)).toEqual({
      rows: [],
      problems: [
        {
          file: 'data/hr.yaml',
          line: 1,
          col: 1,
          message: expect.stringMatching(
            /^is 1\.8 KiB of YAML \(100 records\), which takes about \d+\.\d KiB of memory, more than the 39\.1 KiB this daemon has for a source; export it as CSV/,
          ),
        },
      ],
    });
  });

  it('lists a hundred records that are not mappings, and counts the rest', () => {
    const problems = pieces('- 0\n'.repeat(250), 7).problems;
    expect(problems).toHaveLength(101);
    expect(problems[99]).toEqual({
      file: 'data/hr.yaml',
      line: 100,
      col: 1,
      message: 'record 100 is not a mapping',
    });
    expect(problems[100]?.message).toBe('150 more problems like these are not listed');
  });

  it('says values nested too deeply are not valid, located, instead of failing', () => {
    const deep = `- employeeId: 1\n  groups: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`;
    const read = whole(deep);
    expect(read.rows).toEqual([]);
    expect(read.problems[0]).toMatchObject({
      file: 'data/hr.yaml',
      line: 2,
      message: expect.stringMatching(/^not valid YAML: /),
    });
  });

  it('reads ampersands and asterisks inside values as text, and refuses them where a node begins', () => {
    const text =
      '- employeeId: 1\n  dept: R&D\n  note: 5 * 3, Q&A, a*b, a *very* good one\n' +
      '- employeeId: 2\n  dept: Sales &Marketing\n';
    expect(pieces(text, 1)).toEqual(whole(text));
    expect(pieces(text, 1).rows.map((r) => r.fields['dept'])).toEqual(['R&D', 'Sales &Marketing']);
    for (const [refused, line] of [
      ['- employeeId: 1\n  groups: [*staff]\n', 2],
      ['- employeeId: 1\n  groups: {a: 1, b: *x}\n', 2],
      ['- employeeId: 1\n  groups:\n    - *staff\n', 3],
      ['- employeeId: 1\n  title: *Vikar*\n', 2],
    ] as const)
      expect(pieces(refused, 1).problems[0], refused).toMatchObject({
        line,
        message: expect.stringMatching(/anchors/),
      });
  });
});
