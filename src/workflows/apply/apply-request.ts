import type { KeyObject } from 'node:crypto';
import { readReportFile, reportPlanLines } from '../../adapters/fs/report-files.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigRepo } from '../../config/config-repo.js';
import type { LoadedDaemonConfig } from '../../config/daemon-config.js';
import { requestDigest, templateDigest } from '../../config/digests.js';
import { diagnosticsForRequest } from '../../config/rules.js';
import type { Target } from '../../config/types.generated.js';
import { validateRepo } from '../../config/validate-repo.js';
import { type EntryWriter, executeChunks } from '../../execute/executor.js';
import { identityDrift } from '../../execute/identity-drift.js';
import { type ChangeOutcome, countOutcomes, type OutcomeKind, OutcomeTally } from '../../execute/outcomes.js';
import { sourceCheck, sourceDrift } from '../../execute/source-drift.js';
import { parseStatus, renderStatus, type RequestStatus } from '../../lifecycle/status.js';
import type { PlanChange, PlanHeader } from '../../plan/plan-types.js';
import { dnValuedFrom, schemaAnswerFrom, schemaFromAnswer } from '../../plan/values.js';
import { parsePlanJsonl, renderPlanJsonl } from '../../report/plan-jsonl.js';
import {
  outcomeHeadline,
  parseResultJsonl,
  renderResultJsonl,
  renderResultMd,
  RESULT_FILE,
  RESULT_GZ_FILE,
  resultText,
} from '../../report/result.js';
import { jsonlUpTo, REPORT_SIZE_LIMITS, type ReportContent } from '../../report/write-reports.js';
import type { Diagnostic } from '../../shared/diagnostics.js';
import type { SourceData } from '../../source/records.js';
import { dnWithin, normalizeDn } from '../../syntax/dn.js';
import { Journal } from '../../adapters/fs/journal.js';
import { loadTemplateSource } from '../load-source.js';
import { type PreviewDeps, previewValidated } from '../preview.js';
import { choosePlan } from './choose-plan.js';
import { type PlanSource, planSourceOf } from './plan-stream.js';
import { readFresh } from './fresh-read.js';

export interface ApplyDeps extends PreviewDeps {
  /** Writers for `concurrency` modify operations in flight at once on the target. */
  openWriters: (
    target: string,
    concurrency: number,
  ) => Promise<{ writers: EntryWriter[]; close(): Promise<void> }>;
  journalDir: string;
  /** Public keys whose preview signatures make a committed plan "reviewed". */
  trustedKeys: readonly KeyObject[];
  signal?: AbortSignal;
  /** Asked before each entry is written (WriteOptions.beforeWrite). */
  beforeWrite?: () => void;
  onEntry?: (done: number, total: number) => void;
  retry?: { attempts: number; baseDelayMs: number };
  /**
   * Called once the plan is chosen and passed every check, right before the first write: the
   * daemon claims the execution here (a compare-and-swap on main). A throw stops the execution
   * with nothing written.
   */
  claim?: (header: PlanHeader) => Promise<void>;
  /**
   * Plan digests a trusted claim of this request was made for: a run that resumes one keeps the
   * plan its claim accepted (choosePlan's newer rules are for new executions).
   */
  claimedPlans?: ReadonlySet<string>;
  /** Above this size result.jsonl is result.jsonl.gz (REPORT_SIZE_LIMITS unless a test says less). */
  resultJsonlBytes?: number;
}

/** executed: nothing left. partial: changes pending after transient faults. interrupted: asked to stop. */
export type ApplyState = 'executed' | 'partial' | 'interrupted' | 'refused' | 'invalid';

export interface ApplyResult {
  state: ApplyState;
  message: string;
  header?: PlanHeader;
  reviewed?: boolean;
  /** Changes per outcome (all zero when nothing ran). */
  counts: Record<OutcomeKind, number>;
  /**
   * Every change's outcome, read back from result.jsonl when asked (tests, small plans): the
   * execution itself keeps only counts and the changes not applied.
   */
  outcomes(): ChangeOutcome[];
  diagnostics?: Diagnostic[];
  /**
   * Files for reports/<request>/ (result.md, result.jsonl or for a large execution result.jsonl.gz,
   * status.yaml), not yet signed.
   */
  files: Record<string, ReportContent> & { 'status.yaml': string };
}

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

  const choice = await choosePlan({
    name,
    request,
    template,
    committedPlan: await reportPlanLines(repo.root, name),
    committedStatus: status,
    trustedKeys: deps.trustedKeys,
    requireReviewedPreview: !opts.force && safety.requireReviewedPreview,
    ...(daemon.config.repo ? { mainBranch: daemon.config.repo.branch } : {}),
    ...(deps.claimedPlans ? { claimedPlans: deps.claimedPlans } : {}),
  });
  if ('refused' in choice) return refusal(name, 'refused', choice.refused, status);
  let plan: PlanSource;
  let reviewed: boolean;
  if ('plan' in choice) ({ plan, reviewed } = choice.plan);
  else {
    const fresh = await freshPlan(repo, name, daemon, deps, request, template, opts.commit);
    if ('invalid' in fresh)
      return { ...refusal(name, 'invalid', 'the request is invalid', status), diagnostics: fresh.invalid };
    plan = planSourceOf(fresh);
    reviewed = false;
  }
  const { header } = plan;

  const verdict = plan.safety(safety, request.spec.maxChanges);
  if (!verdict.ok) return { ...refusal(name, 'refused', verdict.message, status), header };

  // The operator may have narrowed the target since the review; the daemon config always wins.
  const target = daemon.config.targets[template.spec.target]!;
  const source = opts.source ?? (await loadTemplateSource(template, repo, daemon, deps.readLdapSource));

  const reader = await deps.openTarget(template.spec.target);
  // Preview and execution must compare values the same way: the schema answer the plan recorded
  // must still be the directory's. (Read afresh, so a plan file cannot choose it.)
  let dnValued: ReturnType<typeof dnValuedFrom>;
  try {
    const schema = await reader.readSchema?.();
    const now = schemaAnswerFrom(schema, plan.attributes);
    const then = header.schema && schemaAnswerFrom(schemaFromAnswer(header.schema), plan.attributes);
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
  const tally = new OutcomeTally();
  // result.jsonl, a chunk's lines at a time: compact text instead of an object per change.
  const jsonl: string[] = [];
  const record = (outcomes: readonly ChangeOutcome[]) => {
    tally.add(outcomes);
    if (outcomes.length) jsonl.push(renderResultJsonl(outcomes));
  };
  let interrupted: boolean;
  const chunks = plan.chunks()[Symbol.asyncIterator]();
  try {
    conns = await deps.openWriters(template.spec.target, target.concurrency);
    const check = sourceCheck(template, request, source, dnValued);
    const total = plan.entries;
    // Each chunk is made ready (verified against the first reading, its entries read afresh, its
    // drift decided) while the one before is being written: the executor asks for the next as it
    // starts writing one.
    async function* prepared() {
      for (let step = await chunks.next(); !step.done; step = await chunks.next()) {
        const all = step.value;
        const skipped = disallowed(all, target);
        const changes = skipped.size ? all.filter((c) => !skipped.has(c)) : all;
        const dnKey = dnKeys();
        const fresh = await readFresh(reader, changes, template, dnKey);
        const drift = sourceDrift(changes, check);
        for (const [k, v] of identityDrift(changes, fresh, template.spec.match.targetAttribute, dnKey)) {
          if (!drift.has(k)) drift.set(k, v);
        }
        yield { changes, fresh, dnKey, drift, skipped: [...skipped.values()] };
      }
    }
    const result = await executeChunks(prepared(), {
      dnValued,
      journal,
      done,
      writers: conns.writers,
      rateLimit: target.rateLimit,
      signal: deps.signal,
      ...(deps.beforeWrite ? { beforeWrite: deps.beforeWrite } : {}),
      onEntry: (n) => deps.onEntry?.(n, total),
      onChunk: (chunk, outcomes) => {
        record(chunk.skipped);
        record(outcomes);
      },
      retry: deps.retry ?? daemon.config.execution.retry,
    });
    interrupted = result.interrupted;
  } finally {
    await chunks.return?.();
    await conns?.close();
    await reader.close();
    await journal.close();
  }
  const finishedAt = now().toISOString();
  const { counts } = tally;
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
  const outcomes = await jsonlUpTo(jsonl, deps.resultJsonlBytes ?? REPORT_SIZE_LIMITS.resultJsonlBytes);
  const files: ApplyResult['files'] = {
    'result.md': renderResultMd(tally, {
      header,
      startedAt,
      finishedAt,
      interrupted: interruptedWhy,
      reviewed,
      file: 'gz' in outcomes ? RESULT_GZ_FILE : RESULT_FILE,
    }),
    ...('gz' in outcomes ? { [RESULT_GZ_FILE]: outcomes.gz } : { [RESULT_FILE]: outcomes.text }),
    'status.yaml': renderStatus(newStatus),
  };
  return {
    state,
    message: outcomeHeadline(counts, interrupted),
    header,
    reviewed,
    counts: { ...counts },
    outcomes: () =>
      parseResultJsonl('gz' in outcomes ? resultText(RESULT_GZ_FILE, outcomes.gz) : outcomes.text),
    files,
  };
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
  return { header: fresh.plan.header, changes: [...fresh.plan.changes] };
}

/**
 * normalizeDn for one chunk, each DN parsed once: the fresh read, the identity check and the
 * executor all key entries by it (the server mostly returns the DN exactly as the plan spells it).
 */
function dnKeys(): (dn: string) => string {
  const keys = new Map<string, string>();
  return (dn) => {
    let key = keys.get(dn);
    if (key === undefined) keys.set(dn, (key = normalizeDn(dn)));
    return key;
  };
}

function disallowed(changes: readonly PlanChange[], target: Target): Map<PlanChange, ChangeOutcome> {
  const allowed = new Set(target.allowedAttributes.map((a) => a.toLowerCase()));
  const bases = target.baseDNs?.map(dnWithin);
  const out = new Map<PlanChange, ChangeOutcome>();
  // An entry's changes are consecutive: its DN is parsed once, not once per attribute.
  let lastDn: string | undefined;
  let inside = true;
  for (const c of changes) {
    const base = { id: c.id, dn: c.dn, attribute: c.attribute, outcome: 'skipped' as const };
    if (!allowed.has(c.attribute.toLowerCase())) {
      out.set(c, { ...base, reason: `\`${c.attribute}\` is no longer in the target's allowedAttributes` });
      continue;
    }
    // A DN is parsed only for a change still allowed: one that cannot be parsed is then refused
    // by the scope check, not thrown at here.
    if (bases && c.dn !== lastDn) {
      lastDn = c.dn;
      inside = bases.some((within) => within(c.dn));
    }
    if (!inside) {
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
  return {
    state,
    message,
    counts: countOutcomes([]),
    outcomes: () => [],
    files: { 'status.yaml': renderStatus(s) },
  };
}
