/**
 * Just enough RFC 4514 to compare DNs the way directories do: attribute types and values
 * case-insensitively, escapes resolved, spaces around separators ignored.
 */
import { InputSyntaxError } from '../shared/errors.js';
export type Rdn = Array<{ type: string; value: string }>;

/** Text that is not an RFC 4514 DN; a product error (exit 1), never an internal one. */
export class DnSyntaxError extends InputSyntaxError {}

const [SPACE, BACKSLASH, COMMA, PLUS, SEMICOLON, QUOTE, LESS, GREATER, EQUALS] = [...' \\,+;"<>='].map((c) =>
  c.charCodeAt(0),
);

const isHexDigit = (c: number) => (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);

/** Whether `s` has two hex digits at `at`. */
const isHexPair = (s: string, at: number) => isHexDigit(s.charCodeAt(at)) && isHexDigit(s.charCodeAt(at + 1));

export function parseDn(dn: string): Rdn[] {
  const rdns: Rdn[] = [];
  let i = 0;
  const s = dn.trim();
  if (s === '') return [];
  let rdn: Rdn = [];
  while (i <= s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new DnSyntaxError(`\`${dn}\` is not a DN: expected type=value after position ${i}`);
    const type = s.slice(i, eq).trim();
    if (!/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)*)$/.test(type))
      throw new DnSyntaxError(`\`${dn}\` is not a DN: \`${type}\` is not an attribute type`);
    i = eq + 1;
    while (i < s.length && s.charCodeAt(i) === SPACE) i++;
    // The value is taken in runs of plain text between escapes, not character by character: a
    // string per character made parsing a DN cost 2 KB of garbage (300 MB in a large apply).
    let value = '';
    let run = i;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === BACKSLASH) {
        value += s.slice(run, i);
        if (isHexPair(s, i + 1)) {
          // Hex escapes are UTF-8 bytes; collect consecutive ones before decoding.
          const bytes: number[] = [];
          while (s.charCodeAt(i) === BACKSLASH && isHexPair(s, i + 1)) {
            bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
            i += 3;
          }
          value += Buffer.from(bytes).toString('utf8');
          run = i;
          i--;
        } else if (i + 1 < s.length) {
          value += s[i + 1];
          i++;
          run = i + 1;
        } else {
          throw new DnSyntaxError(`\`${dn}\` is not a DN: it ends with a lone backslash`);
        }
      } else if (c === COMMA || c === PLUS || c === SEMICOLON) {
        break;
      } else if (c === QUOTE || c === LESS || c === GREATER || c === EQUALS) {
        throw new DnSyntaxError(`\`${dn}\` is not a DN: \`${s[i]}\` must be escaped with a backslash`);
      }
    }
    // Spaces before a separator are not part of the value; escaped ones were taken above.
    let last = i;
    while (last > run && s.charCodeAt(last - 1) === SPACE) last--;
    value += s.slice(run, last);
    rdn.push({ type, value });
    const sep = s[i];
    i++;
    if (sep === '+') continue;
    rdns.push(rdn);
    rdn = [];
    if (sep === undefined) break;
  }
  return rdns;
}

/** A canonical form for comparison: lower case, escapes resolved, multi-valued RDNs sorted. */
export function normalizeDn(dn: string): string {
  return parseDn(dn)
    .map((rdn) =>
      rdn
        .map((a) => `${a.type.toLowerCase()}=${a.value.toLowerCase()}`)
        .sort()
        .join('+'),
    )
    .join(',');
}

export function isDnWithin(dn: string, base: string): boolean {
  return dnWithin(base)(dn);
}

/**
 * isDnWithin for many DNs under one base, which is parsed once. RDNs are compared one by one as
 * parsed (not as normalizeDn's text, where `uid=a\\,ou\\=people,dc=x`, one RDN under dc=x, would
 * end like an entry under ou=people,dc=x).
 */
export function dnWithin(base: string): (dn: string) => boolean {
  const b = parseDn(base).map(rdnKey);
  return (dn) => {
    const d = parseDn(dn);
    const offset = d.length - b.length;
    return offset >= 0 && b.every((key, i) => rdnKey(d[offset + i]!) === key);
  };
}

/** An RDN as an exact key: its attribute type and value pairs, lower-cased, in order. */
const rdnKey = (rdn: Rdn) =>
  JSON.stringify(rdn.map((a) => [a.type.toLowerCase(), a.value.toLowerCase()]).sort());

/**
 * Some servers escape every non-ASCII byte of a DN (`CN=\c3\85se`). RFC 4514 allows UTF-8 as it
 * is, and reviewers must read names, so runs of escaped UTF-8 become their characters; other
 * escapes (`\,`, `\2C`, …) stay, so the DN means exactly the same to the server.
 */
export function readableDn(dn: string): string {
  if (!dn.includes('\\')) return dn;
  return dn.replace(/(?:\\[89a-fA-F][0-9a-fA-F])+/g, (run) => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(run.replaceAll('\\', ''), 'hex'));
    } catch {
      return run;
    }
  });
}
