import { writeFile } from 'node:fs/promises';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { openTargetReader } from '../../src/adapters/ldap/readers.js';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { reconcileContext, runPass } from '../../src/daemon/daemon.js';
import type { PreviewTarget } from '../../src/ports/directory.js';
import { createLogger } from '../../src/shared/log.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { describeWithSamba } from '../harness/require.js';
import { type AdUser, type SambaAd, startSambaAd } from '../harness/samba.js';
import {
  AD_STAFF_OU,
  AD_SUFFIX,
  adRequest,
  adTemplate,
  sambaDaemonConfig,
} from '../harness/samba-fixtures.js';

const USERS = 300;
const OUTSIDE_OU = `OU=Sluttet,${AD_SUFFIX}`;
const REQUEST = adRequest('bulk', '  mappings: all\n  users: all\n  maxChanges: 1000\n');
const staff: AdUser[] = Array.from({ length: USERS }, (_, i) => ({
  cn: `Ansatt ${i}`,
  sAMAccountName: `ansatt${i}`,
  employeeID: String(1000 + i),
  givenName: 'Ansatt',
  sn: `N${i}`,
  mail: `old${i}@kommune.no`,
}));
const CSV = `employeeId,givenName,sn\n${staff.map((u) => `${u.employeeID},${u.givenName},${u.sn}`).join('\n')}\n`;

/**
 * Every entry any ldapts client in this process receives (the daemon's reads, change detection
 * included): counted on ldapts itself, so no read of the daemon's can hide from the count.
 */
const received = { entries: 0 };
const search = Client.prototype.search;
const searchPaginated = Client.prototype.searchPaginated;
function countReceivedEntries(): void {
  Client.prototype.search = async function (this: Client, ...args: Parameters<Client['search']>) {
    const result = await search.apply(this, args);
    received.entries += result.searchEntries.length;
    return result;
  };
  Client.prototype.searchPaginated = async function* (
    this: Client,
    ...args: Parameters<Client['searchPaginated']>
  ) {
    for await (const page of searchPaginated.apply(this, args)) {
      received.entries += page.searchEntries.length;
      yield page;
    }
  };
}

describeWithSamba('an idle pass against Samba AD (highestCommittedUSN, uSNChanged)', () => {
  let samba: SambaAd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let ctx: Awaited<ReturnType<typeof reconcileContext>>;
  /** The daemon's target connections: opened, closed, and entries read by a preview's scan. */
  const targets = { opened: 0, closed: 0, scanned: 0 };
  const commits = async () => Number((await gitIn(remote.bare, 'rev-list', '--count', 'bulk')).trim());
  const preview = () => gitIn(remote.bare, 'show', 'bulk:reports/bulk/preview.md');
  const setMail = async (dn: string, mail: string) => {
    const c = await samba.client();
    try {
      await c.modify(
        dn,
        new Change({ operation: 'replace', modification: new Attribute({ type: 'mail', values: [mail] }) }),
      );
    } finally {
      await c.unbind();
    }
  };
  const highestUsn = async () => {
    const c = await samba.client();
    try {
      const { searchEntries } = await c.search('', { scope: 'base', attributes: ['highestCommittedUSN'] });
      return String(searchEntries[0]?.highestCommittedUSN);
    } finally {
      await c.unbind();
    }
  };
  /** One pass, with what it cost the directory. */
  const pass = async () => {
    const before = { ...targets, received: received.entries };
    const result = await runPass(ctx);
    expect(result.ok).toBe(true);
    // Every connection a pass opens it closes again: an idle daemon holds none.
    expect(targets.closed).toBe(targets.opened);
    return { scanned: targets.scanned - before.scanned, received: received.entries - before.received };
  };

  beforeAll(async () => {
    samba = await startSambaAd();
    process.env.REEXPORT_TEST_AD_PASSWORD = samba.adminPassword;
    await samba.addUsers(staff);
    await samba.addUsers(
      [{ cn: 'Tidligere Ansatt', sAMAccountName: 'tidligere', employeeID: '1000', mail: 'gone@kommune.no' }],
      'OU=Sluttet',
    );
    remote = await makeRepo({
      'templates/ad-employees.yaml': adTemplate(AD_STAFF_OU, ['mail']),
      'data/ansatte.csv': CSV,
    });
    human = await cloneRepo(remote.bare);
    work = await makeDir({});
    await writeFile(
      `${work.dir}/daemon.yaml`,
      sambaDaemonConfig(samba, { allowedAttributes: ['mail'], repoUrl: remote.bare }),
    );
    const daemon = await loadDaemonConfig(`${work.dir}/daemon.yaml`);
    const openTarget = async (name: string): Promise<PreviewTarget> => {
      const t = await openTargetReader(daemon, name);
      targets.opened++;
      return {
        ...t,
        async *readEntries(query) {
          for await (const page of t.readEntries(query)) {
            targets.scanned += page.length;
            yield page;
          }
        },
        close: () => {
          targets.closed++;
          return t.close();
        },
      };
    };
    ctx = await reconcileContext(
      { daemon, log: createLogger(process.env.IDLE_DEBUG ? 'debug' : 'silent'), preview: { openTarget } },
      new Metrics(),
      new AbortController().signal,
    );
    countReceivedEntries();
  });
  afterAll(async () => {
    Client.prototype.search = search;
    Client.prototype.searchPaginated = searchPaginated;
    await ctx?.release();
    await human?.cleanup();
    await remote?.cleanup();
    await work?.cleanup();
    await samba?.stop();
  });

  it('reads under 1% of the scope when nothing changed; a hand edit in scope reaches the open preview, one in another OU does not', async () => {
    await gitIn(human.dir, 'checkout', '-b', 'bulk');
    await commitAndPush(human.dir, { 'requests/bulk.yaml': REQUEST }, 'Bulk');
    await gitIn(human.dir, 'push', '--set-upstream', 'origin', 'bulk');
    const first = await pass();
    expect(first.scanned).toBe(USERS);
    const previewed = await commits();
    expect(await preview()).toMatch(/The directory was read at/);
    expect(await gitIn(remote.bare, 'show', 'bulk:reports/bulk/status.yaml')).toMatch(/kind: usn/);

    // Nothing changed: the pass asks the domain controller a question and commits nothing.
    const idle = await pass();
    expect(await commits()).toBe(previewed);
    expect(idle.scanned).toBe(0);
    expect(idle.received).toBeLessThan(USERS / 100);

    // A hand edit inside the scope: the next pass reads again and the preview shows it.
    await setMail(`CN=Ansatt 7,${AD_STAFF_OU}`, 'hand7@kommune.no');
    const edited = await pass();
    expect(edited.scanned).toBe(USERS);
    expect(await commits()).toBe(previewed + 1);
    expect(await preview()).toContain('-mail: hand7@kommune.no');

    // An edit in another OU moves the domain controller's USN, but no entry in the scope changed.
    const usn = await highestUsn();
    await setMail(`CN=Tidligere Ansatt,${OUTSIDE_OU}`, 'still-gone@kommune.no');
    expect(BigInt(await highestUsn())).toBeGreaterThan(BigInt(usn));
    const outside = await pass();
    expect(await commits()).toBe(previewed + 1);
    expect(outside.scanned).toBe(0);
    expect(outside.received).toBeLessThan(USERS / 100);
  });
});
