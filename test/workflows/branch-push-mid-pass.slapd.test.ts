import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runPass } from '../../src/daemon/daemon.js';
import { daemonAgainst } from '../harness/daemon-fixtures.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';

const USERS = 10;
const request = (name: string, template: string) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: ${name} }\nspec: { template: ${template}, mappings: all, users: all, maxChanges: 1000 }\n`;

describeWithSlapd('a push to a branch while the daemon previews it', () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let daemon: Awaited<ReturnType<typeof daemonAgainst>>;
  beforeAll(async () => {
    slapd = await startSlapd({ ldif: peopleLdif(USERS) });
    remote = await makeRepo({ 'templates/t.yaml': PEOPLE_TEMPLATE, 'data/people.csv': peopleCsv(USERS) });
    human = await cloneRepo(remote.bare);
    daemon = await daemonAgainst({ slapd, repoUrl: remote.bare, allowedAttributes: ['mail'] });
  });
  afterAll(async () => {
    await daemon?.release();
    await human?.cleanup();
    await remote?.cleanup();
    await slapd?.stop();
  });

  it("never plans the branch's other requests from bytes the pass did not validate", async () => {
    // A first pass remembers the check of main's people.csv: the branch's is the same file.
    expect((await runPass(daemon.ctx)).ok).toBe(true);
    await gitIn(human.dir, 'checkout', '-q', '-b', 'feat');
    await commitAndPush(
      human.dir,
      { 'requests/a.yaml': request('a', 'nosuch'), 'requests/b.yaml': request('b', 't') },
      'a and b',
    );
    await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', 'feat');
    // The author pushes again right before the daemon commits a's report: people.csv now
    // repeats ID 3 (an error of the pull request's) and adds 77.
    const repo = daemon.ctx.repo;
    let pushed = false;
    const hooked = new Proxy(repo, {
      get(target, prop) {
        if (prop === 'commitAndPush')
          return async (...args: Parameters<typeof repo.commitAndPush>) => {
            if (!pushed) {
              pushed = true;
              await commitAndPush(human.dir, { 'data/people.csv': `${peopleCsv(USERS)}3\n77\n` }, 'edit');
            }
            return target.commitAndPush(...args);
          };
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    expect((await runPass({ ...daemon.ctx, repo: hooked })).ok).toBe(true);
    expect(pushed).toBe(true);
    // b is planned from the tree it was validated on, the author's: its problem is shown.
    const status = parseYaml(await gitIn(remote.bare, 'show', 'feat:reports/b/status.yaml')) as {
      state: string;
      commit?: string;
      digests?: { source: string };
      errors?: string[];
    };
    if (status.state === 'previewed') {
      // A previewed b says which bytes it was made from: those of the commit it names.
      const csv = await gitIn(remote.bare, 'show', `${status.commit}:data/people.csv`);
      expect(status.digests!.source).toBe(`sha256:${createHash('sha256').update(csv).digest('hex')}`);
    }
    expect(status.state).toBe('invalid');
    expect(JSON.stringify(status)).toMatch(/repeats `id` 3/);
  });
});
