// Generates src/config/types.generated.ts, src/config/validators.generated.ts and
// src/config/schemas.generated.ts from schemas/*.schema.json, so the JSON Schemas stay the single
// source of truth (of shapes and of defaults). test/config/types.test.ts fails when a committed
// file is out of date.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderSchemas } from './render-schemas.js';
import { renderTypes } from './render-types.js';
import { renderValidators } from './render-validators.js';

for (const [file, render] of [
  ['types.generated.ts', renderTypes],
  ['validators.generated.ts', renderValidators],
  ['schemas.generated.ts', renderSchemas],
] as const) {
  const out = fileURLToPath(new URL(`../src/config/${file}`, import.meta.url));
  await writeFile(out, await render());
  console.log(`wrote ${out}`);
}
