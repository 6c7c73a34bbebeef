import { marked } from 'marked';
import { describe, expect, it } from 'vitest';
import { Planner } from '../../src/plan/build-plan.js';
import { code, plain as plainOf } from '../../src/report/markdown.js';
import { renderInvalidMd, renderPreviewMd } from '../../src/report/preview-md.js';
import { entry, request, source, template } from '../plan/helpers.js';

/**
 * A pull request's author writes the IDs a request names, and often the source file too: no ID,
 * origin or message may add Markdown of its own to preview.md, the text the daemon signs and the
 * reviewer decides on (a heading, a fake diff, an HTML comment hiding the real changes).
 */
const HOSTILE = [
  'x\n\n## Changes\n\n### 1001\n\n```diff\n-title: A\n+title: A\n```\n\n<!--',
  '<!-- hidden',
  '<img src=x onerror=alert(1)>',
  '[click](javascript:alert(1))',
  '**bold** | cell | _em_',
  'https://evil.example/reset',
  'www.evil.example/login',
  'admin@evil.example',
];

function preview(ids: string[]) {
  const rows = [
    { employeeId: '1001', title: 'Rådgiver' },
    // In the source, with no entry in the directory: listed with its ID and origin.
    ...ids.map((id) => ({ employeeId: id, title: 'T' })),
  ];
  const p = new Planner({
    requestName: 'r',
    // Named in the request and in no source: listed as unknown IDs.
    request: request({ users: { ids: ['1001', ...ids, ...ids.map((id) => `${id} unknown`)] } }),
    templateName: 'ad-employees',
    template: template([{ target: 'title', source: '{{ title }}' }]),
    source: source(rows),
    safety: { maxChanges: 500, maxClears: 100 },
  });
  p.addEntries([entry('CN=U1001,DC=kommune,DC=test', { employeeID: '1001', title: 'Sjef for alt' })]);
  return renderPreviewMd(p.finish('2026-11-30T10:00:00.000Z'), { maxUsers: 10 });
}

describe('preview.md: IDs and messages from the source and the request', () => {
  it('stay inside their list item: no heading, HTML, link or diff of their own', () => {
    const md = preview(HOSTILE);
    const html = marked.parse(md, { async: false });
    // The daemon's own headings, and nothing else.
    expect(html.match(/<h[1-6][^>]*>.*?<\/h[1-6]>/g)?.map((h) => h.replace(/<[^>]+>/g, ''))).toEqual([
      'Preview: r',
      'Warnings',
      'Changes',
      '1001',
    ]);
    expect(html).not.toMatch(/<!--|<img|<a /);
    // The heading of a user whose ID is a link is no link either.
    const linked = marked.parse(preview([]).replace('### 1001', `### ${plainOf('https://evil.example')}`), {
      async: false,
    });
    expect(linked).not.toMatch(/<a /);
    // One diff, the real one, and it is visible.
    expect(html.match(/<pre>/g)).toHaveLength(1);
    expect(html).toContain('-title: Sjef for alt\n+title: Rådgiver');
    // Every hostile ID is there to read, as written (line breaks shown as \n).
    const text = html
      .replace(/<[^>]+>/g, '')
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&amp;', '&');
    for (const id of HOSTILE) expect(text).toContain(id.replaceAll('\n', '\\n').slice(0, 12));
  });

  it('renders a plain ID as before, only as code', () => {
    const md = preview(['2002']);
    expect(md).toContain('- `2002` (`people.csv:3`)');
    expect(md).toContain('- `2002 unknown`');
  });
});

describe('preview.md of an invalid request', () => {
  it('keeps every problem inside its fence, whatever the message quotes', () => {
    const md = renderInvalidMd('r', [
      { file: 'requests/r.yaml', line: 8, col: 3, message: 'value `x\n```\n## Approved\n<!--` is not valid' },
    ]);
    const html = marked.parse(md, { async: false });
    expect(html.match(/<h[1-6]/g)).toHaveLength(1);
    expect(html).not.toMatch(/<!--/);
    expect(md).toContain('value `x\\n```\\n## Approved\\n<!--` is not valid');
  });
});

describe('plain: a message as Markdown text', () => {
  const html = (md: string) => marked.parse(md, { async: false });

  it('leaves its code spans as they are and escapes the rest', () => {
    expect(plainOf('has no `employee_id`; the record is left out')).toBe(
      'has no `employee_id`; the record is left out',
    );
    expect(plainOf('a_b <x> [y](z) ola@kommune.no https://x.example')).toBe(
      'a\\_b \\<x\\> \\[y\\](z) ola\\@kommune.no https\\://x.example',
    );
    expect(html(plainOf('has no `employee_id`'))).toContain('<code>employee_id</code>');
    expect(plainOf('line\nbreak `a\tb`')).toBe('line\\nbreak `a\\tb`');
  });

  it('pairs backticks as CommonMark does, so nothing it leaves unescaped is read as HTML', () => {
    for (const hostile of [
      '``x`<img src=1>`` <b>x</b>',
      '`a``<img src=2>`',
      '```<img src=3>` `',
      '`<img src=4>',
      'x`` `<img src=5>` ``<b>y</b>',
    ]) {
      const out = html(plainOf(hostile));
      expect(out.replace(/<code>[\s\S]*?<\/code>/g, ''), hostile).not.toMatch(/<img|<b>/);
    }
    // A stray backtick in an ID must not pair with the code spans after it on its line.
    const line = `- **${plainOf('x`')}** \`mail\` of ${code('cn=[login](https://evil.example/)')}: found ${code('<img src=x>')}`;
    expect(html(line)).not.toMatch(/<a |<img/);
  });
});
