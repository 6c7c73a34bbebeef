import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderConfigurationMd } from '../../scripts/render-config-docs.js';
import { readSchema, SCHEMA_FILES } from '../../scripts/render-schemas.js';

const committed = () => readFile(new URL('../../docs/reference/configuration.md', import.meta.url), 'utf8');

/** The table row of a property path, as the page shows it. */
function row(page: string, path: string): string[] {
  const line = page.split('\n').find((l) => l.startsWith(`| \`${path}\` |`));
  if (!line) throw new Error(`no row for ${path}`);
  return line
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** Every property name the schemas define anywhere, found without the renderer's walk. */
function propertyNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => propertyNames(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'properties' && v && typeof v === 'object') Object.keys(v).forEach((p) => out.add(p));
      propertyNames(v, out);
    }
  }
  return out;
}

describe('docs/reference/configuration.md', () => {
  it('is what `npm run gen:docs` renders from the schemas now (run it after editing a schema)', async () => {
    expect(await committed()).toBe(await renderConfigurationMd());
  });

  it("shows each option's type, default and description from the schema", async () => {
    const page = await renderConfigurationMd();
    expect(row(page, 'safety.requireReviewedPreview')).toEqual([
      '`safety.requireReviewedPreview`',
      'boolean',
      '',
      '`true`',
      expect.stringContaining('execute only a plan the daemon previewed and signed'),
    ]);
    expect(row(page, 'execution.claimTimeoutSeconds').slice(1, 4)).toEqual(['integer ≥ 1', '', '`900`']);
    expect(row(page, 'targets.<name>.url').slice(1, 3)).toEqual(['string matching `^ldaps?://`', 'yes']);
    expect(row(page, 'spec.mappings[].policy').slice(1, 4)).toEqual([
      '`replace` \\| `merge` \\| `keep`',
      '',
      '`"replace"`',
    ]);
    expect(row(page, 'spec.users.ids')[4]).toMatch(/^\[form `\{ ids \}`\] User IDs/);
  });

  it('has a row for every property any schema defines', async () => {
    const page = await renderConfigurationMd();
    const paths = page
      .split('\n')
      .map((l) => /^\| `([^`]+)` \|/.exec(l)?.[1])
      .filter((p): p is string => p !== undefined);
    const segments = new Set(paths.flatMap((p) => p.replaceAll('[]', '').split('.')));
    for (const file of Object.values(SCHEMA_FILES)) {
      for (const name of propertyNames(await readSchema(file))) expect(segments).toContain(name);
    }
  });
});
