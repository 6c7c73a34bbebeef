import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { requestDigest, templateDigest } from '../../src/config/digests.js';
import type { ReexportRequest, SyncTemplate } from '../../src/config/types.generated.js';
import { signStatement, type Statement } from '../../src/lifecycle/signing.js';
import { textDigest } from '../../src/lifecycle/statements.js';
import { renderStatus, type RequestStatus } from '../../src/lifecycle/status.js';
import { planDigest } from '../../src/plan/build-plan.js';
import type { PlanChange } from '../../src/plan/plan-types.js';
import { renderChangesLdif } from '../../src/report/write-reports.js';
import { sha256 } from '../../src/source/records.js';
import { baseRepo, REQUEST } from '../config/fixtures.js';
import { runCli } from '../harness/cli.js';
import { gitIn, makeRepo, type TestRepo } from '../harness/git.js';

const daemonKey = generateKeyPairSync('ed25519');
const otherKey = generateKeyPairSync('ed25519');
const PUBLIC_PEM = daemonKey.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const DAEMON_MESSAGE = 'reexport: preview new-mail (previewed)\n\nReexport-Report: true';

/** What the daemon commits after a preview, computed from the checkout as the daemon would, signed with `key`. */
async function daemonReports(
  dir: string,
  key: KeyObject,
  changes: PlanChange[],
  safety?: { ok: boolean; message: string },
  /** As a daemon signed before preview.md and status.yaml were signed. */
  legacy = false,
  /** The branch the daemon previewed it on. */
  branch = 'feature',
): Promise<Record<string, string>> {
  const request = parse(await readFile(path.join(dir, 'requests/new-mail.yaml'), 'utf8')) as ReexportRequest;
  const template = parse(
    await readFile(path.join(dir, 'templates/ad-employees.yaml'), 'utf8'),
  ) as SyncTemplate;
  const digests = {
    request: requestDigest(request),
    template: templateDigest(template),
    source: `sha256:${sha256(await readFile(path.join(dir, 'data/people.csv')))}`,
    plan: planDigest(changes),
  };
  const header = {
    format: 'reexport-plan/v1' as const,
    request: 'new-mail',
    template: 'ad-employees',
    target: 'ad',
    mappings: ['mail'],
    digests,
    createdAt: '2026-01-01T00:00:00.000Z',
  };
  // status.yaml without its signature, as the daemon renders it before signing.
  const status: RequestStatus = {
    request: 'new-mail',
    state: 'previewed',
    digests,
    counts: { usersToChange: changes.length },
    ...(safety ? { safety } : {}),
  };
  const statement: Statement = {
    v: 1,
    kind: 'preview',
    request: 'new-mail',
    branch,
    commit: (await gitIn(dir, 'rev-parse', 'HEAD')).trim(),
    digests,
    state: 'previewed',
    at: header.createdAt,
    ...(safety ? { withinLimits: safety.ok } : {}),
    ...(legacy ? {} : { previewMd: textDigest(PREVIEW_MD), status: textDigest(renderStatus(status)) }),
  };
  const plan = [JSON.stringify({ ...header, summary: {} }), ...changes.map((c) => JSON.stringify(c))].join(
    '\n',
  );
  return {
    'reports/new-mail/status.yaml': renderStatus({ ...status, signature: signStatement(statement, key) }),
    'reports/new-mail/plan.jsonl': `${plan}\n`,
    'reports/new-mail/changes.ldif': renderChangesLdif({ header, changes }),
    'reports/new-mail/preview.md': PREVIEW_MD,
  };
}

const PREVIEW_MD = '# Preview of new-mail\n';

const CHANGES: PlanChange[] = [
  {
    id: '1001',
    dn: 'CN=Åse,OU=Ansatte,DC=kommune,DC=test',
    attribute: 'mail',
    before: ['old@x'],
    after: ['aase@kommune.no'],
  },
];

let repo: TestRepo;

async function commit(files: Record<string, string>, message: string): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(repo.dir, rel)), { recursive: true });
    await writeFile(path.join(repo.dir, rel), content);
  }
  await gitIn(repo.dir, 'add', '-A');
  await gitIn(repo.dir, 'commit', '-m', message);
}

/** Each case starts from the branch as the daemon left it: the request's change and its signed preview. */
async function startCase(name: string): Promise<void> {
  await gitIn(repo.dir, 'checkout', '-q', '-B', name, 'feature');
}

const verify = (...args: string[]) =>
  runCli(['verify', repo.dir, ...args], { env: { REEXPORT_PUBLIC_KEY: PUBLIC_PEM } });

beforeAll(async () => {
  repo = await makeRepo(baseRepo());
  await gitIn(repo.dir, 'checkout', '-q', '-b', 'feature');
  await commit(
    { 'requests/new-mail.yaml': REQUEST.replace('users: all', 'users: { ids: ["1001"] }') },
    'Request: new mail for 1001',
  );
  await commit(await daemonReports(repo.dir, daemonKey.privateKey, CHANGES), DAEMON_MESSAGE);
});

afterAll(async () => {
  await repo?.cleanup();
});

describe('reexport verify', () => {
  it("passes when every changed request has the daemon's current, signed preview", async () => {
    await startCase('current');
    const res = await verify();
    expect(res).toMatchObject({ code: 0, stdout: '' });
    expect(res.stderr).toBe("ok: 1 request has the daemon's current, signed preview\n");
  });

  it("fails on main's preview come with the branch: the daemon executes only this branch's own", async () => {
    await startCase('from-main');
    await commit(
      await daemonReports(repo.dir, daemonKey.privateKey, CHANGES, undefined, false, 'main'),
      DAEMON_MESSAGE,
    );
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^requests\/new-mail\.yaml:1:1: the preview in reports\/new-mail was made on main, not for this pull request: wait for the daemon's preview/,
    );
  });

  it('fails while the daemon has not previewed the request yet', async () => {
    await gitIn(repo.dir, 'checkout', '-q', '-B', 'no-preview', 'feature~1');
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^requests\/new-mail\.yaml:1:1: reports\/new-mail\/status\.yaml is missing: wait for the daemon's preview/,
    );
  });

  it('fails when the request was edited after the preview', async () => {
    await startCase('edited');
    await commit(
      { 'requests/new-mail.yaml': REQUEST.replace('users: all', 'users: { ids: ["1001", "1002"] }') },
      'more users',
    );
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /the preview is for an older version of the request: wait for the daemon's preview/,
    );
  });

  it('fails when the data file changed after the preview', async () => {
    await startCase('data');
    await commit({ 'data/people.csv': 'employeeId,givenName,sn\n1001,Åsa,Ødegård\n' }, 'fix a name');
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/the preview is for an older version of data\/people\.csv/);
  });

  it('fails on a status signed by another key, even in a commit with the daemon trailer', async () => {
    await startCase('forged');
    await commit(await daemonReports(repo.dir, otherKey.privateKey, CHANGES), DAEMON_MESSAGE);
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /status\.yaml is not signed by this daemon \(signed with key ed25519:[0-9a-f]{16}, not/,
    );
  });

  it('fails when plan.jsonl was edited, digest recomputed or not', async () => {
    await startCase('plan');
    const forged = CHANGES.map((c) => ({ ...c, before: [] }));
    const files = await daemonReports(repo.dir, daemonKey.privateKey, CHANGES);
    const header = JSON.parse(files['reports/new-mail/plan.jsonl']!.split('\n')[0]!) as {
      digests: { plan: string };
    };
    header.digests.plan = planDigest(forged);
    await commit(
      {
        'reports/new-mail/plan.jsonl': `${[JSON.stringify(header), ...forged.map((c) => JSON.stringify(c))].join('\n')}\n`,
      },
      DAEMON_MESSAGE,
    );
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /plan\.jsonl is not the plan the daemon signed; reports\/ was edited by a commit that is not the daemon's: revert it/,
    );
  });

  it('fails when status.yaml was edited: a count, or a line a YAML reader does not see', async () => {
    await startCase('status');
    const files = await daemonReports(repo.dir, daemonKey.privateKey, CHANGES);
    const signed = files['reports/new-mail/status.yaml']!;
    await commit(
      { 'reports/new-mail/status.yaml': signed.replace('usersToChange: 1', 'usersToChange: 0') },
      DAEMON_MESSAGE,
    );
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /status\.yaml is not the text the daemon signed; reports\/ was edited by a commit that is not the daemon's: revert it/,
    );
    await commit({ 'reports/new-mail/status.yaml': `${signed}# approved\n` }, DAEMON_MESSAGE);
    expect((await verify()).stderr).toMatch(/status\.yaml is not the text the daemon signed/);
    await commit({ 'reports/new-mail/status.yaml': signed }, DAEMON_MESSAGE);
    expect(await verify()).toMatchObject({ code: 0 });
    // A statement from before status.yaml was signed vouches for no counts: the daemon's next
    // preview replaces it.
    const legacy = await daemonReports(repo.dir, daemonKey.privateKey, CHANGES, undefined, true);
    await commit(
      {
        'reports/new-mail/status.yaml': legacy['reports/new-mail/status.yaml']!.replace(
          'usersToChange: 1',
          'usersToChange: 0',
        ),
      },
      DAEMON_MESSAGE,
    );
    expect((await verify()).stderr).toMatch(
      /status\.yaml holds a preview signed by an older version of the daemon: wait for the daemon's preview/,
    );
  });

  it("fails when plan.jsonl's header names another request than the signed one", async () => {
    await startCase('header');
    const files = await daemonReports(repo.dir, daemonKey.privateKey, CHANGES);
    const [first, ...rest] = files['reports/new-mail/plan.jsonl']!.split('\n');
    const header = { ...(JSON.parse(first!) as object), request: 'decoy' };
    await commit(
      { 'reports/new-mail/plan.jsonl': [JSON.stringify(header), ...rest].join('\n') },
      DAEMON_MESSAGE,
    );
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/plan\.jsonl is not the plan the daemon signed/);
  });

  it('fails when the signed preview is over the safety limits, whatever status.yaml is edited to say', async () => {
    await startCase('over-limits');
    const refused = 'refused: the plan changes 1 entry, over the limit of 0; add `maxChanges: 1`';
    await commit(
      await daemonReports(repo.dir, daemonKey.privateKey, CHANGES, { ok: false, message: refused }),
      DAEMON_MESSAGE,
    );
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `requests/new-mail.yaml:1:1: the daemon would refuse to execute this plan (${refused})`,
    );
    // The verdict is in the signed statement, and status.yaml's text is signed too.
    const status = path.join(repo.dir, 'reports/new-mail/status.yaml');
    await writeFile(status, (await readFile(status, 'utf8')).replace('ok: false', 'ok: true'));
    await gitIn(repo.dir, 'commit', '-qam', 'looks fine');
    const edited = await verify();
    expect(edited.code).toBe(1);
    expect(edited.stderr).toContain('status.yaml is not the text the daemon signed');
    // Within limits (the request confirmed it, say): green.
    await startCase('within-limits');
    await commit(
      await daemonReports(repo.dir, daemonKey.privateKey, CHANGES, { ok: true, message: 'within limits' }),
      DAEMON_MESSAGE,
    );
    expect(await verify()).toMatchObject({ code: 0 });
  });

  it("fails when a commit that is not the daemon's touched reports/", async () => {
    await startCase('human');
    await commit({ 'reports/new-mail/preview.md': '# Looks fine to me\n' }, 'Tidy the preview');
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^reports\/new-mail\/preview\.md:1:1: commit [0-9a-f]{12} \(Tidy the preview\) changes reports\/; reports\/ was edited by a commit that is not the daemon's: revert it\nrequests\/new-mail\.yaml:1:1: reports\/new-mail\/preview\.md is not the text the daemon signed; [^\n]*\n2 errors\n$/,
    );
    const json = await verify('--format', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      counts: { errors: 2, warnings: 0, requests: 1 },
    });
    const github = await verify('--format', 'github');
    expect(github.stdout).toMatch(
      /^::error file=reports\/new-mail\/preview\.md,line=1,col=1,title=reexport verify::commit /,
    );
  });

  it('needs the public key, and a base that exists (exit 2)', async () => {
    await startCase('usage');
    const noKey = await runCli(['verify', repo.dir], { env: { REEXPORT_PUBLIC_KEY: '' } });
    expect(noKey).toMatchObject({ code: 2, stderr: expect.stringMatching(/public key/) });
    const badBase = await verify('--base', 'origin/nope');
    expect(badBase).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--base origin\/nope is not a commit here/),
    });
  });
});
