import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

type Schema = Record<string, unknown>;

/** Every property an editor can show must explain itself: the schemas are the user's documentation. */
function undocumented(node: unknown, path: string, out: string[]): string[] {
  if (!node || typeof node !== 'object') return out;
  const obj = node as Schema;
  const props = obj.properties as Record<string, Schema> | undefined;
  for (const [key, child] of Object.entries(props ?? {})) {
    if (!child.description && !child.$ref) out.push(`${path}.${key}`);
    undocumented(child, `${path}.${key}`, out);
  }
  for (const key of ['items', 'additionalProperties', '$defs', 'oneOf', 'anyOf']) {
    const child = obj[key];
    if (Array.isArray(child)) child.forEach((c, i) => undocumented(c, `${path}.${key}[${i}]`, out));
    else if (key === '$defs' && child)
      for (const [k, c] of Object.entries(child)) undocumented(c, `${path}.$defs.${k}`, out);
    else undocumented(child, `${path}.${key}`, out);
  }
  return out;
}

describe('JSON Schemas', () => {
  it('are draft 2020-12 and describe every property', async () => {
    const dir = new URL('../../schemas/', import.meta.url);
    const files = (await readdir(dir)).filter((f) => f.endsWith('.schema.json'));
    expect(files.sort()).toEqual([
      'daemon-config.schema.json',
      'reexport-request.schema.json',
      'sync-template.schema.json',
    ]);
    for (const f of files) {
      const schema = JSON.parse(await readFile(new URL(f, dir), 'utf8')) as Schema;
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(undocumented(schema, f, [])).toEqual([]);
    }
  });
});
