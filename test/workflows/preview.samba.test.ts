import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';
import { openTargetReader } from '../../src/adapters/ldap/readers.js';
import { previewRequest } from '../../src/workflows/preview.js';
import { renderLdif } from '../../src/report/ldif.js';
import { renderPreviewFiles } from '../../src/report/write-reports.js';
import { writeFiles } from '../../src/adapters/fs/write-files.js';
import { makeDir } from '../harness/files.js';
import { describeWithSamba } from '../harness/require.js';
import { type AdUser, type SambaAd, startSambaAd } from '../harness/samba.js';
import { AD_STAFF_OU, adRequest, adTemplate, sambaDaemonConfig } from '../harness/samba-fixtures.js';
import { LDAPMODIFY, ldapToolEnv, runLdapTool } from '../harness/slapd.js';

/** The template an AD administrator would write: the config example's mappings, plus a fill-if-empty one. */
const ATTRS = [
  'mail',
  'displayName',
  'department',
  'company',
  'title',
  'telephoneNumber',
  'proxyAddresses',
  'description',
] as const;
const AD_TEMPLATE = adTemplate(AD_STAFF_OU, ATTRS);

/** HR's export: Norwegian letters, accents, a Sami ŋ/đ, an empty title and phone, and an injection attempt as an ID. */
const CSV = `employeeId,givenName,sn,department,title,phone
1001,Åse,Ødegård,Helse og omsorg,Seniorrådgiver,22 33 44 01
1002,Bjørn,Ærø,IT,Driftstekniker,
1003,Kåre,Dæhlie,Skole,"Rektor, skole",22 33 44 03
1004,José,Martínez Haugen,IT,,22 33 44 04
1005,Ingen,Oppføring,IT,Konsulent,22 33 44 05
1006,Máret Sárá,Ŋuođđa,Helse og omsorg,Sykepleier,22 33 44 06
1007,Åsmund,Bø,Skole,,22 33 44 07
*)(cn=*,Hacker,Test,IT,x,1
`;

const request = adRequest;
const daemonConfig = (samba: SambaAd) => sambaDaemonConfig(samba, { allowedAttributes: ATTRS });

const BASE = AD_STAFF_OU;
const dn = (cn: string, ou = BASE) => `CN=${cn},${ou}`;

/** The directory before the re-export: some values right, some edited by hand, one user twice, one outside the scope. */
const STAFF: AdUser[] = [
  {
    cn: 'Åse Ødegård',
    sAMAccountName: 'aase',
    employeeID: '1001',
    givenName: 'Åse',
    sn: 'Ødegård',
    mail: 'ase.odegard@kommune.no',
    // Decomposed (NFD) as some tools write it: the same text to the eye, so never a phantom change.
    displayName: 'Åse Ødegård'.normalize('NFD'),
    department: 'Helse og omsorg',
    title: 'Seniorrådgiver',
    telephoneNumber: '+47 22334401',
    // The old primary address: demoted to a secondary when the merge brings the new primary.
    proxyAddresses: ['SMTP:ase@kommune.no'],
    description: 'Satt for hånd',
  },
  {
    cn: 'Bjørn Ærø',
    sAMAccountName: 'bjorn',
    employeeID: '1002',
    givenName: 'Bjørn',
    sn: 'Ærø',
    mail: 'bjorn.aero@lillevik.kommune.no',
    displayName: 'Bjørn Ærø',
    department: 'IT',
    company: 'Lillevik kommune',
    title: 'Sjef for alt',
    telephoneNumber: '+47 99999999',
    proxyAddresses: [
      'SMTP:bjorn.aero@lillevik.kommune.no',
      'smtp:1002@lillevik.kommune.no',
      'X500:/o=Gammel/ou=Exchange/cn=bjorn',
    ],
  },
  {
    cn: 'Kåre Dæhlie',
    sAMAccountName: 'kaare',
    employeeID: '1003',
    givenName: 'Kåre',
    sn: 'Dæhlie',
    // Case-only differences: AD compares these case-insensitively, a reviewer and Exchange do not.
    mail: 'Kaare.Daehlie@lillevik.kommune.no',
    displayName: 'Kåre Dæhlie',
    department: 'Skole',
    company: 'Lillevik kommune',
    title: 'Rektor, skole',
    telephoneNumber: '+47 22334403',
    proxyAddresses: ['smtp:kaare.daehlie@lillevik.kommune.no', 'smtp:1003@lillevik.kommune.no'],
    description: 'Rektor',
  },
  {
    cn: 'José Martínez Haugen',
    sAMAccountName: 'jose1',
    employeeID: '1004',
    givenName: 'José',
    sn: 'Martínez Haugen',
  },
  {
    cn: 'José Martínez Haugen (kopi)',
    sAMAccountName: 'jose2',
    employeeID: '1004',
    givenName: 'José',
    sn: 'Martínez Haugen',
  },
  { cn: 'Máret Sárá Ŋuođđa', sAMAccountName: 'maret', employeeID: '1006' },
  {
    cn: 'Åsmund Bø',
    sAMAccountName: 'aasmund',
    employeeID: '1007',
    givenName: 'Åsmund',
    sn: 'Bø',
    mail: 'aasmund.bo@lillevik.kommune.no',
    displayName: 'Åsmund Bø',
    department: 'Skole',
    company: 'Lillevik kommune',
    title: 'Lektor',
    telephoneNumber: '+47 22334407',
    proxyAddresses: [
      'SMTP:aasmund.bo@lillevik.kommune.no',
      'smtp:1007@lillevik.kommune.no',
      'smtp:aasmund@kommune.no',
    ],
    description: 'Lærer',
  },
  { cn: 'Uten HR', sAMAccountName: 'utenhr', employeeID: '9999', mail: 'other@kommune.no' },
  // In the OU but without an employeeID: not managed, not counted.
  { cn: 'Servicekonto', sAMAccountName: 'svc-print' },
];

describeWithSamba('preview against Samba AD', () => {
  let samba: SambaAd;
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    samba = await startSambaAd();
    process.env.REEXPORT_TEST_AD_PASSWORD = samba.adminPassword;
    await samba.addUsers(STAFF);
    // 1005 has an account, but it has left: outside the template's scope, so "no directory entry".
    await samba.addUsers(
      [{ cn: 'Ingen Oppføring', sAMAccountName: 'ingen', employeeID: '1005' }],
      'OU=Sluttet',
    );
    ({ dir, cleanup } = await makeDir({
      'templates/ad-employees.yaml': AD_TEMPLATE,
      'data/ansatte.csv': CSV,
      'requests/all.yaml': request('all', '  mappings: all\n  users: all\n'),
      // AD's employeeID holds at most 16 characters, so the injection string is a short one.
      'requests/mail-ids.yaml': request(
        'mail-ids',
        '  mappings: [mail]\n  users: { ids: ["1003", "*)(cn=*", "7777"] }\n',
      ),
      'requests/it.yaml': request(
        'it',
        '  mappings: [title, telephoneNumber]\n  users: { where: { department: IT } }\n',
      ),
      'daemon.yaml': daemonConfig(samba),
    }));
  });
  afterAll(async () => {
    await cleanup?.();
    await samba?.stop();
  });

  async function preview(name: string, onlyIds?: string[]) {
    const daemon = await loadDaemonConfig(`${dir}/daemon.yaml`);
    const result = await previewRequest(
      dir,
      name,
      daemon,
      { openTarget: (t) => openTargetReader(daemon, t), now: () => new Date('2026-11-25T10:00:00Z') },
      { onlyIds },
    );
    if ('invalid' in result) throw new Error(result.invalid.map(formatDiagnostic).join('\n'));
    return result.plan;
  }
  // The order AD returns the values of a multi-valued attribute in is its own; the plan keeps it.
  const sorted = (v: string[]) => JSON.stringify([...v].sort());
  const brief = (p: Awaited<ReturnType<typeof preview>>) =>
    [...p.changes].map((c) => `${c.id} ${c.attribute}: ${sorted(c.before)} → ${sorted(c.after)}`);

  it('plans every mapping for all users: replace, merge, keep, onEmpty clear/skip, transliteration, case-only changes, duplicates and missing entries', async () => {
    const plan = await preview('all');
    expect(brief(plan)).toEqual([
      '1001 mail: ["ase.odegard@kommune.no"] → ["aase.odegaard@lillevik.kommune.no"]',
      '1001 company: [] → ["Lillevik kommune"]',
      '1001 proxyAddresses: ["SMTP:ase@kommune.no"] → ["SMTP:aase.odegaard@lillevik.kommune.no","smtp:1001@lillevik.kommune.no","smtp:ase@kommune.no"]',
      '1002 title: ["Sjef for alt"] → ["Driftstekniker"]',
      '1002 telephoneNumber: ["+47 99999999"] → []',
      '1002 description: [] → ["Ansatt i Lillevik kommune"]',
      '1003 mail: ["Kaare.Daehlie@lillevik.kommune.no"] → ["kaare.daehlie@lillevik.kommune.no"]',
      '1003 proxyAddresses: ["smtp:1003@lillevik.kommune.no","smtp:kaare.daehlie@lillevik.kommune.no"] → ["SMTP:kaare.daehlie@lillevik.kommune.no","smtp:1003@lillevik.kommune.no"]',
      '1006 mail: [] → ["maret.sara.nuodda@lillevik.kommune.no"]',
      '1006 displayName: [] → ["Máret Sárá Ŋuođđa"]',
      '1006 department: [] → ["Helse og omsorg"]',
      '1006 company: [] → ["Lillevik kommune"]',
      '1006 title: [] → ["Sykepleier"]',
      '1006 telephoneNumber: [] → ["+47 22334406"]',
      '1006 proxyAddresses: [] → ["SMTP:maret.sara.nuodda@lillevik.kommune.no","smtp:1006@lillevik.kommune.no"]',
      '1006 description: [] → ["Ansatt i Lillevik kommune"]',
    ]);
    // Merge keeps every value it did not compute (first, in AD's order), but Exchange allows one primary.
    const aaseProxies = [...plan.changes].find((c) => c.id === '1001' && c.attribute === 'proxyAddresses')!;
    expect(aaseProxies.after).toEqual([
      'smtp:ase@kommune.no',
      'SMTP:aase.odegaard@lillevik.kommune.no',
      'smtp:1001@lillevik.kommune.no',
    ]);
    // DNs are as AD spells them (UTF-8 in the RDN).
    expect([...plan.changes].find((c) => c.id === '1006')!.dn).toBe(dn('Máret Sárá Ŋuođđa'));
    expect(plan.summary).toMatchObject({
      entriesInScope: 8,
      recordsInSource: 8,
      recordsSelected: 8,
      matched: 5,
      unchanged: 1,
      usersToChange: 4,
      attributeChanges: 16,
      clears: 1,
      noEntry: [
        { id: '*)(cn=*', origin: 'data/ansatte.csv:9' },
        { id: '1005', origin: 'data/ansatte.csv:6' },
      ],
      unknownIds: [],
      duplicateMatches: [
        {
          id: '1004',
          dns: expect.arrayContaining([dn('José Martínez Haugen'), dn('José Martínez Haugen (kopi)')]),
        },
      ],
      evaluationErrors: [],
      collisions: [],
      binarySkipped: [],
    });
    expect(plan.summary.duplicateMatches[0]!.dns).toHaveLength(2);
    expect(plan.summary.perAttribute).toMatchObject({
      mail: { changes: 3, clears: 0 },
      telephoneNumber: { changes: 2, clears: 1 },
      proxyAddresses: { changes: 3, clears: 0 },
      description: { changes: 2, clears: 0 },
      // 1007's empty title leaves AD's "Lektor" alone.
      title: { changes: 2, clears: 0 },
    });
    expect(plan.safety).toMatchObject({ ok: true, entries: 4, clears: 1 });

    const files = renderPreviewFiles(plan, 100);
    const md = files['preview.md']!;
    expect(md).toContain('| **To change** | **4 users, 16 attribute changes** |');
    expect(md).toContain('-mail: ase.odegard@kommune.no\n+mail: aase.odegaard@lillevik.kommune.no');
    expect(md).toContain(
      '-mail: Kaare.Daehlie@lillevik.kommune.no\n+mail: kaare.daehlie@lillevik.kommune.no',
    );
    expect(md).toContain('+displayName: Máret Sárá Ŋuođđa');
    expect(md).toContain('-telephoneNumber: +47 99999999\n# telephoneNumber is cleared');
    expect(md).toContain('- `1004`: `CN=José Martínez Haugen');
    expect(md).toContain('- `1005` (`data/ansatte.csv:6`)');
    // Non-ASCII goes into the LDIF base64-encoded, DN included.
    const ldif = files['changes.ldif']!;
    expect(ldif).toContain(`dn:: ${Buffer.from(dn('Máret Sárá Ŋuođđa')).toString('base64')}`);
    expect(ldif).toContain(
      'delete: mail\nmail: Kaare.Daehlie@lillevik.kommune.no\n-\nadd: mail\nmail: kaare.daehlie@lillevik.kommune.no\n-',
    );
    expect(ldif).toContain('delete: telephoneNumber\ntelephoneNumber: +47 99999999\n-');
    expect(ldif).toContain(
      'delete: proxyAddresses\nproxyAddresses: SMTP:ase@kommune.no\n-\nadd: proxyAddresses\nproxyAddresses: smtp:ase@kommune.no\n',
    );
  });

  it('counts "empty, skipped" only for users it could write, not for a duplicate match that is never written', async () => {
    // 1004 (José) has an empty title too, but is reported as a duplicate match and never written;
    // only 1007 (Åsmund, AD title "Lektor" kept) is an empty value that was skipped.
    const plan = await preview('all');
    expect(plan.summary.perAttribute.title!.skippedEmpty).toBe(1);
  });

  it('escapes IDs in the targeted search: `*)(cn=*` matches nothing, unknown IDs are listed', async () => {
    const plan = await preview('mail-ids');
    expect(brief(plan)).toEqual([
      '1003 mail: ["Kaare.Daehlie@lillevik.kommune.no"] → ["kaare.daehlie@lillevik.kommune.no"]',
    ]);
    // Unescaped, (employeeID=*)(cn=*) would have pulled every user into the search.
    expect(plan.summary.entriesInScope).toBe(1);
    expect(plan.summary.recordsSelected).toBe(2);
    expect(plan.summary.noEntry).toEqual([{ id: '*)(cn=*', origin: 'data/ansatte.csv:9' }]);
    expect(plan.summary.unknownIds).toEqual(['7777']);
  });

  it('selects users with where, and narrows to --id', async () => {
    const it = await preview('it');
    expect(brief(it)).toEqual([
      '1002 title: ["Sjef for alt"] → ["Driftstekniker"]',
      '1002 telephoneNumber: ["+47 99999999"] → []',
    ]);
    expect(it.summary).toMatchObject({
      recordsSelected: 4,
      matched: 1,
      noEntry: [{ id: '*)(cn=*' }, { id: '1005' }],
      duplicateMatches: [{ id: '1004' }],
    });
    const one = await preview('all', ['1006']);
    expect([...one.changes].map((c) => c.attribute)).toEqual([
      'mail',
      'displayName',
      'department',
      'company',
      'title',
      'telephoneNumber',
      'proxyAddresses',
      'description',
    ]);
    expect(one.summary.entriesInScope).toBe(1);
  });

  it('gives a changes.ldif that ldapmodify applies over LDAPS, after which a new preview shows no change', async () => {
    const before = await preview('all');
    const reportDir = path.join(dir, 'reports', 'all');
    await writeFiles(reportDir, renderPreviewFiles(before, 100));
    const env = await ldapToolEnv(dir, samba.caFile);
    const ldapmodify = (file: string) =>
      runLdapTool(
        LDAPMODIFY,
        ['-x', '-H', samba.ldapsUrl, '-D', samba.adminDN, '-w', samba.adminPassword, '-f', file],
        env,
      );
    await ldapmodify(path.join(reportDir, 'changes.ldif'));

    const after = await preview('all');
    expect([...after.changes]).toEqual([]);
    expect(after.summary).toMatchObject({ matched: 5, unchanged: 5, usersToChange: 0 });
    expect(renderPreviewFiles(after, 100)['preview.md']).toContain(
      'No changes: the directory already holds what the mappings produce.',
    );

    // What AD holds now, read back as another client sees it.
    const client = await samba.client();
    try {
      const read = async (cn: string, attrs: string[]) =>
        (await client.search(dn(cn), { scope: 'base', attributes: attrs })).searchEntries[0]!;
      expect(await read('Kåre Dæhlie', ['mail'])).toMatchObject({
        mail: 'kaare.daehlie@lillevik.kommune.no',
      });
      const kaare = await read('Kåre Dæhlie', ['proxyAddresses']);
      expect([...(kaare.proxyAddresses as string[])].sort()).toEqual([
        'SMTP:kaare.daehlie@lillevik.kommune.no',
        'smtp:1003@lillevik.kommune.no',
      ]);
      const bjorn = await read('Bjørn Ærø', ['title', 'telephoneNumber', 'description', 'proxyAddresses']);
      expect(bjorn).toMatchObject({ title: 'Driftstekniker', description: 'Ansatt i Lillevik kommune' });
      expect(bjorn.telephoneNumber ?? []).toEqual([]);
      expect(bjorn.proxyAddresses).toContain('X500:/o=Gammel/ou=Exchange/cn=bjorn');
      const aase = await read('Åse Ødegård', ['description', 'proxyAddresses']);
      expect(aase).toMatchObject({ description: 'Satt for hånd' });
      // AD compares proxyAddresses case-insensitively; the demotion SMTP:→smtp: still took effect.
      expect([...(aase.proxyAddresses as string[])].sort()).toEqual([
        'SMTP:aase.odegaard@lillevik.kommune.no',
        'smtp:1001@lillevik.kommune.no',
        'smtp:ase@kommune.no',
      ]);
      expect(await read('Åsmund Bø', ['title'])).toMatchObject({ title: 'Lektor' });
      expect(await read('Máret Sárá Ŋuođđa', ['displayName', 'mail'])).toMatchObject({
        displayName: 'Máret Sárá Ŋuođđa',
        mail: 'maret.sara.nuodda@lillevik.kommune.no',
      });
      // The duplicates were never written.
      expect((await read('José Martínez Haugen', ['mail'])).mail ?? []).toEqual([]);
    } finally {
      await client.unbind();
    }

    // The same LDIF again is refused by value: the old values are gone.
    await expect(ldapmodify(path.join(reportDir, 'changes.ldif'))).rejects.toThrow(
      /no matching attribute value|No such attribute/i,
    );
    expect(renderLdif(after.changes)).toBe('version: 1\n');
    expect(await readFile(path.join(reportDir, 'plan.jsonl'), 'utf8')).toContain('"id":"1006"');
  });
});
