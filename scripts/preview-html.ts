import { Marked, type Tokens } from 'marked';

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Lines of a ```diff block coloured the way GitHub highlights `diff`: - red, + green, # grey. */
function diffBlock(text: string): string {
  const lines = text.split('\n').map((line) => {
    const kind = line.startsWith('+')
      ? 'add'
      : line.startsWith('-')
        ? 'del'
        : line.startsWith('#')
          ? 'note'
          : '';
    return `<span class="line ${kind}">${escapeHtml(line) || ' '}</span>`;
  });
  return `<pre class="diff"><code>${lines.join('')}</code></pre>\n`;
}

const markdown = new Marked({
  gfm: true,
  renderer: {
    code({ text, lang }: Tokens.Code) {
      if (lang === 'diff') return diffBlock(text);
      return `<pre><code>${escapeHtml(text)}</code></pre>\n`;
    },
  },
});

/**
 * A page that shows preview.md the way a forge shows a Markdown file: GitHub's file box, its
 * Markdown styles (a close copy, inline, so the page needs no network) and its diff colours.
 */
export function previewHtml(md: string, file: string): string {
  const body = markdown.parse(md, { async: false });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(file)}</title>
<style>${STYLE}</style></head>
<body><div class="file">
<div class="file-header"><span class="path">${escapeHtml(file)}</span><span class="tag">Preview</span></div>
<article class="markdown-body">${body}</article>
</div></body></html>
`;
}

const STYLE = `
* { box-sizing: border-box; }
body { margin: 0; padding: 16px; background: #fff; color: #1f2328;
  font-family: -apple-system, "Segoe UI", "Noto Sans", "Liberation Sans", Helvetica, Arial, sans-serif,
    "Noto Color Emoji"; font-size: 14px; line-height: 1.5; }
.file { border: 1px solid #d1d9e0; border-radius: 6px; max-width: 968px; margin: 0 auto; }
.file-header { display: flex; justify-content: space-between; align-items: center; padding: 8px 16px;
  background: #f6f8fa; border-bottom: 1px solid #d1d9e0; border-radius: 6px 6px 0 0;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; }
.file-header .tag { font-family: inherit; padding: 0 8px; border: 1px solid #d1d9e0; border-radius: 6px;
  background: #fff; font-size: 12px; line-height: 22px; }
.markdown-body { padding: 24px 32px; font-size: 16px; line-height: 1.5; word-wrap: break-word; }
.markdown-body > :first-child { margin-top: 0; }
.markdown-body h1, .markdown-body h2, .markdown-body h3 { margin: 24px 0 16px; font-weight: 600; line-height: 1.25; }
.markdown-body h1 { font-size: 2em; padding-bottom: .3em; border-bottom: 1px solid #d1d9e0b3; }
.markdown-body h2 { font-size: 1.5em; padding-bottom: .3em; border-bottom: 1px solid #d1d9e0b3; }
.markdown-body h3 { font-size: 1.25em; }
.markdown-body p, .markdown-body ul, .markdown-body table, .markdown-body pre { margin: 0 0 16px; }
.markdown-body ul { padding-left: 2em; }
.markdown-body li + li { margin-top: .25em; }
.markdown-body code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 85%; padding: .2em .4em; background: #818b981f; border-radius: 6px; }
.markdown-body pre { padding: 16px; overflow: auto; font-size: 85%; line-height: 1.45; background: #f6f8fa;
  border-radius: 6px; }
.markdown-body pre code { padding: 0; background: transparent; font-size: 100%; white-space: pre; }
.markdown-body pre.diff code { display: block; }
.markdown-body pre.diff .line { display: block; }
.markdown-body pre.diff .add { color: #116329; background: #dafbe1; }
.markdown-body pre.diff .del { color: #82071e; background: #ffebe9; }
.markdown-body pre.diff .note { color: #59636e; }
.markdown-body table { border-spacing: 0; border-collapse: collapse; display: block; width: max-content;
  max-width: 100%; overflow: auto; }
.markdown-body table th, .markdown-body table td { padding: 6px 13px; border: 1px solid #d1d9e0; }
.markdown-body table th { font-weight: 600; }
.markdown-body table tr { background: #fff; border-top: 1px solid #d1d9e0b3; }
.markdown-body table tr:nth-child(2n) { background: #f6f8fa; }
.markdown-body em { font-style: italic; }
/* The picture is cut at the window's height: fade out, as the page goes on. */
body::after { content: ''; position: fixed; left: 0; right: 0; bottom: 0; height: 120px;
  background: linear-gradient(#fff0, #fff); }
`;
