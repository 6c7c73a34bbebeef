import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { Attribute, Change } from 'ldapts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryError } from '../../../src/shared/errors.js';
import {
  connectionSettings,
  type DirectoryLogger,
  openDirectory,
} from '../../../src/adapters/ldap/connection.js';
import type { Target } from '../../../src/config/types.generated.js';
import { resolvedConnection } from '../../harness/connection.js';
import type { Directory, DirectoryEntry } from '../../../src/adapters/ldap/directory.js';
import { scopeFilter } from '../../../src/syntax/filter.js';
import { makeDir } from '../../harness/files.js';
import { describeWithSlapd } from '../../harness/require.js';
import { type Slapd, startSlapd, toLdif } from '../../harness/slapd.js';

const SUFFIX = 'dc=kommune,dc=test';
const PEOPLE = `ou=people,${SUFFIX}`;
const SPECIAL = `ou=special,${SUFFIX}`;
const COUNT = 2500;
// A JPEG header: 0xff 0xd8 … is not valid UTF-8, so it must come back as base64.
const JPEG = Buffer.from([
  0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x80, 0xc3, 0x28,
]);
const BOM_TEXT = '\uFEFFhei på deg';

function person(i: number) {
  const id = String(10000 + i);
  return {
    dn: `uid=u${id},${PEOPLE}`,
    attrs: {
      objectClass: ['inetOrgPerson', 'reexportPerson'],
      uid: `u${id}`,
      cn: `Person ${id}`,
      sn: `Etternavn ${id}`,
      employeeID: id,
      mail: `u${id}@kommune.no`,
    },
  };
}

function seed(): string {
  const specials = toLdif([
    {
      dn: `uid=bjorn,${SPECIAL}`,
      attrs: {
        objectClass: ['inetOrgPerson', 'reexportPerson'],
        uid: 'bjorn',
        cn: 'Bjørn Ærlig Åsen',
        sn: 'Ærlig',
        givenName: 'Bjørn',
        employeeID: 'ø-1',
        description: BOM_TEXT,
        proxyAddresses: ['SMTP:bjorn@kommune.no', 'smtp:bjørn@kommune.no'],
      },
    },
    {
      dn: `uid=injection,${SPECIAL}`,
      attrs: {
        objectClass: ['inetOrgPerson', 'reexportPerson'],
        uid: 'injection',
        cn: 'x',
        sn: 'x',
        employeeID: '*)(uid=*',
      },
    },
  ]);
  const photo = `dn: uid=photo,${SPECIAL}\nobjectClass: inetOrgPerson\nuid: photo\ncn: Photo\nsn: Photo\njpegPhoto:: ${JPEG.toString('base64')}\n`;
  return [
    `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
    `dn: ${SPECIAL}\nobjectClass: organizationalUnit\nou: special\n`,
    toLdif(Array.from({ length: COUNT }, (_, i) => person(i))),
    specials,
    photo,
  ].join('\n');
}

async function collect(
  dir: Directory,
  opts: Parameters<Directory['searchPages']>[0],
): Promise<DirectoryEntry[][]> {
  const pages: DirectoryEntry[][] = [];
  for await (const page of dir.searchPages(opts)) pages.push(page);
  return pages;
}

describe('connectionSettings (no server needed)', () => {
  const SECRET = 'S3cret-value';
  let files: { dir: string; cleanup: () => Promise<void> };
  const daemon = () => path.join(files.dir, 'etc', 'daemon.yaml');
  beforeAll(async () => {
    files = await makeDir({
      'etc/secrets/pw': `${SECRET}\r\n`,
      'etc/empty': '\n',
      'etc/not-a-ca.pem': 'hello',
    });
  });
  afterAll(() => files.cleanup());

  const settings = (conn: Omit<Target, 'allowedAttributes'>, env: NodeJS.ProcessEnv = {}) =>
    connectionSettings(resolvedConnection(conn, daemon()), 'target t', env);
  const fails = async (conn: Omit<Target, 'allowedAttributes'>, env: NodeJS.ProcessEnv = {}) => {
    const err = await settings(conn, env).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DirectoryError);
    expect((err as Error).message).not.toContain(SECRET);
    return (err as Error).message;
  };

  it('reads the password file relative to the daemon config, without the trailing newline; checks on by default', async () => {
    const s = await settings({
      url: 'ldaps://dc01.kommune.test',
      bindDN: 'CN=svc',
      passwordFile: 'secrets/pw',
    });
    expect(s).toEqual({
      name: 'target t',
      url: 'ldaps://dc01.kommune.test',
      bindDN: 'CN=svc',
      password: SECRET,
      caPem: undefined,
      servername: undefined,
      startTLS: false,
      rejectUnauthorized: true,
      timeoutMs: 120_000,
      pageSize: 1000,
    });
  });

  it('reads the password from the environment', async () => {
    const s = await settings({ url: 'ldaps://dc01', bindDN: 'CN=svc', passwordEnv: 'PW' }, { PW: SECRET });
    expect(s.password).toBe(SECRET);
  });

  it('says which file, variable or setting is wrong', async () => {
    expect(await fails({ url: 'ldaps://dc01', bindDN: 'CN=svc', passwordFile: 'secrets/missing' })).toMatch(
      /cannot read passwordFile .*etc\/secrets\/missing for CN=svc: ENOENT/,
    );
    expect(await fails({ url: 'ldaps://dc01', bindDN: 'CN=svc', passwordFile: 'empty' })).toMatch(
      /passwordFile .*empty for CN=svc is empty/,
    );
    expect(await fails({ url: 'ldaps://dc01', bindDN: 'CN=svc', passwordEnv: 'PW' })).toBe(
      'environment variable PW (passwordEnv for CN=svc) is not set',
    );
    expect(
      await fails(
        { url: 'ldaps://dc01', bindDN: 'CN=svc', passwordEnv: 'PW', tls: { caFile: 'nope.pem' } },
        { PW: SECRET },
      ),
    ).toMatch(/cannot read tls.caFile .*nope.pem: ENOENT/);
    expect(await fails({ url: 'ldaps://dc01', tls: { caFile: 'not-a-ca.pem' } })).toMatch(
      /holds no PEM certificate/,
    );
    expect(await fails({ url: 'ldaps://dc01', tls: { startTLS: true } })).toMatch(
      /startTLS is for ldap:\/\//,
    );
    expect(await fails({ url: 'ldap://dc01', tls: { caFile: 'not-a-ca.pem' } })).toMatch(/would not use TLS/);
    expect(await fails({ url: 'http://dc01' })).toMatch(/ldap:\/\/ or ldaps:\/\//);
    expect(await fails({ url: 'ldap://dc01/dc=kommune,dc=test' })).toMatch(/only scheme, host and port/);
  });

  it('refuses to send a password in clear text to a host that is not loopback', async () => {
    const s = await settings(
      { url: 'ldap://192.0.2.10:389', bindDN: 'CN=svc', passwordEnv: 'PW' },
      { PW: SECRET },
    );
    const err = await openDirectory(s).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(DirectoryError);
    expect(err?.message).toMatch(
      /refusing to send the password of CN=svc in clear text to ldap:\/\/192\.0\.2\.10:389: .*use ldaps:\/\/ or set tls\.startTLS: true/,
    );
    expect(err?.message).not.toContain(SECRET);
  });
});

describeWithSlapd('Directory against OpenLDAP slapd', () => {
  let slapd: Slapd;
  let files: { dir: string; cleanup: () => Promise<void> };
  const opened: Directory[] = [];
  const configPath = () => path.join(files.dir, 'daemon.yaml');

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: seed(), tls: true });
    files = await makeDir({ 'secrets/slapd-password': `${slapd.password}\n` });
    await copyFile(slapd.caFile!, path.join(files.dir, 'ca.pem'));
  });

  afterAll(async () => {
    await slapd?.stop();
    await files?.cleanup();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((d) => d.close()));
  });

  async function open(
    conn: Partial<Target> = {},
    env: NodeJS.ProcessEnv = {},
    log?: DirectoryLogger,
  ): Promise<Directory> {
    const settings = await connectionSettings(
      resolvedConnection(
        {
          url: slapd.url,
          bindDN: slapd.bindDN,
          passwordFile: 'secrets/slapd-password',
          pageSize: 500,
          timeoutMs: 30_000,
          ...conn,
        },
        configPath(),
      ),
      'target t',
      env,
    );
    const dir = await openDirectory(settings, log);
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

  it('reads 2,500 entries in 5 pages of 500, each entry once, only the requested attributes', async () => {
    const dir = await open();
    expect(dir.isActiveDirectory).toBe(false);
    const pages = await collect(dir, {
      baseDN: PEOPLE,
      scope: 'sub',
      filter: scopeFilter({ scopeFilter: '(objectClass=inetOrgPerson)', matchAttribute: 'employeeID' }),
      attributes: ['employeeID', 'MAIL'],
    });
    expect(pages.map((p) => p.length)).toEqual([500, 500, 500, 500, 500]);
    const entries = pages.flat();
    expect(new Set(entries.map((e) => e.dn.toLowerCase())).size).toBe(COUNT);
    for (const e of entries) expect([...e.attrs.keys()].sort()).toEqual(['employeeid', 'mail']);
    const first = entries.find((e) => e.dn.startsWith('uid=u10000,'))!;
    expect(first.attrs.get('employeeid')).toEqual({ name: 'employeeID', values: ['10000'] });
    expect(first.attrs.get('mail')?.values).toEqual(['u10000@kommune.no']);
  });

  it('accepts the scope filter as text and honours sizeLimit', async () => {
    const dir = await open();
    const pages = await collect(dir, {
      baseDN: PEOPLE,
      scope: 'one',
      filter: '(employeeID=1000*)',
      attributes: ['uid'],
      sizeLimit: 5,
    });
    expect(pages.flat()).toHaveLength(5);
  });

  it('round-trips Norwegian UTF-8, a byte-order mark and multiple values; names as the server spells them', async () => {
    const dir = await open();
    const e = await dir.readEntry(`uid=bjorn,${SPECIAL}`, [
      'cn',
      'sn',
      'givenName',
      'DESCRIPTION',
      'proxyAddresses',
      'employeeID',
    ]);
    expect(e?.attrs.get('cn')).toEqual({ name: 'cn', values: ['Bjørn Ærlig Åsen'] });
    expect(e?.attrs.get('givenname')?.values).toEqual(['Bjørn']);
    // ldapts' own decoding drops a leading BOM, and explicitBufferAttributes: ['DESCRIPTION'] would not
    // help (slapd answers with its schema's spelling, ldapts compares case-sensitively); ours keeps it.
    expect(e?.attrs.get('description')).toEqual({ name: 'description', values: [BOM_TEXT] });
    expect(e?.attrs.get('proxyaddresses')?.values).toEqual([
      'SMTP:bjorn@kommune.no',
      'smtp:bjørn@kommune.no',
    ]);
  });

  it('returns a non-UTF-8 value as base64, marked binary, whatever the requested spelling', async () => {
    const dir = await open();
    for (const spelling of ['jpegPhoto', 'JPEGPHOTO', 'jpegphoto']) {
      const e = await dir.readEntry(`uid=photo,${SPECIAL}`, [spelling, 'cn']);
      const photo = e?.attrs.get('jpegphoto');
      expect(photo?.binary).toBe(true);
      expect(photo?.values).toEqual([JPEG.toString('base64')]);
      expect(e?.attrs.get('cn')).toEqual({ name: 'cn', values: ['Photo'] });
    }
  });

  it('refuses rangeStep on a server that is not Active Directory', async () => {
    const dir = await open();
    await expect(dir.readEntry(`uid=bjorn,${SPECIAL}`, ['cn'], { rangeStep: 10 })).rejects.toThrow(
      /rangeStep is for Active Directory/,
    );
  });

  it('readEntry gives undefined for a missing entry; a search under a missing base fails instead of finding nothing', async () => {
    const dir = await open();
    expect(await dir.readEntry(`uid=nobody,${SPECIAL}`, ['cn'])).toBeUndefined();
    const err = await collect(dir, {
      baseDN: `ou=nope,${SUFFIX}`,
      scope: 'sub',
      filter: '(uid=*)',
      attributes: ['cn'],
    }).then(
      () => undefined,
      (e: unknown) => e as DirectoryError,
    );
    expect(err).toBeInstanceOf(DirectoryError);
    expect(err?.code).toBe(32);
    expect(err?.message).toMatch(
      /search under ou=nope,dc=kommune,dc=test on ldap:.* failed: LDAP result 32 NoSuchObject/,
    );
  });

  it('an injection ID matches only the entry whose value is literally that string', async () => {
    const dir = await open();
    const find = async (ids: string[]) =>
      (
        await collect(dir, {
          baseDN: SUFFIX,
          scope: 'sub',
          filter: scopeFilter({ matchAttribute: 'employeeID', ids }),
          attributes: ['uid'],
        })
      )
        .flat()
        .map((e) => e.attrs.get('uid')?.values[0]);
    expect(await find(['*)(uid=*'])).toEqual(['injection']);
    expect(await find(['*'])).toEqual([]);
    expect(await find(['10007'])).toEqual(['u10007']);
    expect(await find(['ø-1', '10008'])).toEqual(expect.arrayContaining(['bjorn', 'u10008']));
    await slapd.ldapmodify(
      `dn: uid=injection,${SPECIAL}\nchangetype: modify\nreplace: employeeID\nemployeeID: harmless\n`,
    );
    expect(await find(['*)(uid=*'])).toEqual([]);
  });

  it('StartTLS with the CA works; a wrong servername fails with a certificate message', async () => {
    const dir = await open({ tls: { startTLS: true, caFile: 'ca.pem' } });
    expect((await dir.readEntry(`uid=bjorn,${SPECIAL}`, ['sn']))?.attrs.get('sn')?.values).toEqual(['Ærlig']);
    const byName = await open({ tls: { startTLS: true, caFile: 'ca.pem', servername: 'localhost' } });
    expect(byName.isActiveDirectory).toBe(false);
    const err = await openFails({
      tls: { startTLS: true, caFile: 'ca.pem', servername: 'dc01.wrong.example' },
    });
    expect(err.message).toMatch(/certificate/);
    expect(err.message).toMatch(/tls\.servername/);
  });

  it('tls.rejectUnauthorized: false warns at every connect, naming the target; checked TLS does not', async () => {
    const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    const log: DirectoryLogger = { info: () => {}, warn: (obj, msg) => void warnings.push({ obj, msg }) };
    const unchecked = async () => {
      const dir = await open({ tls: { startTLS: true, rejectUnauthorized: false } }, {}, log);
      expect((await dir.readEntry(`uid=bjorn,${SPECIAL}`, ['sn']))?.attrs.get('sn')?.values).toEqual([
        'Ærlig',
      ]);
    };
    await unchecked();
    await unchecked();
    const tlsWarnings = warnings.filter((w) => /rejectUnauthorized: false/.test(w.msg));
    expect(tlsWarnings).toHaveLength(2);
    expect(tlsWarnings[0]!.obj).toEqual({ connection: 'target t', url: slapd.url });
    expect(tlsWarnings[0]!.msg).toMatch(/certificate checks are off for target t/);
    warnings.length = 0;
    await open({ tls: { startTLS: true, caFile: 'ca.pem' } }, {}, log);
    expect(warnings.filter((w) => /rejectUnauthorized/.test(w.msg))).toEqual([]);
  });

  it('StartTLS without the CA fails: certificate checks are on by default', async () => {
    const err = await openFails({ tls: { startTLS: true } });
    expect(err.message).toMatch(/TLS certificate of .* not accepted/);
    expect(err.message).toMatch(/tls\.caFile/);
  });

  it('ldaps with the CA works; without it the certificate is refused', async () => {
    const dir = await open({ url: slapd.ldapsUrl!, tls: { caFile: 'ca.pem' } });
    expect(dir.url).toBe(slapd.ldapsUrl);
    const err = await openFails({ url: slapd.ldapsUrl! });
    expect(err.message).toMatch(/certificate/);
    expect(err.message).toMatch(/tls\.caFile/);
    const byName = await open({ url: slapd.ldapsUrl!, tls: { caFile: 'ca.pem', servername: 'localhost' } });
    expect(byName.url).toBe(slapd.ldapsUrl);
    // The servername is only the name to check: the connection still goes to the URL's host.
    const wrongName = await openFails({
      url: slapd.ldapsUrl!,
      tls: { caFile: 'ca.pem', servername: 'dc01.wrong.example' },
    });
    expect(wrongName.message).toMatch(/TLS certificate of .* not accepted.*tls\.servername/);
    const unchecked = await open({ url: slapd.ldapsUrl!, tls: { rejectUnauthorized: false } });
    expect(unchecked.isActiveDirectory).toBe(false);
  });

  it('a wrong password gives a DirectoryError about credentials that does not contain the password', async () => {
    const wrong = 'Wr0ng-but-secret!';
    const err = await openFails({ passwordFile: undefined, passwordEnv: 'SLAPD_PW' }, { SLAPD_PW: wrong });
    expect(err.code).toBe(49);
    expect(err.message).toBe(
      `bind as ${slapd.bindDN} on ${slapd.url} failed: invalid credentials; check passwordFile/passwordEnv`,
    );
    expect(err.message).not.toContain(wrong);
    expect(String(err.stack)).not.toContain(wrong);
  });

  it('a closed port says it cannot reach the URL', async () => {
    const url = slapd.url.replace(/:\d+$/, ':1');
    const err = await openFails({ url });
    expect(err.message).toMatch(new RegExp(`cannot reach ${url.replace(/[.:/]/g, '\\$&')}`));
  });

  it('reconnects (with StartTLS and bind) after the connection was lost', async () => {
    const dir = await open({ tls: { startTLS: true, caFile: 'ca.pem' } });
    const before = dir.client;
    await before.unbind();
    expect((await dir.readEntry(`uid=bjorn,${SPECIAL}`, ['sn']))?.attrs.get('sn')?.values).toEqual(['Ærlig']);
    expect(dir.client).not.toBe(before);
    expect(dir.client.isBound).toBe(true);
  });

  it('modify applies a compare-and-swap change and reports a stale one with its result code', async () => {
    const dir = await open({ tls: { startTLS: true, caFile: 'ca.pem' } });
    const dn = `uid=u10001,${PEOPLE}`;
    const swap = (from: string, to: string) => [
      new Change({ operation: 'delete', modification: new Attribute({ type: 'mail', values: [from] }) }),
      new Change({ operation: 'add', modification: new Attribute({ type: 'mail', values: [to] }) }),
    ];
    await dir.modify(dn, swap('u10001@kommune.no', 'ny.adresse@kommune.no'));
    expect((await dir.readEntry(dn, ['mail']))?.attrs.get('mail')?.values).toEqual(['ny.adresse@kommune.no']);
    // The connection drops between operations; the next one must not go out unencrypted.
    await dir.client.unbind();
    const err = await dir.modify(dn, swap('u10001@kommune.no', 'igjen@kommune.no')).then(
      () => undefined,
      (e: unknown) => e as DirectoryError,
    );
    expect(err).toBeInstanceOf(DirectoryError);
    expect(err?.code).toBe(16);
    expect(err?.message).toMatch(/modify uid=u10001,.* failed: LDAP result 16 NoSuchAttribute/);
    expect((await dir.readEntry(dn, ['mail']))?.attrs.get('mail')?.values).toEqual(['ny.adresse@kommune.no']);
  });

  it('anonymous reads work without a bindDN (slapd ACLs then hide the entries)', async () => {
    const dir = await open({ bindDN: undefined, passwordFile: undefined });
    expect(await dir.readEntry(`uid=bjorn,${SPECIAL}`, ['sn'])).toBeUndefined();
  });
});
