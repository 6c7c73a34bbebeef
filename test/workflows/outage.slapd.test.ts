import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { waitUntil } from '../harness/ports.js';
import { describeWithSlapd } from '../harness/require.js';
import { auditedModifies } from '../harness/slapd-audit.js';
import { LDAPSEARCH, ldapToolEnv, runLdapTool, type Slapd, startSlapd } from '../harness/slapd.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';

const USERS = 300;
/** Modifies per second: the execution takes about five seconds, long enough to cut it in the middle. */
const RATE = 60;
/** A second template, so that a second request has its own changes to make. */
const TITLES = PEOPLE_TEMPLATE.replace('name: t }', 'name: titles }').replace(
  /- target: mail\n\s+source: .*\n/,
  '- target: title\n      source: "Title {{ id }}"\n',
);
const request = (name: string, template: string) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: ${name} }\nspec: { template: ${template}, mappings: all, users: all, execute: true, maxChanges: 1000 }\n`;
const REQUEST = request('r', 't');

describeWithSlapd('a directory outage in the middle of an execution', () => {
  let slapd: Slapd;
  let proxy: TcpProxy;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let env: NodeJS.ProcessEnv;
  const once = () => runCli(['once', '--config', `${work.dir}/daemon.yaml`], { env, timeoutMs: 120_000 });
  const show = (file: string, name = 'r') => gitIn(remote.bare, 'show', `main:reports/${name}/${file}`);

  beforeAll(async () => {
    slapd = await startSlapd({
      ldif: peopleLdif(USERS),
    });
    proxy = await startTcpProxy('127.0.0.1', Number(new URL(slapd.url).port));
    remote = await makeRepo({
      'templates/t.yaml': PEOPLE_TEMPLATE,
      'templates/titles.yaml': TITLES,
      'data/people.csv': peopleCsv(USERS),
    });
    human = await cloneRepo(remote.bare);
    // Retries end within a fraction of a second; the outage below lasts seconds.
    work = await makeDir({
      'daemon.yaml': `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${remote.bare}", workdir: ./var }
execution: { retry: { attempts: 3, baseDelayMs: 50 } }
targets:
  ldap:
    url: ${proxy.url}
    bindDN: "${slapd.bindDN}"
    passwordEnv: PW
    timeoutMs: 1000
    rateLimit: ${RATE}
    allowedAttributes: [mail, title]
`,
    });
    env = { PW: slapd.password, REEXPORT_LOG_FORMAT: 'json' };
  });
  afterAll(async () => {
    await proxy?.close();
    await human?.cleanup();
    await work?.cleanup();
    await remote?.cleanup();
    await slapd?.stop();
  });

  const mails = async () => {
    const out = await runLdapTool(
      LDAPSEARCH,
      ['-x', '-LLL', '-H', slapd.url, '-D', slapd.bindDN, '-w', slapd.password, '-b', slapd.suffix],
      await ldapToolEnv(slapd.dir),
    );
    return [...out.matchAll(/^mail: (.+)$/gm)].map((m) => m[1]!);
  };

  it('leaves the request partial with pending changes, then a later pass finishes it, each entry written once', async () => {
    // Reviewed first: the daemon previews the pull request, then it is merged with execute: true.
    await gitIn(human.dir, 'checkout', '-b', 'r');
    await commitAndPush(human.dir, { 'requests/r.yaml': REQUEST }, 'Add request r');
    await gitIn(human.dir, 'push', '--set-upstream', 'origin', 'r');
    const preview = await once();
    expect(preview.stderr).not.toContain(slapd.password);
    expect(preview.code).toBe(0);
    expect(await gitIn(remote.bare, 'show', 'r:reports/r/status.yaml')).toMatch(/state: previewed/);
    await gitIn(human.dir, 'pull', '--rebase', 'origin', 'r');
    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'merge', '--no-ff', '-m', 'Merge r', 'r');
    await gitIn(human.dir, 'push', 'origin', 'main');

    // The outage: once some entries are written, the directory goes away until the pass is over.
    const pass = once();
    await waitUntil(
      'the execution to be under way',
      async () => auditedModifies(await slapd.audit()).size >= 60,
      {
        timeoutMs: 30_000,
        intervalMs: 20,
      },
    );
    await proxy.refuse();
    const first = await pass;
    const writtenDuringOutage = auditedModifies(await slapd.audit()).size;
    expect(writtenDuringOutage).toBeLessThan(USERS);
    expect(first.stderr).not.toContain(slapd.password);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/requests left partial/);
    expect(await show('status.yaml')).toMatch(/state: partial/);
    const md = await show('result.md');
    expect(md).toMatch(/## Pending: not written yet/);
    expect(md).toMatch(
      /: not written yet: .*(ECONNREFUSED|ECONNRESET|closed|cannot reach).*; a later pass retries it/,
    );
    const outcomes = (await show('result.jsonl'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { outcome: string; reason?: string });
    expect(outcomes).toHaveLength(USERS);
    expect(outcomes.filter((o) => o.outcome === 'failed')).toEqual([]);
    const pending = outcomes.filter((o) => o.outcome === 'pending');
    expect(pending.length).toBeGreaterThan(0);
    expect(pending.every((o) => o.reason)).toBe(true);
    expect(outcomes.filter((o) => o.outcome === 'applied').length).toBeGreaterThan(0);

    // The directory is back: the next pass finishes the same plan, though a connection reset in its
    // middle (a firewall dropping links) makes the writers reconnect and bind again.
    await proxy.restore();
    const resumed = once();
    await waitUntil(
      'the resumed execution to be under way',
      async () => auditedModifies(await slapd.audit()).size >= writtenDuringOutage + 40,
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    expect(proxy.dropAll()).toBeGreaterThan(0);
    const second = await resumed;
    expect(second.stderr).not.toContain(slapd.password);
    expect(second.stderr).toMatch(/directory connection lost; reconnecting/);
    expect(second.code).toBe(0);
    expect(await show('status.yaml')).toMatch(/state: executed/);
    const final = (await show('result.jsonl'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { outcome: string });
    expect(final).toHaveLength(USERS);
    expect(final.filter((o) => o.outcome !== 'applied' && o.outcome !== 'already-applied')).toEqual([]);
    expect((await mails()).sort()).toEqual(
      Array.from({ length: USERS }, (_, i) => `${i}@lillevik.kommune.no`).sort(),
    );
    // The ground truth: slapd committed exactly one modify per entry, across both passes.
    const audited = auditedModifies(await slapd.audit());
    expect(audited.size).toBe(USERS);
    expect([...audited.entries()].filter(([, n]) => n !== 1)).toEqual([]);

    // Nothing is left: a third pass writes nothing.
    expect((await once()).code).toBe(0);
    expect(auditedModifies(await slapd.audit())).toEqual(audited);
  });
  it('a directory that stops answering (packets dropped) ends the pass soon, partial, not after timeoutMs per entry', async () => {
    await gitIn(human.dir, 'checkout', '-q', 'main');
    await gitIn(human.dir, 'pull', '-q', 'origin', 'main');
    await gitIn(human.dir, 'checkout', '-q', '-b', 'titles');
    await commitAndPush(human.dir, { 'requests/titles.yaml': request('titles', 'titles') }, 'Add titles');
    await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', 'titles');
    expect((await once()).code).toBe(0);
    await gitIn(human.dir, 'pull', '-q', '--rebase', 'origin', 'titles');
    await gitIn(human.dir, 'checkout', '-q', 'main');
    await gitIn(human.dir, 'pull', '-q', 'origin', 'main');
    await gitIn(human.dir, 'merge', '-q', '--no-ff', '-m', 'Merge titles', 'titles');
    await gitIn(human.dir, 'push', '-q', 'origin', 'main');

    const modifies = async () =>
      [...auditedModifies(await slapd.audit()).values()].reduce((a, b) => a + b, 0);
    const before = await modifies();
    const pass = once();
    await waitUntil('the execution to be under way', async () => (await modifies()) >= before + 40, {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    proxy.blackhole();
    const cut = Date.now();
    const first = await pass;
    // Without giving up on a silent directory, the other entries would each wait timeoutMs (1 s) per try:
    // several minutes here, hours with the default timeoutMs for a large plan.
    expect(Date.now() - cut).toBeLessThan(40_000);
    expect(first.code).toBe(1);
    expect(await show('status.yaml', 'titles')).toMatch(/state: partial/);
    const md = await show('result.md', 'titles');
    expect(md).toMatch(/not tried: the directory stopped answering/);
    expect(md).not.toMatch(/^\| failed \| [1-9]/m);

    await proxy.restore();
    const second = await once();
    expect(second.code).toBe(0);
    expect(await show('status.yaml', 'titles')).toMatch(/state: executed/);
    // Two requests, each wrote every entry exactly once.
    const audited = auditedModifies(await slapd.audit());
    expect(audited.size).toBe(USERS);
    expect([...audited.entries()].filter(([, n]) => n !== 2)).toEqual([]);
  });
});
