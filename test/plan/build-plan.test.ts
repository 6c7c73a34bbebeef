import { describe, expect, it } from 'vitest';
import type { SyncTemplate } from '../../src/config/types.generated.js';
import { Planner, type PlanEntry, requestDigest } from '../../src/plan/build-plan.js';
import type { ReexportRequest } from '../../src/config/types.generated.js';
import type { SourceData } from '../../src/source/records.js';
import { entry, request, source, template } from './helpers.js';
import { assessSafety } from '../../src/plan/safety.js';
import { compareIds } from '../../src/plan/canonical.js';

const MAIL = { target: 'mail', source: '{{ givenName | ascii | downcase }}@kommune.no' };
const PEOPLE = [
  { employeeId: '1001', givenName: 'Åse', department: 'IT', phone: '22334401' },
  { employeeId: '1002', givenName: 'Bjørn', department: 'IT', phone: '' },
  { employeeId: '10', givenName: 'Kåre', department: 'Økonomi', phone: '22334410' },
];
const DIR = [
  entry('CN=Åse,OU=Ansatte,DC=kommune,DC=test', {
    employeeID: '1001',
    mail: 'ase@kommune.no',
    telephoneNumber: '1',
  }),
  entry('CN=Bjørn,OU=Ansatte,DC=kommune,DC=test', {
    employeeID: '1002',
    mail: 'bjorn@kommune.no',
    telephoneNumber: '2',
  }),
  entry('CN=Kåre,OU=Ansatte,DC=kommune,DC=test', { employeeID: '10', mail: 'Kaare@kommune.no' }),
];

function plan(opts: {
  mappings?: SyncTemplate['spec']['mappings'];
  req?: Partial<ReexportRequest['spec']>;
  src?: SourceData;
  dir?: PlanEntry[];
  safety?: { maxChanges: number; maxClears: number };
}) {
  const p = new Planner({
    requestName: 'r',
    request: request(opts.req),
    templateName: 'ad-employees',
    template: template(opts.mappings ?? [MAIL]),
    source: opts.src ?? source(PEOPLE),
    safety: opts.safety ?? { maxChanges: 500, maxClears: 100 },
  });
  p.addEntries(opts.dir ?? DIR);
  return p.finish('2026-11-25T10:00:00.000Z');
}

const brief = (changes: Iterable<{ id: string; attribute: string; before: string[]; after: string[] }>) =>
  [...changes].map((c) => `${c.id} ${c.attribute}: [${c.before.join(',')}] → [${c.after.join(',')}]`);

describe('Planner', () => {
  it('plans the changed users, sorted by user ID as numbers, and shows a case-only change', () => {
    const p = plan({});
    expect(brief(p.changes)).toEqual([
      '10 mail: [Kaare@kommune.no] → [kaare@kommune.no]',
      '1001 mail: [ase@kommune.no] → [aase@kommune.no]',
    ]);
    expect(p.summary).toMatchObject({
      entriesInScope: 3,
      recordsSelected: 3,
      matched: 3,
      unchanged: 1,
      usersToChange: 2,
      attributeChanges: 2,
    });
  });

  it('selects users by ids and by where, and reports IDs not in the source', () => {
    expect(brief(plan({ req: { users: { ids: ['1001', '9999'] } } }).changes)).toEqual([
      '1001 mail: [ase@kommune.no] → [aase@kommune.no]',
    ]);
    expect(plan({ req: { users: { ids: ['1001', '9999'] } } }).summary.unknownIds).toEqual(['9999']);
    expect(brief(plan({ req: { users: { where: { department: 'Økonomi' } } } }).changes)).toEqual([
      '10 mail: [Kaare@kommune.no] → [kaare@kommune.no]',
    ]);
    expect(
      plan({ req: { users: { where: { department: ['IT', 'Økonomi'] } } } }).summary.recordsSelected,
    ).toBe(3);
  });

  it('plans a user named twice in ids (in another letter case too) once, with its source line', () => {
    const src = source([...PEOPLE, { employeeId: 'ab7', givenName: 'Per', department: 'IT', phone: '' }]);
    const p = plan({ src, req: { users: { ids: ['1001', 'AB7', '1001', 'ab7'] } } });
    expect(p.summary.recordsSelected).toBe(2);
    expect(brief(p.changes)).toEqual(['1001 mail: [ase@kommune.no] → [aase@kommune.no]']);
    // ab7 has no entry: listed once, where it is written in the source.
    expect(p.summary.noEntry).toEqual([{ id: 'ab7', origin: 'people.csv:5' }]);
  });

  it('only plans the mappings the request names', () => {
    const p = plan({
      mappings: [MAIL, { target: 'company', source: 'Lillevik kommune' }],
      req: { mappings: ['company'] },
    });
    expect([...p.changes].map((c) => c.attribute)).toEqual(['company', 'company', 'company']);
    expect(p.header.mappings).toEqual(['company']);
  });

  it('replace, merge and keep', () => {
    const dir = [
      entry('CN=Åse', {
        employeeID: '1001',
        proxyAddresses: ['smtp:old@kommune.no', 'smtp:aase@kommune.no'],
        title: 'Sjef',
      }),
    ];
    const src = source([PEOPLE[0]!]);
    const proxies = ['SMTP:aase@kommune.no', 'smtp:1001@kommune.no'];
    expect(
      brief(
        plan({ src, dir, mappings: [{ target: 'proxyAddresses', source: proxies as [string, string] }] })
          .changes,
      ),
    ).toEqual([
      '1001 proxyAddresses: [smtp:old@kommune.no,smtp:aase@kommune.no] → [SMTP:aase@kommune.no,smtp:1001@kommune.no]',
    ]);
    // merge keeps the other values and replaces a value present only in another letter case
    expect(
      brief(
        plan({
          src,
          dir,
          mappings: [{ target: 'proxyAddresses', source: proxies as [string, string], policy: 'merge' }],
        }).changes,
      ),
    ).toEqual([
      '1001 proxyAddresses: [smtp:old@kommune.no,smtp:aase@kommune.no] → [smtp:old@kommune.no,SMTP:aase@kommune.no,smtp:1001@kommune.no]',
    ]);
    expect([
      ...plan({ src, dir, mappings: [{ target: 'title', source: 'Rådgiver', policy: 'keep' }] }).changes,
    ]).toEqual([]);
    expect(
      brief(
        plan({ src, dir, mappings: [{ target: 'department', source: '{{ department }}', policy: 'keep' }] })
          .changes,
      ),
    ).toEqual(['1001 department: [] → [IT]']);
  });

  it('merge on proxyAddresses keeps one primary: the old SMTP: becomes a secondary smtp:', () => {
    const dir = [
      entry('CN=Åse', { employeeID: '1001', proxyAddresses: ['SMTP:aase@old.no', 'smtp:x@old.no'] }),
    ];
    const p = plan({
      src: source([PEOPLE[0]!]),
      dir,
      mappings: [{ target: 'proxyAddresses', source: ['SMTP:aase@new.no'], policy: 'merge' }],
    });
    expect(brief(p.changes)).toEqual([
      '1001 proxyAddresses: [SMTP:aase@old.no,smtp:x@old.no] → [smtp:aase@old.no,smtp:x@old.no,SMTP:aase@new.no]',
    ]);
  });

  it('onEmpty: clear removes the values, skip leaves them', () => {
    const clear = plan({
      mappings: [{ target: 'telephoneNumber', source: '{{ phone }}', onEmpty: 'clear' }],
    });
    expect(brief(clear.changes)).toEqual([
      '10 telephoneNumber: [] → [22334410]',
      '1001 telephoneNumber: [1] → [22334401]',
      '1002 telephoneNumber: [2] → []',
    ]);
    expect(clear.summary.clears).toBe(1);
    const skip = plan({ mappings: [{ target: 'telephoneNumber', source: '{{ phone }}', onEmpty: 'skip' }] });
    expect(brief(skip.changes)).toEqual([
      '10 telephoneNumber: [] → [22334410]',
      '1001 telephoneNumber: [1] → [22334401]',
    ]);
    expect(skip.summary.perAttribute.telephoneNumber).toEqual({ changes: 2, clears: 0, skippedEmpty: 1 });
  });

  it('sees no phantom change between NFD and NFC spellings or in value order', () => {
    const nfd = 'Åse'.normalize('NFD');
    const p = plan({
      src: source([{ employeeId: '1001', givenName: nfd }]),
      dir: [
        entry('CN=Åse', {
          employeeID: '1001',
          displayName: 'Åse'.normalize('NFC'),
          proxyAddresses: ['b', 'a'],
        }),
      ],
      mappings: [
        { target: 'displayName', source: '{{ givenName }}' },
        { target: 'proxyAddresses', source: ['a', 'b', 'a'] },
      ],
    });
    expect([...p.changes]).toEqual([]);
    expect(p.summary.unchanged).toBe(1);
  });

  it("compares DN values as DNs: the directory's spelling of the same manager is no change, another manager is", () => {
    const people = [
      { employeeId: '1001', givenName: 'Åse', boss: 'Kåre' },
      { employeeId: '1002', givenName: 'Bjørn', boss: 'Åse' },
    ];
    const mappings: SyncTemplate['spec']['mappings'] = [
      { target: 'manager', source: 'CN={{ boss }},OU=Ansatte,DC=kommune,DC=test' },
      { target: 'seeAlso', source: ['CN={{ boss }},OU=Ansatte,DC=kommune,DC=test'], policy: 'merge' },
    ];
    const p = plan({
      src: source(people),
      dir: [
        // As Active Directory hands them back: its own case and spacing.
        entry('CN=Åse,OU=Ansatte,DC=kommune,DC=test', {
          employeeID: '1001',
          manager: 'cn=kåre, ou=ansatte,dc=Kommune,dc=Test',
          seeAlso: 'cn=KÅRE,ou=Ansatte,dc=kommune,dc=test',
        }),
        entry('CN=Bjørn,OU=Ansatte,DC=kommune,DC=test', {
          employeeID: '1002',
          manager: 'CN=Kåre,OU=Ansatte,DC=kommune,DC=test',
          seeAlso: 'CN=Kåre,OU=Ansatte,DC=kommune,DC=test',
        }),
      ],
      mappings,
    });
    expect(brief(p.changes)).toEqual([
      '1002 manager: [CN=Kåre,OU=Ansatte,DC=kommune,DC=test] → [CN=Åse,OU=Ansatte,DC=kommune,DC=test]',
      '1002 seeAlso: [CN=Kåre,OU=Ansatte,DC=kommune,DC=test] → [CN=Kåre,OU=Ansatte,DC=kommune,DC=test,CN=Åse,OU=Ansatte,DC=kommune,DC=test]',
    ]);
    // A mail address is text: a change of case there is still a change (first test).
  });

  it('never writes to an ID found on two entries, and reports records without an entry', () => {
    const dir = [...DIR, entry('CN=Åse 2,OU=Ansatte,DC=kommune,DC=test', { employeeID: '1001' })];
    const p = plan({ dir: dir.filter((e) => !e.dn.startsWith('CN=Kåre')) });
    expect([...p.changes].map((c) => c.id)).toEqual([]);
    expect(p.summary.duplicateMatches).toEqual([
      { id: '1001', dns: ['CN=Åse,OU=Ansatte,DC=kommune,DC=test', 'CN=Åse 2,OU=Ansatte,DC=kommune,DC=test'] },
    ]);
    expect(p.summary.noEntry).toEqual([{ id: '10', origin: 'people.csv:4' }]);
  });

  it('matches IDs the way the directory does: case-insensitive, trimmed', () => {
    const p = plan({
      src: source([{ employeeId: 'ab12', givenName: 'Ola' }]),
      dir: [entry('CN=Ola', { employeeID: ' AB12 ', mail: 'x' })],
    });
    expect(brief(p.changes)).toEqual(['ab12 mail: [x] → [ola@kommune.no]']);
  });

  it('reports source records with missing and duplicate IDs and leaves them out', () => {
    const src = source([
      { employeeId: '1001', givenName: 'A' },
      { employeeId: '', givenName: 'B' },
      { givenName: 'C' },
      { employeeId: '1001 ', givenName: 'D' },
    ]);
    expect(src.records).toEqual([]);
    expect(src.issues.map((i) => `${i.origin}: ${i.message}`)).toEqual([
      'people.csv:3: has an empty `employeeId`; the record is left out',
      'people.csv:4: has no `employeeId`; the record is left out',
      'people.csv:2: repeats `employeeId` 1001 (people.csv:2, people.csv:5); these records are left out until the source is fixed',
      'people.csv:5: repeats `employeeId` 1001 (people.csv:2, people.csv:5); these records are left out until the source is fixed',
    ]);
  });

  it('warns when two users would get the same mail address', () => {
    const p = plan({
      src: source([
        { employeeId: '1', givenName: 'Ole' },
        { employeeId: '2', givenName: 'Ole' },
      ]),
      dir: [entry('CN=A', { employeeID: '1' }), entry('CN=B', { employeeID: '2' })],
    });
    expect(p.summary.collisions).toEqual([{ attribute: 'mail', value: 'ole@kommune.no', ids: ['1', '2'] }]);
  });

  it('reports an expression that fails for one user and plans the rest', () => {
    const p = plan({
      mappings: [
        { target: 'description', source: '{% for i in (1..100000000) %}{{ i }}{% endfor %}{{ givenName }}' },
      ],
      req: { users: { ids: ['1001'] } },
    });
    expect(p.summary.evaluationErrors).toEqual([
      { id: '1001', attribute: 'description', message: expect.stringMatching(/limit/) },
    ]);
  });

  it('refuses a plan over the safety threshold unless the request confirms it', () => {
    const refused = plan({ safety: { maxChanges: 1, maxClears: 100 } });
    expect(refused.safety).toMatchObject({
      ok: false,
      entries: 2,
      message: expect.stringMatching(/add `maxChanges: 2` to the request/),
    });
    expect(plan({ safety: { maxChanges: 1, maxClears: 100 }, req: { maxChanges: 2 } }).safety.ok).toBe(true);
    const clears = plan({
      safety: { maxChanges: 10, maxClears: 0 },
      mappings: [{ target: 'telephoneNumber', source: '{{ phone }}' }],
    });
    expect(clears.safety).toMatchObject({ ok: false, clears: 1 });
  });

  it('orders users as compareIds does, whether the IDs are small numbers, large ones or text', () => {
    // Scrambled: the directory's order is not the plan's.
    const shuffle = <T>(xs: T[]) =>
      xs
        .map((x, i) => [(i * 7919) % xs.length, x] as const)
        .sort((a, b) => a[0] - b[0])
        .map(([, x]) => x);
    const cases = [
      Array.from({ length: 300 }, (_, i) => String((i * 104729) % 1_000_003)),
      [...Array.from({ length: 50 }, (_, i) => String(4_294_967_000 + i * 13)), '1', '99999999999999'],
      ['10', '9', 'Å1', 'a1', '007', '7', 'B', '0'],
    ];
    for (const ids of cases) {
      const p = plan({
        src: source(ids.map((employeeId) => ({ employeeId, givenName: 'Ny' }))),
        dir: shuffle(ids).map((id) => entry(`CN=${id},DC=x`, { employeeID: id, mail: 'old@kommune.no' })),
      });
      expect([...p.changes].map((c) => c.id)).toEqual([...ids].sort(compareIds));
    }
  });

  it('counts an entry that two records match as one entry against the safety limit', () => {
    // One entry holds two employee IDs (a merged account): both users' changes go to it.
    const shared = entry('CN=Delt,OU=Ansatte,DC=kommune,DC=test', {
      employeeID: ['1001', '1002'],
      mail: 'delt@kommune.no',
    });
    const p = plan({ dir: [shared, DIR[2]!] });
    expect(brief(p.changes)).toEqual([
      '10 mail: [Kaare@kommune.no] → [kaare@kommune.no]',
      '1001 mail: [delt@kommune.no] → [aase@kommune.no]',
      '1002 mail: [delt@kommune.no] → [bjorn@kommune.no]',
    ]);
    expect(p.summary.usersToChange).toBe(3);
    expect(p.safety).toMatchObject({ entries: 2 });
    expect(p.safety).toEqual(assessSafety([...p.changes], { maxChanges: 500, maxClears: 100 }));
  });

  it('gives a stable plan digest that ignores time and execute, and changes with the plan', () => {
    const a = plan({});
    const b = plan({});
    expect(a.header.digests.plan).toBe(b.header.digests.plan);
    expect(a.header.digests.plan).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(plan({ dir: DIR.slice(1) }).header.digests.plan).not.toBe(a.header.digests.plan);
    expect(requestDigest(request({ execute: true, maxChanges: 5 }))).toBe(
      requestDigest(request({ execute: false })),
    );
    expect(requestDigest(request({ mappings: ['mail'] }))).not.toBe(requestDigest(request()));
  });

  it('narrows a local preview to the given IDs', () => {
    const p = new Planner({
      requestName: 'r',
      request: request(),
      templateName: 't',
      template: template([MAIL]),
      source: source(PEOPLE),
      safety: { maxChanges: 5, maxClears: 5 },
      onlyIds: ['10'],
    });
    p.addEntries(DIR);
    expect([...p.finish('x').changes].map((c) => c.id)).toEqual(['10']);
  });
});
