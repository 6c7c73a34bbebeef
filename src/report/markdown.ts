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
 * Text (a message that quotes values) as plain Markdown, whatever a source or a request put into
 * it: the characters that start HTML, links (autolinks too), emphasis or table cells are escaped
 * outside its `code` spans (inside one they are text already, and a backslash would show), then
 * line breaks and other control characters are made visible, so it stays on its line. Code spans
 * are found as CommonMark finds them: a run of backticks up to the next run of the same length.
 */
export function plain(s: string): string {
  let out = '';
  let at = 0;
  // Text between code spans, unpaired backticks included: escaped, one could pair with a code
  // span after it on the line (result.md's `attribute` and DN) and turn that inside out.
  const text = (t: string) =>
    t
      .replace(/[\\<>&[\]*_|~@`]/g, '\\$&')
      // GFM makes links of `https://…`, `www.…` and `a@b.c` (escaped above) by themselves.
      .replace(/:(?=\/\/)/g, '\\:')
      .replace(/(www)\./gi, '$1\\.');
  const runs = /`+/g;
  for (let open = runs.exec(s); open; open = runs.exec(s)) {
    const fence = open[0];
    const close = new RegExp(`(?<!\`)${fence}(?!\`)`, 'g');
    close.lastIndex = open.index + fence.length;
    const end = close.exec(s);
    if (!end) continue;
    out += text(s.slice(at, open.index)) + s.slice(open.index, end.index + fence.length);
    at = end.index + fence.length;
    runs.lastIndex = at;
  }
  return visibleControls(out + text(s.slice(at)));
}
