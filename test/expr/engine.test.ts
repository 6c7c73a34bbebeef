import { describe, expect, it } from 'vitest';
import { checkExpression, compileExpression, renderBudget, renderExpression } from '../../src/expr/engine.js';

const render = (text: string, record: Record<string, unknown>) =>
  renderExpression(compileExpression(text), record);

describe('expressions', () => {
  it('build a Norwegian mail address', () => {
    expect(
      render('{{ givenName | ascii | downcase }}.{{ sn | ascii | downcase }}@kommune.no', {
        givenName: 'Åse',
        sn: 'Ødegård',
      }),
    ).toBe('aase.odegaard@kommune.no');
  });

  it('lists the source fields an expression reads', () => {
    expect(
      compileExpression(
        '{% if phone != blank %}+47 {{ phone }}{% endif %}{{ a.b | default: c }}',
      ).fields.sort(),
    ).toEqual(['a', 'c', 'phone']);
    expect(compileExpression('Lillevik kommune').fields).toEqual([]);
  });

  it('cut to a length without an ellipsis, like sAMAccountName needs', () => {
    expect(render('{{ x | truncate: 20 }}', { x: 'kristoffer.bjornstad-myhre' })).toBe(
      'kristoffer.bjornstad',
    );
    expect(render('{{ x | truncate: 5, "…" }}', { x: 'abcdefgh' })).toBe('abcd…');
  });

  it('trim, collapse, case, replace, split and join', () => {
    expect(render('{{ x | collapse }}', { x: '  Ole   Martin \t Nordmann ' })).toBe('Ole Martin Nordmann');
    expect(render('{{ x | upper }}/{{ x | lower }}/{{ x | trim }}', { x: ' Ås ' })).toBe('ÅS / ås /Ås');
    expect(render('{{ x | replace: " ", "." }}', { x: 'Per Olav' })).toBe('Per.Olav');
    expect(render('{{ x | split: "-" | join: " " }}', { x: 'Bjørnstad-Myhre' })).toBe('Bjørnstad Myhre');
  });

  it('fall back to another field or a default', () => {
    expect(
      render('{{ preferredName | fallback: givenName }}', { preferredName: ' ', givenName: 'Kari' }),
    ).toBe('Kari');
    expect(render('{{ title | default: "Ansatt" }}', { title: '' })).toBe('Ansatt');
  });

  it('support conditionals', () => {
    const text = '{% if phone != blank %}+47 {{ phone | remove: " " }}{% endif %}';
    expect(render(text, { phone: '22 33 44 01' })).toBe('+47 22334401');
    expect(render(text, { phone: '' })).toBe('');
  });

  it('give static text as it is', () => {
    expect(render('Lillevik kommune', { company: 'other' })).toBe('Lillevik kommune');
  });

  it('run no code and read no files', () => {
    expect(render('{{ x.constructor }}{{ x.__proto__ }}{{ constructor }}', { x: 'a' })).toBe('');
    expect(checkExpression("{% include '/etc/passwd' %}")[0]?.message).toMatch(
      /tag `include` is not available/,
    );
    expect(checkExpression("{% render 'secrets' %}")[0]?.message).toMatch(/tag `render` is not available/);
  });

  it('stop a render that would run away', () => {
    expect(() => render('{% for i in (1..100000000) %}{{ i }}{% endfor %}', {})).toThrow(/limit/);
  });

  it('stop a render after a tenth of a second, and a plan’s renders once slow ones took their budget', () => {
    const slow = '{% for i in (1..10000000) %}{% endfor %}x';
    const started = performance.now();
    expect(() => render(slow, {})).toThrow(/limit/);
    expect(performance.now() - started).toBeLessThan(1000);
    // Loops that each stay under the render limit: the budget (here 300 ms) stops the rest.
    const budget = renderBudget(300);
    const loop = { ...compileExpression('{% for i in (1..20000) %}{% endfor %}{{ id }}'), budget };
    const results: string[] = [];
    const t0 = performance.now();
    for (let id = 0; id < 1000; id++) {
      try {
        results.push(renderExpression(loop, { id }));
      } catch (err) {
        results.push((err as Error).message);
      }
    }
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(results[0]).toBe('0');
    expect(results.at(-1)).toMatch(
      /the template's expressions took 0 s for \d+ evaluations, more than 1 ms each; the rest are not evaluated/,
    );
    // Liquid expressions that take microseconds never run out of it.
    const quick = { ...compileExpression('{% assign x = id | upcase %}{{ x }}'), budget: renderBudget(300) };
    expect(quick.fast).toBeUndefined();
    for (let id = 0; id < 20000; id++) expect(renderExpression(quick, { id: `a${id}` })).toBe(`A${id}`);
    expect(quick.budget.renders).toBe(20000);
  });

  it('report unknown filters and syntax errors with their offset', () => {
    expect(checkExpression('{{ x | ascii | lowercase }}')).toEqual([
      { message: expect.stringMatching(/^unknown filter `lowercase`/), offset: 15 },
    ]);
    expect(checkExpression('abc {{ x ')).toEqual([
      { message: expect.stringMatching(/not closed/), offset: 4 },
    ]);
  });
});
