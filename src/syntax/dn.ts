/**
 * Just enough RFC 4514 to compare DNs the way directories do: attribute types and values
 * case-insensitively, escapes resolved, spaces around separators ignored.
 */
import { InputSyntaxError } from '../shared/errors.js';
export type Rdn = Array<{ type: string; value: string }>;

/** Text that is not an RFC 4514 DN; a product error (exit 1), never an internal one. */
export class DnSyntaxError extends InputSyntaxError {}

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
    let value = '';
    let pendingSpaces = '';
    while (i < s.length && s[i] === ' ') i++;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (c === '\\') {
        const hex = /^[0-9A-Fa-f]{2}/.exec(s.slice(i + 1, i + 3));
        if (hex) {
          // Hex escapes are UTF-8 bytes; collect consecutive ones before decoding.
          const bytes: number[] = [];
          while (s[i] === '\\' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
            bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
            i += 3;
          }
          i--;
          value += pendingSpaces + Buffer.from(bytes).toString('utf8');
        } else if (i + 1 < s.length) {
          value += pendingSpaces + s[i + 1];
          i++;
        } else {
          throw new DnSyntaxError(`\`${dn}\` is not a DN: it ends with a lone backslash`);
        }
        pendingSpaces = '';
      } else if (c === ',' || c === '+' || c === ';') {
        break;
      } else if (c === ' ') {
        pendingSpaces += c;
      } else if (c === '"' || c === '<' || c === '>' || c === '=') {
        throw new DnSyntaxError(`\`${dn}\` is not a DN: \`${c}\` must be escaped with a backslash`);
      } else {
        value += pendingSpaces + c;
        pendingSpaces = '';
      }
    }
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
