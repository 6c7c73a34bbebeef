import { generateKeyPairSync } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Attribute, Change, type Client } from 'ldapts';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type LoadedDaemonConfig, loadDaemonConfig } from '../../src/config/daemon-config.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';
import { applyRequest } from '../../src/workflows/apply/apply-request.js';
import { signPreview } from '../../src/lifecycle/statements.js';
import { openLdapWriters } from '../../src/adapters/ldap/writer.js';
import { openTargetReader } from '../../src/adapters/ldap/readers.js';
import { previewRequest } from '../../src/workflows/preview.js';
import { renderPreviewFiles } from '../../src/report/write-reports.js';
import { writeFiles } from '../../src/adapters/fs/write-files.js';
import { makeDir } from '../harness/files.js';
import { describeWithSamba } from '../harness/require.js';
import { type AdUser, type SambaAd, startSambaAd } from '../harness/samba.js';
import { AD_STAFF_OU, adRequest, adTemplate, sambaDaemonConfig } from '../harness/samba-fixtures.js';

const REQUEST = '2026-11-25-ny-epost';
/** The daemon's signing key in these tests: a preview it signed is what "reviewed" means. */
const key = generateKeyPairSync('ed25519');
const ATTRS = ['mail', 'company', 'title', 'telephoneNumber', 'proxyAddresses'];

/** Each test gets its own OU under OU=Ansatte, so one Samba serves the whole file without tests leaking into each other. */
const template = (baseDN: string, mappings: string[] = [...ATTRS]) => adTemplate(baseDN, mappings);

const CSV = `employeeId,givenName,sn,title,phone
1001,Åse,Ødegård,Seniorrådgiver,22 33 44 01
1002,Bjørn,Ærø,Driftstekniker,
1003,Kåre,Dæhlie,Rektor,22 33 44 03
1004,Máret Sárá,Ŋuođđa,Sykepleier,22 33 44 06
`;

const requestYaml = adRequest(
  REQUEST,
  '  mappings: all\n  users: all\n  execute: true\n',
  'Ny e-postadresse etter sammenslåingen',
);

const daemonConfig = (samba: SambaAd, maxChanges = 500) =>
  sambaDaemonConfig(samba, { allowedAttributes: ATTRS, maxChanges, concurrency: 2 });

/** The directory before the re-export: one wrong mail, one hand-edited title and stale phone, a case-only mail, one empty account. */
const STAFF: AdUser[] = [
  {
    cn: 'Åse Ødegård',
    sAMAccountName: 'aase',
    employeeID: '1001',
    mail: 'ase.odegard@kommune.no',
    title: 'Seniorrådgiver',
    telephoneNumber: '+47 22334401',
    proxyAddresses: ['SMTP:ase@kommune.no'],
  },
  {
    cn: 'Bjørn Ærø',
    sAMAccountName: 'bjorn',
    employeeID: '1002',
    mail: 'bjorn.aero@lillevik.kommune.no',
    company: 'Lillevik kommune',
    title: 'Sjef for alt',
    telephoneNumber: '+47 99999999',
    proxyAddresses: ['SMTP:bjorn.aero@lillevik.kommune.no', 'smtp:1002@lillevik.kommune.no'],
  },
  {
    cn: 'Kåre Dæhlie',
    sAMAccountName: 'kaare',
    employeeID: '1003',
    mail: 'Kaare.Daehlie@lillevik.kommune.no',
    company: 'Lillevik kommune',
    title: 'Rektor',
    telephoneNumber: '+47 22334403',
    proxyAddresses: ['SMTP:kaare.daehlie@lillevik.kommune.no', 'smtp:1003@lillevik.kommune.no'],
  },
  { cn: 'Máret Sárá Ŋuođđa', sAMAccountName: 'maret', employeeID: '1004' },
];

describeWithSamba('apply against Samba AD', () => {
  let samba: SambaAd;
  let dir: string;
  let cleanup: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    samba = await startSambaAd();
    process.env.REEXPORT_TEST_AD_PASSWORD = samba.adminPassword;
  });
  afterAll(async () => {
    await samba?.stop();
  });
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  /** Seeds the staff into OU=<ou>,OU=Ansatte and makes a config repository whose template manages exactly that OU. */
  async function setup(ou: string, maxChanges = 500) {
    const baseDN = `OU=${ou},${AD_STAFF_OU}`;
    // sAMAccountName is unique in the whole domain, so each OU's accounts get their own suffix.
    const dns = await samba.addUsers(
      STAFF.map((u) => ({ ...u, sAMAccountName: `${u.sAMAccountName}.${ou.toLowerCase()}` })),
      `OU=${ou},OU=Ansatte`,
    );
    ({ dir, cleanup } = await makeDir({
      'templates/ad-employees.yaml': template(baseDN),
      'data/ansatte.csv': CSV,
      [`requests/${REQUEST}.yaml`]: requestYaml,
      'daemon.yaml': daemonConfig(samba, maxChanges),
    }));
    const daemon = await loadDaemonConfig(`${dir}/daemon.yaml`);
    const dn = Object.fromEntries(STAFF.map((u, i) => [u.sAMAccountName, dns[i]!]));
    return { daemon, baseDN, dn };
  }

  /** What the daemon commits to the pull request: the reviewed plan, in reports/<request>/. */
  async function reviewedPreview(daemon: LoadedDaemonConfig) {
    const result = await previewRequest(dir, REQUEST, daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
    });
    if ('invalid' in result) throw new Error(result.invalid.map(formatDiagnostic).join('\n'));
    await writeFiles(
      path.join(dir, 'reports', REQUEST),
      renderPreviewFiles(result.plan, 100, {
        signature: signPreview(result.plan, { branch: 'main', commit: 'c0ffee' }, key.privateKey),
      }),
    );
    return result.plan;
  }

  async function apply(daemon: LoadedDaemonConfig, journal = 'journal') {
    return applyRequest(dir, REQUEST, daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
      openWriters: (t, n) => openLdapWriters(daemon, t, n),
      journalDir: path.join(dir, journal),
      trustedKeys: [key.publicKey],
      retry: { attempts: 5, baseDelayMs: 50 },
    });
  }

  async function withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const c = await samba.client();
    try {
      return await fn(c);
    } finally {
      await c.unbind();
    }
  }

  /** The managed attributes of every user in the OU as AD holds them, multi-valued ones sorted. */
  async function snapshot(baseDN: string): Promise<Record<string, Record<string, string[]>>> {
    return withClient(async (c) => {
      const { searchEntries } = await c.search(baseDN, {
        scope: 'one',
        filter: '(objectClass=user)',
        attributes: ['sAMAccountName', ...ATTRS],
      });
      const out: Record<string, Record<string, string[]>> = {};
      for (const e of searchEntries) {
        const attrs: Record<string, string[]> = {};
        for (const a of ATTRS) {
          const v = e[a];
          const list = (Array.isArray(v) ? v : v === undefined ? [] : [v]).map(String).sort();
          if (list.length) attrs[a] = list;
        }
        out[String(e.sAMAccountName).split('.')[0]!] = attrs;
      }
      return out;
    });
  }

  const byHand = (dn: string, operation: 'replace' | 'add', type: string, values: string[]) =>
    withClient((c) => c.modify(dn, new Change({ operation, modification: new Attribute({ type, values }) })));

  const brief = (outcomes: Array<{ id: string; attribute: string; outcome: string; code?: number }>) =>
    outcomes.map((o) => `${o.id} ${o.attribute} ${o.outcome}${o.code ? ` ${o.code}` : ''}`).sort();

  it('applies exactly the reviewed plan: applied, already-applied and stale, hand edits left alone, nothing written twice', async () => {
    const { daemon, baseDN, dn } = await setup('Apply');
    const plan = await reviewedPreview(daemon);
    expect([...plan.changes].map((c) => `${c.id} ${c.attribute}`)).toEqual([
      '1001 mail',
      '1001 company',
      '1001 proxyAddresses',
      '1002 title',
      '1002 telephoneNumber',
      '1003 mail',
      '1004 mail',
      '1004 company',
      '1004 title',
      '1004 telephoneNumber',
      '1004 proxyAddresses',
    ]);
    const committed = await readFile(path.join(dir, 'reports', REQUEST, 'plan.jsonl'), 'utf8');

    // Between review and merge: someone edits a title by hand (must not be overwritten), someone
    // does part of the work by hand (recognised as done), and someone fills an empty single-valued
    // attribute (AD answers an add to it with attributeOrValueExists; also not overwritten).
    await byHand(dn.bjorn!, 'replace', 'title', ['Avdelingsleder']);
    await byHand(dn.aase!, 'replace', 'mail', ['aase.odegaard@lillevik.kommune.no']);
    await byHand(dn.maret!, 'replace', 'company', ['Håndsatt AS']);

    const result = await apply(daemon);
    expect(result.state).toBe('executed');
    expect(result.reviewed).toBe(true);
    expect(result.header?.digests.plan).toBe(plan.header.digests.plan);
    expect(brief(result.outcomes())).toEqual([
      '1001 company applied',
      '1001 mail already-applied',
      '1001 proxyAddresses applied',
      '1002 telephoneNumber applied',
      '1002 title stale',
      '1003 mail applied',
      '1004 company stale',
      '1004 mail applied',
      '1004 proxyAddresses applied',
      '1004 telephoneNumber applied',
      '1004 title applied',
    ]);
    expect(result.outcomes().find((o) => o.id === '1002' && o.attribute === 'title')).toMatchObject({
      dn: dn.bjorn,
      found: ['Avdelingsleder'],
      reason: expect.stringMatching(/changed after the preview; not overwritten/),
    });
    expect(result.outcomes().find((o) => o.id === '1004' && o.attribute === 'company')).toMatchObject({
      found: ['Håndsatt AS'],
      outcome: 'stale',
    });
    expect(result.outcomes().filter((o) => o.outcome === 'failed')).toEqual([]);

    // The directory afterwards: the plan's values, the hand edits untouched, values merge keeps still there.
    expect(await snapshot(baseDN)).toEqual({
      aase: {
        mail: ['aase.odegaard@lillevik.kommune.no'],
        company: ['Lillevik kommune'],
        title: ['Seniorrådgiver'],
        telephoneNumber: ['+47 22334401'],
        proxyAddresses: [
          'SMTP:aase.odegaard@lillevik.kommune.no',
          'smtp:1001@lillevik.kommune.no',
          'smtp:ase@kommune.no',
        ],
      },
      bjorn: {
        mail: ['bjorn.aero@lillevik.kommune.no'],
        company: ['Lillevik kommune'],
        title: ['Avdelingsleder'],
        proxyAddresses: ['SMTP:bjorn.aero@lillevik.kommune.no', 'smtp:1002@lillevik.kommune.no'],
      },
      kaare: {
        mail: ['kaare.daehlie@lillevik.kommune.no'],
        company: ['Lillevik kommune'],
        title: ['Rektor'],
        telephoneNumber: ['+47 22334403'],
        proxyAddresses: ['SMTP:kaare.daehlie@lillevik.kommune.no', 'smtp:1003@lillevik.kommune.no'],
      },
      maret: {
        mail: ['maret.sara.nuodda@lillevik.kommune.no'],
        company: ['Håndsatt AS'],
        title: ['Sykepleier'],
        telephoneNumber: ['+47 22334406'],
        proxyAddresses: ['SMTP:maret.sara.nuodda@lillevik.kommune.no', 'smtp:1004@lillevik.kommune.no'],
      },
    });

    // The reports the daemon commits after execution.
    expect(Object.keys(result.files).sort()).toEqual(['result.jsonl', 'result.md', 'status.yaml']);
    expect(result.files['status.yaml']).toMatch(/state: executed/);
    expect(result.files['status.yaml']).toMatch(/applied: 8/);
    expect(result.files['result.md']).toContain(
      '**Applied 8 of 11 changes: 1 was already applied (the directory already held the reviewed value; nothing written); 2 were stale (the directory changed after the preview; not overwritten).**',
    );
    expect(result.files['result.md']).toMatch(/Plan: the reviewed plan `sha256:/);
    expect(result.files['result.md']).toMatch(
      /\| applied \| 8 \| .*\|\n\| already-applied \| 1 \| .*\|\n\| stale \| 2 \| .*\|\n\| failed \| 0 \| .*\|\n\| skipped \| 0 \| .*\|/,
    );
    expect(result.files['result.md']).toContain(
      `- **1002** \`title\` of \`${dn.bjorn}\`: found \`Avdelingsleder\` (the directory value changed after the preview; not overwritten)`,
    );
    const jsonl = (result.files['result.jsonl'] as string)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; attribute: string; outcome: string });
    expect(brief(jsonl)).toEqual(brief(result.outcomes()));

    // The plan run again without its journal (as a second daemon resuming would): every change
    // is decided on the fresh read, so nothing is written twice and nothing is added over a value.
    const before = await snapshot(baseDN);
    const again = await apply(daemon, 'journal-of-another-daemon');
    expect(again.outcomes().filter((o) => o.outcome === 'applied')).toEqual([]);
    expect(await snapshot(baseDN)).toEqual(before);
    // The reviewed plan is still the one that was committed.
    expect(await readFile(path.join(dir, 'reports', REQUEST, 'plan.jsonl'), 'utf8')).toBe(committed);
  });

  // AD compares mail, proxyAddresses, title… case-insensitively, so deleting the reviewed old value
  // by value also deletes a value that was re-cased by hand after the preview. The plan itself
  // treats a case-only difference as a real change (the preview shows Kaare→kaare), so the
  // compare-and-swap must too: a hand edit to "KAARE.DAEHLIE@…" is a changed value, stale, not overwritten.
  it('treats a case-only hand edit made after the preview as stale, although AD compares case-insensitively', async () => {
    const { daemon, dn } = await setup('Kasus');
    const plan = await reviewedPreview(daemon);
    expect([...plan.changes].find((c) => c.id === '1003')).toMatchObject({
      attribute: 'mail',
      before: ['Kaare.Daehlie@lillevik.kommune.no'],
      after: ['kaare.daehlie@lillevik.kommune.no'],
    });
    await byHand(dn.kaare!, 'replace', 'mail', ['KAARE.DAEHLIE@lillevik.kommune.no']);
    const result = await apply(daemon);
    expect(result.outcomes().find((o) => o.id === '1003')).toMatchObject({
      outcome: 'stale',
      found: ['KAARE.DAEHLIE@lillevik.kommune.no'],
    });
    const mail = await withClient(
      async (c) =>
        (await c.search(dn.kaare!, { scope: 'base', attributes: ['mail'] })).searchEntries[0]!.mail,
    );
    expect(mail).toBe('KAARE.DAEHLIE@lillevik.kommune.no');
  });

  it('refuses a plan over the safety threshold and writes nothing', async () => {
    const { daemon, baseDN } = await setup('Terskel', 2);
    const before = await snapshot(baseDN);
    const plan = await reviewedPreview(daemon);
    expect(plan.safety).toMatchObject({ ok: false, entries: 4, maxChanges: 2 });
    expect(renderPreviewFiles(plan, 100)['preview.md']).toContain(
      '⛔ refused: the plan changes 4 entries, over the limit of 2',
    );

    const result = await apply(daemon);
    expect(result.state).toBe('refused');
    expect(result.message).toBe(
      "refused: the plan changes 4 entries, over the limit of 2; if this is intended, add `maxChanges: 4` to the request's spec",
    );
    expect(result.outcomes()).toEqual([]);
    expect(Object.keys(result.files)).toEqual(['status.yaml']);
    expect(result.files['status.yaml']).toMatch(/state: refused/);
    expect(await snapshot(baseDN)).toEqual(before);
    // Nothing was journaled either: the refusal comes before the first connection for writing.
    expect(await readdir(path.join(dir, 'journal')).catch(() => [])).toEqual([]);
    const again = await previewRequest(dir, REQUEST, daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
    });
    expect('plan' in again && again.plan!.header.digests.plan).toBe(plan.header.digests.plan);

    // The request's maxChanges confirms the larger change; then it goes through.
    await writeFile(`${dir}/requests/${REQUEST}.yaml`, `${requestYaml}  maxChanges: 4\n`);
    const confirmed = await apply(daemon);
    expect(confirmed.state).toBe('executed');
    expect(confirmed.outcomes().every((o) => o.outcome === 'applied')).toBe(true);
    expect(confirmed.outcomes()).toHaveLength(11);
  });

  it('compares manager DNs as AD does: a mapping in another spelling is applied once, then the preview is empty', async () => {
    const ou = 'Mgr';
    const baseDN = `OU=${ou},${AD_STAFF_OU}`;
    await samba.addUsers(
      STAFF.map((u) => ({ ...u, sAMAccountName: `${u.sAMAccountName}.mgr` })),
      `OU=${ou},OU=Ansatte`,
    );
    // The HR export names each manager; the template spells the DN in lower case, AD stores and
    // returns the referenced object's own DN (CN=Kåre Dæhlie,OU=Mgr,…).
    const managerTemplate = template(baseDN, [
      `    - target: manager
      source: "{% if boss != blank %}cn={{ boss }},ou=mgr,ou=ansatte,dc=kommune,dc=test{% endif %}"
      onEmpty: skip
    - target: company
      source: ["Lillevik kommune", "Annen kommune"]
`,
    ]);
    ({ dir, cleanup } = await makeDir({
      'templates/ad-employees.yaml': managerTemplate,
      'data/ansatte.csv':
        'employeeId,givenName,sn,boss\n1001,Åse,Ødegård,Kåre Dæhlie\n1002,Bjørn,Ærø,Åse Ødegård\n1003,Kåre,Dæhlie,\n',
      [`requests/${REQUEST}.yaml`]: requestYaml,
      'daemon.yaml': sambaDaemonConfig(samba, { allowedAttributes: ['manager', ...ATTRS], concurrency: 2 }),
    }));
    const daemon = await loadDaemonConfig(`${dir}/daemon.yaml`);
    const first = await reviewedPreview(daemon);
    // AD's schema (read from CN=Aggregate) says company holds one value: an error before anything is written.
    expect(first.summary.evaluationErrors.map((e) => `${e.id} ${e.message}`)).toEqual(
      ['1001', '1002', '1003'].map(
        (id) => `${id} \`company\` holds one value in the directory, but the mapping gives 2`,
      ),
    );
    expect([...first.changes].map((c) => `${c.id} ${c.attribute} → ${c.after.join()}`)).toEqual([
      '1001 manager → cn=Kåre Dæhlie,ou=mgr,ou=ansatte,dc=kommune,dc=test',
      '1002 manager → cn=Åse Ødegård,ou=mgr,ou=ansatte,dc=kommune,dc=test',
    ]);
    const result = await apply(daemon);
    expect(brief(result.outcomes())).toEqual(['1001 manager applied', '1002 manager applied']);
    const stored = await withClient(
      async (c) =>
        (await c.search(baseDN, { scope: 'one', filter: '(employeeID=1001)', attributes: ['manager'] }))
          .searchEntries[0]?.manager,
    );
    expect(stored).toBe(`CN=Kåre Dæhlie,${baseDN}`);
    // Read back in AD's spelling, the same DNs: nothing left to do.
    const again = await previewRequest(dir, REQUEST, daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
    });
    if ('invalid' in again) throw new Error('invalid');
    expect([...again.plan.changes]).toEqual([]);
    expect(again.plan.summary.unchanged).toBe(3);
  });
});
