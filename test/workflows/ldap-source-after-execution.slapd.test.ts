import { writeFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { reconcileContext, runPass } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/shared/log.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { peopleLdif } from '../harness/people-fixtures.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';

const USERS = 5;
// The source is the target directory itself (an LDAP source): request a writes mail, request b
// writes description from mail. b's reviewed plan says "mail was old<i>@kommune.no".
const TEMPLATE = `apiVersion: reexport/v1
kind: SyncTemplate
metadata: { name: t }
spec:
  target: ldap
  source: people
  match: { sourceField: employeeID, targetAttribute: employeeID }
  scope: { baseDN: "ou=people,dc=kommune,dc=test" }
  mappings:
    - target: mail
      source: "{{ employeeID }}@lillevik.kommune.no"
    - target: description
      source: "mail was {{ mail }}"
`;
const request = (name: string, spec: string) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: ${name} }\nspec: { template: t, ${spec} }\n`;

describeWithSlapd('an LDAP source read before an execution, used after it in the same pass', () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let ctx: Awaited<ReturnType<typeof reconcileContext>>;
  const status = async (name: string) =>
    parseYaml(await gitIn(remote.bare, 'show', `main:reports/${name}/status.yaml`)) as {
      state: string;
      counts?: Record<string, number>;
    };

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: peopleLdif(USERS) });
    remote = await makeRepo({ 'templates/t.yaml': TEMPLATE });
    human = await cloneRepo(remote.bare);
    await gitIn(human.dir, 'checkout', '-q', '-b', 'pr', 'main');
    await commitAndPush(
      human.dir,
      {
        'requests/a.yaml': request('a', 'mappings: [mail], users: all, execute: true'),
        'requests/b.yaml': request('b', 'mappings: [description], users: all, execute: true'),
      },
      'Requests a and b',
    );
    await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', 'pr');
    const env = `REEXPORT_TEST_LDAP_SOURCE_PW_${slapd.pid}`;
    process.env[env] = slapd.password;
    work = await makeDir({});
    await writeFile(
      `${work.dir}/daemon.yaml`,
      `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${remote.bare}", workdir: ./var }
targets:
  ldap: { url: ${slapd.url}, bindDN: "${slapd.bindDN}", passwordEnv: ${env}, allowedAttributes: [mail, description] }
sources:
  people: { type: ldap, url: ${slapd.url}, bindDN: "${slapd.bindDN}", passwordEnv: ${env}, baseDN: "ou=people,dc=kommune,dc=test", filter: "(objectClass=inetOrgPerson)", id: employeeID, attributes: [employeeID, mail] }
`,
    );
    ctx = await reconcileContext(
      {
        daemon: await loadDaemonConfig(`${work.dir}/daemon.yaml`),
        log: createLogger(process.env.REEXPORT_TEST_DEBUG ? 'debug' : 'silent'),
      },
      new Metrics(),
      new AbortController().signal,
    );
  });
  afterAll(async () => {
    await ctx?.release();
    await work?.cleanup();
    await human?.cleanup();
    await remote?.cleanup();
    await slapd?.stop();
  });

  it("b's source drift check sees the mail a wrote earlier in the pass", async () => {
    // Pass 1: a and b previewed (and signed) on the pull request's branch.
    expect((await runPass(ctx)).ok).toBe(true);
    await gitIn(human.dir, 'fetch', '-q', 'origin');
    // Merged: pass 2 executes a (mail changes for everyone), then b.
    await gitIn(human.dir, 'checkout', '-q', 'main');
    await gitIn(human.dir, 'merge', '-q', '--no-ff', '-m', 'Merge pr', 'origin/pr');
    await gitIn(human.dir, 'push', '-q', 'origin', 'main');
    expect((await runPass(ctx)).ok).toBe(true);
    const a = await status('a');
    expect(a.state, JSON.stringify(a)).toBe('executed');
    const b = await status('b');
    const descriptions = await slapd.search('(employeeID=*)', 'description');
    // The source now says "mail was <i>@lillevik.kommune.no": the reviewed "mail was old<i>@…" is
    // stale and must not be written.
    expect(descriptions).not.toContain('mail was old');
    expect(b.counts?.stale).toBe(USERS);
  }, 120_000);
});
