import { describe, expect, it } from 'vitest';
import { Planner } from '../../src/plan/build-plan.js';
import { assessSafety, removedValues } from '../../src/plan/safety.js';
import { entry, request, source, template } from './helpers.js';

describe('values the planner will not write', () => {
  it('makes a control character in a rendered value an evaluation error naming it, not a change', () => {
    const p = new Planner({
      requestName: 'r',
      request: request({}),
      templateName: 't',
      template: template([{ target: 'title', source: '{{ title }}' }]),
      source: source([
        { employeeId: '1', title: 'Rådgiver\u0000Sjef' },
        { employeeId: '2', title: 'Line\nbreak' },
        { employeeId: '3', title: 'Tab\tis fine' },
      ]),
      safety: { maxChanges: 500, maxClears: 100 },
    });
    p.addEntries([
      entry('CN=1,OU=A', { employeeID: '1', title: 'x' }),
      entry('CN=2,OU=A', { employeeID: '2', title: 'x' }),
      entry('CN=3,OU=A', { employeeID: '3', title: 'x' }),
    ]);
    const plan = p.finish('2026-11-30T00:00:00.000Z');
    expect([...plan.changes].map((c) => `${c.id} ${c.after.join()}`)).toEqual(['3 Tab\tis fine']);
    expect(plan.summary.evaluationErrors.map((e) => [e.id, e.message])).toEqual([
      ['1', expect.stringMatching(/control character U\+0000 at position 9/)],
      ['2', expect.stringMatching(/control character U\+000A/)],
    ]);
  });
});

describe('maxClears counts every removed value', () => {
  it('counts values removed without replacement, not only emptied attributes', () => {
    const members = Array.from({ length: 1600 }, (_, i) => `cn=m${i}`);
    expect(removedValues({ before: members, after: ['cn=m0'] })).toBe(1599);
    expect(removedValues({ before: ['a', 'b', 'c'], after: [] })).toBe(3);
    // Replacing a value is not removing one.
    expect(removedValues({ before: ['old@x'], after: ['new@x'] })).toBe(0);
    const change = { id: '1', dn: 'cn=g', attribute: 'member', before: members, after: ['cn=m0'] };
    const verdict = assessSafety([change], { maxChanges: 500, maxClears: 100 });
    expect(verdict.ok).toBe(false);
    expect(verdict.message).toMatch(/1,?599 values/);
  });
});
