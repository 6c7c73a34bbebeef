import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The project's Markdown for people: README, ARCHITECTURE, CHANGELOG and everything under docs/. */
function markdownFiles(): string[] {
  const out = ['README.md', 'ARCHITECTURE.md', 'CHANGELOG.md'];
  const walk = (dir: string) => {
    for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  return out;
}

/** Text outside fenced code blocks: a heading or a path in an example is neither. */
function unfenced(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** Text outside code blocks and code spans: a path in an example is not a link. */
function prose(text: string): string {
  return unfenced(text).replace(/`[^`\n]*`/g, '');
}

/** Link targets: inline links and images (their text may span lines), and reference definitions. */
function linkTargets(text: string): string[] {
  const body = prose(text);
  const inline = [...body.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const refs = [...body.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!);
  return [...inline, ...refs];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of unfenced(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** What is wrong with each relative link of `file` (a path under root). */
function brokenLinks(file: string, text: string): string[] {
  const problems: string[] = [];
  for (const target of linkTargets(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: not checked offline
    const [rawPath, anchor] = target.split('#', 2) as [string, string | undefined];
    const resolved = rawPath
      ? path.join(path.dirname(path.join(root, file)), decodeURI(rawPath))
      : path.join(root, file);
    if (!existsSync(resolved)) {
      problems.push(`${file}: ${target}: no such file`);
      continue;
    }
    if (anchor && resolved.endsWith('.md') && statSync(resolved).isFile()) {
      // A link to a heading of the same page is checked against the text given, not the disk.
      const page = rawPath ? readFileSync(resolved, 'utf8') : text;
      if (!anchors(page).has(anchor.toLowerCase()))
        problems.push(`${file}: ${target}: no heading for #${anchor}`);
    }
  }
  return problems;
}

describe('links in the documentation', () => {
  it('README, ARCHITECTURE, CHANGELOG and docs/ exist', () => {
    for (const f of ['README.md', 'ARCHITECTURE.md', 'CHANGELOG.md', 'docs/README.md'])
      expect(existsSync(path.join(root, f)), f).toBe(true);
  });

  it('every relative link points to a file that exists (and a heading, when it names one)', () => {
    const files = markdownFiles();
    expect(files.length).toBeGreaterThan(10);
    const problems = files.flatMap((f) => brokenLinks(f, readFileSync(path.join(root, f), 'utf8')));
    expect(problems).toEqual([]);
  });

  it('finds broken links, and ignores code and web addresses', () => {
    const text = [
      'See [the guide](docs/README.md) and [gone](docs/nope.md), ![a picture',
      'over two lines](docs/images/missing.png) and [web](https://example.org/x.md).',
      '[anchor](#two-words) [bad anchor](docs/README.md#no-such-heading)',
      '`[code](nope.md)`',
      '```',
      '[fenced](nope.md)',
      '```',
      '## Two words',
      '[ref]: docs/absent.md',
    ].join('\n');
    expect(brokenLinks('README.md', text)).toEqual([
      'README.md: docs/nope.md: no such file',
      'README.md: docs/images/missing.png: no such file',
      'README.md: docs/README.md#no-such-heading: no heading for #no-such-heading',
      'README.md: docs/absent.md: no such file',
    ]);
  });
});
