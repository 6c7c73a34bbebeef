import { readFile, truncate, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConnectionSettings,
  connectionSettings,
  openDirectory,
} from '../../../src/adapters/ldap/connection.js';
import type { DirectoryEntry } from '../../../src/adapters/ldap/directory.js';
import { readScope, replayPages, scopeSearch } from '../../../src/adapters/ldap/scope-read.js';
import type { Target } from '../../../src/config/types.generated.js';
import type { EntryQuery } from '../../../src/ports/directory.js';
import { DirectoryError } from '../../../src/shared/errors.js';
import { FilterSyntaxError } from '../../../src/syntax/filter.js';
import { resolvedConnection } from '../../harness/connection.js';
import { describeWithSlapd } from '../../harness/require.js';
import { type Slapd, startSlapd, toLdif } from '../../harness/slapd.js';
import { entriesSent } from '../../harness/slapd-audit.js';
import { startTcpProxy } from '../../harness/tcp-proxy.js';

const PEOPLE = 'ou=people,dc=kommune,dc=test';
const COUNT = 250;
// Not valid UTF-8: must arrive as base64, flagged binary, as the ldapts read gives it.
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]);

const query = (over: Partial<EntryQuery> = {}): EntryQuery => ({
  target: 't',
  baseDN: PEOPLE,
  scope: 'sub',
  matchAttribute: 'employeeID',
  attributes: ['employeeID', 'mail', 'description', 'proxyAddresses', 'jpegPhoto'],
  ...over,
});

/** The error a read ends with; undefined when it ends well. */
async function failure(pages: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const _ of pages) void _;
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Entries as comparable data, in read order. */
const plain = (pages: DirectoryEntry[][]) =>
  pages.flat().map((e) => ({ dn: e.dn, attrs: Object.fromEntries(e.attrs) }));

/** Entries whose decoding is easy to get wrong: each must come out as the ldapts path gives it. */
const SPECIAL = [
  // An escaped comma in the DN, and a name in decomposed form (NFD), kept as the server sends it.
  {
    dn: `uid=a\\,b,${PEOPLE}`,
    attrs: {
      objectClass: ['inetOrgPerson', 'reexportPerson'],
      uid: 'a,b',
      cn: 'A B',
      sn: 'B',
      description: 'Bjo\u0308rn',
      employeeID: '7001',
    },
  },
  // A non-ASCII DN; a value that really holds U+FFFD (valid UTF-8); many values; a long value.
  {
    dn: `uid=bjørn,${PEOPLE}`,
    attrs: {
      objectClass: ['inetOrgPerson', 'reexportPerson'],
      uid: 'bjørn',
      cn: 'Bjørn',
      sn: 'Ærlig',
      employeeID: '7002',
      description: 'fra \uFFFD til 😀',
      proxyAddresses: Array.from({ length: 40 }, (_, i) => `smtp:b${i}@kommune.no`),
      mail: `${'x'.repeat(300)}@kommune.no`,
    },
  },
  // None of the requested attributes but the ID.
  {
    dn: `uid=sparse,${PEOPLE}`,
    attrs: {
      objectClass: ['inetOrgPerson', 'reexportPerson'],
      uid: 'sparse',
      cn: 'Sparse',
      sn: 'S',
      employeeID: '7003',
    },
  },
];
const LATIN1 = Buffer.from('caf\xe9', 'latin1');

describeWithSlapd('the read of a whole scope', () => {
  let slapd: Slapd;
  const logs: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const log = {
    info: (obj: Record<string, unknown>, msg: string) => logs.push({ level: 'info', obj, msg }),
    warn: (obj: Record<string, unknown>, msg: string) => logs.push({ level: 'warn', obj, msg }),
  };
  const settings = async (
    conn: Partial<Omit<Target, 'allowedAttributes'>> = {},
    env: NodeJS.ProcessEnv = { PW: slapd.password },
  ) =>
    connectionSettings(
      resolvedConnection(
        { url: slapd.url, bindDN: slapd.bindDN, passwordEnv: 'PW', pageSize: 20, ...conn },
        path.join(slapd.dir, 'daemon.yaml'),
      ),
      'target t',
      env,
    );

  /**
   * How a read fails, through the bulk client and through the ldapts Directory: the
   * same DirectoryError either way (wording, result code, whether another try may succeed).
   */
  const bothFail = async (s: ConnectionSettings, q: EntryQuery = query()) => {
    const bulk = await failure(readScope(s, q, {}));
    const inThread = await (async () => {
      const dir = await openDirectory(s);
      try {
        return await failure(dir.searchPages(scopeSearch(q)));
      } finally {
        await dir.close();
      }
    })().catch((e: unknown) => e);
    expect(bulk).toBeInstanceOf(DirectoryError);
    expect(inThread).toBeInstanceOf(DirectoryError);
    const plainError = (e: unknown) => {
      const d = e as DirectoryError;
      return { message: d.message, code: d.code, transient: d.transient };
    };
    expect(plainError(bulk)).toEqual(plainError(inThread));
    return bulk as DirectoryError;
  };

  beforeAll(async () => {
    const people = Array.from({ length: COUNT }, (_, i) => ({
      dn: `uid=u${i},${PEOPLE}`,
      attrs: {
        objectClass: ['inetOrgPerson', 'reexportPerson'],
        uid: `u${i}`,
        cn: `Person ${i}`,
        sn: 'Ærlig',
        employeeID: String(1000 + i),
        mail: `u${i}@kommune.no`,
        ...(i === 0
          ? { description: '\uFEFFhei på deg', proxyAddresses: ['SMTP:a@k.no', 'smtp:b@k.no'] }
          : {}),
      },
    }));
    slapd = await startSlapd({
      tls: true,
      debugLevel: 'stats',
      outputLimit: 4_000_000,
      ldif:
        `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n${toLdif(people)}\n` +
        `dn: uid=photo,${PEOPLE}\nobjectClass: inetOrgPerson\nobjectClass: reexportPerson\nuid: photo\n` +
        `cn: Photo\nsn: Photo\nemployeeID: 9999\njpegPhoto:: ${JPEG.toString('base64')}\n\n` +
        toLdif(SPECIAL) +
        // Not UTF-8 in one value of two: every value of the attribute becomes base64.
        `\ndn: uid=mixed2,${PEOPLE}\nobjectClass: inetOrgPerson\nobjectClass: reexportPerson\nuid: mixed2\n` +
        `cn: Mixed 2\nsn: M\nemployeeID: 7004\njpegPhoto: plain text\njpegPhoto:: ${LATIN1.toString('base64')}\n`,
    });
  });
  afterAll(() => slapd?.stop());

  it('gives exactly the pages the ldapts read gives: values, binary, byte-order mark, many values', async () => {
    const s = await settings();
    const inThread: DirectoryEntry[][] = [];
    const dir = await openDirectory(s);
    try {
      for await (const page of dir.searchPages(scopeSearch(query()))) inThread.push(page);
    } finally {
      await dir.close();
    }
    const bulk: DirectoryEntry[][] = [];
    for await (const page of readScope(s, query(), { log })) bulk.push(page);
    expect(bulk.length).toBeGreaterThan(10);
    expect(plain(bulk)).toEqual(plain(inThread));
    const all = plain(bulk);
    expect(all).toHaveLength(COUNT + 1 + SPECIAL.length + 1);
    const first = all.find((e) => e.dn.startsWith('uid=u0,'))!;
    expect(first.attrs.description).toEqual({ name: 'description', values: ['\uFEFFhei på deg'] });
    expect(first.attrs.proxyaddresses?.values).toEqual(['SMTP:a@k.no', 'smtp:b@k.no']);
    const byUid = (uid: string) => all.find((e) => e.dn.startsWith(`uid=${uid},`))!;
    // slapd sends the comma as \2C; both paths keep the server's text.
    expect(byUid('a\\2Cb').attrs.description).toEqual({ name: 'description', values: ['Bjo\u0308rn'] });
    expect(byUid('bjørn').attrs.description?.values).toEqual(['fra \uFFFD til 😀']);
    expect(byUid('bjørn').attrs.proxyaddresses?.values).toHaveLength(40);
    expect(byUid('mixed2').attrs.jpegphoto).toEqual({
      name: 'jpegPhoto',
      values: expect.arrayContaining([
        Buffer.from('plain text').toString('base64'),
        LATIN1.toString('base64'),
      ]),
      binary: true,
    });
    // Attributes the entry lacks are left out, not empty.
    expect(Object.keys(byUid('sparse').attrs).sort()).toEqual(['employeeid']);
    const photo = all.find((e) => e.dn.startsWith('uid=photo,'))!;
    expect(photo.attrs.jpegphoto).toEqual({
      name: 'jpegPhoto',
      values: [JPEG.toString('base64')],
      binary: true,
    });
    // The connection's log line reaches the caller's logger, without the password.
    const connected = logs.find((l) => l.msg === 'directory connected');
    expect(connected?.obj).toMatchObject({ url: slapd.url });
    expect(JSON.stringify(logs)).not.toContain(slapd.password);
  });

  it('keeps the pages it reads in a file, which replays them exactly; a damaged file is refused', async () => {
    const file = path.join(slapd.dir, 'kept.pages');
    const read: DirectoryEntry[][] = [];
    for await (const page of readScope(await settings(), query(), { keepIn: file })) read.push(page);
    const replayed: DirectoryEntry[][] = [];
    for await (const page of replayPages(file)) replayed.push(page);
    expect(replayed.length).toBe(read.length);
    expect(plain(replayed)).toEqual(plain(read));
    const kept = await readFile(file);
    const replayAll = async () => {
      for await (const _ of replayPages(file)) void _;
    };
    const refused = async () => {
      const err = await replayAll().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DirectoryError);
      expect((err as Error).message).toMatch(/copy of the read.*is damaged/);
    };
    // Cut in a page, cut in the next page's 4-byte length, and a length past the end (edited).
    await truncate(file, kept.length - 10);
    await refused();
    const second = 4 + kept.readUInt32BE(0);
    await writeFile(file, kept.subarray(0, second + 2));
    await refused();
    const forged = Buffer.from(kept);
    forged.writeUInt32BE(0xfffffff0, 0);
    await writeFile(file, forged);
    await refused();
  });

  it('a copy it cannot write is given up, with a warning; the read itself goes on', async () => {
    const warned: string[] = [];
    const warnLog = { info: () => {}, warn: (_: Record<string, unknown>, msg: string) => warned.push(msg) };
    let n = 0;
    const pages = readScope(await settings(), query(), {
      log: warnLog,
      keepIn: path.join(slapd.dir, 'no-such-folder', 'kept.pages'),
    });
    for await (const page of pages) n += page.length;
    expect(n).toBe(COUNT + 2 + SPECIAL.length);
    expect(warned).toContain('could not keep a copy of the read for the pass');
  });

  it('reads over ldaps:// with the configured CA, and refuses a server it cannot verify', async () => {
    const s = await settings({ url: slapd.ldapsUrl!, tls: { caFile: slapd.caFile! } });
    let n = 0;
    for await (const page of readScope(s, query(), {})) n += page.length;
    expect(n).toBe(COUNT + 2 + SPECIAL.length);
    const unverified = await settings({ url: slapd.ldapsUrl! });
    const err = await (async () => {
      for await (const _ of readScope(unverified, query(), {})) void _;
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DirectoryError);
    expect((err as DirectoryError).transient).toBe(false);
    expect((err as Error).message).toMatch(/certificate/i);
  });

  it('a server that is not there is a transient DirectoryError, as through ldapts', async () => {
    const s = await settings({ url: 'ldap://127.0.0.1:9', timeoutMs: 2000 });
    const err = await (async () => {
      for await (const _ of readScope(s, query(), {})) void _;
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DirectoryError);
    expect((err as DirectoryError).transient).toBe(true);
  });

  it('a wrong password fails as through ldapts, without the password in the message', async () => {
    const err = await bothFail(await settings({}, { PW: 'not-the-password' }));
    expect(err.code).toBe(49);
    expect(err.message).toMatch(/invalid credentials/);
    expect(err.message).not.toContain('not-the-password');
  });

  it('a base DN that does not exist fails as through ldapts', async () => {
    const err = await bothFail(await settings(), query({ baseDN: 'ou=nowhere,dc=kommune,dc=test' }));
    expect(err.code).toBe(32);
    expect(err.transient).toBe(false);
    expect(err.message).toMatch(/search under ou=nowhere,dc=kommune,dc=test/);
  });

  it('an abort while a silent server keeps it connecting ends it at once, with the reason', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const controller = new AbortController();
      const s = await settings({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 20_000 });
      const first = readScope(s, query(), { signal: controller.signal }).next();
      await new Promise((r) => setTimeout(r, 200));
      const started = Date.now();
      controller.abort(new Error('request invalid'));
      await expect(first).rejects.toThrow('request invalid');
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('a server that accepts the connection and never answers times out after timeoutMs, transient', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const started = Date.now();
      const err = await bothFail(await settings({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 400 }));
      expect(err.transient).toBe(true);
      expect(err.message).toMatch(/no answer within timeoutMs \(400 ms\)/);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      silent.close();
    }
  });

  it('StartTLS with the CA reads everything; without it the certificate is refused as through ldapts', async () => {
    let n = 0;
    const s = await settings({ tls: { startTLS: true, caFile: slapd.caFile! } });
    for await (const page of readScope(s, query(), {})) n += page.length;
    expect(n).toBe(COUNT + 2 + SPECIAL.length);
    const err = await bothFail(await settings({ tls: { startTLS: true } }));
    expect(err.transient).toBe(false);
    expect(err.message).toMatch(/TLS certificate of .* not accepted/);
  });

  it('a connection cut in the middle of the read is a transient DirectoryError', async () => {
    const port = Number(new URL(slapd.url).port);
    const proxy = await startTcpProxy('127.0.0.1', port);
    try {
      const pages = readScope(await settings({ url: proxy.url }), query(), {});
      expect((await pages.next()).value).toHaveLength(20);
      expect(proxy.dropAll()).toBeGreaterThan(0);
      const err = (await failure(pages)) as DirectoryError;
      expect(err).toBeInstanceOf(DirectoryError);
      expect(err.transient).toBe(true);
      expect(err.message).toMatch(/search under/);
    } finally {
      await proxy.close();
    }
  });

  it('an abort mid-read ends it at once: the waiting caller gets the reason, the server sends no more', async () => {
    const controller = new AbortController();
    const from = slapd.output().length;
    const pages = readScope(await settings(), query(), {
      signal: controller.signal,
    });
    await pages.next();
    await new Promise((r) => setTimeout(r, 300));
    const waiting = pages.next();
    controller.abort(new Error('preview stopped'));
    await expect(waiting.then(() => pages.next())).rejects.toThrow('preview stopped');
    // Taking a page lets the read ask for the next, which may cross the abort: after that, nothing.
    await new Promise((r) => setTimeout(r, 300));
    const sent = entriesSent(slapd.output(), from);
    await new Promise((r) => setTimeout(r, 500));
    expect(entriesSent(slapd.output(), from)).toBe(sent);
    expect(sent).toBeLessThan(COUNT);
  });

  it('a filter it cannot parse fails before any connection, as the template problem it is', async () => {
    const pages = readScope(await settings(), query({ scopeFilter: '(cn=x' }), {});
    await expect(pages.next()).rejects.toBeInstanceOf(FilterSyntaxError);
  });

  it('reads one page ahead of its caller, and a caller that stops ends the read', async () => {
    const from = slapd.output().length;
    const pages = readScope(await settings(), query(), {});
    const first = await pages.next();
    expect(first.value).toHaveLength(20);
    // Wait while nobody takes pages: the read asked for the next page, and no more.
    await new Promise((r) => setTimeout(r, 700));
    const sent = entriesSent(slapd.output(), from);
    expect(sent).toBe(2 * 20);
    await pages.return(undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(entriesSent(slapd.output(), from)).toBe(sent);
  });
});

describe('raw pages (no server needed)', () => {
  it('a group of 200,000 members survives the raw page, cut into messages at any chunk size', async () => {
    const { writeSearchEntry, MessageFramer } = await import('../../../src/adapters/ldap/ber.js');
    const { decodeEntries } = await import('../../../src/adapters/ldap/raw-entries.js');
    const members = Array.from({ length: 200_000 }, (_, i) => `uid=m${i},ou=people,dc=k`);
    const raw = Buffer.concat([
      writeSearchEntry('cn=all,ou=groups,dc=k', [
        { type: 'member', values: members.map((m) => Buffer.from(m)) },
      ]),
      writeSearchEntry('cn=none,ou=groups,dc=k', []),
    ]);
    const page: DirectoryEntry[] = [
      { dn: 'cn=all,ou=groups,dc=k', attrs: new Map([['member', { name: 'member', values: members }]]) },
      { dn: 'cn=none,ou=groups,dc=k', attrs: new Map() },
    ];
    expect(decodeEntries(raw)).toEqual(page);
    // Socket chunks end anywhere: inside a length, a message, or between two.
    const small = Buffer.concat([
      writeSearchEntry('cn=one', [{ type: 'cn', values: [Buffer.from('one')] }]),
      writeSearchEntry('cn=two', [{ type: 'cn', values: [Buffer.from('x'.repeat(300))] }]),
      raw,
    ]);
    for (const chunk of [1, 2, 3, 7, 65_536]) {
      const framed: Buffer[] = [];
      const framer = new MessageFramer((m) => framed.push(m.bytes));
      const input = chunk < 10 ? small.subarray(0, small.length - raw.length) : small;
      for (let at = 0; at < input.length; at += chunk) framer.push(input.subarray(at, at + chunk));
      expect(Buffer.concat(framed).equals(input)).toBe(true);
      expect(framed).toHaveLength(chunk < 10 ? 2 : 4);
    }
  });
});
