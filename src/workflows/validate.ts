import { readFile, stat } from 'node:fs/promises';
import { readReportFile } from '../adapters/fs/report-files.js';
import { requestDigest } from '../config/digests.js';
import { EXECUTED_EDITED, editedAfterExecution } from '../lifecycle/executions.js';
import { parseStatus } from '../lifecycle/status.js';
import type { ConfigRepo, RepoFile } from '../config/config-repo.js';
import type { LoadedDaemonConfig } from '../config/daemon-config.js';
import { resolveRepoPath } from '../config/repo-path.js';
import { collectDiagnostics } from '../config/rules.js';
import type { ReexportRequest, SyncTemplate } from '../config/types.generated.js';
import { validateRepo } from '../config/validate-repo.js';
import { locate } from '../config/yaml-file.js';
import { checkRequestFields, checkTemplateFields, dryRun } from '../plan/check-fields.js';
import { usedFields } from '../plan/used-fields.js';
import { type Diagnostic, type Severity, formatDiagnostic, sortDiagnostics } from '../shared/diagnostics.js';
import { type CheckedSource, checkSourceBytes } from '../source/check-source.js';
import { formatOf, type SourceFormat } from '../source/parse-file.js';
import { type SourceData, sha256 } from '../source/records.js';
import { sourceFileTooLarge, sourceMemoryBudget } from './load-source.js';

export interface CheckoutValidation {
  repo: ConfigRepo;
  /** Every finding, errors and warnings, sorted by file and position, each once. */
  diagnostics: Diagnostic[];
  /** What was not checked, and why (an LDAP source, a source defined only in the daemon config). */
  notes: string[];
  /** The sources read, by template name (LDAP sources are not read here). */
  sources: Map<string, SourceData>;
}

/**
 * Every check that needs no directory: the files' shape and rules (config/validate-repo.ts), then
 * each template's source read like the runtime reads it, its fields and IDs checked against the
 * templates and requests, and (with dryRun) every mapping rendered for every record. Problems of a
 * template's source are the template's, so every request that uses it shows them.
 */
export async function validateCheckout(
  root: string,
  daemon?: LoadedDaemonConfig,
  opts: {
    dryRun?: boolean;
    /** Called once the files are read, before the sources are: a preview starts its directory read there. */
    onRepo?: (repo: ConfigRepo) => void;
    /** Sources already read and checked (a daemon's pass: main and every preview branch). */
    sourceCache?: SourceCache;
  } = {},
): Promise<CheckoutValidation> {
  const { repo } = await validateRepo(root, daemon);
  opts.onRepo?.(repo);
  const notes: string[] = [];
  const sources = new Map<string, SourceData>();
  const read = new Map<string, Promise<CheckedSource | undefined>>();
  const templates = [...repo.templates.values()].flatMap((file) => {
    const t = usable(file, usableTemplate);
    return t ? [{ file, t }] : [];
  });
  // The sources are held together: each may take what those read before it left.
  let budget = sourceMemoryBudget();
  for (const { file, t } of templates) {
    const key = JSON.stringify(t.value.spec.source);
    const first = !read.has(key);
    if (first) read.set(key, readSource(repo, t, daemon, notes, opts.sourceCache, budget));
    const checked = await read.get(key)!;
    if (!checked) continue;
    if (first && checked.data) budget = Math.max(0, budget - (checked.memory ?? 0));
    // A loop, not push(...): a broken file may give hundreds of thousands of diagnostics.
    for (const d of checked.diagnostics) t.diagnostics.push(d);
    const data = checked.data;
    if (!data) continue;
    if (file.value) sources.set(t.name, data);
    t.diagnostics.push(...checkTemplateFields(t, data));
    if (opts.dryRun) t.diagnostics.push(...dryRun(t, data));
    for (const requestFile of repo.requests.values()) {
      const r = usable(requestFile, usableRequest);
      if (r?.value.spec.template === t.name)
        r.diagnostics.push(...checkRequestFields(r, { ...data, ids: checked.ids }));
    }
  }
  await executedEditRule(repo);
  const unique = new Map(collectDiagnostics(repo).map((d) => [`${formatDiagnostic(d)}`, d]));
  return { repo, diagnostics: sortDiagnostics([...unique.values()]), notes, sources };
}

/** A template's source, read-only; undefined when it cannot be read here (said in a note or a diagnostic). */
async function readSource(
  repo: ConfigRepo,
  t: Usable<SyncTemplate>,
  daemon: LoadedDaemonConfig | undefined,
  notes: string[],
  cache: SourceCache | undefined,
  budget: number,
): Promise<CheckedSource | undefined> {
  const source = t.value.spec.source;
  const at = (path: string[], message: string, severity?: Severity): CheckedSource => ({
    diagnostics: [{ file: t.file, ...locate(t.yaml, path), message, ...(severity ? { severity } : {}) }],
  });
  if (typeof source !== 'string') {
    const resolved = await resolveRepoPath(repo.root, source.file);
    // An unusable path is already a diagnostic of the template's rules.
    if (resolved.abs === undefined) return undefined;
    let format: SourceFormat;
    try {
      format = formatOf(source.file, source.format);
    } catch {
      return undefined;
    }
    return readChecked(
      resolved.abs,
      {
        name: source.file,
        format,
        id: source.id,
        delimiter: source.delimiter,
        keep: usedFields(repo, source, source.id),
        budget,
      },
      (m) => at(['spec', 'source', 'file'], `source file ${m}`),
      cache,
    );
  }
  const def = daemon?.config.sources?.[source];
  if (!daemon) {
    notes.push(
      `${t.file}: source \`${source}\` is defined in the daemon config; give --config to check its records`,
    );
    return undefined;
  }
  if (!def) return undefined;
  if (def.type === 'ldap') {
    notes.push(
      `${t.file}: source \`${source}\` is an LDAP directory; its fields, IDs and values are checked by the preview only`,
    );
    return undefined;
  }
  // Paths in the daemon config are absolute once it is loaded (resolved against its folder).
  const abs = def.path;
  return readChecked(
    abs,
    // The operator's file: a pull request cannot fix its records, and the runtime leaves them out.
    {
      name: abs,
      format: def.type,
      id: def.id,
      delimiter: def.delimiter,
      recordSeverity: 'warning',
      keep: usedFields(repo, source, def.id),
      budget,
    },
    (m) => at(['spec', 'source'], `source \`${source}\` (${def.path}) ${m}`, 'warning'),
    cache,
  );
}

/**
 * Sources read and checked, by their bytes' digest and how they are read. A daemon's pass checks
 * out main and every preview branch, nearly all with the same data file: read once, not once per
 * branch (100,000 records are a quarter of a second each time, at every pass). Held weakly: a
 * reading no checkout holds any more costs no memory (a pass's branches may each change the file;
 * at 1,000,000 users a reading is some 250 MB), and is read again if it was collected.
 */
export class SourceCache {
  private readonly readings = new Map<string, WeakRef<SourceData>>();
  /** A reading's whole result, alive exactly as long as its records are. */
  private readonly checked = new WeakMap<SourceData, CheckedSource>();

  get(key: string): CheckedSource | undefined {
    const data = this.readings.get(key)?.deref();
    return data && this.checked.get(data);
  }

  set(key: string, checked: CheckedSource): void {
    // A file that could not be read as records is refused before the costly part.
    if (!checked.data) return;
    this.readings.set(key, new WeakRef(checked.data));
    this.checked.set(checked.data, checked);
  }
}

async function readChecked(
  abs: string,
  opts: Parameters<typeof checkSourceBytes>[1],
  cannot: (message: string) => CheckedSource,
  cache?: SourceCache,
): Promise<CheckedSource> {
  const st = await stat(abs).catch(() => undefined);
  if (!st?.isFile()) return cannot('cannot be read here (no such file)');
  const tooLarge = sourceFileTooLarge(st.size);
  if (tooLarge) return cannot(tooLarge);
  const bytes = await readFile(abs);
  if (!cache) return checkSourceBytes(bytes, opts);
  const digest = sha256(bytes);
  const key = JSON.stringify([digest, { ...opts, keep: opts.keep && [...opts.keep].sort() }]);
  const hit = cache.get(key);
  if (hit) return hit;
  const checked = checkSourceBytes(bytes, { ...opts, digest });
  cache.set(key, checked);
  return checked;
}

type Usable<T> = RepoFile<T> & { value: T; yaml: NonNullable<RepoFile<T>['yaml']> };

/**
 * The file's value, or, when it failed its schema, the parts these checks read as far as they are
 * well-formed: one schema error must not hide what the source says about the rest. The diagnostics
 * array is the file's own, so findings land where they belong.
 */
function usable<T>(
  file: RepoFile<T>,
  fallback: (raw: Record<string, unknown>) => T | undefined,
): Usable<T> | undefined {
  if (!file.yaml) return undefined;
  const raw = file.yaml.value;
  const value = file.value ?? (isObject(raw) ? fallback(raw) : undefined);
  // A copy: the file itself must keep saying it failed its schema.
  return value === undefined ? undefined : { ...file, value, yaml: file.yaml };
}

function usableTemplate(raw: Record<string, unknown>): SyncTemplate | undefined {
  const spec = raw.spec;
  if (!isObject(spec) || !isObject(spec.match) || typeof spec.match.sourceField !== 'string')
    return undefined;
  const source = spec.source;
  const sourceOk =
    typeof source === 'string' ||
    (isObject(source) && typeof source.file === 'string' && typeof source.id === 'string');
  if (!sourceOk) return undefined;
  // A malformed mapping keeps its place (locations are by index) but reads nothing.
  const mappings = (Array.isArray(spec.mappings) ? spec.mappings : []).map((m: unknown) =>
    isObject(m) && typeof m.target === 'string' && (typeof m.source === 'string' || isStringList(m.source))
      ? m
      : { target: '', source: [] },
  );
  return { ...raw, spec: { ...spec, mappings } } as unknown as SyncTemplate;
}

function usableRequest(raw: Record<string, unknown>): ReexportRequest | undefined {
  const spec = raw.spec;
  if (!isObject(spec) || typeof spec.template !== 'string') return undefined;
  const users = spec.users;
  const usersOk =
    users === 'all' ||
    (isObject(users) && (isStringList(users.ids) || (isObject(users.where) && !('ids' in users))));
  return usersOk ? (raw as unknown as ReexportRequest) : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** An executed request is history: editing it would make its reports lie about what was applied. */
async function executedEditRule(repo: ConfigRepo): Promise<void> {
  for (const r of repo.requests.values()) {
    if (!r.value) continue;
    let text: string | undefined;
    try {
      text = await readReportFile(repo.root, r.name, 'status.yaml');
    } catch (err) {
      r.diagnostics.push({ file: r.file, line: 1, col: 1, message: (err as Error).message });
      continue;
    }
    if (editedAfterExecution(parseStatus(text), requestDigest(r.value))) {
      r.diagnostics.push({ file: r.file, line: 1, col: 1, message: EXECUTED_EDITED });
    }
  }
}
