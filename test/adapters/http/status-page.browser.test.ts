import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../../src/config/daemon-config.js';
import { type DaemonHandle, startDaemon } from '../../../src/daemon/daemon.js';
import type { StatusSnapshot } from '../../../src/ports/observer.js';
import { createLogger } from '../../../src/shared/log.js';
import { makeDir } from '../../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../../harness/git.js';
import { waitUntil } from '../../harness/ports.js';
import { CHROMIUM, describeWithSlapdAndChromium } from '../../harness/require.js';
import { type Slapd, startSlapd, toLdif } from '../../harness/slapd.js';

/** Enough users, written slowly enough, that the execution lasts several seconds. */
const USERS = 90;
const RATE = 12;

const TEMPLATE = `apiVersion: reexport/v1
kind: SyncTemplate
metadata: { name: staff }
spec:
  target: ldap
  source: { file: data/staff.csv, id: employeeId }
  match: { sourceField: employeeId, targetAttribute: employeeID }
  scope: { baseDN: "ou=Ansatte,dc=kommune,dc=test", filter: "(objectClass=inetOrgPerson)" }
  mappings:
    - target: mail
      source: "{{ employeeId }}@ny.kommune.no"
`;

const ids = Array.from({ length: USERS }, (_, i) => String(5000 + i));
const CSV = `employeeId\n${ids.join('\n')}\n`;
const SEED = `dn: ou=Ansatte,dc=kommune,dc=test\nobjectClass: organizationalUnit\nou: Ansatte\n\n${toLdif(
  ids.map((id) => ({
    dn: `uid=u${id},ou=Ansatte,dc=kommune,dc=test`,
    attrs: {
      objectClass: ['inetOrgPerson', 'reexportPerson'],
      uid: `u${id}`,
      cn: `User ${id}`,
      sn: 'User',
      employeeID: id,
      mail: `${id}@gammel.kommune.no`,
    },
  })),
)}`;

const REQUEST = `apiVersion: reexport/v1
kind: ReexportRequest
metadata: { name: new-domain }
spec:
  template: staff
  mappings: [mail]
  users: all
  execute: true
`;

describeWithSlapdAndChromium('the status page in Chromium, during a real execution', () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let daemon: DaemonHandle;
  let browser: BrowserContext;
  let profile: string;
  let base: string;
  const status = async () => (await (await fetch(`${base}/api/status`)).json()) as StatusSnapshot;

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: SEED });
    process.env.REEXPORT_TEST_STATUS_PASSWORD = slapd.password;
    remote = await makeRepo({ 'templates/staff.yaml': TEMPLATE, 'data/staff.csv': CSV });
    human = await cloneRepo(remote.bare);
    work = await makeDir({});
    await writeFile(
      path.join(work.dir, 'daemon.yaml'),
      `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${remote.bare}", branch: main, workdir: ./var, author: { name: reexport-bot, email: bot@kommune.test } }
# Passes run when the test asks for them, never by the clock.
schedule: "0 0 1 1 *"
targets:
  ldap:
    url: ${slapd.url}
    bindDN: "${slapd.bindDN}"
    passwordEnv: REEXPORT_TEST_STATUS_PASSWORD
    allowedAttributes: [mail]
    concurrency: 2
    rateLimit: ${RATE}
http:
  port: 0
  host: 127.0.0.1
  reportUrl: "https://git.example/iam/config/src/branch/{branch}/reports/{request}/preview.md"
`,
    );
    profile = await mkdtemp(path.join(tmpdir(), 'reexport-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await human?.cleanup();
    await remote?.cleanup();
    await work?.cleanup();
    await slapd?.stop();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('shows the request under its branch, the execution moving, and the last pass', async () => {
    await gitIn(human.dir, 'checkout', '-b', 'new-domain');
    await commitAndPush(human.dir, { 'requests/new-domain.yaml': REQUEST }, 'Add new-domain');
    await gitIn(human.dir, 'push', '--set-upstream', 'origin', 'new-domain');

    daemon = await startDaemon({
      daemon: await loadDaemonConfig(path.join(work.dir, 'daemon.yaml')),
      log: createLogger('info'),
    });
    base = `http://127.0.0.1:${daemon.httpPort}`;
    // The first pass (started by the daemon) previews the pull request.
    await waitUntil(
      'the preview on the branch',
      async () =>
        (await status()).branches.some((b) =>
          b.requests.some((r) => r.name === 'new-domain' && r.state === 'previewed'),
        ),
      { timeoutMs: 60_000, intervalMs: 200 },
    );

    await gitIn(human.dir, 'pull', '--rebase', 'origin', 'new-domain');
    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'merge', '--no-ff', '-m', 'Merge new-domain', 'new-domain');
    await gitIn(human.dir, 'push', 'origin', 'main');
    const pass = daemon.runner.trigger();

    const page = await browser.newPage();
    await page.goto(`${base}/`);
    // The page refreshes itself: no reload from here on.
    const running = page.locator('#running');
    await running.waitFor({ timeout: 60_000 });
    const applied = async (p: Page) => Number((await p.locator('#applied').innerText()).replace(/,/g, ''));
    await waitUntil('a few entries applied', async () => (await applied(page)) > 0, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const first = await applied(page);
    expect(await running.getAttribute('data-request')).toBe('new-domain');
    expect(await running.getAttribute('data-total')).toBe(String(USERS));
    await sleep(2500);
    const second = await applied(page);
    expect(second).toBeGreaterThan(first);
    expect(second).toBeLessThan(USERS);
    // Rate and time left, from the real pace (about RATE entries a second).
    const line = await page.locator('#running .nums').innerText();
    expect(line).toMatch(new RegExp(`/ ${USERS} entries · [\\d.]+/s · [\\d.]+ (s|min)`));
    // The request as the branch's preview left it, with its link to the forge.
    const onBranch = page.locator('[data-branch="new-domain"] li[data-request="new-domain"]');
    expect(await onBranch.getAttribute('data-state')).toBe('previewed');
    expect(await onBranch.locator('a').getAttribute('href')).toBe(
      'https://git.example/iam/config/src/branch/new-domain/reports/new-domain/preview.md',
    );
    // The first pass is listed, and finished well.
    expect(await page.locator('#passes li.pass[data-ok="ok"]').count()).toBeGreaterThanOrEqual(1);

    // Same data as JSON, and no secret in it.
    const json = await (await fetch(`${base}/api/status`)).text();
    const snap = JSON.parse(json) as StatusSnapshot;
    expect(snap.running).toMatchObject({ request: 'new-domain', total: USERS });
    expect(snap.running!.done).toBeGreaterThanOrEqual(second);
    expect(snap.running!.rate).toBeGreaterThan(0);
    expect(snap.branches.find((b) => b.name === 'new-domain')!.requests[0]).toMatchObject({
      name: 'new-domain',
      state: 'previewed',
    });
    expect(json).not.toContain(slapd.password);
    expect(await page.content()).not.toContain(slapd.password);

    await pass;
    await page.reload();
    const onMain = page.locator('[data-branch="main"] li[data-request="new-domain"]');
    expect(await onMain.getAttribute('data-state')).toBe('executed');
    expect(await page.locator('#running-none').count()).toBe(1);
    expect(await page.locator('#passes li.pass').first().getAttribute('data-ok')).toBe('ok');
    await page.close();
  }, 120_000);

  it('fits a phone screen without sideways scrolling', async () => {
    const phone = await browser.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${base}/`);
    await phone.locator('#passes').waitFor();
    const { scrollWidth, clientWidth } = await phone.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
    }));
    expect(clientWidth).toBe(390);
    expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
    await phone.close();
  }, 30_000);
});
