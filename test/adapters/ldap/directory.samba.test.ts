import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { Attribute, Change } from 'ldapts';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { DirectoryError } from '../../../src/shared/errors.js';
import { connectionSettings, openDirectory } from '../../../src/adapters/ldap/connection.js';
import type { Target } from '../../../src/config/types.generated.js';
import { resolvedConnection } from '../../harness/connection.js';
import type { Directory, DirectoryEntry } from '../../../src/adapters/ldap/directory.js';
import { scopeFilter } from '../../../src/syntax/filter.js';
import { makeDir } from '../../harness/files.js';
import { describeWithSamba } from '../../harness/require.js';
import { type SambaAd, startSambaAd } from '../../harness/samba.js';

const STAFF = 125;
const PAGE = 25;
const PROXIES = Array.from({ length: 30 }, (_, i) => `smtp:alias${i}@kommune.no`);
const PHOTO = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x80, 0xc3, 0x28]);

async function collect(
  dir: Directory,
  opts: Parameters<Directory['searchPages']>[0],
): Promise<DirectoryEntry[][]> {
  const pages: DirectoryEntry[][] = [];
  for await (const page of dir.searchPages(opts)) pages.push(page);
  return pages;
}

describeWithSamba('Directory against Samba AD', () => {
  let samba: SambaAd;
  let files: { dir: string; cleanup: () => Promise<void> };
  let staffOU: string;
  let specialOU: string;
  let many: string;
  let bjorn: string;
  let group: string;
  const opened: Directory[] = [];

  beforeAll(async () => {
    samba = await startSambaAd();
    files = await makeDir({ 'admin-password': `${samba.adminPassword}\n` });
    await copyFile(samba.caFile, path.join(files.dir, 'ca.pem'));
    const staff = await samba.addUsers(
      Array.from({ length: STAFF }, (_, i) => ({
        cn: `Ansatt ${i}`,
        sAMAccountName: `ansatt${i}`,
        employeeID: String(1000 + i),
      })),
    );
    staffOU = staff[0]!.split(',').slice(1).join(',');
    const special = await samba.addUsers(
      [
        // AD limits employeeID to 16 characters, so the injection string is a short one.
        {
          cn: 'Many Aliases',
          sAMAccountName: 'many',
          employeeID: 'many-1',
          mail: 'many@kommune.no',
          proxyAddresses: PROXIES,
        },
        {
          cn: 'Bjørn Ærlig Åsen',
          sAMAccountName: 'bjorn',
          employeeID: '*)(cn=*',
          givenName: 'Bjørn',
          sn: 'Ærlig',
        },
      ],
      'OU=Spesial',
    );
    [many, bjorn] = [special[0]!, special[1]!];
    specialOU = many.split(',').slice(1).join(',');
    const admin = await samba.client();
    try {
      await admin.modify(
        bjorn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'thumbnailPhoto', values: [PHOTO] }),
        }),
      );
      group = `CN=Gruppe,${specialOU}`;
      await admin.add(group, { objectClass: ['top', 'group'], member: staff.slice(0, 12) });
    } finally {
      await admin.unbind();
    }
  });

  afterAll(async () => {
    await samba?.stop();
    await files?.cleanup();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((d) => d.close()));
  });

  async function open(conn: Partial<Target> = {}, env: NodeJS.ProcessEnv = {}): Promise<Directory> {
    const settings = await connectionSettings(
      resolvedConnection(
        {
          url: samba.ldapsUrl,
          bindDN: samba.adminDN,
          passwordFile: 'admin-password',
          tls: { caFile: 'ca.pem' },
          pageSize: PAGE,
          timeoutMs: 30_000,
          ...conn,
        },
        path.join(files.dir, 'daemon.yaml'),
      ),
      'target t',
      env,
    );
    const dir = await openDirectory(settings);
    opened.push(dir);
    return dir;
  }

  async function openFails(conn: Partial<Target>, env: NodeJS.ProcessEnv = {}): Promise<DirectoryError> {
    const err = await open(conn, env).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DirectoryError);
    return err as DirectoryError;
  }

  it('detects Active Directory from the root DSE', async () => {
    expect((await open()).isActiveDirectory).toBe(true);
  });

  it(`reads ${STAFF} users in pages of ${PAGE}, each once, only the requested attributes`, async () => {
    const dir = await open();
    const pages = await collect(dir, {
      baseDN: staffOU,
      scope: 'one',
      filter: scopeFilter({ scopeFilter: '(objectClass=user)', matchAttribute: 'employeeID' }),
      attributes: ['EMPLOYEEID', 'sAMAccountName'],
    });
    expect(pages.map((p) => p.length)).toEqual([25, 25, 25, 25, 25]);
    const entries = pages.flat();
    expect(new Set(entries.map((e) => e.dn.toLowerCase())).size).toBe(STAFF);
    for (const e of entries) expect([...e.attrs.keys()].sort()).toEqual(['employeeid', 'samaccountname']);
    const e0 = entries.find((e) => e.attrs.get('samaccountname')?.values[0] === 'ansatt0')!;
    expect(e0.attrs.get('employeeid')).toEqual({ name: 'employeeID', values: ['1000'] });
  });

  it('round-trips Norwegian UTF-8 (also in the DN)', async () => {
    const dir = await open();
    const e = await dir.readEntry(bjorn, ['cn', 'givenName', 'sn']);
    expect(e?.dn).toBe(bjorn);
    expect(e?.attrs.get('cn')?.values).toEqual(['Bjørn Ærlig Åsen']);
    expect(e?.attrs.get('givenname')?.values).toEqual(['Bjørn']);
    expect(e?.attrs.get('sn')?.values).toEqual(['Ærlig']);
  });

  it('returns thumbnailPhoto as base64 marked binary, and objectGUID byte-exact', async () => {
    const dir = await open();
    const e = await dir.readEntry(bjorn, ['thumbnailphoto', 'objectguid']);
    expect(e?.attrs.get('thumbnailphoto')).toEqual({
      name: 'thumbnailPhoto',
      values: [PHOTO.toString('base64')],
      binary: true,
    });
    const admin = await samba.client();
    try {
      const { searchEntries } = await admin.search(bjorn, {
        scope: 'base',
        attributes: ['objectGUID'],
        explicitBufferAttributes: ['objectGUID'],
      });
      const raw = searchEntries[0]!.objectGUID as Buffer;
      const guid = e!.attrs.get('objectguid')!;
      // A GUID that happens to be valid UTF-8 comes back as text; either way the bytes are exact.
      expect(Buffer.from(guid.values[0]!, guid.binary ? 'base64' : 'utf8')).toEqual(raw);
    } finally {
      await admin.unbind();
    }
  });

  it('an injection ID matches only the entry holding that literal value', async () => {
    const dir = await open();
    const find = async (ids: string[]) =>
      (
        await collect(dir, {
          baseDN: samba.baseDN,
          scope: 'sub',
          filter: scopeFilter({ scopeFilter: '(objectClass=user)', matchAttribute: 'employeeID', ids }),
          attributes: ['sAMAccountName'],
        })
      )
        .flat()
        .map((e) => e.attrs.get('samaccountname')?.values[0]);
    expect(await find(['*)(cn=*'])).toEqual(['bjorn']);
    expect(await find(['*)(uid=*'])).toEqual([]);
    expect(await find(['*'])).toEqual([]);
    expect(await find(['1007'])).toEqual(['ansatt7']);
  });

  it('range retrieval: asks in steps and merges every value under the plain name', async () => {
    const dir = await open();
    const admin = await samba.client();
    try {
      // Samba sends ranges only when asked, and then only the asked-for slice.
      const { searchEntries } = await admin.search(many, {
        scope: 'base',
        attributes: ['proxyAddresses;range=0-9'],
      });
      expect(searchEntries[0]!['proxyAddresses;range=0-9']).toHaveLength(10);
    } finally {
      await admin.unbind();
    }
    const e = await dir.readEntry(many, ['proxyAddresses', 'mail', 'objectGUID'], { rangeStep: 10 });
    const proxies = e?.attrs.get('proxyaddresses');
    expect(proxies?.name).toBe('proxyAddresses');
    expect([...(proxies?.values ?? [])].sort()).toEqual([...PROXIES].sort());
    expect(e?.attrs.get('mail')).toEqual({ name: 'mail', values: ['many@kommune.no'] });
    expect([...e!.attrs.keys()].sort()).toEqual(['mail', 'objectguid', 'proxyaddresses']);

    const pages = await collect(dir, {
      baseDN: specialOU,
      scope: 'one',
      filter: '(objectClass=group)',
      attributes: ['member'],
      rangeStep: 5,
    });
    const members = pages
      .flat()
      .find((g) => g.dn === group)
      ?.attrs.get('member');
    expect(members?.values).toHaveLength(12);
    expect(new Set(members?.values.map((m) => m.toLowerCase())).size).toBe(12);
  });

  it('range retrieval inside a paged search keeps each page whole', async () => {
    const dir = await open();
    const pages = await collect(dir, {
      baseDN: specialOU,
      scope: 'one',
      filter: '(objectClass=user)',
      attributes: ['proxyAddresses', 'sAMAccountName'],
      rangeStep: 7,
    });
    const byName = new Map(pages.flat().map((e) => [e.attrs.get('samaccountname')?.values[0], e]));
    expect(byName.get('many')?.attrs.get('proxyaddresses')?.values).toHaveLength(30);
    expect(byName.get('bjorn')?.attrs.has('proxyaddresses')).toBe(false);
  });

  it('StartTLS with the CA works; a wrong servername fails with a certificate message', async () => {
    const dir = await open({
      url: samba.ldapUrl,
      tls: { startTLS: true, caFile: 'ca.pem', servername: samba.servername },
    });
    expect(dir.isActiveDirectory).toBe(true);
    expect((await dir.readEntry(bjorn, ['sn']))?.attrs.get('sn')?.values).toEqual(['Ærlig']);
    const err = await openFails({
      url: samba.ldapUrl,
      tls: { startTLS: true, caFile: 'ca.pem', servername: 'dc9.other.test' },
    });
    expect(err.message).toMatch(/certificate/);
    expect(err.message).toMatch(/tls\.servername/);
  });

  it('ldaps without the CA fails: certificate checks are on by default', async () => {
    const err = await openFails({ tls: undefined });
    expect(err.message).toMatch(/TLS certificate of .* not accepted/);
    expect(err.message).toMatch(/tls\.caFile/);
  });

  it('a simple bind over plain ldap:// is refused by AD with a hint to use TLS', async () => {
    const err = await openFails({ url: samba.ldapUrl, tls: undefined });
    expect(err.code).toBe(8);
    expect(err.message).toMatch(/ldaps:\/\/ or tls\.startTLS/);
    expect(err.message).not.toContain(samba.adminPassword);
  });

  it('a wrong password gives a DirectoryError about credentials that does not contain the password', async () => {
    const wrong = 'Not-The-Adm1n-Password!';
    const err = await openFails(
      { passwordFile: undefined, passwordEnv: 'AD_PASSWORD' },
      { AD_PASSWORD: wrong },
    );
    expect(err.code).toBe(49);
    expect(err.message).toBe(
      `bind as ${samba.adminDN} on ${samba.ldapsUrl} failed: invalid credentials; check passwordFile/passwordEnv`,
    );
    expect(err.message).not.toContain(wrong);
  });
});
