import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderSchemas } from '../../scripts/render-schemas.js';
import { renderTypes } from '../../scripts/render-types.js';
import { renderValidators } from '../../scripts/render-validators.js';

const committed = (file: string) => readFile(new URL(`../../src/config/${file}`, import.meta.url), 'utf8');

describe('generated from the JSON Schemas', () => {
  it('the types match them (run `npm run gen:types` after editing a schema)', async () => {
    expect(await committed('types.generated.ts')).toBe(await renderTypes());
  });

  it('the precompiled validators match them (run `npm run gen:types` after editing a schema)', async () => {
    expect(await committed('validators.generated.ts')).toBe(await renderValidators());
  });

  it('the schema constants (the defaults registry) match them (run `npm run gen:types` after editing a schema)', async () => {
    expect(await committed('schemas.generated.ts')).toBe(await renderSchemas());
  });
});
