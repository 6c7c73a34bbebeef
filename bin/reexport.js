#!/usr/bin/env -S node --max-semi-space-size=8
// Node's flags for reexport, here so that every way of starting it gets them: the image runs this
// file, and so do the installed `reexport` command and `npm run bench`. The young generation is
// capped at 8 MB a semi-space instead of 16: a large preview then peaks about 20 MB lower (measured
// at 100,000 users: 177-195 MB instead of 197-207) in the same time; V8 only takes it at startup.
// A source checkout runs its TypeScript sources (through tsx, a development dependency), even when
// a build exists: the CLI must never run stale code in development. Installed copies (the image,
// the packed package) ship dist/ and no src/, so they run the compiled build.
import { existsSync } from 'node:fs';
import process from 'node:process';

const source = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);

async function runSources() {
  try {
    const { register } = await import('tsx/esm/api');
    register();
  } catch {
    return false;
  }
  await import(source.href);
  return true;
}

if (!(existsSync(source) && (await runSources()))) {
  if (!existsSync(compiled)) {
    process.stderr.write(
      'reexport: neither the sources with tsx (npm ci) nor a build (npm run build) found\n',
    );
    process.exit(70);
  }
  await import(compiled.href);
}
