/**
 * Decoding a page of raw SearchResultEntry messages (what bulk-search.ts hands on) into the entries
 * directory.ts's searchPages gives for the same answer: the same DN text, attributes keyed by the
 * lower-cased name with the server's spelling, attributes without values left out, range parts
 * merged, and decodeValues' rule for values that are not UTF-8. One walk over the TLV lengths;
 * strings are cut straight from the page's bytes, with no object per value or attribute on the way.
 */
import { isUtf8 } from 'node:buffer';
import { readableDn } from '../../syntax/dn.js';
import { BerError, OP, readHeader } from './ber.js';
import type { AttrValues, DirectoryEntry } from './directory.js';

/** Node's UTF-8 slice without toString's argument checks; replaces invalid bytes with U+FFFD. */
type Slicing = Buffer & { utf8Slice(start: number, end: number): string };

const RANGE = /^(.+);range=(\d+)-(\d+|\*)$/i;
const REPLACEMENT = '\uFFFD';

/** Lower-cased attribute names: a page repeats the same few names for every entry. */
const keys = new Map<string, string>();
function keyOf(name: string): string {
  let key = keys.get(name);
  if (key === undefined) {
    key = name.toLowerCase();
    if (keys.size < 10_000) keys.set(name, key);
  }
  return key;
}

const at = { header: 0 };

function expect(buf: Uint8Array, p: number, tag: number, what: string): void {
  if (buf[p] !== tag) throw new BerError(`${what}: expected tag 0x${tag.toString(16)} at ${p}`);
}

/** Offset of the contents of the TLV at `p`, and its end, checked against `end`. */
function enter(buf: Uint8Array, p: number, end: number): number {
  const length = readHeader(buf, p, end, at);
  if (length < 0 || at.header + length > end) throw new BerError('a BER length runs past its message');
  return length;
}

/**
 * The values of one attribute, from the value TLVs between `from` and `to`: as text when every
 * value is UTF-8, otherwise every value as base64 of its bytes (directory.ts decodeValues). A
 * leading byte-order mark stays: it is part of the value.
 */
function values(buf: Slicing, from: number, to: number): { values: string[]; binary: boolean } {
  let out: string[] | undefined;
  for (let p = from; p < to;) {
    const length = enter(buf, p, to);
    const s = at.header;
    const text = buf.utf8Slice(s, s + length);
    // U+FFFD in the text means invalid bytes, or a value that really holds U+FFFD: the bytes say.
    if (text.includes(REPLACEMENT) && !isUtf8(buf.subarray(s, s + length)))
      return base64Values(buf, from, to);
    // A list of one made as such: one grown by push keeps room for 16, and the values of changed
    // entries live as long as the plan (some 25 MB more for 100,000 users).
    if (out) out.push(text);
    else out = [text];
    p = s + length;
  }
  return { values: out ?? [], binary: false };
}

function base64Values(buf: Buffer, from: number, to: number): { values: string[]; binary: boolean } {
  const out: string[] = [];
  for (let p = from; p < to;) {
    const length = enter(buf, p, to);
    out.push(buf.toString('base64', at.header, at.header + length));
    p = at.header + length;
  }
  return { values: out, binary: true };
}

/** Decodes the SearchResultEntry messages of a page (each a whole LDAPMessage), in order. */
export function decodeEntries(page: Uint8Array): DirectoryEntry[] {
  const buf = Buffer.from(page.buffer, page.byteOffset, page.byteLength) as Slicing;
  const entries: DirectoryEntry[] = [];
  const end = buf.length;
  for (let p = 0; p < end;) {
    expect(buf, p, 0x30, 'LDAP message');
    const messageEnd = enter(buf, p, end) + at.header;
    entries.push(decodeEntry(buf, at.header, messageEnd));
    p = messageEnd;
  }
  return entries;
}

function decodeEntry(buf: Slicing, from: number, end: number): DirectoryEntry {
  let p = from;
  expect(buf, p, 0x02, 'message ID');
  p = enter(buf, p, end) + at.header;
  expect(buf, p, OP.searchResultEntry, 'SearchResultEntry');
  enter(buf, p, end);
  p = at.header;
  expect(buf, p, 0x04, 'entry DN');
  const dnLength = enter(buf, p, end);
  const dn = readableDn(buf.utf8Slice(at.header, at.header + dnLength));
  p = at.header + dnLength;
  expect(buf, p, 0x30, 'attribute list');
  const listEnd = enter(buf, p, end) + at.header;
  const first = at.header;
  const attrs = new Map<string, AttrValues>();
  for (p = first; p < listEnd;) {
    expect(buf, p, 0x30, 'attribute');
    const attrEnd = enter(buf, p, listEnd) + at.header;
    p = at.header;
    expect(buf, p, 0x04, 'attribute type');
    const typeLength = enter(buf, p, attrEnd);
    const name = buf.utf8Slice(at.header, at.header + typeLength);
    p = at.header + typeLength;
    if (p < attrEnd) {
      expect(buf, p, 0x31, 'attribute values');
      const setEnd = enter(buf, p, attrEnd) + at.header;
      if (setEnd > at.header) {
        const key = keyOf(name);
        // Range parts and a name given twice are merged before deciding text or binary: rare enough
        // for the slower collecting walk.
        if (attrs.has(key) || name.includes(';')) return collectEntry(buf, dn, first, listEnd);
        const v = values(buf, at.header, setEnd);
        attrs.set(key, v.binary ? { name, values: v.values, binary: true } : { name, values: v.values });
      }
    }
    p = attrEnd;
  }
  return { dn, attrs };
}

/** directory.ts collect + decodeValues over the raw bytes: range options removed, parts merged. */
function collectEntry(buf: Slicing, dn: string, from: number, listEnd: number): DirectoryEntry {
  const found = new Map<string, { name: string; spans: number[] }>();
  for (let p = from; p < listEnd;) {
    const attrEnd = enter(buf, p, listEnd) + at.header;
    p = at.header;
    const typeLength = enter(buf, p, attrEnd);
    const type = buf.utf8Slice(at.header, at.header + typeLength);
    p = at.header + typeLength;
    if (p < attrEnd) {
      const setEnd = enter(buf, p, attrEnd) + at.header;
      if (setEnd > at.header) {
        const name = RANGE.exec(type)?.[1] ?? type;
        const key = name.toLowerCase();
        const acc = found.get(key) ?? { name, spans: [] };
        acc.spans.push(at.header, setEnd);
        found.set(key, acc);
      }
    }
    p = attrEnd;
  }
  const attrs = new Map<string, AttrValues>();
  for (const [key, { name, spans }] of found) {
    let text: string[] = [];
    let binary = false;
    for (let i = 0; i < spans.length && !binary; i += 2) {
      const v = values(buf, spans[i]!, spans[i + 1]!);
      binary = v.binary;
      // Not push(...): a group of 200,000 members overflows the stack as arguments.
      if (i === 0) text = v.values;
      else for (const x of v.values) text.push(x);
    }
    if (!binary) {
      attrs.set(key, { name, values: text });
      continue;
    }
    const base64: string[] = [];
    for (let i = 0; i < spans.length; i += 2)
      for (const x of base64Values(buf, spans[i]!, spans[i + 1]!).values) base64.push(x);
    attrs.set(key, { name, values: base64, binary: true });
  }
  return { dn, attrs };
}

/**
 * The DN (as sent) of a raw SearchResultEntry message when one of its attributes comes in an
 * incomplete range (`member;range=0-1499`: Active Directory's MaxValRange), which must be read to
 * its end; undefined for the usual whole entry. Looks at the attribute types only.
 */
export function entryWithRanges(msg: Buffer): string | undefined {
  const end = msg.length;
  enter(msg, 0, end);
  let p = at.header;
  p = enter(msg, p, end) + at.header;
  enter(msg, p, end);
  p = at.header;
  const dnLength = enter(msg, p, end);
  const dnStart = at.header;
  p = at.header + dnLength;
  const listEnd = enter(msg, p, end) + at.header;
  for (p = at.header; p < listEnd;) {
    const attrEnd = enter(msg, p, listEnd) + at.header;
    const typeLength = enter(msg, at.header, attrEnd);
    const typeStart = at.header;
    for (let i = typeStart; i < typeStart + typeLength; i++) {
      if (msg[i] !== 0x3b) continue;
      const range = RANGE.exec(msg.toString('utf8', typeStart, typeStart + typeLength));
      if (range && range[3] !== '*') return msg.toString('utf8', dnStart, dnStart + dnLength);
      break;
    }
    p = attrEnd;
  }
  return undefined;
}
