import { describe, expect, it } from 'vitest';
import { PlanChanges } from '../../src/plan/plan-changes.js';
import type { PlanChange } from '../../src/plan/plan-types.js';
import { changeJsonWriter } from '../../src/plan/canonical.js';

const change = (id: string, attribute: string, before: string[], after: string[]): PlanChange => ({
  id,
  dn: `uid=${id},ou=people,dc=kommune,dc=test`,
  attribute,
  before,
  after,
});

const CHANGES = [
  change('1001', 'mail', ['åse@old.kommune.no'], ['aase@kommune.no']),
  change('1001', 'proxyAddresses', ['smtp:a', 'SMTP:b'], ['SMTP:b', 'smtp:c', 'x\u0000y"\\']),
  change('1002', 'title', [], ['Rådgiver 😀']),
  change('1003', 'telephoneNumber', ['+47 1'], []),
];

describe('PlanChanges', () => {
  it('gives back exactly the changes it holds, a user at a time, with counts', () => {
    const held = PlanChanges.of(CHANGES);
    expect([...held]).toEqual(CHANGES);
    expect(held.length).toBe(4);
    expect(held.userCount).toBe(3);
    expect(held.firstUsers(2)).toEqual([CHANGES.slice(0, 2), [CHANGES[2]]]);
    expect(held.firstUsers(10)).toHaveLength(3);
    expect([...PlanChanges.of([])]).toEqual([]);
  });

  it('writes the same text from held values as from the change objects', () => {
    const held = PlanChanges.of(CHANGES);
    const json = changeJsonWriter();
    const text = [...held.chunks((id, dn, a, b, af) => `${json.lineOf(id, dn, a, b, af)}\n`)].join('');
    expect(text).toBe(CHANGES.map((c) => `${JSON.stringify(c)}\n`).join(''));
  });

  it('keeps two entries of one ID apart (a user matched twice is still two entries)', () => {
    const other = { ...change('1001', 'mail', ['x'], ['y']), dn: 'uid=other,dc=kommune,dc=test' };
    const held = PlanChanges.of([CHANGES[0]!, other]);
    expect(held.userCount).toBe(2);
    expect([...held].map((c) => c.dn)).toEqual([CHANGES[0]!.dn, other.dn]);
  });
});
