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
 * The plan as LDIF modify records, one per entry. Removed values are deleted by exact value, so
 * ldapmodify refuses (noSuchAttribute) an entry changed since the preview instead of overwriting it.
 */
export function renderLdif(changes: readonly PlanChange[], header: string[] = []): string {
  const out: string[] = ['version: 1', ...header.map(ldifComment)];
  let i = 0;
  while (i < changes.length) {
    const dn = changes[i]!.dn;
    const id = changes[i]!.id;
    out.push('', ldifComment(id));
    // A DN with æ, ø or å is base64 in LDIF; the comment keeps it readable.
    if (needsBase64(dn)) out.push(ldifComment(`dn: ${dn}`));
    out.push(ldifLine('dn', dn), 'changetype: modify');
    for (; i < changes.length && changes[i]!.dn === dn; i++) {
      const c = changes[i]!;
      const removed = c.before.filter((v) => !c.after.includes(v));
      const added = c.after.filter((v) => !c.before.includes(v));
      if (removed.length)
        out.push(`delete: ${c.attribute}`, ...removed.map((v) => ldifLine(c.attribute, v)), '-');
      if (added.length) out.push(`add: ${c.attribute}`, ...added.map((v) => ldifLine(c.attribute, v)), '-');
    }
  }
  return `${out.join('\n')}\n`;
}
