/** A count as people read it in reports: digits grouped the same way everywhere (12,000). */
export function formatCount(count: number): string {
  // A whole number's groups of three without ICU: its number formats cost a preview 15 ms to load.
  if (Number.isSafeInteger(count)) return String(count).replace(/\B(?=(\d{3})+$)/g, ',');
  return count.toLocaleString('en-US');
}

/**
 * "1 user", "2 users", "1 entry", "3 entries": the one place reports and messages make a noun agree
 * with its count. `many` is given where adding an s is wrong.
 */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

/** "was" or "were", for sentences like "1 was stale". */
export function wasWere(count: number): string {
  return count === 1 ? 'was' : 'were';
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const hex = (ch: string) => ch.charCodeAt(0).toString(16).padStart(2, '0');

/**
 * Text with its control characters shown as escapes (\n, \t, \x00), for a line of a report that a
 * line break in a value must not break (a Markdown list item, an LDIF comment).
 */
export function visibleControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (ch) => ESCAPES[ch] ?? `\\x${hex(ch)}`);
}
