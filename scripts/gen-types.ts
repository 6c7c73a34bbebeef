// Generates src/config/types.generated.ts from schemas/*.schema.json, so the JSON Schemas stay the
// single source of truth. test/config/types.test.ts fails when the committed file is out of date.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderTypes } from './render-types.js';

const out = fileURLToPath(new URL('../src/config/types.generated.ts', import.meta.url));
await writeFile(out, await renderTypes());
console.log(`wrote ${out}`);
