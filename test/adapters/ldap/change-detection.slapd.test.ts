import { entriesSent } from '../../harness/slapd-audit.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeDetector } from '../../../src/adapters/ldap/change-detection.js';
import { connectionSettings, openDirectory } from '../../../src/adapters/ldap/connection.js';
import type { Directory } from '../../../src/adapters/ldap/directory.js';
import { readScope } from '../../../src/adapters/ldap/scope-read.js';
import type { ScopeQuery, Watermark } from '../../../src/ports/directory.js';
import { resolvedConnection } from '../../harness/connection.js';
import { describeWithSlapd } from '../../harness/require.js';
import { type Slapd, startSlapd, toLdif } from '../../harness/slapd.js';

const SUFFIX = 'dc=kommune,dc=test';
const PEOPLE = `ou=people,${SUFFIX}`;
const OTHER = `ou=other,${SUFFIX}`;
const COUNT = 400;
const SCOPE: ScopeQuery = { baseDN: PEOPLE, scope: 'sub', matchAttribute: 'employeeID' };

const person = (i: number, ou: string) => ({
  dn: `uid=u${i},${ou}`,
  attrs: {
    objectClass: ['inetOrgPerson', 'reexportPerson'],
    uid: `u${i}`,
    cn: `Person ${i}`,
    sn: `P${i}`,
    employeeID: String(1000 + i),
    mail: `u${i}@kommune.no`,
  },
});

const seed = () =>
  [
    `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
    `dn: ${OTHER}\nobjectClass: organizationalUnit\nou: other\n`,
    toLdif(Array.from({ length: COUNT }, (_, i) => person(i, PEOPLE))),
    toLdif([person(9999, OTHER)]),
  ].join('\n');

const setMail = (dn: string, mail: string) => `dn: ${dn}\nchangetype: modify\nreplace: mail\nmail: ${mail}\n`;

/** The result of `check` and the entries slapd sent for it (its log reaches us a moment later). */
async function audited<T>(slapd: Slapd, check: () => Promise<T>): Promise<{ result: T; entries: number }> {
  await sleep(150);
  const from = slapd.output().length;
  const result = await check();
  await sleep(150);
  return { result, entries: entriesSent(slapd.output(), from) };
}

describeWithSlapd('change detection against OpenLDAP', () => {
  for (const syncprov of [true, false]) {
    describe(
      syncprov ? 'with syncprov: contextCSN and entryCSN' : 'without syncprov: modifyTimestamp',
      () => {
        let slapd: Slapd;
        let directory: Directory;

        beforeAll(async () => {
          slapd = await startSlapd({ ldif: seed(), syncprov, debugLevel: 'stats', outputLimit: 4_000_000 });
          directory = await openDirectory(
            await connectionSettings(
              resolvedConnection({ url: slapd.url, bindDN: slapd.bindDN, passwordEnv: 'PW' }, '/daemon.yaml'),
              'target t',
              { PW: slapd.password },
            ),
          );
        });
        afterAll(async () => {
          await directory?.close();
          await slapd?.stop();
        });

        it('sees no change, then not an edit outside the scope, then a hand edit in scope; reading ~1 entry each time', async () => {
          const detector = changeDetector(directory);
          const wm = await detector.readWatermark(SCOPE);
          expect(wm?.kind).toBe(syncprov ? 'csn' : 'modifyTimestamp');
          // modifyTimestamp counts seconds and slapadd stamped every entry in one: edits come later.
          if (!syncprov) await sleep(1100);

          const check = (w: Watermark) => audited(slapd, () => detector.changedSince(SCOPE, w));
          // Under 1% of the scope's 400 entries each time: the suffix entry, or one changed entry.
          expect(await check(wm!)).toEqual({ result: false, entries: syncprov ? 1 : 0 });

          await slapd.ldapmodify(setMail(`uid=u9999,${OTHER}`, 'other@kommune.no'));
          expect(await check(wm!)).toEqual({ result: false, entries: syncprov ? 1 : 0 });

          await slapd.ldapmodify(setMail(`uid=u17,${PEOPLE}`, 'hand.edit@kommune.no'));
          const edited = await check(wm!);
          expect(edited.result).toBe(true);
          expect(edited.entries).toBeLessThan(COUNT / 100);

          // After a new preview, the new mark sees nothing again; a second edit is seen again.
          const next = await detector.readWatermark(SCOPE, wm);
          expect(next).not.toEqual(wm);
          const quiet = await check(next!);
          expect(quiet.result).toBe(false);
          expect(quiet.entries).toBeLessThan(COUNT / 100);
          await slapd.ldapmodify(setMail(`uid=u18,${PEOPLE}`, 'second.edit@kommune.no'));
          expect(await detector.changedSince(SCOPE, next!)).toBe(true);
        });

        // (With syncprov the mark is the suffix's contextCSN: no scope is read for it.)
        if (!syncprov)
          it('reads the modifyTimestamp mark through the bulk read as through ldapts, and sees an edit after it', async () => {
            const settings = await connectionSettings(
              resolvedConnection({ url: slapd.url, bindDN: slapd.bindDN, passwordEnv: 'PW' }, '/daemon.yaml'),
              'target t',
              { PW: slapd.password },
            );
            const bulk = changeDetector(directory, (scope, attributes) =>
              readScope(settings, { ...scope, target: 't', attributes }),
            );
            const viaLdapts = await changeDetector(directory).readWatermark(SCOPE);
            const viaBulk = await bulk.readWatermark(SCOPE);
            expect(viaBulk).toEqual(viaLdapts);
            expect(viaBulk?.kind).toBe('modifyTimestamp');
            await sleep(1100);
            await slapd.ldapmodify(setMail(`uid=u42,${PEOPLE}`, 'bulk.edit@kommune.no'));
            expect(await bulk.changedSince(SCOPE, viaBulk!)).toBe(true);
            // Read again (no earlier mark given: the whole scope), the mark moves past the edit.
            const next = await bulk.readWatermark(SCOPE);
            expect(next).toEqual(await changeDetector(directory).readWatermark(SCOPE));
            expect(next).not.toEqual(viaBulk);
          });

        it('an entry added to the scope is a change; one outside the template filter is not', async () => {
          const detector = changeDetector(directory);
          const scope: ScopeQuery = { ...SCOPE, scopeFilter: '(uid=u2*)' };
          const wm = (await detector.readWatermark(scope)) as Watermark;
          if (!syncprov) await sleep(1100);
          await slapd.ldapmodify(setMail(`uid=u300,${PEOPLE}`, 'not.in.filter@kommune.no'));
          expect(await detector.changedSince(scope, wm)).toBe(false);
          await slapd.ldapadd(toLdif([person(2500, PEOPLE)]));
          expect(await detector.changedSince(scope, wm)).toBe(true);
        });
      },
    );
  }
});
