import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { LoadedDaemonConfig } from '../config/daemon-config.js';
import type { ReexportRequest, SyncTemplate, Target } from '../config/types.generated.js';
import { isDnWithin, normalizeDn } from '../syntax/dn.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { diagnosticsForRequest } from '../config/rules.js';
import { validateRepo } from '../config/validate-repo.js';
import { planDigest, requestDigest, templateDigest } from '../plan/build-plan.js';
import { compileMappings } from '../plan/evaluate.js';
import type { PlanChange, PlanHeader } from '../plan/plan-types.js';
import { assessSafety, DEFAULT_SAFETY } from '../plan/safety.js';
import { type PreviewDeps, previewRequest } from './preview.js';
import { entryQuery } from '../ports/directory.js';
import { parsePlanJsonl, renderPlanJsonl } from '../report/plan-jsonl.js';
import { renderResultJsonl, renderResultMd } from '../report/result.js';
import { renderStatus, type RequestStatus } from '../lifecycle/status.js';
import { loadTemplateSource } from './load-source.js';
import { type EntryWriter, executePlan } from '../execute/executor.js';
import { Journal } from '../adapters/fs/journal.js';
import { type ChangeOutcome, countOutcomes } from '../execute/outcomes.js';
import { caseDrift } from '../execute/case-drift.js';
import { identityDrift } from '../execute/identity-drift.js';
import { sourceDrift } from '../execute/source-drift.js';
import { type DnValued, dnValuedFrom, isDnValued } from '../plan/values.js';

export interface ApplyDeps extends PreviewDeps {
  /** Opens `concurrency` bound connections to the target for writing. */
  openWriters: (
    target: string,
    concurrency: number,
  ) => Promise<{ writers: EntryWriter[]; close(): Promise<void> }>;
  journalDir: string;
  signal?: AbortSignal;
  onEntry?: (done: number, total: number) => void;
  retry?: { attempts: number; baseDelayMs: number };
  /**
   * Called with status.yaml in state `executing` before the first write; must make it durable
   * (the daemon commits and pushes it; the CLI writes it to disk). A throw stops the execution.
   */
  beforeWrite?: (files: Record<string, string>) => Promise<void>;
}

export type ApplyState = 'executed' | 'interrupted' | 'refused' | 'invalid';

export interface ApplyResult {
  state: ApplyState;
  message: string;
  header?: PlanHeader;
  reviewed?: boolean;
  outcomes: ChangeOutcome[];
  diagnostics?: Diagnostic[];
  /** Files for reports/<request>/ (result.md, result.jsonl, status.yaml). */
  files: Record<string, string>;
}

/**
 * Applies a request: the committed, reviewed plan when it still matches the request and template,
 * else a fresh one (unless the operator requires a reviewed preview); refused over the safety
 * threshold; every outcome journaled; resumable after a crash.
 */
export async function applyRequest(
  root: string,
  name: string,
  daemon: LoadedDaemonConfig,
  deps: ApplyDeps,
  opts: { commit?: string; now?: () => Date } = {},
): Promise<ApplyResult> {
  const now = opts.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const { repo } = await validateRepo(root, daemon);
  const reportDir = path.join(root, 'reports', name);
  const status = await readStatus(reportDir);
  const diagnostics = diagnosticsForRequest(repo, name);
  const requestFile = repo.requests.get(name);
  if (!requestFile) return refusal(name, 'invalid', `no request ${name}`, status);
  if (status?.state === 'executed') {
    return {
      state: 'refused',
      message: `request ${name} was executed at ${status.executedAt ?? 'an earlier time'}; an executed request is never executed again: create a new request`,
      outcomes: [],
      files: {},
    };
  }
  if (diagnostics.length || !requestFile.value)
    return { ...refusal(name, 'invalid', 'the request is invalid', status), diagnostics };
  const request = requestFile.value;
  const template = repo.templates.get(request.spec.template)!.value!;
  const safety = { ...DEFAULT_SAFETY, ...daemon.config.safety };

  const committed = await readFile(path.join(reportDir, 'plan.jsonl'), 'utf8').catch(() => undefined);
  let header: PlanHeader;
  let changes: PlanChange[];
  let reviewed = false;
  const parsed = committed ? safeParse(committed) : undefined;
  if (
    parsed &&
    parsed.header.request === name &&
    parsed.header.digests.request === requestDigest(request) &&
    parsed.header.digests.template === templateDigest(template)
  ) {
    const tampered = tamperedPlan(parsed.header, parsed.changes, request, template);
    if (tampered)
      return refusal(
        name,
        'refused',
        `the committed plan.jsonl cannot be trusted: ${tampered}; reports/ is written by the daemon only, let it preview again`,
        status,
      );
    ({ header, changes } = parsed);
    reviewed = true;
  } else if (daemon.config.safety?.requireReviewedPreview) {
    const why = parsed
      ? 'the committed plan was made for another version of the request or template'
      : 'there is no committed plan';
    return refusal(
      name,
      'refused',
      `${why}, and the daemon requires a reviewed preview: let the daemon preview the request in a pull request first`,
      status,
    );
  } else {
    // A fresh plan is kept beside the journal, so a resumed run finishes that same plan
    // instead of planning anew against a half-changed directory.
    const savedFile = path.join(deps.journalDir, `${name}.plan.jsonl`);
    const saved = safeParse(await readFile(savedFile, 'utf8').catch(() => ''));
    if (
      saved &&
      saved.header.digests.request === requestDigest(request) &&
      saved.header.digests.template === templateDigest(template) &&
      status?.state === 'executing'
    ) {
      ({ header, changes } = saved);
    } else {
      const fresh = await previewRequest(root, name, daemon, deps, { commit: opts.commit });
      if ('invalid' in fresh)
        return { ...refusal(name, 'invalid', 'the request is invalid', status), diagnostics: fresh.invalid };
      ({ header, changes } = fresh.plan);
      await mkdir(deps.journalDir, { recursive: true });
      await writeFile(savedFile, renderPlanJsonl(fresh.plan));
    }
  }

  const verdict = assessSafety(changes, safety, request.spec.maxChanges);
  if (!verdict.ok) return { ...refusal(name, 'refused', verdict.message, status), header };

  // The operator may have narrowed the target since the review; the daemon config always wins.
  const target = daemon.config.targets[template.spec.target]!;
  const skipped = disallowed(changes, target);
  changes = changes.filter((c) => !skipped.has(c));
  const source = await loadTemplateSource(template, repo, daemon, deps.readLdapSource);
  const { fresh, dnValued } = await readDirectory(changes, template, deps);
  const drift = sourceDrift(changes, template, request, source, dnValued);
  for (const found of [
    identityDrift(changes, fresh, template.spec.match.targetAttribute, normalizeDn),
    caseDrift(changes, fresh, normalizeDn, dnValued),
  ]) {
    for (const [k, v] of found) if (!drift.has(k)) drift.set(k, v);
  }
  const executionStartedAt =
    status?.state === 'executing' && status.executionStartedAt ? status.executionStartedAt : startedAt;
  await deps.beforeWrite?.({
    'status.yaml': renderStatus({
      ...(status ?? {}),
      request: name,
      state: 'executing',
      digests: header.digests,
      executionStartedAt,
      ...(opts.commit ? { commit: opts.commit } : {}),
    }),
  });
  const { journal, done } = await Journal.open(deps.journalDir, name, header.digests.plan);
  const conns = await deps.openWriters(template.spec.target, target.concurrency ?? 4);
  let result: Awaited<ReturnType<typeof executePlan>>;
  try {
    result = await executePlan({
      changes,
      drift,
      dnValued,
      journal,
      done,
      writers: conns.writers,
      rateLimit: target.rateLimit,
      signal: deps.signal,
      onEntry: deps.onEntry,
      retry: deps.retry,
    });
  } finally {
    await conns.close();
    await journal.close();
  }
  result.outcomes.push(...skipped.values());
  const finishedAt = now().toISOString();
  const counts = countOutcomes(result.outcomes);
  const interrupted = result.interrupted ? 'the daemon was asked to stop' : undefined;
  const newStatus: RequestStatus = {
    ...(status ?? { request: name }),
    request: name,
    state: result.interrupted ? 'executing' : 'executed',
    digests: header.digests,
    counts: { ...counts },
    executionStartedAt,
    ...(result.interrupted ? {} : { executedAt: finishedAt }),
    ...(opts.commit ? { executedCommit: opts.commit } : {}),
  };
  delete newStatus.message;
  const files = {
    'result.md': renderResultMd(result.outcomes, { header, startedAt, finishedAt, interrupted, reviewed }),
    'result.jsonl': renderResultJsonl(result.outcomes),
    'status.yaml': renderStatus(newStatus),
  };
  const summary = Object.entries(counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  return {
    state: result.interrupted ? 'interrupted' : 'executed',
    message: summary,
    header,
    reviewed,
    outcomes: result.outcomes,
    files,
  };
}

/**
 * A plan file is data from the repository: anyone who can push could edit it. Beyond the digest,
 * every change must stay within what the request and template can produce; the source check at
 * execution then rejects any `after` the source does not give.
 */
function tamperedPlan(
  header: PlanHeader,
  changes: readonly PlanChange[],
  request: ReexportRequest,
  template: SyncTemplate,
): string | undefined {
  if (planDigest(changes) !== header.digests.plan) return 'its changes do not match its digest';
  const selected = new Set(
    compileMappings(template, request.spec.mappings).map((m) => m.attribute.toLowerCase()),
  );
  const outside = changes.find((c) => !selected.has(c.attribute.toLowerCase()));
  if (outside) return `it changes \`${outside.attribute}\`, which the request does not re-export`;
  const foreign = changes.find((c) => !isDnWithin(c.dn, template.spec.scope.baseDN));
  if (foreign) return `it changes ${foreign.dn}, outside the template's baseDN`;
  const seen = new Set<string>();
  for (const c of changes) {
    const key = `${c.id.toLowerCase()}\0${c.attribute.toLowerCase()}`;
    if (seen.has(key)) return `it changes \`${c.attribute}\` of ${c.id} twice`;
    seen.add(key);
  }
  return undefined;
}

/** IDs per search (an OR filter), and searches in flight, when reading the planned entries afresh. */
const FRESH_READ_BATCH = 500;
const FRESH_READ_PARALLEL = 4;

/**
 * The directory's schema (which attributes compare as DNs), and the planned entries as they are
 * now, read in batches of IDs (a search per 500 entries, not one per entry), several searches at
 * once on the one connection (LDAP multiplexes them by message ID). Reading them all before the
 * first write measured as fast as reading ahead of the writes (the directory is the bottleneck
 * either way), and is simpler.
 */
async function readDirectory(
  changes: readonly PlanChange[],
  template: SyncTemplate,
  deps: ApplyDeps,
): Promise<{ fresh: Map<string, Map<string, string[]>>; dnValued: DnValued }> {
  const out = new Map<string, Map<string, string[]>>();
  const ids = [...new Set(changes.map((c) => c.id))];
  if (ids.length === 0) return { fresh: out, dnValued: isDnValued };
  const attributes = [...new Set([template.spec.match.targetAttribute, ...changes.map((c) => c.attribute)])];
  const target = await deps.openTarget(template.spec.target);
  let dnValued: DnValued;
  try {
    // The same schema answers as the preview had: which attributes compare as DNs.
    dnValued = dnValuedFrom(await target.readSchema?.());
    let next = 0;
    const lane = async () => {
      for (let i = next; i < ids.length; i = next) {
        next += FRESH_READ_BATCH;
        for await (const page of target.readEntries(
          entryQuery(template, [...attributes], ids.slice(i, i + FRESH_READ_BATCH)),
        )) {
          for (const e of page)
            out.set(normalizeDn(e.dn), new Map([...e.attrs].map(([k, v]) => [k, v.values])));
        }
      }
    };
    await Promise.all(Array.from({ length: FRESH_READ_PARALLEL }, lane));
  } finally {
    await target.close();
  }
  return { fresh: out, dnValued };
}

function disallowed(changes: readonly PlanChange[], target: Target): Map<PlanChange, ChangeOutcome> {
  const allowed = new Set(target.allowedAttributes.map((a) => a.toLowerCase()));
  const out = new Map<PlanChange, ChangeOutcome>();
  for (const c of changes) {
    const base = { id: c.id, dn: c.dn, attribute: c.attribute, outcome: 'skipped' as const };
    if (!allowed.has(c.attribute.toLowerCase()))
      out.set(c, { ...base, reason: `\`${c.attribute}\` is no longer in the target's allowedAttributes` });
    else if (target.baseDNs && !target.baseDNs.some((b) => isDnWithin(c.dn, b)))
      out.set(c, { ...base, reason: "the entry is outside the target's baseDNs" });
  }
  return out;
}

function refusal(
  request: string,
  state: 'refused' | 'invalid',
  message: string,
  status: RequestStatus | undefined,
): ApplyResult {
  const s: RequestStatus = {
    ...(status ?? {}),
    request,
    state: state === 'invalid' ? 'invalid' : 'refused',
    message,
  };
  return { state, message, outcomes: [], files: { 'status.yaml': renderStatus(s) } };
}

function safeParse(text: string) {
  try {
    return parsePlanJsonl(text);
  } catch {
    return undefined;
  }
}

export async function readStatus(reportDir: string): Promise<RequestStatus | undefined> {
  const text = await readFile(path.join(reportDir, 'status.yaml'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  try {
    return parseYaml(text) as RequestStatus;
  } catch {
    return undefined;
  }
}
