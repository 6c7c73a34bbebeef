import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runPass } from '../../src/daemon/daemon.js';
import { daemonAgainst } from '../harness/daemon-fixtures.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { PEOPLE_TEMPLATE_WITH_DESCRIPTION, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';

const USERS = 50;
const request = (name: string, spec: string) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: ${name} }\nspec: { template: t, ${spec} }\n`;

describeWithSlapd("one read per pass and the daemon's own writes in the same pass", () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let daemon: Awaited<ReturnType<typeof daemonAgainst>>;
  const status = async (branch: string, name: string) =>
    parseYaml(await gitIn(remote.bare, 'show', `${branch}:reports/${name}/status.yaml`)) as {
      state: string;
      counts?: { usersToChange: number };
    };

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: peopleLdif(USERS), syncprov: true });
    // y sits on main, merged without execute: the daemon previews it on main every pass.
    remote = await makeRepo({
      'templates/t.yaml': PEOPLE_TEMPLATE_WITH_DESCRIPTION,
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
    daemon = await daemonAgainst({ slapd, repoUrl: remote.bare, allowedAttributes: ['mail', 'description'] });
  });
  afterAll(async () => {
    await daemon?.release();
    await human?.cleanup();
    await remote?.cleanup();
    await slapd?.stop();
  });

  it('a preview on main after an execution in the same pass is not planned from a read made before it', async () => {
    // Pass 1: x previewed on its branch, y on main: both would set mail for every user.
    expect((await runPass(daemon.ctx)).ok).toBe(true);
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
    expect((await runPass(daemon.ctx)).ok).toBe(true);
    expect((await status('main', 'x')).state).toBe('executed');
    // x just wrote every mail y would write: y's preview must show nothing left to do.
    expect((await status('main', 'y')).counts?.usersToChange).toBe(0);
  }, 120_000);
});
