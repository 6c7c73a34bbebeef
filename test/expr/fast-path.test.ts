import { describe, expect, it } from 'vitest';
import { compileExpression, renderExpression } from '../../src/expr/engine.js';

/** The same expression rendered by Liquid alone. */
const viaLiquid = (text: string, record: Record<string, unknown>) =>
  renderExpression({ ...compileExpression(text), fast: undefined }, record);
const viaFast = (text: string, record: Record<string, unknown>) => compileExpression(text).fast?.(record);

const SIMPLE = [
  "{{ givenName | ascii | downcase | replace: ' ', '.' }}.{{ sn | ascii | downcase | replace: ' ', '-' }}@lillevik.kommune.no",
  '{{ givenName | collapse }} {{ sn | collapse }}',
  'SMTP:{{ givenName | ascii | lower }}.{{ sn | ascii | lower }}@kommune.no',
  'smtp:{{ employeeId }}@lillevik.kommune.no',
  '{{ sn | upcase }}, {{givenName|trim}}',
  '{{ x | truncate: 20 }}',
  '{{ x | truncate: 5, "…" }}',
  '{{ x | remove: " " | prepend: "+47 " | append: "." }}',
  '{{ x | fallback: "ukjent" }}',
  '{{ x | replace: "", "-" }}',
  '+47 {{ x | slice: 0, 3 }} {{ x | slice: 3, 2 }} {{ x | slice: -3 }}|{{ x | slice: -30, 2 }}|{{ x | slice: 2 }}',
  '{{ x | upper | strip_html }}',
  '  {{ x }}  ',
  '}} {{ x }}',
  "{{ givenName | capitalize }} {{ sn | strip | default: 'ukjent' }}",
  '{{ x | split: " " | first }}.{{ x | split: " " | last | downcase }}|{{ x | split: "" | join }}',
  "{{ x | replace_first: 'e', 'E' | lstrip | rstrip | size }}",
];

const RECORDS: Array<Record<string, unknown>> = [
  { givenName: 'Åse Marie', sn: 'Ødegård-Bjørnstad', employeeId: '10042', x: '  Per  Olav Ærø ', y: 'z' },
  { givenName: 'ÆRLIG', sn: 'Ståle', x: 'kristoffer.bjornstad-myhre' },
  { givenName: 'Zoë', sn: "O'Brien", x: '' },
  { givenName: null, sn: undefined, x: '22 33 44 01' },
  { givenName: 42, sn: ['a', 'b'], x: { a: 1 } },
  { x: 'é'.repeat(2000) },
  { x: '😀a😀bcdé' },
  Object.assign(Object.create({ x: 'inherited' }) as Record<string, unknown>, { givenName: 'own' }),
];

describe('the expression fast path', () => {
  it('takes the shapes mappings use, and leaves conditionals and variable arguments to Liquid', () => {
    for (const text of [...SIMPLE.slice(0, 11), ...SIMPLE.slice(-3)])
      expect(compileExpression(text).fast, text).toBeDefined();
    // Validation reads the fields a simple expression uses from the fast path (Liquid is not loaded for it).
    expect(compileExpression('{{ sn | lower }}.{{ givenName }}{{ sn }}').fields).toEqual(['sn', 'givenName']);
    for (const text of [
      '{% if x != blank %}+47 {{ x }}{% endif %}',
      '{{ a.b }}',
      '{{ x | fallback: givenName }}',
      '{{ x | split: "-" }}',
      '{{ x | split: "-" | size }}',
      '{{ x | size | append: "a" }}',
      '{{- x -}}',
      '{{ empty }}',
      '{{ x | append: "a\\"b" }}',
      '{{ x | slice: "1" }}',
    ]) {
      expect(compileExpression(text).fast, text).toBeUndefined();
    }
  });

  it('reads a filter named like an object property as the unknown filter it is', () => {
    expect(() => compileExpression('{{ x | constructor }}')).toThrow(/constructor/);
  });

  it('renders exactly what Liquid renders, or hands the record back to Liquid', () => {
    let taken = 0;
    for (const text of SIMPLE) {
      for (const record of RECORDS) {
        const fast = viaFast(text, record);
        if (fast !== undefined) {
          taken++;
          expect(fast.trim(), `${text} on ${JSON.stringify(record)}`).toBe(viaLiquid(text, record));
        }
      }
    }
    expect(taken).toBeGreaterThan(40);
  });

  it('leaves numbers, lists and objects to Liquid, which renders them its way', () => {
    const record = { givenName: 42, sn: ['a', 'b'] };
    expect(viaFast('{{ givenName }}{{ sn }}', record)).toBeUndefined();
    expect(renderExpression(compileExpression('{{ givenName }}{{ sn }}'), record)).toBe('42ab');
  });

  it("keeps Liquid's memory limit: a render that would blow up still fails", () => {
    const text =
      '{{ x | replace: "a", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" }}';
    const record = { x: 'a'.repeat(100_000) };
    expect(viaFast(text, record)).toBeUndefined();
    expect(() => renderExpression(compileExpression(text), record)).toThrow(/memory/i);
  });

  it('renders what Liquid renders for 4,000 random chains of the filters it takes', () => {
    let seed = 13;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const FILTERS = [
      'capitalize',
      'strip',
      'lstrip',
      'rstrip',
      "default: 'd'",
      'default: ""',
      "replace_first: 'a', 'å'",
      "replace_first: '', '-'",
      "split: ' ' | first",
      "split: ' ' | last",
      "split: 'a' | join: '+'",
      "split: '' | join",
      'downcase',
      'upcase',
      'ascii',
      'collapse',
      "fallback: 'f'",
      'slice: 1, 2',
      "append: ' '",
      "prepend: '  '",
      "remove: ' '",
      'truncate: 3',
    ];
    const VALUES = [
      '',
      ' ',
      '  a b  ',
      'åse ødegård',
      'ÆRLIG',
      'a',
      'aaa a',
      '😀x',
      'ǆemal',
      'ß',
      null,
      undefined,
    ];
    let taken = 0;
    for (let run = 0; run < 4000; run++) {
      const chain = Array.from({ length: 1 + next(4) }, () => FILTERS[next(FILTERS.length)]);
      const text = `<{{ x | ${chain.join(' | ')}${next(4) === 0 ? ' | size' : ''} }}>`;
      const v = VALUES[next(VALUES.length)];
      const record = v === undefined ? {} : { x: v };
      const fast = viaFast(text, record);
      if (fast === undefined) continue;
      taken++;
      expect(fast.trim(), `${text} on ${JSON.stringify(v)}`).toBe(viaLiquid(text, record));
    }
    expect(taken).toBeGreaterThan(3900);
  });
});
