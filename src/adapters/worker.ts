import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on one of the product's modules. The compiled build runs the module
 * directly. A source checkout runs TypeScript (bin/reexport.js registers tsx in the main thread,
 * vitest transforms it itself), which a fresh thread cannot load until tsx's loader is registered
 * there too, so it starts from a bootstrap that registers it first. tsx is a development
 * dependency: only a source checkout takes that path.
 */
export function startWorker(module: URL, options: WorkerOptions): Worker {
  if (!module.pathname.endsWith('.ts')) return new Worker(module, options);
  const bootstrap =
    `import(${JSON.stringify(tsxApi())})` +
    `.then((tsx) => { tsx.register(); return import(${JSON.stringify(module.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** tsx's ESM API (what bin/reexport.js imports), found through tsx's own export map. */
function tsxApi(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('tsx/package.json');
  const { exports } = require(manifest) as {
    exports: Record<string, { import?: { default?: string } }>;
  };
  const entry = exports['./esm/api']?.import?.default;
  if (!entry) throw new Error('tsx does not export ./esm/api; reinstall the development dependencies');
  return pathToFileURL(path.join(path.dirname(manifest), entry)).href;
}

/** The sibling module `name` with the extension this module has (.ts from sources, .js when built). */
export function siblingModule(name: string, of: string): URL {
  return new URL(`./${name}${path.extname(new URL(of).pathname)}`, of);
}
