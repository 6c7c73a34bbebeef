import { writeFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { reconcileContext, runPass } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/shared/log.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { peopleCsv, peopleLdif } from '../harness/people-fixtures.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';

const USERS = 50;
const TEMPLATE = `apiVersion: reexport/v1
kind: SyncTemplate
metadata: { name: t }
spec:
  target: ldap
  source: { file: data/people.csv, id: id }
  match: { sourceField: id, targetAttribute: employeeID }
  scope: { baseDN: "ou=people,dc=kommune,dc=test" }
  mappings:
    - target: mail
      source: "{{ id }}@lillevik.kommune.no"
    - target: description
      source: "Ansatt {{ id }}"
`;
const request = (name: string, spec: string) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: ${name} }\nspec: { template: t, ${spec} }\n`;

describeWithSlapd("one read per pass and the daemon's own writes in the same pass", () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let ctx: Awaited<ReturnType<typeof reconcileContext>>;
  const status = async (branch: string, name: string) =>
    parseYaml(await gitIn(remote.bare, 'show', `${branch}:reports/${name}/status.yaml`)) as {
      state: string;
      counts?: { usersToChange: number };
    };

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: peopleLdif(USERS), syncprov: true });
    process.env.REEXPORT_TEST_STALE_PASSWORD = slapd.password;
    // y sits on main, merged without execute: the daemon previews it on main every pass.
    remote = await makeRepo({
      'templates/t.yaml': TEMPLATE,
      'data/people.csv': peopleCsv(USERS),
      'requests/y.yaml': request('y', 'mappings: [mail], users: all, maxChanges: 1000'),
    });
    human = await cloneRepo(remote.bare);
    await gitIn(human.dir, 'checkout', '-q', '-b', 'x-branch', 'main');
    await commitAndPush(
      human.dir,
      { 'requests/x.yaml': request('x', 'mappings: [mail], users: all, execute: true, maxChanges: 1000') },
      'Request x',
    );
    await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', 'x-branch');
    work = await makeDir({});
    await writeFile(
      `${work.dir}/daemon.yaml`,
      `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${remote.bare}", workdir: ./var }
targets:
  ldap:
    url: ${slapd.url}
    bindDN: "${slapd.bindDN}"
    passwordEnv: REEXPORT_TEST_STALE_PASSWORD
    allowedAttributes: [mail, description]
`,
    );
    ctx = await reconcileContext(
      { daemon: await loadDaemonConfig(`${work.dir}/daemon.yaml`), log: createLogger('silent') },
      new Metrics(),
      new AbortController().signal,
    );
  });
  afterAll(async () => {
    await ctx?.release();
    await human?.cleanup();
    await remote?.cleanup();
    await work?.cleanup();
    await slapd?.stop();
  });

  it('a preview on main after an execution in the same pass is not planned from a read made before it', async () => {
    // Pass 1: x previewed on its branch, y on main: both would set mail for every user.
    expect((await runPass(ctx)).ok).toBe(true);
    expect((await status('main', 'y')).counts?.usersToChange).toBe(USERS);
    // x is merged (execute: true); another pull request z of the same scope opens.
    await gitIn(human.dir, 'pull', '-q', '--rebase', 'origin', 'x-branch');
    await gitIn(human.dir, 'checkout', '-q', 'main');
    await gitIn(human.dir, 'pull', '-q', 'origin', 'main');
    await gitIn(human.dir, 'merge', '-q', '--no-ff', '-m', 'Merge x', 'x-branch');
    await gitIn(human.dir, 'push', '-q', 'origin', 'main');
    await gitIn(human.dir, 'checkout', '-q', '-b', 'z-branch', 'main');
    await commitAndPush(
      human.dir,
      { 'requests/z.yaml': request('z', 'mappings: all, users: all, maxChanges: 1000') },
      'Request z',
    );
    await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', 'z-branch');

    // Pass 2: z is previewed first (its read becomes the pass's snapshot), then x is executed on
    // main (mail written for every user), then y is previewed on main.
    expect((await runPass(ctx)).ok).toBe(true);
    expect((await status('main', 'x')).state).toBe('executed');
    // x just wrote every mail y would write: y's preview must show nothing left to do.
    expect((await status('main', 'y')).counts?.usersToChange).toBe(0);
  }, 120_000);
});
