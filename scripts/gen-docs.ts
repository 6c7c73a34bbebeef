// Writes docs/reference/configuration.md from schemas/*.schema.json (see render-config-docs.ts).
// test/docs/reference.test.ts fails when the committed page is out of date.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderConfigurationMd } from './render-config-docs.js';

const out = fileURLToPath(new URL('../docs/reference/configuration.md', import.meta.url));
await writeFile(out, await renderConfigurationMd());
console.log(`wrote ${out}`);
