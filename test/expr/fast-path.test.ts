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
    for (const text of SIMPLE.slice(0, 11)) expect(compileExpression(text).fast, text).toBeDefined();
    // Validation reads the fields a simple expression uses from the fast path (Liquid is not loaded for it).
    expect(compileExpression('{{ sn | lower }}.{{ givenName }}{{ sn }}').fields).toEqual(['sn', 'givenName']);
    for (const text of [
      '{% if x != blank %}+47 {{ x }}{% endif %}',
      '{{ a.b }}',
      '{{ x | fallback: givenName }}',
      '{{ x | split: "-" | join: " " }}',
      '{{- x -}}',
      '{{ empty }}',
      '{{ x | append: "a\\"b" }}',
      '{{ x | slice: "1" }}',
    ]) {
      expect(compileExpression(text).fast, text).toBeUndefined();
    }
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
});
