import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderTypes } from '../../scripts/render-types.js';

describe('generated types', () => {
  it('match the JSON Schemas (run `npm run gen:types` after editing a schema)', async () => {
    const committed = await readFile(new URL('../../src/config/types.generated.ts', import.meta.url), 'utf8');
    expect(committed).toBe(await renderTypes());
  });
});
