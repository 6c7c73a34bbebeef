/**
 * What the plan needs to know of the directory's attribute types (RFC 4512 AttributeTypeDescription
 * strings from the subschema entry): which hold DNs, which hold one value. Pure: the directory
 * adapter reads the strings, this turns them into answers.
 */

/** DN syntax; Active Directory also calls DN-valued attributes by it (and quotes the OID). */
const DN_SYNTAX = '1.3.6.1.4.1.1466.115.121.1.12';

interface AttributeType {
  names: string[];
  oid: string;
  sup?: string;
  equality?: string;
  syntax?: string;
  singleValue: boolean;
}

export interface DirectorySchema {
  /** Attribute names (lower case) whose values are DNs, supertypes followed. */
  readonly dnValued: ReadonlySet<string>;
  /** Attribute names (lower case) that hold at most one value. */
  readonly singleValued: ReadonlySet<string>;
}

const unquote = (s: string) => s.replace(/^'|'$/g, '');

/** One `( oid NAME 'x' … )` description; undefined for text that is not one. */
export function parseAttributeType(text: string): AttributeType | undefined {
  const body = /^\s*\(\s*(.*?)\s*\)\s*$/s.exec(text)?.[1];
  if (!body) return undefined;
  // Tokens: quoted strings, parenthesised lists, bare words.
  const tokens = body.match(/'(?:[^'\\]|\\.)*'|\([^)]*\)|[^\s()]+/g) ?? [];
  const [oid, ...rest] = tokens;
  if (!oid) return undefined;
  const out: AttributeType = { oid: unquote(oid), names: [], singleValue: false };
  for (let i = 0; i < rest.length; i++) {
    const t = rest[i]!;
    const next = () => rest[++i] ?? '';
    switch (t.toUpperCase()) {
      case 'NAME': {
        const v = next();
        out.names = v.startsWith('(') ? (v.match(/'[^']*'/g) ?? []).map(unquote) : [unquote(v)];
        break;
      }
      case 'SUP':
        out.sup = unquote(next());
        break;
      case 'EQUALITY':
        out.equality = unquote(next());
        break;
      case 'SYNTAX':
        // A length bound may follow the OID: 1.3.6.1.4.1.1466.115.121.1.15{256}.
        out.syntax = unquote(next()).replace(/\{\d+\}$/, '');
        break;
      case 'SINGLE-VALUE':
        out.singleValue = true;
        break;
      case 'DESC':
      case 'ORDERING':
      case 'SUBSTR':
      case 'USAGE':
        next();
        break;
      default:
        // X-… extensions and flags (COLLECTIVE, NO-USER-MODIFICATION, OBSOLETE) are of no use here.
        if (t.toUpperCase().startsWith('X-')) next();
    }
  }
  return out;
}

/** Resolves supertypes (SUP), so `seeAlso SUP distinguishedName` is known to hold DNs. */
export function schemaFrom(descriptions: readonly string[]): DirectorySchema {
  const types = descriptions.map(parseAttributeType).filter((t): t is AttributeType => t !== undefined);
  const byName = new Map<string, AttributeType>();
  for (const t of types) for (const key of [t.oid, ...t.names]) byName.set(key.toLowerCase(), t);
  const inherited = (
    t: AttributeType,
    pick: (t: AttributeType) => string | undefined,
  ): string | undefined => {
    const seen = new Set<AttributeType>();
    for (
      let cur: AttributeType | undefined = t;
      cur && !seen.has(cur);
      cur = cur.sup ? byName.get(cur.sup.toLowerCase()) : undefined
    ) {
      seen.add(cur);
      const v = pick(cur);
      if (v) return v;
    }
    return undefined;
  };
  const dnValued = new Set<string>();
  const singleValued = new Set<string>();
  for (const t of types) {
    const isDn =
      inherited(t, (x) => x.syntax) === DN_SYNTAX ||
      inherited(t, (x) => x.equality)?.toLowerCase() === 'distinguishednamematch';
    for (const name of t.names) {
      if (isDn) dnValued.add(name.toLowerCase());
      if (t.singleValue) singleValued.add(name.toLowerCase());
    }
  }
  return { dnValued, singleValued };
}
