import { writeFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { afterEach, expect, it } from 'vitest';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { reconcileContext, runPass } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/shared/log.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { PEOPLE_TEMPLATE_WITH_DESCRIPTION, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';
import { describeWithSlapd } from '../harness/require.js';
import { startSlapd } from '../harness/slapd.js';

const USERS = 5;
const request = (name: string, spec: string) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: ${name} }\nspec: { template: t, ${spec} }\n`;
type Ctx = Awaited<ReturnType<typeof reconcileContext>>;
type Point = 'result' | 'renewal' | 'status' | 'preview';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

/**
 * a (execute: true) and b (execute: true, description only) previewed on a branch and merged;
 * during pass 2 a human edits requests/b.yaml on main right before the daemon's commit at
 * `point` lands. b's reviewed plan is then for another version: b must be refused, never run.
 */
async function scenario(point: Point) {
  const slapd = await startSlapd({ ldif: peopleLdif(USERS) });
  cleanups.push(() => slapd.stop());
  const remote = await makeRepo({
    'templates/t.yaml': PEOPLE_TEMPLATE_WITH_DESCRIPTION,
    'data/people.csv': peopleCsv(USERS),
  });
  cleanups.push(() => remote.cleanup());
  const human = await cloneRepo(remote.bare);
  cleanups.push(() => human.cleanup());
  const other = await cloneRepo(remote.bare);
  cleanups.push(() => other.cleanup());
  await gitIn(human.dir, 'checkout', '-q', '-b', 'pr', 'main');
  const prFiles: Record<string, string> = {
    'requests/b.yaml': request('b', 'mappings: [description], users: all, execute: true'),
  };
  if (point === 'result' || point === 'renewal')
    prFiles['requests/a.yaml'] = request('a', 'mappings: [mail], users: all, execute: true');
  await commitAndPush(human.dir, prFiles, 'Requests');
  await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', 'pr');
  const env = `REEXPORT_TEST_MID_PASS_PW_${slapd.pid}`;
  process.env[env] = slapd.password;
  const work = await makeDir({});
  cleanups.push(() => work.cleanup());
  await writeFile(
    `${work.dir}/daemon.yaml`,
    `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${remote.bare}", workdir: ./var }
targets:
  ldap: { url: ${slapd.url}, bindDN: "${slapd.bindDN}", passwordEnv: ${env}, allowedAttributes: [mail, description], rateLimit: 2, concurrency: 1 }
`,
  );
  const ctx: Ctx = await reconcileContext(
    { daemon: await loadDaemonConfig(`${work.dir}/daemon.yaml`), log: createLogger('silent') },
    new Metrics(),
    new AbortController().signal,
  );
  cleanups.push(() => ctx.release());
  expect((await runPass(ctx)).ok).toBe(true);
  await gitIn(human.dir, 'fetch', '-q', 'origin');
  await gitIn(human.dir, 'checkout', '-q', 'main');
  await gitIn(human.dir, 'merge', '-q', '--no-ff', '-m', 'Merge pr', 'origin/pr');
  // Committed straight to main, so the daemon has to commit for them before b.
  if (point === 'status')
    await writeFile(
      `${human.dir}/requests/a.yaml`,
      request('a', 'mappings: [mail], users: all, execute: true'),
    );
  if (point === 'preview')
    await writeFile(`${human.dir}/requests/a.yaml`, request('a', 'mappings: [mail], users: all'));
  await gitIn(human.dir, 'add', '-A');
  await gitIn(human.dir, 'commit', '-q', '--allow-empty', '-m', 'more on main');
  await gitIn(human.dir, 'push', '-q', 'origin', 'main');

  // The human's edit of b, pushed right before the daemon's commit at `point`.
  let injected = false;
  const inject = async () => {
    if (injected) return;
    injected = true;
    await gitIn(other.dir, 'fetch', '-q', 'origin');
    await gitIn(other.dir, 'checkout', '-q', '-B', 'main', 'origin/main');
    await commitAndPush(
      other.dir,
      { 'requests/b.yaml': request('b', 'mappings: [description], users: { ids: ["0"] }, execute: true') },
      'human edits b',
    );
  };
  const repo = ctx.repo as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const wrap = (method: string, when: (...a: unknown[]) => boolean) => {
    const orig = repo[method]!.bind(ctx.repo);
    repo[method] = async (...a: unknown[]) => {
      if (when(...a)) await inject();
      return orig(...a);
    };
  };
  // The files a commit is given: commitAndPush(branch, files, …), commitOnto(branch, onto, files, …).
  const files = (a: unknown[]) => Object.keys((a.find((x) => typeof x === 'object' && x) ?? {}) as object);
  if (point === 'result') {
    // The final record goes as a compare-and-swap (commitOnto); a restore would go with commitAndPush.
    wrap('commitOnto', (...a) => files(a).includes('reports/a/result.md'));
    wrap('commitAndPush', (...a) => files(a).includes('reports/a/result.md'));
  }
  if (point === 'status') wrap('commitAndPush', (...a) => files(a).includes('reports/a/status.yaml'));
  if (point === 'preview') wrap('commitAndPush', (...a) => files(a).includes('reports/a/preview.md'));
  if (point === 'renewal') {
    (ctx as { claimTimeoutMs: number }).claimTimeoutMs = 3000;
    wrap('commitEmpty', () => true);
  }
  const pass = await runPass(ctx);
  return { ctx, pass, injected, slapd, remote };
}

async function statusOf(bare: string, name: string) {
  return parseYaml(await gitIn(bare, 'show', `main:reports/${name}/status.yaml`)) as {
    state: string;
    message?: string;
  };
}

describeWithSlapd("a human's push just before one of the daemon's commits on main", () => {
  for (const point of ['result', 'renewal', 'status', 'preview'] as const) {
    it(`before a's ${point} commit: b is decided on the human's tree`, async () => {
      const { injected, slapd, remote } = await scenario(point);
      expect(injected).toBe(true);
      const b = await statusOf(remote.bare, 'b');
      expect(b.state, JSON.stringify(b)).toBe('refused');
      expect(await slapd.search('(employeeID=*)', 'description')).not.toContain('Ansatt');
    }, 120_000);
  }
});
