import type { KeyObject } from 'node:crypto';
import { readReportFile, readReportPlanText } from '../../adapters/fs/report-files.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigRepo } from '../../config/config-repo.js';
import type { LoadedDaemonConfig } from '../../config/daemon-config.js';
import { requestDigest, templateDigest } from '../../config/digests.js';
import { diagnosticsForRequest } from '../../config/rules.js';
import type { Target } from '../../config/types.generated.js';
import { validateRepo } from '../../config/validate-repo.js';
import { type EntryWriter, executePlan } from '../../execute/executor.js';
import { identityDrift } from '../../execute/identity-drift.js';
import { type ChangeOutcome, countOutcomes } from '../../execute/outcomes.js';
import { sourceCheck, sourceDrift } from '../../execute/source-drift.js';
import { parseStatus, renderStatus, type RequestStatus } from '../../lifecycle/status.js';
import type { PlanChange, PlanHeader } from '../../plan/plan-types.js';
import { assessSafety } from '../../plan/safety.js';
import { dnValuedFrom, schemaAnswerFrom, schemaFromAnswer } from '../../plan/values.js';
import { parsePlanJsonl, renderPlanJsonl } from '../../report/plan-jsonl.js';
import { outcomeHeadline, renderResultJsonl, renderResultMd } from '../../report/result.js';
import type { Diagnostic } from '../../shared/diagnostics.js';
import type { SourceData } from '../../source/records.js';
import { isDnWithin, normalizeDn } from '../../syntax/dn.js';
import { Journal } from '../../adapters/fs/journal.js';
import { loadTemplateSource } from '../load-source.js';
import { type PreviewDeps, previewValidated } from '../preview.js';
import { choosePlan } from './choose-plan.js';
import { readFresh } from './fresh-read.js';

export interface ApplyDeps extends PreviewDeps {
  /** Opens `concurrency` bound connections to the target for writing. */
  openWriters: (
    target: string,
    concurrency: number,
  ) => Promise<{ writers: EntryWriter[]; close(): Promise<void> }>;
  journalDir: string;
  /** Public keys whose preview signatures make a committed plan "reviewed". */
  trustedKeys: readonly KeyObject[];
  signal?: AbortSignal;
  onEntry?: (done: number, total: number) => void;
  retry?: { attempts: number; baseDelayMs: number };
  /**
   * Called once the plan is chosen and passed every check, right before the first write: the
   * daemon claims the execution here (a compare-and-swap on main). A throw stops the execution
   * with nothing written.
   */
  claim?: (header: PlanHeader) => Promise<void>;
}

/** executed: nothing left. partial: changes pending after transient faults. interrupted: asked to stop. */
export type ApplyState = 'executed' | 'partial' | 'interrupted' | 'refused' | 'invalid';

export interface ApplyResult {
  state: ApplyState;
  message: string;
  header?: PlanHeader;
  reviewed?: boolean;
  outcomes: ChangeOutcome[];
  diagnostics?: Diagnostic[];
  /** Files for reports/<request>/ (result.md, result.jsonl, status.yaml), not yet signed. */
  files: Record<string, string>;
}

/** Changes per round of fresh read and writes: bounds what is held besides the plan itself. */
const CHUNK_CHANGES = 5000;

/** `applyValidated` for a checkout: validates it first (the CLI's way in). */
export async function applyRequest(
  root: string,
  name: string,
  daemon: LoadedDaemonConfig,
  deps: ApplyDeps,
  opts: { commit?: string; now?: () => Date } = {},
): Promise<ApplyResult> {
  const { repo } = await validateRepo(root, daemon);
  return applyValidated(repo, name, daemon, deps, opts);
}

/**
 * Runs one request's execution on a validated checkout: choose the plan (reviewed = signed),
 * check safety and the allowlist, then per chunk read the planned entries afresh, find what
 * drifted, and write the rest as compare-and-swap. Every final outcome is journaled; a run after
 * a crash or a partial run finishes the same plan. Whether the request may execute at all (once
 * only, claims) is the caller's decision (workflows/execution.ts).
 */
export async function applyValidated(
  repo: ConfigRepo,
  name: string,
  daemon: LoadedDaemonConfig,
  deps: ApplyDeps,
  opts: { commit?: string; now?: () => Date; source?: SourceData; force?: boolean } = {},
): Promise<ApplyResult> {
  const now = opts.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const status = parseStatus(await readReportFile(repo.root, name, 'status.yaml'));
  const requestFile = repo.requests.get(name);
  if (!requestFile) return refusal(name, 'invalid', `no request ${name}`, status);
  const diagnostics = diagnosticsForRequest(repo, name);
  if (diagnostics.length || !requestFile.value) {
    return { ...refusal(name, 'invalid', 'the request is invalid', status), diagnostics };
  }
  const request = requestFile.value;
  const template = repo.templates.get(request.spec.template)!.value!;
  const { safety } = daemon.config;

  const choice = choosePlan({
    name,
    request,
    template,
    committedPlan: await readReportPlanText(repo.root, name),
    committedStatus: status,
    trustedKeys: deps.trustedKeys,
    requireReviewedPreview: !opts.force && safety.requireReviewedPreview,
  });
  if ('refused' in choice) return refusal(name, 'refused', choice.refused, status);
  let header: PlanHeader;
  let changes: PlanChange[];
  let reviewed: boolean;
  if ('plan' in choice) ({ header, changes, reviewed } = choice.plan);
  else {
    const fresh = await freshPlan(repo, name, daemon, deps, request, template, opts.commit);
    if ('invalid' in fresh)
      return { ...refusal(name, 'invalid', 'the request is invalid', status), diagnostics: fresh.invalid };
    ({ header, changes } = fresh);
    reviewed = false;
  }

  const verdict = assessSafety(changes, safety, request.spec.maxChanges);
  if (!verdict.ok) return { ...refusal(name, 'refused', verdict.message, status), header };

  // The operator may have narrowed the target since the review; the daemon config always wins.
  const target = daemon.config.targets[template.spec.target]!;
  const skipped = disallowed(changes, target);
  changes = changes.filter((c) => !skipped.has(c));
  const source = opts.source ?? (await loadTemplateSource(template, repo, daemon, deps.readLdapSource));

  const reader = await deps.openTarget(template.spec.target);
  // Preview and execution must compare values the same way: the schema answer the plan recorded
  // must still be the directory's. (Read afresh, so a plan file cannot choose it.)
  let dnValued: ReturnType<typeof dnValuedFrom>;
  try {
    const schema = await reader.readSchema?.();
    const attributes = [...new Set(changes.map((c) => c.attribute))];
    const now = schemaAnswerFrom(schema, attributes);
    const then = header.schema && schemaAnswerFrom(schemaFromAnswer(header.schema), attributes);
    if (then && JSON.stringify(then) !== JSON.stringify({ ...now, source: then.source })) {
      await reader.close();
      return refusal(
        name,
        'refused',
        `the directory's schema changed since the preview (DN-valued ${then.dnValued.join(', ') || 'none'} → ${now.dnValued.join(', ') || 'none'}; single-valued ${then.singleValued.join(', ') || 'none'} → ${now.singleValued.join(', ') || 'none'}); let the daemon preview the request again`,
        status,
      );
    }
    dnValued = dnValuedFrom(schema);
    await deps.claim?.(header);
  } catch (err) {
    await reader.close();
    throw err;
  }

  const { journal, done } = await Journal.open(deps.journalDir, name, header.digests.plan);
  let conns: Awaited<ReturnType<ApplyDeps['openWriters']>> | undefined;
  const outcomes: ChangeOutcome[] = [];
  let interrupted = false;
  try {
    conns = await deps.openWriters(template.spec.target, target.concurrency);
    const check = sourceCheck(template, request, source, dnValued);
    const chunks = chunkByEntry(changes, CHUNK_CHANGES);
    let finished = 0;
    const total = new Set(changes.map((c) => c.dn)).size;
    let nextRead = chunks.length ? readFresh(reader, chunks[0]!, template) : undefined;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      const fresh = await nextRead!;
      // The next chunk's read overlaps this chunk's writes.
      nextRead = i + 1 < chunks.length ? readFresh(reader, chunks[i + 1]!, template) : undefined;
      const drift = sourceDrift(chunk, check);
      for (const [k, v] of identityDrift(chunk, fresh, template.spec.match.targetAttribute, normalizeDn)) {
        if (!drift.has(k)) drift.set(k, v);
      }
      const base = finished;
      const result = await executePlan({
        changes: chunk,
        fresh,
        dnKey: normalizeDn,
        drift,
        dnValued,
        journal,
        done,
        writers: conns.writers,
        rateLimit: target.rateLimit,
        signal: deps.signal,
        onEntry: (n) => deps.onEntry?.(base + n, total),
        retry: deps.retry ?? daemon.config.execution.retry,
      });
      outcomes.push(...result.outcomes);
      finished += new Set(chunk.map((c) => c.dn)).size;
      if (result.interrupted) {
        interrupted = true;
        await nextRead?.catch(() => undefined);
        break;
      }
    }
  } finally {
    await conns?.close();
    await reader.close();
    await journal.close();
  }
  outcomes.push(...skipped.values());
  const finishedAt = now().toISOString();
  const counts = countOutcomes(outcomes);
  const state: ApplyState = interrupted ? 'interrupted' : counts.pending > 0 ? 'partial' : 'executed';
  const newStatus: RequestStatus = {
    request: name,
    state: state === 'interrupted' ? 'executing' : state,
    digests: header.digests,
    counts: { ...counts },
    reviewed,
    executionStartedAt:
      status?.executionStartedAt && status.state !== 'previewed' ? status.executionStartedAt : startedAt,
    ...(state === 'executed' ? { executedAt: finishedAt } : {}),
    ...(opts.commit ? { executedCommit: opts.commit } : {}),
  };
  const interruptedWhy = interrupted ? 'the daemon was asked to stop' : undefined;
  const files = {
    'result.md': renderResultMd(outcomes, {
      header,
      startedAt,
      finishedAt,
      interrupted: interruptedWhy,
      reviewed,
    }),
    'result.jsonl': renderResultJsonl(outcomes),
    'status.yaml': renderStatus(newStatus),
  };
  return { state, message: outcomeHeadline(counts, interrupted), header, reviewed, outcomes, files };
}

/**
 * A fresh plan, for operators who turned the review requirement off. It is kept beside the
 * journal, so a resumed run finishes that same plan instead of planning anew against a
 * half-changed directory.
 */
async function freshPlan(
  repo: ConfigRepo,
  name: string,
  daemon: LoadedDaemonConfig,
  deps: ApplyDeps,
  request: Parameters<typeof requestDigest>[0],
  template: Parameters<typeof templateDigest>[0],
  commit: string | undefined,
): Promise<{ header: PlanHeader; changes: PlanChange[] } | { invalid: Diagnostic[] }> {
  const savedFile = path.join(deps.journalDir, `${name}.plan.jsonl`);
  const savedText = await readFile(savedFile, 'utf8').catch(() => undefined);
  if (savedText) {
    try {
      const saved = parsePlanJsonl(savedText);
      if (
        saved.header.digests.request === requestDigest(request) &&
        saved.header.digests.template === templateDigest(template)
      ) {
        return saved;
      }
    } catch {
      // Our own file, torn by a crash: plan again.
    }
  }
  const fresh = await previewValidated(repo, name, daemon, deps, { commit });
  if ('invalid' in fresh) return fresh;
  await mkdir(deps.journalDir, { recursive: true });
  await writeFile(savedFile, renderPlanJsonl(fresh.plan));
  return fresh.plan;
}

/** Chunks of about `size` changes that never split an entry (its changes are written together). */
function chunkByEntry(changes: readonly PlanChange[], size: number): PlanChange[][] {
  const out: PlanChange[][] = [];
  let current: PlanChange[] = [];
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]!;
    const sameEntry = current.length > 0 && current[current.length - 1]!.dn === c.dn;
    if (current.length >= size && !sameEntry) {
      out.push(current);
      current = [];
    }
    current.push(c);
  }
  if (current.length) out.push(current);
  return out;
}

function disallowed(changes: readonly PlanChange[], target: Target): Map<PlanChange, ChangeOutcome> {
  const allowed = new Set(target.allowedAttributes.map((a) => a.toLowerCase()));
  const out = new Map<PlanChange, ChangeOutcome>();
  for (const c of changes) {
    const base = { id: c.id, dn: c.dn, attribute: c.attribute, outcome: 'skipped' as const };
    if (!allowed.has(c.attribute.toLowerCase())) {
      out.set(c, { ...base, reason: `\`${c.attribute}\` is no longer in the target's allowedAttributes` });
    } else if (target.baseDNs && !target.baseDNs.some((b) => isDnWithin(c.dn, b))) {
      out.set(c, { ...base, reason: "the entry is outside the target's baseDNs" });
    }
  }
  return out;
}

function refusal(
  request: string,
  state: 'refused' | 'invalid',
  message: string,
  status: RequestStatus | undefined,
): ApplyResult {
  const s: RequestStatus = { ...(status ?? {}), request, state, message };
  return { state, message, outcomes: [], files: { 'status.yaml': renderStatus(s) } };
}
