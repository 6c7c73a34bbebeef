import { describe, expect, it } from 'vitest';
import type { ReexportRequest, SyncTemplate } from '../../src/config/types.generated.js';
import { Planner, type PlanEntry, planDigest } from '../../src/plan/build-plan.js';
import { LISTED_MAX, type PlanChange } from '../../src/plan/plan-types.js';
import { renderPlanJsonl } from '../../src/report/plan-jsonl.js';
import { entry, request, source, template } from './helpers.js';

const MAIL = {
  target: 'mail',
  source: '{{ givenName | ascii | downcase }}.{{ sn | ascii | downcase }}@kommune.no',
};
const DEPARTMENT = { target: 'department', source: '{{ department }}' };
const COMPANY = { target: 'company', source: 'Lillevik kommune' };
const PEOPLE = [
  { employeeId: '1001', givenName: 'Åse', sn: 'Ødegård', department: 'IT', phone: '1' },
  { employeeId: '1002', givenName: 'Bjørn', sn: 'Ærø', department: 'IT', phone: '2' },
  { employeeId: '1003', givenName: 'Kåre', sn: 'Dæhlie', department: 'Skole', phone: '3' },
];
const dnOf = (name: string) => `CN=${name},OU=Ansatte,DC=kommune,DC=test`;
const DIR = [
  // 1001: mail changes, department is right.
  entry(dnOf('Åse Ødegård'), { employeeID: '1001', mail: 'ase@kommune.no', department: 'IT' }),
  // 1002: nothing changes.
  entry(dnOf('Bjørn Ærø'), {
    employeeID: '1002',
    mail: 'bjorn.aero@kommune.no',
    department: 'IT',
    company: 'Lillevik kommune',
  }),
  // 1003: department changes.
  entry(dnOf('Kåre Dæhlie'), { employeeID: '1003', mail: 'kaare.daehlie@kommune.no', department: 'IT' }),
];

function plan(
  opts: {
    mappings?: SyncTemplate['spec']['mappings'];
    req?: Partial<ReexportRequest['spec']>;
    dir?: PlanEntry[];
    rows?: Array<Record<string, string>>;
    explainUsers?: number;
    onlyIds?: string[];
  } = {},
) {
  const p = new Planner({
    requestName: 'r',
    request: request(opts.req),
    templateName: 'ad-employees',
    template: template(opts.mappings ?? [MAIL, DEPARTMENT]),
    source: source(opts.rows ?? PEOPLE),
    safety: { maxChanges: 500, maxClears: 100 },
    ...(opts.explainUsers !== undefined ? { explainUsers: opts.explainUsers } : {}),
    ...(opts.onlyIds ? { onlyIds: opts.onlyIds } : {}),
  });
  p.addEntries(opts.dir ?? DIR);
  return p.finish('2026-11-25T10:00:00.000Z');
}

describe('Planner: why each value', () => {
  it('keeps each mapping as written and, per changed user, only the fields its changed mappings read', () => {
    const p = plan({ mappings: [MAIL, DEPARTMENT, COMPANY] });
    expect(p.explanations!.mappings).toEqual({
      mail: { source: [MAIL.source], fields: ['givenName', 'sn'] },
      department: { source: [DEPARTMENT.source], fields: ['department'] },
      company: { source: ['Lillevik kommune'], fields: [] },
    });
    // 1001 changes mail and company (not department): its department and phone are not kept.
    expect({ ...p.explanations!.sources.get('1001') }).toEqual({ givenName: 'Åse', sn: 'Ødegård' });
    // 1003 changes department and company: only department is read.
    expect({ ...p.explanations!.sources.get('1003') }).toEqual({ department: 'Skole' });
    // A user with nothing to change keeps nothing.
    expect(p.explanations!.sources.has('1002')).toBe(false);
  });

  it('keeps the source values of the first users by ID only, up to explainUsers', () => {
    const p = plan({ explainUsers: 1 });
    expect([...p.explanations!.sources.keys()]).toEqual(['1001']);
    expect([...p.changes].map((c) => c.id)).toEqual(['1001', '1003']);
  });

  it('marks a field the record lacks as null, and keeps the policy and onEmpty', () => {
    const p = plan({
      mappings: [{ target: 'title', source: '{{ title }}', policy: 'replace', onEmpty: 'clear' }],
      dir: [entry(dnOf('Åse Ødegård'), { employeeID: '1001', title: 'Sjef' })],
    });
    expect(p.explanations!.mappings.title).toEqual({
      source: ['{{ title }}'],
      fields: ['title'],
      policy: 'replace',
      onEmpty: 'clear',
    });
    expect({ ...p.explanations!.sources.get('1001') }).toEqual({ title: null });
  });

  it('leaves plan.jsonl and the plan digest exactly as before: the digest is that of the changes alone', () => {
    const p = plan({ mappings: [MAIL, DEPARTMENT, COMPANY] });
    // The changes written out by hand, as a plan without explanations would hold them.
    const expected: PlanChange[] = [
      {
        id: '1001',
        dn: dnOf('Åse Ødegård'),
        attribute: 'mail',
        before: ['ase@kommune.no'],
        after: ['aase.odegaard@kommune.no'],
      },
      { id: '1001', dn: dnOf('Åse Ødegård'), attribute: 'company', before: [], after: ['Lillevik kommune'] },
      { id: '1003', dn: dnOf('Kåre Dæhlie'), attribute: 'department', before: ['IT'], after: ['Skole'] },
      { id: '1003', dn: dnOf('Kåre Dæhlie'), attribute: 'company', before: [], after: ['Lillevik kommune'] },
    ];
    expect([...p.changes]).toEqual(expected);
    expect(p.header.digests.plan).toBe(planDigest(expected));
    const lines = renderPlanJsonl(p)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(lines[0]!).sort()).toEqual(
      [
        'format',
        'request',
        'template',
        'target',
        'mappings',
        'digests',
        'schema',
        'createdAt',
        'summary',
      ].sort(),
    );
    for (const line of lines.slice(1))
      expect(Object.keys(line).sort()).toEqual(['after', 'attribute', 'before', 'dn', 'id']);
    expect(lines.slice(1)).toEqual(expected);
  });
});

describe('Planner: entries no source record matches', () => {
  it('names them by match value and DN, sorted by ID whatever the read order, and counts them all', () => {
    const strays = Array.from({ length: LISTED_MAX + 7 }, (_, i) =>
      entry(dnOf(`Vikar ${i}`), { employeeID: String(9000 + ((i * 37) % (LISTED_MAX + 7))) }),
    );
    const p = plan({ dir: [...strays.slice(0, 20), ...DIR, ...strays.slice(20)] });
    const u = p.summary.unmatchedEntries;
    expect(u.count).toBe(LISTED_MAX + 7);
    expect(u.first).toHaveLength(LISTED_MAX);
    expect(u.first.map((e) => e.id)).toEqual(Array.from({ length: LISTED_MAX }, (_, i) => String(9000 + i)));
    expect(u.first[0]!.dn).toBe(strays.find((s) => s.attrs.get('employeeid')!.values[0] === '9000')!.dn);
    expect(p.summary.entriesInScope).toBe(LISTED_MAX + 7 + 3);
  });

  it('does not count an entry whose record the request merely does not select', () => {
    const stray = entry(dnOf('Vikar'), { employeeID: '9001' });
    const byWhere = plan({ req: { users: { where: { department: 'Skole' } } }, dir: [...DIR, stray] });
    expect(byWhere.summary.unmatchedEntries).toEqual({
      count: 1,
      first: [{ id: '9001', dn: dnOf('Vikar') }],
    });
    const byIds = plan({ onlyIds: ['1003'], dir: [...DIR, stray] });
    expect(byIds.summary.unmatchedEntries.count).toBe(1);
  });
});
