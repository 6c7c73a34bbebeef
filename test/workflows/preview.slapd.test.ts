import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';
import { openTargetReader } from '../../src/adapters/ldap/readers.js';
import { previewRequest } from '../../src/workflows/preview.js';
import { renderLdif } from '../../src/report/ldif.js';
import { renderPreviewMd } from '../../src/report/preview-md.js';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import { CSV, daemonConfig, request, seedLdif, SLAPD_TEMPLATE } from '../harness/slapd-fixtures.js';

describeWithSlapd('preview against slapd', () => {
  let slapd: Slapd;
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: seedLdif() });
    process.env.REEXPORT_TEST_LDAP_PASSWORD = slapd.password;
    ({ dir, cleanup } = await makeDir({
      'templates/ldap-employees.yaml': SLAPD_TEMPLATE,
      'data/ansatte.csv': CSV,
      'requests/all.yaml': request('all', '  mappings: all\n  users: all\n'),
      'requests/mail-ids.yaml': request(
        'mail-ids',
        '  mappings: [mail]\n  users: { ids: ["1003", "*)(uid=*", "7777"] }\n',
      ),
      'requests/where.yaml': request(
        'where',
        '  mappings: [title, telephoneNumber]\n  users: { where: { title: [Driftstekniker, Konsulent] } }\n',
      ),
      'requests/typo.yaml': request('typo', '  mappings: all\n  users: { where: { titel: Rektor } }\n'),
      'daemon.yaml': daemonConfig(slapd.url, slapd.bindDN),
    }));
  });
  afterAll(async () => {
    await cleanup?.();
    await slapd?.stop();
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
  const brief = (p: Awaited<ReturnType<typeof preview>>) =>
    [...p.changes].map(
      (c) => `${c.id} ${c.attribute}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`,
    );

  it('plans every mapping for all users: replace, merge, keep, onEmpty, case-only change, duplicates and missing entries', async () => {
    const plan = await preview('all');
    expect(brief(plan)).toEqual([
      '1001 mail: ["ase.odegard@kommune.no"] → ["aase.odegaard@lillevik.kommune.no"]',
      '1001 proxyAddresses: ["SMTP:ase@kommune.no"] → ["SMTP:ase@kommune.no","smtp:1001@lillevik.kommune.no"]',
      '1001 description: [] → ["Lillevik kommune"]',
      '1002 title: ["Sjef for alt"] → ["Driftstekniker"]',
      '1002 telephoneNumber: ["+47 99999999"] → []',
      '1002 proxyAddresses: [] → ["smtp:1002@lillevik.kommune.no"]',
      '1003 mail: ["Kaare.Daehlie@lillevik.kommune.no"] → ["kaare.daehlie@lillevik.kommune.no"]',
      '1003 description: [] → ["Lillevik kommune"]',
    ]);
    expect(plan.summary).toMatchObject({
      entriesInScope: 6,
      recordsInSource: 6,
      matched: 3,
      usersToChange: 3,
      clears: 1,
      noEntry: [
        { id: '*)(uid=*', origin: 'data/ansatte.csv:7' },
        { id: '1005', origin: 'data/ansatte.csv:6' },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
      duplicateMatches: [
        {
          id: '1004',
          dns: expect.arrayContaining([
            'uid=jose1,ou=Ansatte,dc=kommune,dc=test',
            'uid=jose2,ou=Ansatte,dc=kommune,dc=test',
          ]),
        },
      ],
    });
    const md = renderPreviewMd(plan, { maxUsers: 10 });
    expect(md).toContain(
      '```diff\n-mail: ase.odegard@kommune.no\n+mail: aase.odegaard@lillevik.kommune.no\n SMTP:'.slice(0, 60),
    );
  });

  it("reads the directory schema: a site's own DN attribute compares as DNs, several values for a single-valued attribute are an error", async () => {
    // reexportSponsor is DN-valued only through its supertype in the test schema: no built-in list knows it.
    await slapd.ldapmodify(
      'dn: uid=aase,ou=Ansatte,dc=kommune,dc=test\nchangetype: modify\nadd: reexportSponsor\nreexportSponsor: UID=Kaare, OU=Ansatte,DC=Kommune,DC=test\n',
    );
    await slapd.ldapmodify(
      'dn: uid=bjorn,ou=Ansatte,dc=kommune,dc=test\nchangetype: modify\nadd: reexportSponsor\nreexportSponsor: uid=aase,ou=Ansatte,dc=kommune,dc=test\n',
    );
    await slapd.ldapmodify(
      'dn: uid=aase,ou=Ansatte,dc=kommune,dc=test\nchangetype: modify\nadd: preferredLanguage\npreferredLanguage: nb\n',
    );
    const sponsor = await makeDir({
      'templates/ldap-employees.yaml': SLAPD_TEMPLATE.replace(
        / {2}mappings:[\s\S]*$/,
        `  mappings:
    - target: reexportSponsor
      source: "{% if boss != blank %}uid={{ boss }},ou=ansatte,dc=kommune,dc=test{% endif %}"
      onEmpty: skip
    - target: displayName
      source: ["{{ givenName }}", "{{ sn }}"]
    - target: preferredLanguage
      source: nn
      policy: merge
`,
      ),
      'data/ansatte.csv': 'employeeId,givenName,sn,boss\n1001,Åse,Ødegård,kaare\n1002,Bjørn,Ærø,kaare\n',
      'requests/sponsor.yaml': request('sponsor', '  mappings: all\n  users: all\n'),
      'daemon.yaml': daemonConfig(slapd.url, slapd.bindDN).replace(
        'allowedAttributes: [',
        'allowedAttributes: [reexportSponsor, displayName, preferredLanguage, ',
      ),
    });
    try {
      const daemon = await loadDaemonConfig(`${sponsor.dir}/daemon.yaml`);
      const result = await previewRequest(sponsor.dir, 'sponsor', daemon, {
        openTarget: (t) => openTargetReader(daemon, t),
      });
      if ('invalid' in result) throw new Error(result.invalid.map(formatDiagnostic).join('\n'));
      expect(brief(result.plan)).toEqual([
        '1002 reexportSponsor: ["uid=aase,ou=Ansatte,dc=kommune,dc=test"] → ["uid=kaare,ou=ansatte,dc=kommune,dc=test"]',
        '1002 preferredLanguage: [] → ["nn"]',
      ]);
      expect(result.plan.summary.evaluationErrors.map((e) => `${e.id} ${e.attribute}: ${e.message}`)).toEqual(
        [
          '1001 displayName: `displayName` holds one value in the directory, but the mapping gives 2',
          '1001 preferredLanguage: `preferredLanguage` holds one value in the directory, but merging would leave 2; use policy: replace',
          '1002 displayName: `displayName` holds one value in the directory, but the mapping gives 2',
        ],
      );
    } finally {
      await sponsor.cleanup();
    }
  });

  it('escapes IDs in the targeted search: `*)(uid=*` matches nothing', async () => {
    const plan = await preview('mail-ids');
    expect(brief(plan)).toEqual([
      '1003 mail: ["Kaare.Daehlie@lillevik.kommune.no"] → ["kaare.daehlie@lillevik.kommune.no"]',
    ]);
    expect(plan.summary.entriesInScope).toBe(1);
    expect(plan.summary.noEntry.map((r) => r.id)).toEqual(['*)(uid=*']);
    expect(plan.summary.unknownIds).toEqual(['7777']);
  });

  it('selects users with where, and narrows to --id', async () => {
    expect(brief(await preview('where'))).toEqual([
      '1002 title: ["Sjef for alt"] → ["Driftstekniker"]',
      '1002 telephoneNumber: ["+47 99999999"] → []',
    ]);
    expect([...(await preview('all', ['1003'])).changes].map((c) => c.id)).toEqual(['1003', '1003']);
  });

  it('reports a where field that the source does not have, with its location', async () => {
    const daemon = await loadDaemonConfig(`${dir}/daemon.yaml`);
    const result = await previewRequest(dir, 'typo', daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
    });
    expect('invalid' in result && result.invalid.map(formatDiagnostic)).toEqual([
      'requests/typo.yaml:7:21: `titel` is not a field of data/ansatte.csv; did you mean `title`?',
    ]);
  });

  it('gives an LDIF that ldapmodify applies, after which a new preview shows no change', async () => {
    const before = await preview('all');
    await slapd.ldapmodify(renderLdif(before.changes));
    const after = await preview('all');
    expect([...after.changes]).toEqual([]);
    expect(after.summary.unchanged).toBe(3);
    // Applying the same LDIF again is refused by value: the old values are gone.
    await expect(slapd.ldapmodify(renderLdif(before.changes))).rejects.toThrow(
      /No such attribute|no such value|Type or value exists/i,
    );
  });
});

describeWithSlapd('reexport preview (the command)', () => {
  let slapd: Slapd;
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    slapd = await startSlapd({ ldif: seedLdif() });
    ({ dir, cleanup } = await makeDir({
      'templates/ldap-employees.yaml': SLAPD_TEMPLATE,
      'data/ansatte.csv': CSV,
      'requests/all.yaml': request('all', '  mappings: [mail]\n  users: all\n'),
      // Escaped bytes that are not UTF-8: ldapts' parser takes it, the runtime's refuses it.
      'templates/bad-filter.yaml': SLAPD_TEMPLATE.replace('name: ldap-employees', 'name: bad-filter').replace(
        '"(objectClass=inetOrgPerson)"',
        "'(&(objectClass=user)(cn=\\ff))'",
      ),
      'requests/bad-filter.yaml': request('bad-filter', '  mappings: [mail]\n  users: all\n').replace(
        'template: ldap-employees',
        'template: bad-filter',
      ),
      'daemon.yaml': daemonConfig(slapd.url, slapd.bindDN),
    }));
  });
  afterAll(async () => {
    await cleanup?.();
    await slapd?.stop();
  });

  it('prints md, jsonl or ldif, writes all reports with --out, and keeps the password out of everything', async () => {
    const env = { REEXPORT_TEST_LDAP_PASSWORD: slapd.password };
    const md = await runCli(['preview', `${dir}/requests/all.yaml`, '--config', `${dir}/daemon.yaml`], {
      env,
    });
    expect(md.code).toBe(0);
    expect(md.stdout).toContain('| **To change** | **2 users, 2 attribute changes** |');
    const jsonl = await runCli(
      [
        'preview',
        'all',
        '--repo',
        dir,
        '--config',
        `${dir}/daemon.yaml`,
        '--format',
        'jsonl',
        '--id',
        '1001',
      ],
      { env },
    );
    expect(
      jsonl.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => JSON.parse(l).id),
    ).toEqual(['1001']);
    const ldif = await runCli(
      ['preview', 'all', '--repo', dir, '--config', `${dir}/daemon.yaml`, '--format', 'ldif'],
      { env },
    );
    expect(ldif.stdout).toMatch(/^version: 1\n/);
    const out = await runCli(
      ['preview', 'all', '--repo', dir, '--config', `${dir}/daemon.yaml`, '--out', `${dir}/out`],
      { env },
    );
    expect(out.code).toBe(0);
    expect((await readdir(`${dir}/out`)).sort()).toEqual([
      'changes.ldif',
      'plan.jsonl',
      'preview.md',
      'status.yaml',
    ]);
    for (const r of [md, jsonl, ldif, out]) expect(r.stdout + r.stderr).not.toContain(slapd.password);
  });

  it('says clearly when the bind password is wrong, without printing it', async () => {
    const res = await runCli(['preview', 'all', '--repo', dir, '--config', `${dir}/daemon.yaml`], {
      env: { REEXPORT_TEST_LDAP_PASSWORD: 'wrong-pass-xyz' },
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/credentials/i);
    expect(res.stderr).not.toContain('wrong-pass-xyz');
  });

  it('a scope filter the runtime cannot parse is a located error of the template (exit 1), not an internal error', async () => {
    const res = await runCli(['preview', 'bad-filter', '--repo', dir, '--config', `${dir}/daemon.yaml`], {
      env: { REEXPORT_TEST_LDAP_PASSWORD: slapd.password },
    });
    expect(res.stdout + res.stderr).not.toMatch(/internal error/);
    // Diagnostics go to stderr, so `--format ldif > x.ldif` never gets error text.
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/^templates\/bad-filter\.yaml:8:\d+: .*\(cn=\\ff\).*not UTF-8/m);
    expect(res.code).toBe(1);
  });
});

describeWithSlapd('the directory read started before the source is checked', () => {
  let slapd: Slapd;
  let proxy: TcpProxy;
  let work: Awaited<ReturnType<typeof makeDir>>;

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: seedLdif() });
    proxy = await startTcpProxy('127.0.0.1', Number(new URL(slapd.url).port));
    work = await makeDir({
      'templates/ldap-employees.yaml': SLAPD_TEMPLATE,
      // Two rows with one ID: the request is invalid, found only once the source is read.
      'data/ansatte.csv': `${CSV.trimEnd()}\n1001,Again,Someone,Konsulent,\n`,
      'requests/all.yaml': request('all', '  mappings: all\n  users: all\n'),
      'daemon.yaml': daemonConfig(proxy.url, slapd.bindDN).replace(
        '    passwordEnv:',
        '    timeoutMs: 60000\n    passwordEnv:',
      ),
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await work?.cleanup();
    await slapd?.stop();
  });

  it('is stopped when the request turns out invalid: the answer never waits for a silent directory', async () => {
    proxy.blackhole();
    const daemon = await loadDaemonConfig(`${work.dir}/daemon.yaml`);
    let opened = 0;
    const started = Date.now();
    const result = await previewRequest(work.dir, 'all', daemon, {
      openTarget: (t) => {
        opened++;
        return openTargetReader(daemon, t);
      },
    });
    // The read was started (the target opened) and then abandoned, well before the 60 s the
    // connection would wait for an answer.
    expect(opened).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect('invalid' in result && result.invalid.map(formatDiagnostic).join('\n')).toMatch(/1001/);
  }, 40_000);
});
