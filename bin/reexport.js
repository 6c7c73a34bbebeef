#!/usr/bin/env node
// A source checkout runs its TypeScript sources (through tsx, a development dependency), even when
// a build exists: the CLI must never run stale code in development. Installed copies (the image,
// the packed package) ship dist/ and no src/, so they run the compiled build.
import { existsSync } from 'node:fs';
import module from 'node:module';
import process from 'node:process';

// Node 22.1 and later (the image runs 24) keep V8's compiled code of every module on disk, so a
// command started again (`once` from a CronJob, `verify` in a runner with a cache) parses nothing
// anew. Where the folder cannot be written the cache is simply off; Node 20 has no such cache.
/** @type {{ enableCompileCache?: () => unknown }} (not in Node 20's types) */
const loader = module;
loader.enableCompileCache?.();

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
