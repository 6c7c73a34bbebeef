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
import { checkRequestFields, checkTemplateFields, dryRun, type SourceFacts } from '../plan/check-fields.js';
import { usedFields } from '../plan/used-fields.js';
import { type Diagnostic, type Severity, formatDiagnostic, sortDiagnostics } from '../shared/diagnostics.js';
import { type CheckedSource, checkSourceBytes } from '../source/check-source.js';
import { formatOf, type SourceFormat } from '../source/parse-file.js';
import { idKey, type SourceData, sha256 } from '../source/records.js';
import { sourceFileTooLarge, sourceMemoryBudget } from './load-source.js';
import type { SourceCheckMark, SourceCheckMemory } from '../ports/source-checks.js';
import { SourceChangedError } from '../shared/errors.js';

export interface CheckoutValidation {
  repo: ConfigRepo;
  /** Every finding, errors and warnings, sorted by file and position, each once. */
  diagnostics: Diagnostic[];
  /** What was not checked, and why (an LDAP source, a source defined only in the daemon config). */
  notes: string[];
  /** The sources read, by template name (LDAP sources are not read here). */
  sources: Map<string, SourceData>;
  /**
   * Sources whose check a SourceCache remembered instead of reading them (their bytes unchanged
   * since), by template name: read when a plan needs their records.
   */
  deferred: Map<string, DeferredSource>;
}

/** A source whose check was remembered: its digest now, its records when asked for. */
export interface DeferredSource {
  /** sha256 of the file's bytes (hex), as SourceData.digest. */
  digest: string;
  load(): Promise<SourceData>;
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
  const deferred = new Map<string, DeferredSource>();
  const read = new Map<string, Promise<ValidatedSource | undefined>>();
  const templates = [...repo.templates.values()].flatMap((file) => {
    const t = usable(file, usableTemplate);
    return t ? [{ file, t }] : [];
  });
  const requests = [...repo.requests.values()].flatMap((file) => {
    const r = usable(file, usableRequest);
    return r ? [r] : [];
  });
  // The ID keys the requests of each source name: what a remembered check must answer.
  const asked = new Map<string, string[]>();
  for (const { t } of templates) {
    const key = JSON.stringify(t.value.spec.source);
    for (const r of requests) {
      const users = r.value.spec.users;
      if (r.value.spec.template !== t.name || typeof users !== 'object' || !('ids' in users)) continue;
      let keys = asked.get(key);
      if (!keys) asked.set(key, (keys = []));
      for (const id of users.ids) keys.push(idKey(id));
    }
  }
  // The sources are held together: each may take what those read before it left.
  let budget = sourceMemoryBudget();
  for (const { file, t } of templates) {
    const key = JSON.stringify(t.value.spec.source);
    const first = !read.has(key);
    if (first)
      read.set(
        key,
        readSource(repo, t, daemon, notes, { cache: opts.sourceCache, budget, asked: asked.get(key) }),
      );
    const checked = await read.get(key)!;
    if (!checked) continue;
    // Counted whether read or remembered, so that a remembered check leaves the next one as it was.
    if (first && checked.facts) budget = Math.max(0, budget - (checked.memory ?? 0));
    // A loop, not push(...): a broken file may give hundreds of thousands of diagnostics.
    for (const d of checked.diagnostics) t.diagnostics.push(d);
    const facts = checked.facts;
    if (!facts) continue;
    if (file.value) {
      if (checked.data) sources.set(t.name, checked.data);
      else if (checked.later) deferred.set(t.name, checked.later);
    }
    t.diagnostics.push(...checkTemplateFields(t, facts));
    if (opts.dryRun) t.diagnostics.push(...dryRun(t, checked.data ?? (await checked.later!.load())));
    for (const r of requests)
      if (r.value.spec.template === t.name) r.diagnostics.push(...checkRequestFields(r, facts));
  }
  await executedEditRule(repo);
  const unique = new Map(collectDiagnostics(repo).map((d) => [`${formatDiagnostic(d)}`, d]));
  return { repo, diagnostics: sortDiagnostics([...unique.values()]), notes, sources, deferred };
}

/**
 * A source as validation found it: its problems and, when it reads as records, what the checks
 * of templates and requests need; its records when they were read, or how to read them when a
 * remembered check stood in for reading them.
 */
interface ValidatedSource {
  diagnostics: Diagnostic[];
  facts?: SourceFacts;
  memory?: number;
  data?: SourceData;
  later?: DeferredSource;
}

function validated(checked: CheckedSource): ValidatedSource {
  const { data } = checked;
  return {
    diagnostics: checked.diagnostics,
    ...(data
      ? {
          data,
          facts: { name: data.name, fields: data.fields, ...(checked.ids ? { ids: checked.ids } : {}) },
        }
      : {}),
    ...(checked.memory !== undefined ? { memory: checked.memory } : {}),
  };
}

interface ReadOptions {
  cache: SourceCache | undefined;
  budget: number;
  /** The ID keys requests name (idKey): what a remembered check must answer. */
  asked: readonly string[] | undefined;
}

/** A template's source, read-only; undefined when it cannot be read here (said in a note or a diagnostic). */
async function readSource(
  repo: ConfigRepo,
  t: Usable<SyncTemplate>,
  daemon: LoadedDaemonConfig | undefined,
  notes: string[],
  how: ReadOptions,
): Promise<ValidatedSource | undefined> {
  const { budget } = how;
  const source = t.value.spec.source;
  const at = (path: string[], message: string, severity?: Severity): ValidatedSource => ({
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
      how,
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
    how,
  );
}

/** ID answers a remembered check keeps at most; a request naming more is checked by reading. */
const IDS_REMEMBERED = 10_000;
/** What a remembered check may take at most, as text: 64 marks stay under 16 MB. */
const MARK_BYTES = 256 * 1024;

function markSize(mark: SourceCheckMark): number {
  let size = 0;
  for (const d of mark.diagnostics) size += d.file.length + d.message.length + 32;
  for (const f of mark.fields) size += f.length + 4;
  for (const k in mark.ids) size += k.length + 8;
  return size;
}

/**
 * Sources read and checked, by their bytes' digest and how they are read. A daemon's pass checks
 * out main and every preview branch, nearly all with the same data file: read once, not once per
 * branch (100,000 records are a quarter of a second each time, at every pass). Held weakly: a
 * reading no checkout holds any more costs no memory (a pass's branches may each change the file;
 * at 1,000,000 users a reading is some 250 MB), and is read again if it was collected.
 *
 * With a SourceCheckMemory, what a check found (not the records) is also kept across passes and
 * restarts: a file whose bytes did not change is not parsed again to be validated, only when a
 * plan needs its records (an idle pass plans nothing). The check is a function of the bytes and
 * how they are read, so remembering it changes no finding.
 */
export class SourceCache {
  private readonly readings = new Map<string, WeakRef<SourceData>>();
  /** A reading's whole result, alive exactly as long as its records are. */
  private readonly checked = new WeakMap<SourceData, CheckedSource>();

  constructor(
    private readonly opts: {
      memory?: SourceCheckMemory;
      /** Told of each file checked: parsed, or its check remembered. */
      onCheck?: (how: 'parsed' | 'remembered') => void;
    } = {},
  ) {}

  get(key: string): CheckedSource | undefined {
    const data = this.readings.get(key)?.deref();
    return data && this.checked.get(data);
  }

  /** A check remembered under `key` that answers every ID key asked and fits the budget. */
  remembered(key: string, asked: readonly string[], budget: number): SourceCheckMark | undefined {
    const mark = this.opts.memory?.get(key);
    if (!mark || (mark.memory ?? 0) > budget) return undefined;
    if (!asked.every((k) => Object.hasOwn(mark.ids, k))) return undefined;
    this.opts.onCheck?.('remembered');
    return mark;
  }

  set(key: string, markKey: string, checked: CheckedSource, asked: readonly string[]): void {
    this.opts.onCheck?.('parsed');
    // A file that could not be read as records is refused before the costly part.
    if (!checked.data) return;
    this.readings.set(key, new WeakRef(checked.data));
    this.checked.set(checked.data, checked);
    const memory = this.opts.memory;
    if (!memory) return;
    const ids = Object.create(null) as Record<string, boolean>;
    const prior = memory.get(markKey)?.ids ?? {};
    if (Object.keys(prior).length + asked.length <= IDS_REMEMBERED) Object.assign(ids, prior);
    if (asked.length <= IDS_REMEMBERED) for (const k of asked) ids[k] = checked.ids?.has(k) ?? false;
    const mark: SourceCheckMark = {
      diagnostics: checked.diagnostics,
      fields: [...checked.data.fields],
      ...(checked.memory !== undefined ? { memory: checked.memory } : {}),
      ids,
    };
    // Findings, field names and IDs are the file's (of any length): a file whose check is long to
    // say is parsed again next pass rather than held for the daemon's life and written down.
    if (markSize(mark) <= MARK_BYTES) memory.set(markKey, mark);
  }
}

async function readChecked(
  abs: string,
  opts: Parameters<typeof checkSourceBytes>[1] & { budget: number },
  cannot: (message: string) => ValidatedSource,
  how: ReadOptions,
  remember = true,
): Promise<ValidatedSource> {
  const st = await stat(abs).catch(() => undefined);
  if (!st?.isFile()) return cannot('cannot be read here (no such file)');
  const tooLarge = sourceFileTooLarge(st.size);
  if (tooLarge) return cannot(tooLarge);
  const bytes = await readFile(abs);
  const { cache } = how;
  if (!cache) return validated(checkSourceBytes(bytes, opts));
  const digest = sha256(bytes);
  const { budget, keep, ...lasting } = opts;
  const kept = keep && [...keep].sort();
  const key = JSON.stringify([digest, { ...lasting, keep: kept, budget }]);
  const hit = cache.get(key);
  if (hit) return validated(hit);
  // The budget is not part of what a check found: a remembered check says what the records take.
  const markKey = JSON.stringify([digest, { ...lasting, keep: kept }]);
  const asked = how.asked ?? [];
  const mark = remember ? cache.remembered(markKey, asked, budget) : undefined;
  if (mark)
    return {
      diagnostics: mark.diagnostics.map((d) => ({ ...d })),
      facts: {
        name: opts.name,
        fields: new Set(mark.fields),
        ids: { has: (k) => Object.hasOwn(mark.ids, k) && mark.ids[k] === true },
      },
      ...(mark.memory !== undefined ? { memory: mark.memory } : {}),
      later: {
        digest,
        load: async () => {
          const again = await readChecked(abs, opts, cannot, how, false);
          // Only the bytes validated may be planned from: a file changed since (an operator's
          // file rewritten, a checkout moved by a push during the pass) is checked next pass.
          if (again.data?.digest === digest) return again.data;
          throw new SourceChangedError(
            `${opts.name} changed after it was checked in this pass; the next pass checks it again`,
          );
        },
      },
    };
  const checked = checkSourceBytes(bytes, { ...opts, digest });
  cache.set(key, markKey, checked, asked);
  return validated(checked);
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
