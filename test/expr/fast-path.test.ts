import { describe, expect, it } from 'vitest';
import { compileExpression, renderExpression } from '../../src/expr/engine.js';
import { compileFastPath } from '../../src/expr/fast-path.js';

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
  '{% if boss != blank %}CN={{ boss | strip }},OU=Ansatte{% endif %}',
  '{% unless title == empty %}{{ title }}{% else %}Medarbeider{% endunless %}',
  "{% if x contains 'Per' %}P{% elsif sn == 'Ståle' %}S{% elsif y %}{{ y }}{% else %}-{% endif %}",
  "{% case x %}\n{% when 'IT', 'Drift' %}IT-avdelingen{% when 'HR' or 'Lønn' %}Personal{% else %}{{ x }}{% endcase %}",
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
  it('takes the shapes mappings use, and leaves loops, and/or and variable arguments to Liquid', () => {
    for (const text of [...SIMPLE.slice(0, 11), ...SIMPLE.slice(-7)])
      expect(compileExpression(text).fast, text).toBeDefined();
    // Validation reads the fields a simple expression uses from the fast path (Liquid is not loaded for it).
    expect(compileExpression('{{ sn | lower }}.{{ givenName }}{{ sn }}').fields).toEqual(['sn', 'givenName']);
    for (const text of [
      '{% if x != blank and y %}+47 {{ x }}{% endif %}',
      '{% if x %}{% for a in b %}{% endfor %}{% endif %}',
      '{%- if x %}a{% endif %}',
      '{% if "a" == x %}a{% endif %}',
      '{% case x | downcase %}{% when "a" %}A{% endcase %}',
      '{% case x %}{% when y %}A{% endcase %}',
      "{% case x %}{% when 'a' %}A{% else %}B{% when 'b' %}C{% endcase %}",
      "{% case x %}{{ y }}{% when 'a' %}A{% endcase %}",
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
    // What Liquid refuses is never taken: Liquid's parser says why.
    for (const text of [
      '{% if x %}a',
      '{% unless x %}a{% elsif y %}b{% endunless %}',
      '{% if x %}a{% else %}b{% else %}c{% endif %}',
      '{% endif %}',
      '{% if x %}a{% endunless %}',
      '{{% if x %}Y{% endif %}',
      '{{{x}}',
      '{% if x %}{{{ x }}{% endif %}',
      '{%\ufeffif x %}Y{% endif %}',
      '{% if x %}Y{% else\ufeff%}N{% endif %}',
      `{% if x %}${'a'.repeat(70_000)}{% endif %}`,
    ])
      expect(compileFastPath(text, { memory: 1e6, parse: 64 * 1024 }), text).toBeUndefined();
  });

  it('leaves to Liquid what it reads its own way: size, operator words, a U+FEFF in a name', () => {
    // Liquid reads a missing `size` as the size of its globals (0); a U+FEFF is part of a name.
    expect(viaFast('{{ size }}', {})).toBeUndefined();
    expect(viaFast('{% if size %}Y{% endif %}', {})).toBeUndefined();
    expect(renderExpression(compileExpression('{% if size %}Y{% else %}N{% endif %}'), {})).toBe('Y');
    expect(viaFast('{{ x\ufeff }}', { x: 'b' })).toBeUndefined();
    expect(renderExpression(compileExpression('{% if x\ufeff %}Y{% endif %}'), { x: 'b' })).toBe('');
    // Operator words are no fields to Liquid: {{ not }} is true, {% case or %} matches nothing.
    for (const word of ['or', 'and', 'not', 'contains']) {
      expect(viaFast(`{{ ${word} }}`, { [word]: 'a' }), word).toBeUndefined();
      expect(
        viaFast(`{% case ${word} %}{% when 'a' %}A{% endcase %}`, { [word]: 'a' }),
        word,
      ).toBeUndefined();
      expect(viaFast(`{% if ${word} %}Y{% endif %}`, { [word]: 'a' }), word).toBeUndefined();
    }
    expect(renderExpression(compileExpression('{{ not }}'), {})).toBe('true');
    // The fields in Liquid's order: every condition of a tag before its branches.
    expect(compileExpression('{% if x %}{{ z }}{% elsif y %}{% endif %}').fields).toEqual(['x', 'y', 'z']);
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

  it('renders what Liquid renders for 4,000 random templates with if, elsif, else, unless and case', () => {
    let seed = 7;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const fields = ['x', 'y', 'z'];
    const operands = ['blank', 'empty', 'nil', 'null', "'a'", '""', "' '", '"Å"'];
    const condition = () => {
      const f = fields[next(3)];
      switch (next(4)) {
        case 0:
          return f;
        case 1:
          return `${f} == ${operands[next(operands.length)]}`;
        case 2:
          return `${f} != ${operands[next(operands.length)]}`;
        default:
          return `${f} contains ${["'a'", '""', "' '"][next(3)]}`;
      }
    };
    const body = (depth: number): string => {
      let out = '';
      for (let i = 0, n = next(3); i < n; i++) {
        const k = next(depth > 1 ? 2 : 5);
        if (k === 0) out += ['a', ' ', '-', 'Ø'][next(4)];
        else if (k === 1) out += `{{ ${fields[next(3)]}${next(2) ? ' | upcase' : ''} }}`;
        else if (k === 4) {
          // Text before the first when (Liquid drops it), whens of one or more values (a value may
          // be in two of them: both render), maybe an else.
          out += `{% case ${fields[next(3)]} %}${['', ' ', '\n', 'x'][next(4)]}`;
          const literal = () => ["'a'", '"A"', "''", "' '", "'Å'", "'ba'"][next(6)];
          for (let w = next(4); w > 0; w--) {
            const values = Array.from({ length: 1 + next(3) }, literal);
            out += `{% when ${values.join([', ', ' or ', ','][next(3)])} %}${body(depth + 1)}`;
          }
          if (next(2)) out += `{% else %}${body(depth + 1)}`;
          out += '{% endcase %}';
        } else {
          const unless = k === 3;
          out += `{% ${unless ? 'unless' : 'if'} ${condition()} %}${body(depth + 1)}`;
          if (!unless)
            for (let e = next(3); e > 0; e--) out += `{% elsif ${condition()} %}${body(depth + 1)}`;
          if (next(2)) out += `{% else %}${body(depth + 1)}`;
          out += `{% end${unless ? 'unless' : 'if'} %}`;
        }
      }
      return out;
    };
    const VALUES = ['', ' ', '\u00a0', 'a', 'A', 'Å', 'ba', null, undefined, 7];
    let taken = 0;
    for (let run = 0; run < 4000; run++) {
      const text = `<${body(0)}>`;
      const record: Record<string, unknown> = {};
      for (const f of fields) {
        const v = VALUES[next(VALUES.length)];
        if (v !== undefined) record[f] = v;
      }
      const fast = viaFast(text, record);
      if (fast === undefined) continue;
      taken++;
      expect(fast.trim(), `${text} on ${JSON.stringify(record)}`).toBe(viaLiquid(text, record));
    }
    expect(taken).toBeGreaterThan(1500);
  });
});
