import { describe, expect, it } from 'vitest';
import { changeJsonWriter, compareIds } from '../../src/plan/canonical.js';

const collator = new Intl.Collator('nb', { numeric: true, sensitivity: 'variant' });
const reference = (a: string, b: string) => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);

describe('compareIds', () => {
  it('orders IDs as people expect: 2 before 10, Norwegian letters in Norwegian order', () => {
    expect(['10', '2', 'å1', 'z1', 'æ1', '0010', '1'].sort(compareIds)).toEqual([
      '1',
      '2',
      '0010',
      '10',
      'z1',
      'æ1',
      'å1',
    ]);
  });

  it("gives the collator's order for every pair, numbers taking the short way", () => {
    const ids = [
      '0',
      '00',
      '1',
      '01',
      '001',
      '9',
      '10',
      '010',
      '99',
      '100',
      '1000',
      '12345678901234567890',
      '12345678901234567891',
      '2a',
      'a2',
      'A2',
      'ø',
      'å',
      '',
      ' 1',
      '１２',
    ];
    for (const a of ids)
      for (const b of ids)
        expect(Math.sign(compareIds(a, b)), `${a} vs ${b}`).toBe(Math.sign(reference(a, b)));
  });
});

describe('changeJsonWriter', () => {
  it('writes exactly what JSON.stringify writes, for lines and digest items, user after user', () => {
    const awkward = [
      '"quoted"',
      'back\\slash',
      'tab\tnew\nline',
      '\u0000\u001f',
      'Åse Ødegård',
      '\ud800',
      '😀',
      '',
    ];
    const json = changeJsonWriter();
    for (const id of ['1', '1', '2', awkward[0]!, awkward[5]!])
      for (const [i, value] of awkward.entries()) {
        const c = {
          id,
          dn: `cn=${value},dc=x`,
          attribute: i % 2 ? 'mail' : value || 'x',
          before: i % 3 ? [value] : [],
          after: [value, `${value}2`],
        };
        const { dn, attribute, before, after } = c;
        expect(json.line(c)).toBe(JSON.stringify({ id, dn, attribute, before, after }));
        expect(json.item(c)).toBe(JSON.stringify([id, dn, attribute, before, after]));
      }
  });
});
