/**
 * A scripted LDAP server for what no real directory does on purpose: answers built byte by byte
 * (empty pages with cookies, cookies that never end, broken BER), to test how the bulk read
 * (src/adapters/ldap/bulk-search.ts) meets a broken or hostile server. Real behaviour is tested
 * against slapd and Samba; this is for the attacks.
 */
import net from 'node:net';
import { MessageFramer } from '../../src/adapters/ldap/ber.js';
import type { ConnectionSettings } from '../../src/adapters/ldap/connection.js';

export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const length =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : n < 0x10000
          ? Buffer.from([0x82, n >> 8, n & 255])
          : Buffer.from([0x83, n >> 16, (n >> 8) & 255, n & 255]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const octets = (s: string | Buffer) => tlv(0x04, Buffer.isBuffer(s) ? s : Buffer.from(s));
const int = (n: number) => tlv(0x02, Buffer.from(n < 128 ? [n] : [n >> 8, n & 255]));

/** One LDAPMessage: ID, protocol op, optional controls. */
export const message = (id: number, op: Buffer, controls?: Buffer) =>
  tlv(0x30, int(id), op, ...(controls ? [controls] : []));

export const entry = (id: number, dn: string, attrs: Array<[string, string[]]>) =>
  message(
    id,
    tlv(
      0x64,
      octets(dn),
      tlv(0x30, ...attrs.map(([t, vs]) => tlv(0x30, octets(t), tlv(0x31, ...vs.map(octets))))),
    ),
  );

/** A SearchResultDone (success unless `code`) carrying a paged-results cookie. */
export const searchDone = (id: number, cookie: string, code = 0) =>
  message(
    id,
    tlv(0x65, tlv(0x0a, Buffer.from([code])), octets(''), octets(code ? 'refused' : '')),
    tlv(0xa0, tlv(0x30, octets('1.2.840.113556.1.4.319'), octets(tlv(0x30, int(0), octets(cookie))))),
  );

export const SEARCH_REQUEST = 0x63;

/** Listens on a free port; `answer` gets every request the client sends, with its socket. */
export async function hostileServer(
  answer: (request: { id: number; op: number }, socket: net.Socket) => void,
): Promise<{ settings: ConnectionSettings; close(): void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    const framer = new MessageFramer((m) => answer({ id: m.messageId, op: m.op }, socket));
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    settings: {
      name: 'hostile',
      url: `ldap://127.0.0.1:${port}`,
      startTLS: false,
      rejectUnauthorized: true,
      timeoutMs: 3000,
      pageSize: 10,
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
