import { visibleControls } from '../shared/text.js';

/**
 * Inline code that shows any text as it is: a fence longer than any backtick run inside, and line
 * breaks and other control characters made visible, so a value cannot break the Markdown around it.
 */
export function code(s: string): string {
  const text = visibleControls(s);
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') || text.startsWith(' ') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/**
 * Text (an ID, a message that quotes a value) as plain Markdown: line breaks and other control
 * characters made visible, and the characters that start HTML, links (autolinks too), emphasis
 * or table cells escaped, so whatever a source or a request holds stays inside its line, as
 * written. Backticks are left: a message's `code` spans stay code, and a stray one can only pair
 * within its line.
 */
export function plain(s: string): string {
  return (
    visibleControls(s)
      .replace(/[\\<>&[\]*_|~@]/g, '\\$&')
      // GFM makes links of `https://…`, `www.…` and `a@b.c` (escaped above) by themselves.
      .replace(/:(?=\/\/)/g, '\\:')
      .replace(/(www)\./gi, '$1\\.')
  );
}
