/**
 * The little BER the bulk read needs by hand (bulk-search.ts, raw-entries.ts): reading a TLV's
 * header, cutting a byte stream into LDAP messages, and writing a SearchResultEntry. Everything
 * else (requests, controls, results, filters) is ldapts' own encoding and parsing.
 */
import { BerWriter } from 'ldapts';
import { DirectoryError } from '../../shared/errors.js';

/** LDAPv3 protocol-op tags (RFC 4511 4.2–4.12) the bulk read meets. */
export const OP = {
  bindResponse: 0x61,
  searchResultEntry: 0x64,
  searchResultDone: 0x65,
  searchResultReference: 0x73,
  extendedResponse: 0x78,
} as const;

/**
 * The directory's answer cannot be read as LDAP: a fault of the server or of the path to it, so a
 * DirectoryError (the pass fails with where, and tries again next pass), never an internal error.
 */
export class BerError extends DirectoryError {
  override name = 'BerError';
  constructor(message: string) {
    super(`the directory's answer is not valid LDAP: ${message}`, undefined, { transient: true });
  }
}

/**
 * No LDAP message of a preview's read comes near this (a page of 1,000 entries is some 200 KB;
 * an entry with 100,000 group members a few MB): a larger length is a broken or hostile server,
 * refused before its bytes are gathered.
 */
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/**
 * The length of the TLV whose tag is at `at` (one-byte tags only, as LDAP uses): sets `header` to
 * the offset of its contents and returns their length; -1 when `buf` ends before the header does.
 */
export function readHeader(buf: Uint8Array, at: number, end: number, out: { header: number }): number {
  if (at + 2 > end) return -1;
  const first = buf[at + 1]!;
  if (first < 0x80) {
    out.header = at + 2;
    return first;
  }
  const n = first & 0x7f;
  if (n === 0) throw new BerError('indefinite BER length: not allowed in LDAP');
  if (n > 4) throw new BerError(`BER length of ${n} bytes`);
  if (at + 2 + n > end) return -1;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + buf[at + 2 + i]!;
  out.header = at + 2 + n;
  return length;
}

/** One whole LDAP message: its bytes, ID and protocol-op tag. */
export interface Framed {
  bytes: Buffer;
  messageId: number;
  op: number;
}

/**
 * Cuts socket chunks into LDAP messages. A message within a chunk is a view of it; only one that
 * spans chunks is copied, once, when its last byte arrived (a group of many members may be MBs).
 */
export class MessageFramer {
  private parts: Buffer[] = [];
  private have = 0;
  /** Bytes the message begun in `parts` needs in all; 0 while its header is incomplete. */
  private need = 0;
  private readonly at = { header: 0 };

  constructor(private readonly onMessage: (m: Framed) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.have > 0) {
      this.parts.push(chunk);
      this.have += chunk.length;
      // A header cut between chunks: its few bytes and this chunk tell the size.
      if (this.need === 0) this.need = this.sizeOf(Buffer.concat(this.parts, this.have));
      if (this.need === 0 || this.have < this.need) return;
      buf = Buffer.concat(this.parts, this.have);
      this.parts = [];
      this.have = 0;
      this.need = 0;
    }
    let off = 0;
    while (off < buf.length) {
      const size = this.sizeOf(buf, off);
      if (size === 0 || off + size > buf.length) {
        const rest = buf.subarray(off);
        this.parts = [rest];
        this.have = rest.length;
        this.need = size;
        return;
      }
      this.emit(buf.subarray(off, off + size));
      off += size;
    }
  }

  /** The whole size of the message starting at `off`, or 0 when its header is not all there. */
  private sizeOf(buf: Buffer, off = 0): number {
    if (buf[off] !== 0x30)
      throw new BerError(`an LDAP message starts with 0x30, not 0x${buf[off]!.toString(16)}`);
    const length = readHeader(buf, off, buf.length, this.at);
    if (length > MAX_MESSAGE_BYTES) throw new BerError(`a message of ${length} bytes`);
    return length < 0 ? 0 : this.at.header - off + length;
  }

  private emit(bytes: Buffer): void {
    const at = this.at;
    readHeader(bytes, 0, bytes.length, at);
    let p = at.header;
    if (bytes[p] !== 0x02) throw new BerError('an LDAP message without its message ID');
    const idLength = readHeader(bytes, p, bytes.length, at);
    // MessageID is INTEGER (0..2^31-1): at most 4 bytes, and its op must follow within the message.
    if (idLength < 1 || idLength > 4 || at.header + idLength >= bytes.length)
      throw new BerError(`an LDAP message ID of ${idLength} bytes`);
    let messageId = 0;
    for (let i = at.header; i < at.header + idLength; i++) messageId = messageId * 256 + bytes[i]!;
    p = at.header + idLength;
    this.onMessage({ bytes, messageId, op: bytes[p]! });
  }
}

/**
 * A SearchResultEntry message (RFC 4511 4.5.2) with these raw values: how a scope read hands on
 * an entry it completed itself (range retrieval), so that every page is raw entries, decoded alike.
 * ldapts writes requests only, so this one is written by hand with its BerWriter.
 */
export function writeSearchEntry(dn: string, attributes: Array<{ type: string; values: Buffer[] }>): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(0);
  w.startSequence(OP.searchResultEntry);
  w.writeString(dn);
  w.startSequence();
  for (const a of attributes) {
    w.startSequence();
    w.writeString(a.type);
    w.startSequence(0x31);
    for (const v of a.values) w.writeBuffer(v, 0x04);
    w.endSequence();
    w.endSequence();
  }
  w.endSequence();
  w.endSequence();
  w.endSequence();
  return w.buffer;
}
