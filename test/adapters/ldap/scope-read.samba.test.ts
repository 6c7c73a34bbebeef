import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type ConnectionSettings,
  connectionSettings,
  openDirectory,
} from '../../../src/adapters/ldap/connection.js';
import type { DirectoryEntry } from '../../../src/adapters/ldap/directory.js';
import { readScope, scopeSearch } from '../../../src/adapters/ldap/scope-read.js';
import type { Target } from '../../../src/config/types.generated.js';
import type { EntryQuery } from '../../../src/ports/directory.js';
import { DirectoryError } from '../../../src/shared/errors.js';
import { resolvedConnection } from '../../harness/connection.js';
import { makeDir } from '../../harness/files.js';
import { describeWithSamba } from '../../harness/require.js';
import { type SambaAd, startSambaAd } from '../../harness/samba.js';

const STAFF = 60;
const PROXIES = Array.from({ length: 30 }, (_, i) => `smtp:alias${i}@kommune.no`);
// Not UTF-8: arrives as base64, flagged binary.
const PHOTO = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x80, 0xc3, 0x28]);

/** Entries as comparable data, by DN (a completed entry may come later in its page). */
const byDn = (pages: DirectoryEntry[][]) =>
  pages
    .flat()
    .map((e) => ({ dn: e.dn, attrs: Object.fromEntries(e.attrs) }))
    .sort((a, b) => a.dn.localeCompare(b.dn));

describeWithSamba('the read of a whole scope, against Samba AD', () => {
  let samba: SambaAd;
  let files: { dir: string; cleanup: () => Promise<void> };
  let ou: string;

  beforeAll(async () => {
    samba = await startSambaAd();
    files = await makeDir({ 'admin-password': `${samba.adminPassword}\n` });
    await copyFile(samba.caFile, path.join(files.dir, 'ca.pem'));
    const users = await samba.addUsers(
      [
        ...Array.from({ length: STAFF }, (_, i) => ({
          cn: `Ansatt ${i}`,
          sAMAccountName: `tr${i}`,
          employeeID: String(2000 + i),
        })),
        {
          cn: 'Bjørn Ærlig',
          sAMAccountName: 'trbjorn',
          employeeID: '2999',
          mail: 'bjorn@kommune.no',
          proxyAddresses: PROXIES,
        },
      ],
      'OU=Lesing',
    );
    ou = users[0]!.split(',').slice(1).join(',');
    const admin = await samba.client();
    try {
      await admin.modify(
        users.at(-1)!,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'thumbnailPhoto', values: [PHOTO] }),
        }),
      );
    } finally {
      await admin.unbind();
    }
  });

  afterAll(async () => {
    await samba?.stop();
    await files?.cleanup();
  });

  const settings = async (conn: Partial<Omit<Target, 'allowedAttributes'>> = {}) =>
    connectionSettings(
      resolvedConnection(
        {
          url: samba.ldapsUrl,
          bindDN: samba.adminDN,
          passwordFile: 'admin-password',
          tls: { caFile: 'ca.pem' },
          pageSize: 25,
          timeoutMs: 30_000,
          ...conn,
        },
        path.join(files.dir, 'daemon.yaml'),
      ),
      'target t',
    );

  const query = (attributes: string[]): EntryQuery => ({
    target: 't',
    baseDN: ou,
    scope: 'one',
    scopeFilter: '(objectClass=user)',
    matchAttribute: 'employeeID',
    attributes,
  });

  const inThread = async (s: ConnectionSettings, q: EntryQuery) => {
    const dir = await openDirectory(s);
    try {
      const pages: DirectoryEntry[][] = [];
      for await (const page of dir.searchPages(scopeSearch(q))) pages.push(page);
      return pages;
    } finally {
      await dir.close();
    }
  };

  const bulk = async (s: ConnectionSettings, q: EntryQuery) => {
    const pages: DirectoryEntry[][] = [];
    for await (const page of readScope(s, q, {})) pages.push(page);
    return pages;
  };

  it('over ldaps:// with the CA: the same entries as the ldapts read, binary and non-ASCII included', async () => {
    const s = await settings();
    const q = query(['employeeID', 'cn', 'mail', 'proxyAddresses', 'thumbnailPhoto', 'objectGUID']);
    const read = await bulk(s, q);
    expect(read.length).toBeGreaterThan(2);
    expect(byDn(read)).toEqual(byDn(await inThread(s, q)));
    const bjorn = read.flat().find((e) => e.attrs.get('employeeid')?.values[0] === '2999')!;
    expect(bjorn.attrs.get('cn')?.values).toEqual(['Bjørn Ærlig']);
    expect(bjorn.attrs.get('thumbnailphoto')).toEqual({
      name: 'thumbnailPhoto',
      values: [PHOTO.toString('base64')],
      binary: true,
    });
    expect(bjorn.attrs.get('objectguid')?.binary).toBe(true);
  });

  it('an attribute sent in ranges is read to its end, as the ldapts read completes it', async () => {
    // Active Directory sends ranges by itself above MaxValRange (1500 values); Samba only when
    // asked, so the query asks for the first slice.
    const s = await settings();
    const q = query(['employeeID', 'proxyAddresses;range=0-4']);
    const read = await bulk(s, q);
    expect(byDn(read)).toEqual(byDn(await inThread(s, q)));
    const bjorn = read.flat().find((e) => e.attrs.get('employeeid')?.values[0] === '2999')!;
    expect(bjorn.attrs.get('proxyaddresses')?.name).toBe('proxyAddresses');
    expect([...bjorn.attrs.get('proxyaddresses')!.values].sort()).toEqual([...PROXIES].sort());
    expect(read.flat()).toHaveLength(STAFF + 1);
  });

  it('StartTLS with the CA reads everything', async () => {
    const s = await settings({
      url: samba.ldapUrl,
      tls: { startTLS: true, caFile: 'ca.pem', servername: samba.servername },
    });
    expect((await bulk(s, query(['employeeID']))).flat()).toHaveLength(STAFF + 1);
  });

  it('ldaps:// without the CA is refused by default, with the certificate wording of the ldapts read', async () => {
    const s = await settings({ tls: undefined });
    const err = await bulk(s, query(['employeeID'])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DirectoryError);
    expect((err as DirectoryError).transient).toBe(false);
    expect((err as Error).message).toMatch(/TLS certificate of .* not accepted/);
    const viaLdapts = await openDirectory(s).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe((viaLdapts as Error).message);
  });
});
