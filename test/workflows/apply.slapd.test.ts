import { generateKeyPairSync } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';
import { applyRequest } from '../../src/workflows/apply/apply-request.js';
import { signPreview } from '../../src/lifecycle/statements.js';
import type { Plan } from '../../src/plan/plan-types.js';
import { planDigest } from '../../src/plan/build-plan.js';
import { openLdapWriters } from '../../src/adapters/ldap/writer.js';
import { openTargetReader } from '../../src/adapters/ldap/readers.js';
import { previewRequest } from '../../src/workflows/preview.js';
import { renderPreviewFiles } from '../../src/report/write-reports.js';
import { writeFiles } from '../../src/adapters/fs/write-files.js';
import { makeDir } from '../harness/files.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd, toLdif } from '../harness/slapd.js';
import { startTcpProxy } from '../harness/tcp-proxy.js';
import { PlanChanges } from '../../src/plan/plan-changes.js';
import { auditedModifies } from '../harness/slapd-audit.js';
import { CSV, daemonConfig, request, seedLdif, SLAPD_TEMPLATE } from '../harness/slapd-fixtures.js';

/** The daemon's key in these tests: a preview it signed is what "reviewed" means. */
const key = generateKeyPairSync('ed25519');
const trustedKeys = [key.publicKey];
/** What the daemon commits to a pull request: the preview files with its signature. */
const signedFiles = (plan: Plan, max = 100) =>
  renderPreviewFiles(plan, max, {
    signature: signPreview(plan, { branch: 'main', commit: 'c0ffee' }, key.privateKey),
  });

describeWithSlapd('apply against slapd', () => {
  let slapd: Slapd;
  let dir: string;
  let cleanup: (() => Promise<void>) | undefined;

  // A fresh directory per test (slapd starts in a fraction of a second), so tests cannot leak into each other.
  beforeEach(async () => {
    slapd = await startSlapd({ ldif: seedLdif() });
    process.env.REEXPORT_TEST_LDAP_PASSWORD = slapd.password;
  });
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
    await slapd?.stop();
  });

  async function repo(daemonExtra = '', url = slapd.url) {
    ({ dir, cleanup } = await makeDir({
      'templates/ldap-employees.yaml': SLAPD_TEMPLATE,
      'data/ansatte.csv': CSV,
      'requests/all.yaml': request('all', '  mappings: all\n  users: all\n  execute: true\n'),
      'daemon.yaml': daemonConfig(url, slapd.bindDN, daemonExtra),
    }));
    return loadDaemonConfig(`${dir}/daemon.yaml`);
  }

  /** What the daemon commits to the pull request: the reviewed plan. */
  async function reviewedPreview(daemon: Awaited<ReturnType<typeof repo>>) {
    const result = await previewRequest(dir, 'all', daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
    });
    if ('invalid' in result) throw new Error(result.invalid.map(formatDiagnostic).join('\n'));
    await writeFiles(path.join(dir, 'reports', 'all'), signedFiles(result.plan));
    return result.plan;
  }

  async function apply(
    daemon: Awaited<ReturnType<typeof repo>>,
    extra: Partial<Parameters<typeof applyRequest>[3]> = {},
  ) {
    return applyRequest(dir, 'all', daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
      openWriters: (t, n) => openLdapWriters(daemon, t, n),
      journalDir: path.join(dir, 'journal'),
      trustedKeys,
      retry: { attempts: 5, baseDelayMs: 50 },
      ...extra,
    });
  }

  const brief = (outcomes: Array<{ id: string; attribute: string; outcome: string; code?: number }>) =>
    outcomes.map((o) => `${o.id} ${o.attribute} ${o.outcome}${o.code ? ` ${o.code}` : ''}`).sort();

  it('runs a plan previewed on main only to finish a run its claim accepted: a preview on main is no review', async () => {
    // The daemon executes on main (repo.branch); the signedFiles above are signed for main.
    const daemon = await repo('repo: { url: "https://git.example/config.git", branch: main }\n');
    const plan = await reviewedPreview(daemon);
    const refused = await apply(daemon);
    expect(refused.state).toBe('refused');
    expect(refused.message).toMatch(/the preview was made on main, not in a pull request.*any edit/);
    // An execution a claim already accepted (by an earlier version, then stopped) is finished.
    const resumed = await apply(daemon, { claimedPlans: new Set([plan.header.digests.plan]) });
    expect(resumed.state).toBe('executed');
  });

  it('applies the reviewed plan and reports every outcome class', async () => {
    const daemon = await repo();
    const plan = await reviewedPreview(daemon);
    expect(plan.changes).toHaveLength(8);
    // Between preview and execute: a hand edit, someone doing part of the work, an HR correction,
    // and an account deleted.
    await slapd.ldapmodify(
      'dn: uid=kaare,ou=Ansatte,dc=kommune,dc=test\nchangetype: modify\nreplace: mail\nmail: kaare@hand.no\n',
    );
    await slapd.ldapmodify(
      'dn: uid=aase,ou=Ansatte,dc=kommune,dc=test\nchangetype: modify\nadd: proxyAddresses\nproxyAddresses: smtp:1001@lillevik.kommune.no\n',
    );
    await writeFile(
      `${dir}/data/ansatte.csv`,
      CSV.replace('1002,Bjørn,Ærø,Driftstekniker,', '1002,Bjørn,Ærø,Driftssjef,'),
    );
    await slapd.ldapmodify('dn: uid=bjorn,ou=Ansatte,dc=kommune,dc=test\nchangetype: delete\n');
    const result = await apply(daemon);
    expect(result.state).toBe('executed');
    expect(result.reviewed).toBe(true);
    expect(brief(result.outcomes())).toEqual([
      '1001 description applied',
      '1001 mail applied',
      '1001 proxyAddresses already-applied',
      '1002 proxyAddresses skipped',
      '1002 telephoneNumber skipped',
      '1002 title stale',
      '1003 description applied',
      '1003 mail stale',
    ]);
    expect(result.outcomes().find((o) => o.outcome === 'skipped')?.reason).toMatch(/entry no longer exists/);
    const stale = result.outcomes().find((o) => o.id === '1003');
    expect(stale).toMatchObject({
      found: ['kaare@hand.no'],
      reason: expect.stringMatching(/changed after the preview/),
    });
    expect(result.outcomes().find((o) => o.attribute === 'title')?.reason).toMatch(
      /source now gives \["Driftssjef"\]/,
    );
    // The hand-edited value is untouched.
    expect(await readMail(slapd, 'kaare')).toContain('mail: kaare@hand.no');
    expect(result.files['result.md']).toMatch(/\| applied \| 3 \|/);
    expect(result.files['result.md']).toMatch(
      /- \*\*1003\*\* `mail` of `uid=kaare,[^`]*`: found `kaare@hand.no` \(the directory value changed after the preview; not overwritten\)/,
    );
    expect(result.files['status.yaml']).toMatch(/state: executed/);
  });

  it("fails only the value the directory refuses, with its LDAP code; the entry's other changes apply", async () => {
    const daemon = await repo();
    await writeFile(`${dir}/data/ansatte.csv`, CSV.replace('22 33 44 01', '22 33 44 0ø'));
    const plan = await reviewedPreview(daemon);
    expect([...plan.changes].some((c) => c.attribute === 'telephoneNumber' && c.id === '1001')).toBe(true);
    const result = await apply(daemon);
    const aase = result.outcomes().filter((o) => o.id === '1001');
    expect(brief(aase)).toEqual([
      '1001 description applied',
      '1001 mail applied',
      '1001 proxyAddresses applied',
      '1001 telephoneNumber failed 21',
    ]);
    expect(aase.find((o) => o.outcome === 'failed')!.reason).toMatch(/LDAP result 21/);
    expect(await readMail(slapd, 'aase')).toMatch(/mail: aase\.odegaard@lillevik/);
  });

  it('refuses a plan over the safety threshold and writes nothing', async () => {
    const daemon = await repo();
    await writeFile(
      `${dir}/daemon.yaml`,
      daemonConfig(slapd.url, slapd.bindDN).replace('maxChanges: 500', 'maxChanges: 2'),
    );
    const strict = await loadDaemonConfig(`${dir}/daemon.yaml`);
    const plan = await reviewedPreview(strict);
    const result = await apply(strict);
    expect(result.state).toBe('refused');
    expect(result.message).toBe(
      "refused: the plan changes 3 entries, over the limit of 2; if this is intended, add `maxChanges: 3` to the request's spec",
    );
    expect(result.files['status.yaml']).toMatch(/state: refused/);
    const again = await previewRequest(dir, 'all', daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
    });
    expect('plan' in again && again.plan!.header.digests.plan).toBe(plan.header.digests.plan);
  });

  it('retries after the connection is lost mid-apply and applies everything once', async () => {
    const port = Number(new URL(slapd.url).port);
    const proxy = await startTcpProxy('127.0.0.1', port);
    try {
      const daemon = await repo('', proxy.url);
      await writeFile(
        `${dir}/daemon.yaml`,
        daemonConfig(proxy.url, slapd.bindDN).replace(
          'allowedAttributes',
          'rateLimit: 4\n    allowedAttributes',
        ),
      );
      const slow = await loadDaemonConfig(`${dir}/daemon.yaml`);
      await reviewedPreview(daemon);
      let dropped = 0;
      const result = await apply(slow, {
        onEntry: (n) => {
          if (n === 1) dropped = proxy.dropAll();
        },
      });
      expect(dropped).toBeGreaterThan(0);
      expect(result.state).toBe('executed');
      expect(
        result
          .outcomes()
          .map((o) => o.outcome)
          .sort(),
      ).toEqual(Array(8).fill('applied'));
    } finally {
      await proxy.close();
    }
  });
});

async function readMail(slapd: Slapd, uid: string): Promise<string> {
  return slapd.search(`(uid=${uid})`, 'mail');
}

/** slapd, a request `all` with execute: true, its plan signed as the daemon signs, and its apply. */
async function signedPlanForAll() {
  const slapd = await startSlapd({ ldif: seedLdif() });
  process.env.REEXPORT_TEST_LDAP_PASSWORD = slapd.password;
  const { dir, cleanup } = await makeDir({
    'templates/ldap-employees.yaml': SLAPD_TEMPLATE,
    'data/ansatte.csv': CSV,
    'requests/all.yaml': request('all', '  mappings: [mail]\n  users: all\n  execute: true\n'),
    'daemon.yaml': daemonConfig(slapd.url, slapd.bindDN),
  });
  const daemon = await loadDaemonConfig(`${dir}/daemon.yaml`);
  const result = await previewRequest(dir, 'all', daemon, {
    openTarget: (t) => openTargetReader(daemon, t),
  });
  if ('invalid' in result) throw new Error('invalid');
  const apply = () =>
    applyRequest(dir, 'all', daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
      openWriters: (t, n) => openLdapWriters(daemon, t, n),
      journalDir: path.join(dir, 'journal'),
      trustedKeys,
    });
  return { slapd, dir, files: signedFiles(result.plan, 10), apply, cleanup };
}

describeWithSlapd('apply refuses a plan.jsonl edited by hand', () => {
  it('refuses a committed plan that cannot be read (not a plan line, a broken gzip stream) and writes nothing', async () => {
    const { slapd, dir, files, apply, cleanup } = await signedPlanForAll();
    try {
      const reports = path.join(dir, 'reports', 'all');
      await writeFiles(reports, { ...files, 'plan.jsonl': `${files['plan.jsonl']}not a plan line\n` });
      const notPlan = await apply();
      expect(notPlan.state).toBe('refused');
      expect(notPlan.message).toMatch(/^the committed plan.jsonl cannot be read \(plan.jsonl:\d+: /);
      await rm(path.join(reports, 'plan.jsonl'));
      const gz = gzipSync(files['plan.jsonl']!);
      await writeFile(path.join(reports, 'plan.jsonl.gz'), gz.subarray(0, gz.length >> 1));
      const broken = await apply();
      expect(broken.state).toBe('refused');
      expect(broken.message).toMatch(/^the committed plan.jsonl cannot be read \(/);
      expect(auditedModifies(await slapd.audit()).size).toBe(0);
    } finally {
      await cleanup();
      await slapd.stop();
    }
  });

  it('does not apply a change added to the committed plan', async () => {
    const { slapd, dir, files, apply, cleanup } = await signedPlanForAll();
    try {
      const evil = JSON.stringify({
        id: '1001',
        dn: 'uid=other,ou=Ansatte,dc=kommune,dc=test',
        attribute: 'mail',
        before: ['other@kommune.no'],
        after: ['evil@example.com'],
      });
      await writeFiles(path.join(dir, 'reports', 'all'), {
        ...files,
        'plan.jsonl': `${files['plan.jsonl']}${evil}\n`,
      });
      const applied = await apply();
      expect(applied.state).toBe('refused');
      expect(applied.message).toMatch(/not the plan the daemon signed/);
      expect(await readMail(slapd, 'other')).toContain('mail: other@kommune.no');
    } finally {
      await cleanup();
      await slapd.stop();
    }
  });

  it("writes nothing from a plan with a valid digest and signature aimed at another user's entry or an unselected user", async () => {
    const slapd = await startSlapd({ ldif: seedLdif() });
    process.env.REEXPORT_TEST_LDAP_PASSWORD = slapd.password;
    const { dir, cleanup } = await makeDir({
      'templates/ldap-employees.yaml': SLAPD_TEMPLATE,
      'data/ansatte.csv': CSV,
      'requests/one.yaml': request(
        'one',
        '  mappings: [mail]\n  users: { ids: ["1001"] }\n  execute: true\n',
      ),
      'requests/everyone.yaml': request('everyone', '  mappings: [mail]\n  users: all\n'),
      'daemon.yaml': daemonConfig(slapd.url, slapd.bindDN),
    });
    try {
      const daemon = await loadDaemonConfig(`${dir}/daemon.yaml`);
      const planOf = async (name: string) => {
        const r = await previewRequest(dir, name, daemon, { openTarget: (t) => openTargetReader(daemon, t) });
        if ('invalid' in r) throw new Error(r.invalid.map(formatDiagnostic).join('\n'));
        return r.plan;
      };
      const one = await planOf('one');
      const everyone = await planOf('everyone');
      const aase = [...one.changes].find((c) => c.id === '1001')!;
      const kaare = [...everyone.changes].find((c) => c.id === '1003')!;
      // Defence in depth behind the signature (signed here with the daemon's key, as if the key
      // leaked): Åse's new mail aimed at Kåre's entry, and Kåre's own change, which the request
      // (Åse only) never selected.
      const changes = [{ ...aase, dn: kaare.dn, before: kaare.before }, kaare];
      const forged = {
        ...one,
        changes: PlanChanges.of(changes),
        header: { ...one.header, digests: { ...one.header.digests, plan: planDigest(changes) } },
      };
      await writeFiles(path.join(dir, 'reports', 'one'), signedFiles(forged, 10));
      const kaareBefore = await readMail(slapd, 'kaare');
      const aaseBefore = await readMail(slapd, 'aase');
      const result = await applyRequest(dir, 'one', daemon, {
        openTarget: (t) => openTargetReader(daemon, t),
        openWriters: (t, n) => openLdapWriters(daemon, t, n),
        journalDir: path.join(dir, 'journal'),
        trustedKeys,
      });
      expect(result.reviewed).toBe(true);
      expect(
        result
          .outcomes()
          .map((o) => `${o.id} ${o.outcome}`)
          .sort(),
      ).toEqual(['1001 stale', '1003 stale']);
      expect(result.outcomes().find((o) => o.id === '1001')).toMatchObject({
        reason: expect.stringMatching(/entry's employeeID is not 1001/),
        found: ['1003'],
      });
      expect(result.outcomes().find((o) => o.id === '1003')?.reason).toMatch(
        /request does not select this user/,
      );
      expect(await readMail(slapd, 'kaare')).toBe(kaareBefore);
      expect(await readMail(slapd, 'aase')).toBe(aaseBefore);
    } finally {
      await cleanup();
      await slapd.stop();
    }
  });
});

describeWithSlapd('apply to an attribute without an equality rule', () => {
  it('falls back to a fresh read, compare and replace, and says so', async () => {
    const slapd = await startSlapd({
      ldif: `dn: ou=Ansatte,dc=kommune,dc=test\nobjectClass: organizationalUnit\nou: Ansatte\n\n${toLdif([
        {
          dn: 'uid=a,ou=Ansatte,dc=kommune,dc=test',
          attrs: {
            objectClass: ['inetOrgPerson', 'reexportPerson'],
            uid: 'a',
            cn: 'A',
            sn: 'A',
            employeeID: '1',
            reexportNote: 'old note',
          },
        },
        {
          dn: 'uid=b,ou=Ansatte,dc=kommune,dc=test',
          attrs: {
            objectClass: ['inetOrgPerson', 'reexportPerson'],
            uid: 'b',
            cn: 'B',
            sn: 'B',
            employeeID: '2',
            reexportNote: 'old note',
          },
        },
      ])}`,
    });
    process.env.REEXPORT_TEST_LDAP_PASSWORD = slapd.password;
    const { dir, cleanup } = await makeDir({
      'templates/t.yaml':
        'apiVersion: reexport/v1\nkind: SyncTemplate\nmetadata: { name: t }\nspec:\n  target: ldap\n  source: { file: data/p.csv, id: id }\n  match: { sourceField: id, targetAttribute: employeeID }\n  scope: { baseDN: "ou=Ansatte,dc=kommune,dc=test" }\n  mappings:\n    - { target: reexportNote, source: "note for {{ id }}" }\n',
      'data/p.csv': 'id\n1\n2\n',
      'requests/all.yaml':
        'apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: all }\nspec: { template: t, mappings: all, users: all }\n',
      'daemon.yaml': daemonConfig(slapd.url, slapd.bindDN).replace(
        'description]',
        'description, reexportNote]',
      ),
    });
    try {
      const daemon = await loadDaemonConfig(`${dir}/daemon.yaml`);
      const preview = await previewRequest(dir, 'all', daemon, {
        openTarget: (t) => openTargetReader(daemon, t),
      });
      if ('invalid' in preview) throw new Error(preview.invalid.map(formatDiagnostic).join('\n'));
      await writeFiles(path.join(dir, 'reports', 'all'), signedFiles(preview.plan, 10));
      await slapd.ldapmodify(
        'dn: uid=b,ou=Ansatte,dc=kommune,dc=test\nchangetype: modify\nreplace: reexportNote\nreexportNote: changed by hand\n',
      );
      const result = await applyRequest(dir, 'all', daemon, {
        openTarget: (t) => openTargetReader(daemon, t),
        openWriters: (t, n) => openLdapWriters(daemon, t, n),
        journalDir: path.join(dir, 'journal'),
        trustedKeys,
      });
      expect(
        result
          .outcomes()
          .map((o) => `${o.id} ${o.outcome}`)
          .sort(),
      ).toEqual(['1 applied', '2 stale']);
      expect(result.outcomes().find((o) => o.id === '1')?.reason).toMatch(
        /no equality rule.*fresh read.*replaced/,
      );
      const out = await slapd.search('(employeeID=*)', 'reexportNote');
      expect(out).toContain('reexportNote: note for 1');
      expect(out).toContain('reexportNote: changed by hand');
    } finally {
      await cleanup();
      await slapd.stop();
    }
  });
});
