import { entriesSent } from '../harness/slapd-audit.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runPass } from '../../src/daemon/daemon.js';
import { daemonAgainst } from '../harness/daemon-fixtures.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';

const USERS = 400;
const REQUEST = `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: bulk }\nspec: { template: t, mappings: all, users: all, maxChanges: 1000 }\n`;

for (const syncprov of [false, true]) {
  describeWithSlapd(
    `an idle pass against slapd ${syncprov ? 'with syncprov (contextCSN)' : '(modifyTimestamp)'}`,
    () => {
      let slapd: Slapd;
      let remote: Awaited<ReturnType<typeof makeRepo>>;
      let human: Awaited<ReturnType<typeof cloneRepo>>;
      let daemon: Awaited<ReturnType<typeof daemonAgainst>>;
      const commits = async () => Number((await gitIn(remote.bare, 'rev-list', '--count', 'bulk')).trim());

      beforeAll(async () => {
        slapd = await startSlapd({
          ldif: peopleLdif(USERS),
          debugLevel: 'stats',
          outputLimit: 64 * 1024 * 1024,
          syncprov,
        });
        remote = await makeRepo({
          'templates/t.yaml': PEOPLE_TEMPLATE,
          'data/people.csv': peopleCsv(USERS),
        });
        human = await cloneRepo(remote.bare);
        daemon = await daemonAgainst({ slapd, repoUrl: remote.bare, allowedAttributes: ['mail'] });
      });
      afterAll(async () => {
        await daemon?.release();
        await human?.cleanup();
        await remote?.cleanup();
        await slapd?.stop();
      });

      it('reads under 1% of the scope when nothing changed, and a hand edit in scope reaches the open preview', async () => {
        await gitIn(human.dir, 'checkout', '-b', 'bulk');
        await commitAndPush(human.dir, { 'requests/bulk.yaml': REQUEST }, 'Bulk');
        await gitIn(human.dir, 'push', '--set-upstream', 'origin', 'bulk');
        expect((await runPass(daemon.ctx)).ok).toBe(true);
        const previewed = await commits();
        expect(await gitIn(remote.bare, 'show', 'bulk:reports/bulk/preview.md')).toMatch(
          /The directory was read at/,
        );

        // Nothing changed: the pass asks the directory one question and commits nothing, and
        // parses no source file: the checks of main's and the branch's unchanged people.csv are
        // remembered (reexport_source_checks_total).
        const checks = daemon.ctx.metrics.sourceChecks;
        const parsed = checks.get({ how: 'parsed' });
        const from = slapd.output().length;
        expect((await runPass(daemon.ctx)).ok).toBe(true);
        expect(await commits()).toBe(previewed);
        expect(entriesSent(slapd.output(), from)).toBeLessThan(USERS / 100);
        expect(checks.get({ how: 'parsed' })).toBe(parsed);
        expect(checks.get({ how: 'remembered' })).toBeGreaterThanOrEqual(2);

        // Asked for (`reexport refresh bulk`): the pass reads the scope again though nothing
        // changed (a deleted user leaves no watermark), and commits nothing new.
        const asked = slapd.output().length;
        expect((await runPass({ ...daemon.ctx, onDemand: (name) => name === 'bulk' })).ok).toBe(true);
        expect(entriesSent(slapd.output(), asked)).toBeGreaterThanOrEqual(USERS);
        expect(await commits()).toBe(previewed);

        // A hand edit inside the scope: the next pass reads again and the preview shows it.
        await slapd.ldapmodify(
          'dn: uid=u7,ou=people,dc=kommune,dc=test\nchangetype: modify\nreplace: mail\nmail: hand7@kommune.no\n',
        );
        expect((await runPass(daemon.ctx)).ok).toBe(true);
        expect(await commits()).toBe(previewed + 1);
        expect(await gitIn(remote.bare, 'show', 'bulk:reports/bulk/preview.md')).toContain(
          '-mail: hand7@kommune.no',
        );

        // A source edited on the branch is parsed again, its new problem found and shown: a
        // remembered check is one of the same bytes only.
        const before = checks.get({ how: 'parsed' });
        await gitIn(human.dir, 'pull', '--quiet', '--rebase');
        await commitAndPush(human.dir, { 'data/people.csv': `${peopleCsv(USERS)}7\n` }, 'Repeat u7');
        expect((await runPass(daemon.ctx)).ok).toBe(true);
        expect(checks.get({ how: 'parsed' })).toBe(before + 1);
        expect(await gitIn(remote.bare, 'show', 'bulk:reports/bulk/status.yaml')).toMatch(/state: invalid/);
        expect(await gitIn(remote.bare, 'show', 'bulk:reports/bulk/preview.md')).toMatch(/repeats/);
      });
    },
  );
}
