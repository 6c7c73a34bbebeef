import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { changeDetector } from '../../../src/adapters/ldap/change-detection.js';
import { connectionSettings, openDirectory } from '../../../src/adapters/ldap/connection.js';
import type { Directory } from '../../../src/adapters/ldap/directory.js';
import type { ScopeQuery } from '../../../src/ports/directory.js';
import { makeDir } from '../../harness/files.js';
import { resolvedConnection } from '../../harness/connection.js';
import { describeWithSamba } from '../../harness/require.js';
import { type SambaAd, startSambaAd } from '../../harness/samba.js';

const STAFF = 150;

/** The directory, counting the entries each call brings back (what the detector reads). */
function counting(directory: Directory): { directory: Directory; read: () => number } {
  let read = 0;
  const counted: Directory = Object.create(directory) as Directory;
  Object.assign(counted, {
    readEntry: async (...args: Parameters<Directory['readEntry']>) => {
      const e = await directory.readEntry(...args);
      if (e) read++;
      return e;
    },
    searchSome: async (...args: Parameters<Directory['searchSome']>) => {
      const r = await directory.searchSome(...args);
      read += r.entries.length + (r.truncated ? args[0].sizeLimit : 0);
      return r;
    },
    searchPages: async function* (...args: Parameters<Directory['searchPages']>) {
      for await (const page of directory.searchPages(...args)) {
        read += page.length;
        yield page;
      }
    },
  });
  return { directory: counted, read: () => read };
}

describeWithSamba('change detection against Samba AD (highestCommittedUSN, uSNChanged)', () => {
  let samba: SambaAd;
  let files: { dir: string; cleanup: () => Promise<void> };
  let directory: Directory;
  let staff: string[];
  let others: string[];
  let scope: ScopeQuery;

  beforeAll(async () => {
    samba = await startSambaAd();
    files = await makeDir({ 'admin-password': `${samba.adminPassword}\n` });
    await copyFile(samba.caFile, path.join(files.dir, 'ca.pem'));
    staff = await samba.addUsers(
      Array.from({ length: STAFF }, (_, i) => ({
        cn: `Ansatt ${i}`,
        sAMAccountName: `ansatt${i}`,
        employeeID: String(1000 + i),
      })),
    );
    others = await samba.addUsers(
      [{ cn: 'Ekstern', sAMAccountName: 'ekstern', employeeID: '9999' }],
      'OU=Eksterne',
    );
    scope = {
      baseDN: staff[0]!.split(',').slice(1).join(','),
      scope: 'sub',
      scopeFilter: '(objectClass=user)',
      matchAttribute: 'employeeID',
    };
    directory = await openDirectory(
      await connectionSettings(
        resolvedConnection(
          {
            url: samba.ldapsUrl,
            bindDN: samba.adminDN,
            passwordFile: 'admin-password',
            tls: { caFile: 'ca.pem' },
          },
          path.join(files.dir, 'daemon.yaml'),
        ),
        'target t',
      ),
    );
  });
  afterAll(async () => {
    await directory?.close();
    await samba?.stop();
    await files?.cleanup();
  });

  const setDescription = async (dn: string, text: string) => {
    const client = await samba.client();
    try {
      await client.modify(dn, [
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'description', values: [text] }),
        }),
      ]);
    } finally {
      await client.unbind();
    }
  };

  it('sees no change, not an edit outside the scope, then a hand edit in scope; reading ~1 entry each time', async () => {
    const { directory: dir, read } = counting(directory);
    const detector = changeDetector(dir);
    const wm = await detector.readWatermark(scope);
    expect(wm).toMatchObject({ kind: 'usn', usn: expect.stringMatching(/^\d+$/) as unknown });
    expect((wm as { server: string }).server).toMatch(/^CN=NTDS Settings,/);

    const before = read();
    expect(await detector.changedSince(scope, wm!)).toBe(false);
    await setDescription(others[0]!, 'edited outside the scope');
    expect(await detector.changedSince(scope, wm!)).toBe(false);
    await setDescription(staff[42]!, 'edited by hand');
    expect(await detector.changedSince(scope, wm!)).toBe(true);
    // Three checks: the root DSE each time, and one changed entry: under 1% of the scope each.
    expect(read() - before).toBeLessThanOrEqual(4);
    expect((read() - before) / 3).toBeLessThan(STAFF / 100);

    const next = await detector.readWatermark(scope, wm);
    expect(BigInt((next as { usn: string }).usn)).toBeGreaterThan(BigInt((wm as { usn: string }).usn));
    expect(await detector.changedSince(scope, next!)).toBe(false);
  });

  it('another domain controller behind the same name counts as a change (USNs are per DC)', async () => {
    const detector = changeDetector(directory);
    const wm = await detector.readWatermark(scope);
    expect(wm?.kind).toBe('usn');
    expect(
      await detector.changedSince(scope, {
        ...(wm as { kind: 'usn'; usn: string; server: string }),
        server: 'CN=other',
      }),
    ).toBe(true);
  });
});
