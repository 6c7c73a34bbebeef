import type { PlanChange } from '../plan/plan-types.js';
import { visibleControls } from '../shared/text.js';

/** RFC 2849: a value needs base64 when it is not a "SAFE-STRING" (non-ASCII, control characters, leading space, colon or '<', trailing space). */
export function needsBase64(value: string): boolean {
  return /^[ :<]|[^\x01-\x09\x0b\x0c\x0e-\x7f]| $/.test(value);
}

export function ldifLine(name: string, value: string): string {
  return needsBase64(value)
    ? `${name}:: ${Buffer.from(value, 'utf8').toString('base64')}`
    : `${name}: ${value}`;
}

/**
 * An LDIF comment line. A comment ends at the line break, so a line break in the text would start a
 * line ldapmodify reads as data: control characters are shown escaped (\n, \x00) instead.
 */
export function ldifComment(text: string): string {
  return `# ${visibleControls(text)}`;
}

/**
 * renderLdif's text in pieces (they concatenate to it), so a large plan's LDIF can be written to a
 * file without being built in memory first.
 */
export function* ldifChunks(changes: Iterable<PlanChange>, header: string[] = []): Generator<string> {
  let chunk = ['version: 1', ...header.map(ldifComment)].join('\n');
  let dn: string | undefined;
  for (const c of changes) {
    // One record per entry: a user's changes are next to each other.
    if (c.dn !== dn) {
      if (chunk.length >= 64 * 1024) {
        yield chunk;
        chunk = '';
      }
      dn = c.dn;
      chunk += `\n\n${ldifComment(c.id)}`;
      // A DN with æ, ø or å is base64 in LDIF; the comment keeps it readable.
      if (needsBase64(dn)) chunk += `\n${ldifComment(`dn: ${dn}`)}`;
      chunk += `\n${ldifLine('dn', dn)}\nchangetype: modify`;
    }
    const removed = without(c.before, c.after);
    const added = without(c.after, c.before);
    if (removed.length) chunk += `\n${modLines('delete', c.attribute, removed)}`;
    if (added.length) chunk += `\n${modLines('add', c.attribute, added)}`;
  }
  yield `${chunk}\n`;
}

function modLines(op: 'add' | 'delete', attribute: string, values: string[]): string {
  let out = `${op}: ${attribute}`;
  for (const v of values) out += `\n${ldifLine(attribute, v)}`;
  return `${out}\n-`;
}

/**
 * The plan as LDIF modify records, one per entry. Removed values are deleted by exact value, so
 * ldapmodify refuses (noSuchAttribute) an entry changed since the preview instead of overwriting it.
 */
export function renderLdif(changes: Iterable<PlanChange>, header: string[] = []): string {
  let out = '';
  for (const chunk of ldifChunks(changes, header)) out += chunk;
  return out;
}

/** The values of `a` not in `b`; a Set once `b` is long (a group's thousands of members). */
function without(a: readonly string[], b: readonly string[]): string[] {
  if (b.length <= 16) return a.filter((v) => !b.includes(v));
  const set = new Set(b);
  return a.filter((v) => !set.has(v));
}
