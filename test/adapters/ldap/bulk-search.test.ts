import { afterEach, describe, expect, it } from 'vitest';
import { BulkConnection } from '../../../src/adapters/ldap/bulk-search.js';
import { decodeEntries } from '../../../src/adapters/ldap/raw-entries.js';
import { writeSearchEntry } from '../../../src/adapters/ldap/ber.js';
import { DirectoryError } from '../../../src/shared/errors.js';
import { entry, hostileServer, SEARCH_REQUEST, searchDone, tlv } from '../../harness/hostile-ldap.js';

const SCOPE = { baseDN: 'dc=x', scope: 'sub' as const, filter: '(objectClass=*)', attributes: ['cn'] };

let close: (() => void) | undefined;
afterEach(() => close?.());

/** A server answering the n-th search request (from 1) with `page(n, id)`. */
async function serving(page: (n: number, id: number) => Buffer) {
  let n = 0;
  const server = await hostileServer((request, socket) => {
    if (request.op === SEARCH_REQUEST) socket.write(page(++n, request.id));
  });
  close = server.close;
  return { connection: await BulkConnection.open(server.settings), searches: () => n };
}

async function readAll(connection: BulkConnection): Promise<number> {
  let entries = 0;
  for await (const page of connection.pages(SCOPE)) entries += page.length;
  return entries;
}

describe('the bulk read against a broken or hostile server', () => {
  it('goes on after a page without entries while the server gives a cookie (Active Directory does)', async () => {
    const { connection } = await serving((n, id) =>
      n === 2
        ? searchDone(id, 'more')
        : Buffer.concat([entry(id, `cn=${n},dc=x`, [['cn', [`${n}`]]]), searchDone(id, n < 4 ? 'more' : '')]),
    );
    expect(await readAll(connection)).toBe(3);
  });

  it('refuses a server that sends nothing but empty pages with cookies, instead of paging forever', async () => {
    const { connection, searches } = await serving((n, id) => searchDone(id, `page ${n}`));
    const err = await readAll(connection).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DirectoryError);
    expect((err as Error).message).toMatch(/1001 pages in a row without entries/);
    expect(searches()).toBe(1001);
  });

  it('refuses a message ID of more than four bytes at once (no loop over a length the server made up)', async () => {
    const { connection } = await serving(() =>
      tlv(0x30, Buffer.from([0x02, 0x84, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0x65, 0x00])),
    );
    const started = Date.now();
    const err = await readAll(connection).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DirectoryError);
    expect((err as Error).message).toMatch(/not valid LDAP/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a message that claims more than 256 MB before gathering it', async () => {
    const { connection } = await serving(() => Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02]));
    const err = await readAll(connection).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DirectoryError);
    expect((err as Error).message).toMatch(/not valid LDAP: a message of \d+ bytes/);
  });

  it('merges an attribute given in range parts of 150,000 values each (not as call arguments)', () => {
    const part = (from: number) => Array.from({ length: 150_000 }, (_, i) => `uid=m${from + i},dc=k`);
    const page = writeSearchEntry('cn=all,dc=k', [
      { type: 'member;range=0-149999', values: part(0).map((m) => Buffer.from(m)) },
      { type: 'member;range=150000-*', values: part(150_000).map((m) => Buffer.from(m)) },
    ]);
    const values = decodeEntries(page)[0]!.attrs.get('member')!.values;
    expect(values.length).toBe(300_000);
    expect(values[150_000]).toBe('uid=m150000,dc=k');
  });

  it('a page whose entry is not valid BER fails as a directory error, not an internal one', () => {
    const good = entry(1, 'cn=a,dc=x', [['cn', ['a']]]);
    const broken = Buffer.from(good);
    broken[broken.length - 2] = 0x7f; // the last value's length now runs past its message
    expect(() => decodeEntries(broken)).toThrow(DirectoryError);
    expect(decodeEntries(good)[0]?.dn).toBe('cn=a,dc=x');
  });
});
