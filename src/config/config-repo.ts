import { lstat, readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Diagnostic } from '../shared/diagnostics.js';
import { loadYamlFile } from './load-file.js';
import type { ReexportRequest, SyncTemplate } from './types.generated.js';
import { locate, type YamlFile } from './yaml-file.js';

export interface RepoFile<T> {
  /** The file's base name: what the daemon calls it even when its content is broken. */
  name: string;
  /** Relative to the repository root, with /. */
  file: string;
  yaml?: YamlFile;
  /** Present when the file passed its schema (context rules may still report problems). */
  value?: T;
  diagnostics: Diagnostic[];
}

export interface ConfigRepo {
  root: string;
  templates: Map<string, RepoFile<SyncTemplate>>;
  requests: Map<string, RepoFile<ReexportRequest>>;
  /** Problems not tied to one template or request (e.g. two files with one name). */
  diagnostics: Diagnostic[];
}

const KINDS = { templates: 'SyncTemplate', requests: 'ReexportRequest' } as const;

/** Stage one for a whole checkout: every template and request read and shape-checked. */
export async function readConfigRepo(root: string): Promise<ConfigRepo> {
  const realRoot = await realpath(root);
  const repo: ConfigRepo = { root: realRoot, templates: new Map(), requests: new Map(), diagnostics: [] };
  const folders = await Promise.all(
    ['templates', 'requests'].map((f) =>
      lstat(path.join(realRoot, f)).then(
        (s) => s.isDirectory(),
        () => false,
      ),
    ),
  );
  if (!folders.some(Boolean)) {
    repo.diagnostics.push({
      file: '.',
      line: 1,
      col: 1,
      message:
        "is not a config repository: it has neither templates/ nor requests/; give the repository's folder, or create one with `reexport init`",
    });
  }
  for (const folder of ['templates', 'requests'] as const) {
    const map = (folder === 'templates' ? repo.templates : repo.requests) as Map<string, RepoFile<unknown>>;
    for (const file of await listYaml(realRoot, folder)) {
      const entry = await readRepoFile(realRoot, folder, file);
      const prior = map.get(entry.name);
      if (prior) {
        repo.diagnostics.push({
          file: entry.file,
          line: 1,
          col: 1,
          message: `has the same name as ${prior.file}; keep one of them`,
        });
        continue;
      }
      map.set(entry.name, entry);
    }
  }
  return repo;
}

async function listYaml(root: string, folder: string): Promise<string[]> {
  try {
    const entries = await readdir(path.join(root, folder), { withFileTypes: true });
    return entries
      .filter((e) => /\.ya?ml$/.test(e.name) && !e.isDirectory())
      .map((e) => `${folder}/${e.name}`)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function readRepoFile(
  root: string,
  folder: keyof typeof KINDS,
  file: string,
): Promise<RepoFile<unknown>> {
  const name = path.basename(file).replace(/\.ya?ml$/, '');
  const abs = path.join(root, file);
  // A link could hand any file on the daemon's host (or in its .git/) to a pull request's report.
  if ((await lstat(abs)).isSymbolicLink()) {
    return {
      name,
      file,
      diagnostics: [{ file, line: 1, col: 1, message: 'is a symbolic link; replace it with a regular file' }],
    };
  }
  const expected = KINDS[folder];
  const checked = await loadYamlFile<{ kind: string; metadata: { name: string } }>(
    abs,
    file,
    folder === 'templates' ? 'sync-template' : 'reexport-request',
  );
  const kind = (checked.yaml?.value as { kind?: unknown } | undefined)?.kind;
  const other = Object.entries(KINDS).find(([, k]) => k === kind && k !== expected);
  if (checked.yaml && other) {
    const pos = locate(checked.yaml, ['kind']);
    return {
      name,
      file,
      yaml: checked.yaml,
      diagnostics: [
        { file, ...pos, message: `is a ${String(kind)} but lives in ${folder}/; move it to ${other[0]}/` },
      ],
    };
  }
  const entry: RepoFile<unknown> = {
    name,
    file,
    yaml: checked.yaml,
    value: checked.value,
    diagnostics: checked.diagnostics,
  };
  if (checked.value && checked.value.metadata.name !== name) {
    entry.diagnostics.push({
      file,
      ...locate(checked.yaml!, ['metadata', 'name']),
      message: `metadata.name \`${checked.value.metadata.name}\` differs from the file name; rename the file to ${checked.value.metadata.name}${path.extname(file)} or set the name to \`${name}\``,
    });
  }
  return entry;
}

/**
 * Requests a branch adds or changes, and those whose template it changes: what the daemon previews
 * on a branch and what `verify` requires a current preview for.
 */
export function requestsTouched(repo: ConfigRepo, changed: readonly string[]): string[] {
  const set = new Set(changed);
  const names = new Set<string>();
  for (const r of repo.requests.values()) {
    if (set.has(r.file)) names.add(r.name);
    const t = r.value && repo.templates.get(r.value.spec.template);
    if (t && set.has(t.file)) names.add(r.name);
  }
  return [...names].sort();
}
