import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { gitIn, makeRepo } from '../harness/git.js';
import { waitUntil } from '../harness/ports.js';
import { describeWithSlapd } from '../harness/require.js';
import { auditedModifies } from '../harness/slapd-audit.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';

const USERS = 600;

describeWithSlapd('apply after kill -9', () => {
  let slapd: Slapd;
  let dir: string;
  let cleanup: () => Promise<void>;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  beforeAll(async () => {
    slapd = await startSlapd({
      ldif: peopleLdif(USERS),
      debugLevel: 'stats',
      outputLimit: 64 * 1024 * 1024,
    });
    remote = await makeRepo({
      'templates/t.yaml': PEOPLE_TEMPLATE,
      'requests/r.yaml':
        'apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: r }\nspec: { template: t, mappings: all, users: all, execute: true, maxChanges: 1000 }\n',
      'data/people.csv': peopleCsv(USERS),
    });
    ({ dir, cleanup } = await makeDir({
      'daemon.yaml': `apiVersion: reexport/v1\nkind: DaemonConfig\nrepo: { url: "${remote.bare}", workdir: ./var }\ntargets:\n  ldap:\n    url: ${slapd.url}\n    bindDN: "${slapd.bindDN}"\n    passwordEnv: PW\n    rateLimit: 300\n    allowedAttributes: [mail]\n`,
    }));
  });
  afterAll(async () => {
    await cleanup?.();
    await remote?.cleanup();
    await slapd?.stop();
  });

  it('resumes: finished changes are not repeated, every change is applied exactly once', async () => {
    const env = { ...process.env, PW: slapd.password };
    const bin = fileURLToPath(new URL('../../bin/reexport.js', import.meta.url));
    const child = spawn(
      process.execPath,
      // --force: no pull request previewed this request; the operator runs a fresh plan.
      [bin, 'apply', 'r', '--force', '--config', `${dir}/daemon.yaml`],
      { env, stdio: 'ignore' },
    );
    const journalLines = async () => {
      const files = (await readdir(`${dir}/var/journal`).catch(() => [])).filter(
        (f) => !f.endsWith('.plan.jsonl'),
      );
      return files.length
        ? (await readFile(`${dir}/var/journal/${files[0]}`, 'utf8')).split('\n').filter(Boolean).length
        : 0;
    };
    await waitUntil('journal to fill', async () => (await journalLines()) >= 100, {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const before = await journalLines();
    expect(before).toBeLessThan(USERS);

    const second = await runCli(['apply', 'r', '--force', '--config', `${dir}/daemon.yaml`], { env });
    expect(second.stdout).toMatch(/^executed: /m);
    expect(second.code).toBe(0);
    const result = (await gitIn(remote.bare, 'show', 'main:reports/r/result.jsonl'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(result).toHaveLength(USERS);
    const kinds = new Set(result.map((o: { outcome: string }) => o.outcome));
    expect([...kinds].every((k) => k === 'applied' || k === 'already-applied')).toBe(true);
    const counts = auditedModifies(await slapd.audit());
    expect(counts.size).toBe(USERS);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await gitIn(remote.bare, 'show', 'main:reports/r/status.yaml')).toMatch(/state: executed/);
    expect(await gitIn(remote.bare, 'show', 'main:reports/r/result.md')).toMatch(/unreviewed|fresh plan/);
    // Once only: the operator's apply is recorded in main's history; a third run executes nothing.
    const third = await runCli(['apply', 'r', '--force', '--config', `${dir}/daemon.yaml`], { env });
    expect(third.code).toBe(1);
    expect(auditedModifies(await slapd.audit()).size).toBe(USERS);
  });
});

describeWithSlapd(
  'apply killed at full speed (no rate limit), with the journal written a turn at a time',
  () => {
    const users = 6000;
    const concurrency = 4;
    let slapd: Slapd;
    let dir: string;
    let cleanup: () => Promise<void>;
    let remote: Awaited<ReturnType<typeof makeRepo>>;
    beforeAll(async () => {
      slapd = await startSlapd({ ldif: peopleLdif(users) });
      remote = await makeRepo({
        'templates/t.yaml': PEOPLE_TEMPLATE,
        'requests/r.yaml':
          'apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: r }\nspec: { template: t, mappings: all, users: all, execute: true, maxChanges: 10000 }\n',
        'data/people.csv': peopleCsv(users),
      });
      ({ dir, cleanup } = await makeDir({
        'daemon.yaml': `apiVersion: reexport/v1\nkind: DaemonConfig\nrepo: { url: "${remote.bare}", workdir: ./var }\nsafety: { maxChanges: 10000 }\ntargets:\n  ldap:\n    url: ${slapd.url}\n    bindDN: "${slapd.bindDN}"\n    passwordEnv: PW\n    concurrency: ${concurrency}\n    allowedAttributes: [mail]\n`,
      }));
    });
    afterAll(async () => {
      await cleanup?.();
      await remote?.cleanup();
      await slapd?.stop();
    });

    it('journals only what slapd wrote, leaves at most one written entry per writer unjournaled, and the resume writes nothing twice', async () => {
      const env = { ...process.env, PW: slapd.password };
      const bin = fileURLToPath(new URL('../../bin/reexport.js', import.meta.url));
      const child = spawn(
        process.execPath,
        [bin, 'apply', 'r', '--force', '--config', `${dir}/daemon.yaml`],
        {
          env,
          stdio: 'ignore',
        },
      );
      const journal = async () => {
        const files = (await readdir(`${dir}/var/journal`).catch(() => [])).filter(
          (f) => !f.endsWith('.plan.jsonl'),
        );
        return files.length ? await readFile(`${dir}/var/journal/${files[0]}`, 'utf8') : '';
      };
      await waitUntil('journal to fill', async () => (await journal()).split('\n').length > 1000, {
        timeoutMs: 60_000,
        intervalMs: 5,
      });
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // Whole lines only: a line torn by the kill is not a record (Journal.open skips it too).
      const journaled = new Set<string>();
      for (const line of (await journal()).split('\n')) {
        try {
          const rec = JSON.parse(line) as { dn: string; outcomes: Array<{ outcome: string }> };
          if (rec.outcomes.every((o) => o.outcome === 'applied')) journaled.add(rec.dn.toLowerCase());
        } catch {
          // torn or empty
        }
      }
      const written = auditedModifies(await slapd.audit());
      expect(journaled.size).toBeGreaterThan(0);
      expect(journaled.size).toBeLessThan(users);
      // Nothing is journaled as applied that slapd did not commit, and nothing was written twice.
      expect([...journaled].filter((dn) => written.get(dn) !== 1)).toEqual([]);
      expect([...written.values()].every((n) => n === 1)).toBe(true);
      // A writer takes its next entry only once its last one is in the journal file.
      const unjournaled = [...written.keys()].filter((dn) => !journaled.has(dn));
      expect(unjournaled.length).toBeLessThanOrEqual(concurrency);

      const second = await runCli(['apply', 'r', '--force', '--config', `${dir}/daemon.yaml`], { env });
      expect(second.stdout).toMatch(/^executed: /m);
      const result = (await gitIn(remote.bare, 'show', 'main:reports/r/result.jsonl'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { dn: string; outcome: string });
      expect(result).toHaveLength(users);
      // The entries written but not journaled before the kill are found at their new value.
      const already = result.filter((o) => o.outcome === 'already-applied').map((o) => o.dn.toLowerCase());
      expect(already.sort()).toEqual(unjournaled.sort());
      expect(result.every((o) => o.outcome === 'applied' || o.outcome === 'already-applied')).toBe(true);
      const after = auditedModifies(await slapd.audit());
      expect(after.size).toBe(users);
      expect([...after.values()].every((n) => n === 1)).toBe(true);
    });
  },
);
