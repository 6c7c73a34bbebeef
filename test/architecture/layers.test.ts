import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layers of src/, bottom first. A folder may import its own files and folders below it,
 * never above: that keeps the pure core free of I/O and the folders free of cycles.
 * ARCHITECTURE.md explains each layer; keep the two in step.
 */
const LAYERS = [
  'shared',
  'syntax',
  'expr',
  'config',
  'source',
  'plan',
  'execute',
  'lifecycle',
  'report',
  'ports',
  'adapters',
  'workflows',
  'daemon',
  'demo',
  'cli',
];
/**
 * The pure core: no Node I/O modules, no network or Git libraries (syntax/filter uses only
 * ldapts' filter classes, never its client).
 */
const PURE = new Set(['syntax', 'expr', 'source', 'plan', 'execute', 'report', 'lifecycle']);
const IO_MODULES = /^(node:)?(fs|fs\/promises|net|tls|http|https|child_process|dgram)$|^(ldapjs|simple-git)$/;

const src = path.resolve(import.meta.dirname, '../../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|import\('([^']+)'\)/g)].map(
    (m) => (m[1] ?? m[2])!,
  );
}

const layerOf = (file: string) => path.relative(src, file).split(path.sep)[0]!;

describe('src/ layers', () => {
  const all = files(src);

  it('every folder is a known layer', () => {
    const unknown = [...new Set(all.map(layerOf))].filter((l) => !LAYERS.includes(l));
    expect(unknown).toEqual([]);
  });

  it('each folder imports only itself and the layers below it', () => {
    const upward: string[] = [];
    for (const f of all) {
      const from = LAYERS.indexOf(layerOf(f));
      for (const spec of imports(f)) {
        if (!spec.startsWith('.')) continue;
        const to = LAYERS.indexOf(layerOf(path.resolve(path.dirname(f), spec)));
        if (to > from) upward.push(`${path.relative(src, f)} imports ${spec}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('the pure core does no I/O', () => {
    const io: string[] = [];
    for (const f of all.filter((f) => PURE.has(layerOf(f)))) {
      for (const spec of imports(f))
        if (IO_MODULES.test(spec)) io.push(`${path.relative(src, f)} imports ${spec}`);
    }
    expect(io).toEqual([]);
  });
});
