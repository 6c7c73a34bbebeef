import {
  readReportFile,
  reportFileExists,
  planContentHash,
  reportPlanHash,
  reportPlanLines,
} from '../adapters/fs/report-files.js';
import { scanPlanFile } from './apply/plan-stream.js';
import picomatch from 'picomatch';
import { type ConfigRepo, requestsTouched } from '../config/config-repo.js';
import { type LoadedDaemonConfig, repoOf } from '../config/daemon-config.js';
import { diagnosticsForRequest } from '../config/rules.js';
import { type DeferredSource, SourceCache, validateCheckout } from './validate.js';
import type { ExecutionRecord } from '../lifecycle/executions.js';
import { type Statement, verifySigned } from '../lifecycle/signing.js';
import { signPreview, statusHolds, textDigest } from '../lifecycle/statements.js';
import { parseStatus, type RequestStatus, sameStatus } from '../lifecycle/status.js';
import { plannedAttributes, selectedRecords } from '../plan/build-plan.js';
import { targetedIds } from './make-plan.js';
import {
  previewStatus,
  renderCommittedPreviewFiles,
  renderInvalidFiles,
  type ReportContent,
} from '../report/write-reports.js';
import { PLAN_FILE, PLAN_GZ_FILE } from '../report/plan-jsonl.js';
import { decideFreshness, type Watermark } from '../lifecycle/freshness.js';
import {
  entryQuery,
  type EntryQuery,
  type PreviewTarget,
  type ScopeQuery,
  type ScopeRecording,
  type ScopeSnapshot,
  type ScopeSnapshots,
} from '../ports/directory.js';
import type { ReexportRequest, SyncTemplate } from '../config/types.generated.js';
import type { FreshnessMemory, ReadMark } from '../ports/freshness.js';
import type { SourceCheckMemory } from '../ports/source-checks.js';
import { requestDigest, templateDigest } from '../config/digests.js';
import type { Metrics } from '../adapters/http/metrics.js';
import type { Pushed, RepoPort } from '../ports/repo.js';
import { describeError, RepoError, SourceChangedError } from '../shared/errors.js';
import { type Logger, withLogFields } from '../shared/log.js';
import type { Observer } from '../ports/observer.js';
import type { SourceData } from '../source/records.js';
import {
  type ExecutionContext,
  executeOnMain,
  readRecords,
  type RecordVerdicts,
  underReports,
} from './execution.js';
import { loadTemplateSource } from './load-source.js';
import { type PreviewDeps, previewValidated } from './preview.js';

export interface ReconcileContext extends Omit<ExecutionContext, 'repo' | 'daemon' | 'log' | 'main'> {
  repo: RepoPort;
  daemon: LoadedDaemonConfig;
  log: Logger;
  metrics: Metrics;
  /** Told what the pass does, for the status page (a no-op outside the daemon). */
  observer: Observer;
  preview: PreviewDeps;
  /** Directory reads already done; without it every pass reads every open preview's scope. */
  freshness?: FreshnessMemory;
  /** Requests an operator asked to refresh (`POST /refresh`): recomputed whatever the idle checks say. */
  onDemand?: (request: string) => boolean;
  /** Where a pass keeps the scopes it read, so each is read once per pass whatever requests need it. */
  snapshots?: ScopeSnapshots;
  /** What checking each source file found, across passes: an unchanged file is not parsed to be validated. */
  sourceChecks?: SourceCheckMemory;
  /** Set by reconcilePass for the pass's duration. */
  pass?: PassState;
}

/** What one pass shares between requests: one change-detecting connection per target, and its answers. */
interface PassState {
  targets: Map<string, Promise<PreviewTarget>>;
  answers: Map<string, Promise<boolean | undefined>>;
  snapshots?: ScopeSnapshots;
  /** The sources this pass read: each checkout with the same data file uses the same reading. */
  sources: SourceCache;
}

export interface PassSummary {
  branches: number;
  previews: number;
  executions: number;
  /** Requests left partial (transient faults): the pass did its part, but the work is not done. */
  partial: string[];
  /** What went wrong, one line each; a pass with errors failed. */
  errors: string[];
}

/** Times a request on main is decided again when another daemon's commit beat our claim. */
const CLAIM_ATTEMPTS = 3;

/**
 * One reconcile pass: previews for the requests each preview branch adds or changes, then main:
 * execution records decide what has run; previews for the rest. Each checkout is validated once,
 * and each source loaded once per checkout. Reports are committed only when what they say
 * changed, so the daemon's own commits never cause another commit.
 */
export async function reconcilePass(outer: ReconcileContext): Promise<PassSummary> {
  const pass: PassState = {
    targets: new Map(),
    answers: new Map(),
    sources: new SourceCache({
      ...(outer.sourceChecks ? { memory: outer.sourceChecks } : {}),
      onCheck: (how) => outer.metrics.sourceChecks.inc({ how }),
    }),
    ...(outer.snapshots ? { snapshots: outer.snapshots } : {}),
  };
  const ctx: ReconcileContext = { ...outer, pass };
  try {
    return await passOver(ctx);
  } finally {
    await pass.snapshots?.clear().catch((err: unknown) => {
      ctx.log.warn({ err: describeError(err).message }, "could not remove the pass's scope reads");
    });
    for (const t of pass.targets.values()) await t.then((d) => d.close()).catch(() => undefined);
    await ctx.freshness?.save().catch((err: unknown) => {
      ctx.log.warn({ err: describeError(err).message }, 'could not save what the daemon read when');
    });
    await ctx.sourceChecks?.save().catch((err: unknown) => {
      ctx.log.warn({ err: describeError(err).message }, 'could not save what the source checks found');
    });
  }
}

async function passOver(ctx: ReconcileContext): Promise<PassSummary> {
  const { repo, daemon } = ctx;
  const { branch: main, previewBranches } = repoOf(daemon);
  const isPreview = picomatch(previewBranches);
  await repo.fetch();
  const branches = await repo.branches();
  if (!branches.some((b) => b.name === main))
    throw new RepoError(`the config repository has no branch ${main}`);
  const summary: PassSummary = { branches: 0, previews: 0, executions: 0, partial: [], errors: [] };
  for (const b of branches) {
    if (b.name === main || !isPreview(b.name)) continue;
    if (ctx.apply.signal?.aborted) return summary;
    summary.branches++;
    try {
      summary.previews += await previewBranch(ctx, b.name, main);
    } catch (err) {
      // One broken branch must not stop previews of the others or execution on main.
      const report = describeError(err);
      if (report.level === 'warn') {
        ctx.log.warn({ branch: b.name, err: report.message }, 'preview of branch dropped');
        continue;
      }
      ctx.metrics.errors.inc({ kind: 'branch' });
      summary.errors.push(`branch ${b.name}: ${report.message}`);
      ctx.observer.problem({ branch: b.name, message: report.message });
      ctx.log.error({ branch: b.name, err: report.message }, 'preview of branch failed');
    }
  }
  await processMain(ctx, main, summary);
  return summary;
}

interface Checkout {
  dir: string;
  commit: string;
  repo: ConfigRepo;
  sources: Map<string, Promise<SourceData>>;
  /**
   * The sources validation read or remembered (files): their digests, and their records, read
   * when first asked for. What `sources` starts from again after a write.
   */
  files: ReadonlyMap<string, DeferredSource>;
}

async function checkoutValidated(ctx: ReconcileContext, branch: string): Promise<Checkout> {
  const { dir, commit } = await ctx.repo.checkout(branch);
  // Every check short of the directory, once per checkout: a data file's problems become the
  // requests' located diagnostics (an invalid report), and the sources it read serve the plans.
  const { repo, sources, deferred } = await validateCheckout(dir, ctx.daemon, {
    ...(ctx.pass ? { sourceCache: ctx.pass.sources } : {}),
  });
  const files = new Map<string, DeferredSource>();
  const keyOf = (name: string) => {
    const source = repo.templates.get(name)?.value?.spec.source;
    return source === undefined ? undefined : JSON.stringify(source);
  };
  for (const [name, data] of sources) {
    const key = keyOf(name);
    if (key !== undefined) files.set(key, { digest: data.digest, load: () => Promise.resolve(data) });
  }
  for (const [name, later] of deferred) {
    const key = keyOf(name);
    // Read once per checkout, and only if a plan asks for it.
    let reading: Promise<SourceData> | undefined;
    if (key !== undefined) files.set(key, { digest: later.digest, load: () => (reading ??= later.load()) });
  }
  return { dir, commit, repo, sources: new Map(), files };
}

/**
 * The checkout after the pass wrote to a directory: sources read from a directory (an LDAP
 * source, loaded when first needed) are read again, as the pass's copies of scopes are, since
 * the writes may have changed them. A file's reading stays: no write changes a file.
 */
async function afterWrites(ctx: ReconcileContext, co: Checkout): Promise<Checkout> {
  await ctx.pass?.snapshots?.clear();
  return { ...co, sources: new Map() };
}

/** A template's source, loaded once per checkout whichever requests use it. */
function sourceFor(ctx: ReconcileContext, co: Checkout, name: string): Promise<SourceData> | undefined {
  const template = co.repo.templates.get(co.repo.requests.get(name)?.value?.spec.template ?? '')?.value;
  if (!template) return undefined;
  const key = JSON.stringify(template.spec.source);
  let loaded = co.sources.get(key);
  if (!loaded) {
    loaded =
      co.files.get(key)?.load() ??
      loadTemplateSource(template, co.repo, ctx.daemon, ctx.preview.readLdapSource);
    // A failed load is reported by each request that needs it, not as an unhandled rejection.
    loaded.catch(() => undefined);
    co.sources.set(key, loaded);
  }
  return loaded;
}

/**
 * The digest of a template's source (SourceData.digest) without reading its records when
 * validation read or remembered the file; a directory source is read for it.
 */
async function sourceDigestFor(
  ctx: ReconcileContext,
  co: Checkout,
  name: string,
): Promise<string | undefined> {
  const template = co.repo.templates.get(co.repo.requests.get(name)?.value?.spec.template ?? '')?.value;
  const file = template && co.files.get(JSON.stringify(template.spec.source));
  if (file) return file.digest;
  return (await sourceFor(ctx, co, name)?.catch(() => undefined))?.digest;
}

async function previewBranch(ctx: ReconcileContext, branch: string, main: string): Promise<number> {
  let co = await checkoutValidated(ctx, branch);
  const changed = await ctx.repo.changedFiles(`origin/${main}`, `origin/${branch}`);
  let committed = 0;
  for (const name of requestsTouched(co.repo, changed)) {
    // Gone from a branch validated again after a push during the pass: previewed (or not) next pass.
    if (!co.repo.requests.has(name)) continue;
    const log = ctx.log.child({ branch, request: name, commit: co.commit });
    const fresh = await withLogFields({ branch, request: name }, () =>
      previewFiles(ctx, co, name, branch),
    ).catch((err: unknown) => {
      if (!(err instanceof SourceChangedError)) throw err;
      log.warn({ err: err.message }, 'preview left for the next pass');
      return undefined;
    });
    if (fresh === undefined) continue;
    if (!fresh) {
      ctx.observer.requestState({ branch, request: name, state: 'previewed', commit: co.commit });
      continue;
    }
    const files = fresh;
    // Told once the reports are on the branch, so a watcher never sees a state Git does not have.
    const observed = () =>
      ctx.observer.requestState({ branch, request: name, state: stateOf(files), commit: co.commit });
    if (await sameReport(ctx, co.dir, name, files, branch)) {
      log.debug('preview unchanged');
      observed();
      continue;
    }
    const res = await ctx.repo.commitAndPush(
      branch,
      underReports(name, files),
      commitMessage('preview', name, files),
    );
    observed();
    // Someone pushed to the branch during the pass (our commit went on top of theirs, or theirs
    // already held these reports): the tree is theirs now, so the branch's other requests are
    // planned from it validated again, never from bytes nobody checked. Our own commit on the
    // validated one changes only reports: the next goes on top of it.
    if ('commit' in res && res.onto === co.commit) co = { ...co, commit: res.commit };
    else if (res.onto !== undefined && res.onto !== co.commit) co = await checkoutValidated(ctx, branch);
    if ('commit' in res) {
      committed++;
      ctx.metrics.previews.inc({ state: stateOf(files) });
      log.info({ pushed: res.commit, state: stateOf(files) }, 'preview committed');
    }
  }
  return committed;
}

async function processMain(ctx: ReconcileContext, main: string, summary: PassSummary): Promise<void> {
  let co = await checkoutValidated(ctx, main);
  const verdicts: RecordVerdicts = new WeakMap();
  let records = await readRecords({ ...ctx, main }, verdicts);
  const names = [...co.repo.requests.keys()].sort();
  for (const name of names) {
    if (co.repo.requests.get(name)?.value?.spec.execute && !records.get(name)?.length) {
      ctx.observer.executionQueued(name);
    }
  }
  for (const name of names) {
    if (ctx.apply.signal?.aborted) break;
    const log = ctx.log.child({ branch: main, request: name });
    let started = false;
    const exec: ExecutionContext = {
      ...ctx,
      main,
      apply: {
        ...ctx.apply,
        onEntry: (done, total) => {
          if (!started) ctx.observer.executionStarted(name, total);
          started = true;
          ctx.observer.executionProgress(name, done, total);
        },
      },
    };
    try {
      for (let attempt = 1; ; attempt++) {
        const checkout = co;
        const source = async () => sourceFor(ctx, checkout, name)?.catch(() => undefined);
        const outcome = await withLogFields({ branch: main, request: name }, () =>
          executeOnMain(exec, co, name, records.get(name) ?? [], { source }),
        );
        if (outcome.did === 'retry') {
          if (attempt >= CLAIM_ATTEMPTS) throw new RepoError(`${outcome.why}; main keeps moving`);
          log.info(outcome.why);
          await ctx.repo.fetch();
          co = await checkoutValidated(ctx, main);
          records = await readRecords(exec, verdicts);
          continue;
        }
        if (outcome.did === 'preview') {
          // Gone from a main validated again after someone's push during the pass: nothing to preview.
          if (!co.repo.requests.has(name)) break;
          const { pushed, moved } = await previewOnMain(ctx, co, name, main);
          if (pushed) summary.previews++;
          // Made right on the validated commit: a later request's claim goes onto this one. Made
          // on someone else's commit: the tree is theirs now, so it is validated again.
          if (pushed && !moved) co = { ...co, commit: pushed.commit };
          else if (moved) {
            co = await checkoutValidated(ctx, main);
            records = await readRecords(exec, verdicts);
          }
          break;
        }
        if (outcome.did === 'executed' || (outcome.did === 'nothing' && outcome.wrote)) {
          // The pass's copies of scopes and directory sources predate these writes: later
          // requests read afresh.
          co = await afterWrites(ctx, co);
        }
        if (outcome.did === 'nothing' && outcome.wrote && started) {
          // Stopped with its claim lost: the status page must not show it running on.
          ctx.observer.executionFinished(name, { state: 'interrupted', counts: {} });
        }
        if (outcome.did === 'executed') {
          const r = outcome.result;
          summary.executions++;
          ctx.metrics.executions.inc({ result: r.state });
          for (const [outcome, n] of Object.entries(r.counts)) if (n) ctx.metrics.changes.inc({ outcome }, n);
          ctx.observer.executionFinished(name, { state: r.state, counts: r.counts });
          ctx.observer.requestState({
            branch: main,
            request: name,
            state: r.state,
            commit: co.commit,
            message: r.message,
          });
          log.info(
            { state: r.state, reviewed: r.reviewed, plan: r.header?.digests.plan },
            `execution ${r.state}: ${r.message}`,
          );
          if (r.state === 'partial') summary.partial.push(name);
          if (r.state === 'interrupted') return;
        } else if (outcome.did === 'committed') {
          log.info({ state: outcome.state }, outcome.why);
          ctx.observer.requestState({
            branch: main,
            request: name,
            state: outcome.state,
            message: outcome.why,
          });
          if (outcome.state === 'refused') ctx.metrics.executions.inc({ result: 'refused' });
        }
        if (outcome.did !== 'nothing') {
          // Later requests need the tree and the records as pushed. A commit of ours made right on
          // the validated one changed only this request's reports: the validation still holds
          // (validating every request after every commit grew with the square of the requests).
          const pushed =
            outcome.did === 'committed' || outcome.did === 'executed' ? outcome.pushed : undefined;
          if (pushed?.onto === co.commit) co = { ...co, commit: pushed.commit };
          else co = await checkoutValidated(ctx, main);
          records = await readRecords(exec, verdicts);
        }
        break;
      }
    } catch (err) {
      const report = describeError(err);
      ctx.metrics.errors.inc({ kind: 'request' });
      summary.errors.push(`${main} ${name}: ${report.message}`);
      ctx.observer.problem({ branch: main, request: name, message: report.message });
      if (started) ctx.observer.executionFinished(name, { state: 'failed', counts: {} });
      log.error({ err: report.message }, 'request failed');
    }
  }
}

/** The preview commit pushed to main, if one was. */
async function previewOnMain(
  ctx: ReconcileContext,
  co: Checkout,
  name: string,
  main: string,
): Promise<{ pushed?: Pushed; moved: boolean }> {
  const fresh = await withLogFields({ branch: main, request: name }, () =>
    previewFiles(ctx, co, name, main),
  ).catch((err: unknown) => {
    if (!(err instanceof SourceChangedError)) throw err;
    ctx.log.warn({ branch: main, request: name, err: err.message }, 'preview left for the next pass');
    return undefined;
  });
  if (fresh === undefined) return { moved: false };
  if (!fresh) {
    ctx.observer.requestState({ branch: main, request: name, state: 'previewed', commit: co.commit });
    return { moved: false };
  }
  const files = fresh;
  const observed = () =>
    ctx.observer.requestState({ branch: main, request: name, state: stateOf(files), commit: co.commit });
  if (await sameReport(ctx, co.dir, name, files, main)) {
    observed();
    return { moved: false };
  }
  const res = await ctx.repo.commitAndPush(
    main,
    underReports(name, files),
    commitMessage('preview', name, files),
  );
  observed();
  // Made on someone else's commit, or found there already: the tree is theirs now.
  const moved = res.onto !== undefined && res.onto !== co.commit;
  if (!('commit' in res)) return { moved };
  ctx.metrics.previews.inc({ state: stateOf(files) });
  ctx.log.info(
    { branch: main, request: name, pushed: res.commit, state: stateOf(files) },
    'preview committed',
  );
  return { pushed: res, moved };
}

/**
 * A signed preview, or the located problems; null when the committed preview still holds (same
 * inputs, the directory says nothing changed in scope, read within the refresh interval), so an
 * idle pass costs a question to the directory instead of a read of the scope.
 */
async function previewFiles(
  ctx: ReconcileContext,
  co: Checkout,
  name: string,
  branch: string,
): Promise<Record<string, ReportContent | null> | null> {
  const problems = diagnosticsForRequest(co.repo, name);
  // An invalid request leaves no plan behind that someone could mistake for the current one.
  if (problems.length) return { ...renderInvalidFiles(name, problems, co.commit), ...NO_PLAN };
  // The source's digest says whether it changed; its records are read only for a new plan.
  const digest = await sourceDigestFor(ctx, co, name);
  const request = co.repo.requests.get(name)!.value!;
  const template = co.repo.templates.get(request.spec.template)!.value!;
  const scope = entryQuery(template, []);
  const priorText = await readReportFile(co.dir, name, 'status.yaml').catch(() => undefined);
  const prior = parseStatus(priorText);
  const key = `${branch}\0${name}`;
  // What the last preview was made from, and when it read the directory, come from the daemon's
  // signature (or its own memory), never from status.yaml's fields alone, which anyone with push
  // access to the branch can edit. A preview whose status.yaml is not the signed text (its counts
  // or safety message edited, say) is made and committed again, and so is main's preview come
  // with a pull request's branch (carriedFromMain).
  const previewed = prior?.state === 'previewed' ? signedPreview(ctx, prior) : undefined;
  const signed = previewed && carriedFromMain(ctx, branch, previewed) ? undefined : previewed;
  const mark = ctx.freshness?.get(key);
  const known = mark && signed && mark.plan === signed.digests.plan ? mark : undefined;
  const watermark = known?.watermark ?? prior?.watermark;
  const target = ctx.pass ? await detectorFor(ctx, template.spec.target) : undefined;
  if (
    digest !== undefined &&
    signed &&
    statusHolds(signed, priorText) &&
    (await committedPlanHolds(ctx, co.dir, name, signed, key, known))
  ) {
    const decision = decideFreshness({
      previous: { digests: signed.digests, directoryReadAt: known?.readAt ?? signed.at },
      current: {
        request: requestDigest(request),
        template: templateDigest(template),
        // As the plan header spells it (build-plan.ts).
        source: `sha256:${digest}`,
      },
      ...(watermark && target?.changes
        ? { directoryChanged: await changedSince(ctx, template.spec.target, target, scope, watermark) }
        : {}),
      now: new Date(),
      refreshIntervalMinutes: ctx.daemon.config.preview.refreshIntervalMinutes,
      onDemand: ctx.onDemand?.(name) ?? false,
    });
    if (!decision.recompute) {
      ctx.log.debug({ branch, request: name }, `preview kept: ${decision.message}`);
      return null;
    }
    ctx.log.info({ branch, request: name, why: decision.why }, `preview recomputed: ${decision.message}`);
  }
  // A source that cannot be read is the request's to report (the preview loads it again and says
  // why); one changed since it was validated is not planned from at all in this pass.
  const source = await sourceFor(ctx, co, name)?.catch((err: unknown) => {
    if (err instanceof SourceChangedError) throw err;
    return undefined;
  });
  // One read of a scope per pass: another request of this pass may have read it already.
  const shared = sharedRead(ctx, template, request, source);
  // Where the directory stands, taken before the read: an edit during the read shows next pass.
  // Only the daemon's own mark moves forward from the last one: status.yaml's could be forged.
  // A preview made from another request's read keeps that read's mark.
  const next = shared?.snapshot
    ? shared.snapshot.watermark
    : await target?.changes?.readWatermark(scope, known?.watermark).catch((err: unknown) => {
        ctx.log.warn(
          { target: template.spec.target, err: describeError(err).message },
          'could not read where the directory stands; the next pass reads the scope again',
        );
        return undefined;
      });
  const recording = shared && !shared.snapshot ? ctx.pass?.snapshots?.record(shared.key) : undefined;
  const via = readsVia(ctx.preview, shared, recording);
  let result: Awaited<ReturnType<typeof previewValidated>>;
  try {
    result = await previewValidated(co.repo, name, ctx.daemon, via.deps, {
      commit: co.commit,
      ...(source ? { source } : {}),
    });
    // Kept only when the read ran to its end into the file (a plan was made from it).
    if (recording && via.kept() && !('invalid' in result)) {
      recording.keep({
        attributes: shared!.query.attributes,
        readAt: result.plan.header.createdAt,
        ...(next ? { watermark: next } : {}),
      });
    }
  } finally {
    await recording?.drop();
  }
  if ('invalid' in result) return { ...renderInvalidFiles(name, result.invalid, co.commit), ...NO_PLAN };
  const readAt = result.plan.header.createdAt;
  const meta = { branch, directoryReadAt: readAt, ...(next ? { watermark: next } : {}) };
  const files = await renderCommittedPreviewFiles(
    result.plan,
    ctx.daemon.config.preview.maxUsersInMarkdown,
    meta,
  );
  // The plan file as rendered here holds the plan: the next pass need not read it back to know.
  const planFile = [PLAN_GZ_FILE, PLAN_FILE].find((f) => files[f] != null);
  const planContent = planFile ? files[planFile] : undefined;
  ctx.freshness?.set(key, {
    plan: result.plan.header.digests.plan,
    readAt,
    ...(next ? { watermark: next } : {}),
    ...(planFile && planContent ? { planText: planContentHash(planFile, planContent) } : {}),
  });
  // The signature covers preview.md too: what reviewers read is what the daemon wrote.
  // So does status.yaml, as rendered without the signature (its counts are shown in the forge).
  const md = textOf(files['preview.md']) ?? '';
  const signature = signPreview(
    result.plan,
    { branch, commit: co.commit, previewMd: md, status: textOf(files['status.yaml']) ?? '' },
    ctx.keys.privateKey,
  );
  return { ...files, 'status.yaml': previewStatus(result.plan, { ...meta, signature }) };
}

interface SharedRead {
  key: string;
  query: EntryQuery;
  /** A read of this scope earlier in the pass, with the same attributes or more. */
  snapshot?: ScopeSnapshot;
}

/**
 * Whether a preview's read of its whole scope can come from (or be kept for) the other previews
 * of this pass: the same target, base, scope, filter and match attribute. A request naming its
 * users reads just them, which costs little; it is not shared.
 */
function sharedRead(
  ctx: ReconcileContext,
  template: SyncTemplate,
  request: ReexportRequest,
  source: SourceData | undefined,
): SharedRead | undefined {
  const snapshots = ctx.pass?.snapshots;
  if (!snapshots) return undefined;
  // A plan that looks its users up one by one reads no scope to share; one of a `where` or of
  // many IDs reads the whole scope, as `users: all` does (make-plan.ts).
  const selected = () => (source ? selectedRecords(source, request.spec.users, []).map((r) => r.id) : []);
  if (request.spec.users !== 'all' && (!source || targetedIds(request.spec.users, selected) !== undefined))
    return undefined;
  const query = entryQuery(template, plannedAttributes(template, request));
  const key = JSON.stringify({ ...query, attributes: undefined });
  const found = snapshots.find(key);
  const has = new Set(found?.attributes.map((a) => a.toLowerCase()));
  const covers = found !== undefined && query.attributes.every((a) => has.has(a.toLowerCase()));
  return { key, query, ...(covers ? { snapshot: found } : {}) };
}

/**
 * The preview's ports, with its scope read replayed from the pass's snapshot or kept into one.
 * `kept()` says whether the read was kept: a target that cannot replay (the demo's) reads as before.
 */
function readsVia(
  deps: PreviewDeps,
  shared?: SharedRead,
  recording?: ScopeRecording,
): { deps: PreviewDeps; kept: () => boolean } {
  let kept = false;
  if (!shared || (!shared.snapshot && !recording)) return { deps, kept: () => kept };
  const { snapshot } = shared;
  const ours = (q: EntryQuery) => JSON.stringify({ ...q, attributes: undefined }) === shared.key;
  return {
    kept: () => kept,
    deps: {
      ...deps,
      openTarget: async (name) => {
        const target = await deps.openTarget(name);
        const { replay } = target;
        if (!replay) return target;
        return {
          ...target,
          readEntries: (query, opts) => {
            if (!ours(query)) return target.readEntries(query, opts);
            if (snapshot) return replay(snapshot.file);
            kept = true;
            return target.readEntries(query, { ...opts, keepIn: recording!.file });
          },
        };
      },
      // The plan says when the directory was read: for a snapshot, when that read was.
      ...(snapshot ? { now: () => new Date(snapshot.readAt) } : {}),
    },
  };
}

/**
 * Whether a preview signed on main is on another branch: carried to a pull request's branch with
 * main's history, it is no review of that branch (choose-plan refuses it), so the branch is
 * previewed and signed again.
 */
function carriedFromMain(ctx: ReconcileContext, branch: string, signed: Statement): boolean {
  const main = repoOf(ctx.daemon).branch;
  return branch !== main && signed.branch === main;
}

/** The statement of the daemon's valid signature on a committed preview, if it has one. */
function signedPreview(ctx: ReconcileContext, status: RequestStatus): Statement | undefined {
  const verified = ctx.keys.trusted.map((k) => verifySigned(status.signature, k)).find((v) => v.ok);
  return verified?.ok && verified.statement.kind === 'preview' ? verified.statement : undefined;
}

/**
 * Whether the committed plan is still the one the daemon signed, so keeping the preview keeps no
 * hand-edited plan. Parsed once per version of the file: the memory remembers the text's hash.
 */
async function committedPlanHolds(
  ctx: ReconcileContext,
  dir: string,
  name: string,
  signed: Statement,
  key: string,
  known: ReadMark | undefined,
): Promise<boolean> {
  const { digests } = signed;
  // preview.md is what reviewers read: an edited one (or one no digest covers) is written again.
  const md = await readReportFile(dir, name, 'preview.md').catch(() => undefined);
  if (md === undefined || textDigest(md) !== signed.previewMd) return false;
  const hash = await reportPlanHash(dir, name).catch(() => undefined);
  if (hash === undefined) return false;
  if (known?.planText === hash) return true;
  if ((await committedPlanDigest(dir, name)) !== digests.plan) return false;
  if (known) ctx.freshness?.set(key, { ...known, planText: hash });
  return true;
}

/**
 * The committed plan's digest, read line by line as an execution reads it (never the whole plan
 * in memory, whatever a branch committed), or undefined when there is none or it is no plan.
 */
async function committedPlanDigest(dir: string, name: string): Promise<string | undefined> {
  try {
    const lines = await reportPlanLines(dir, name);
    return lines && (await scanPlanFile(lines, () => undefined)).scan.digest;
  } catch {
    return undefined;
  }
}

const NO_PLAN = { [PLAN_FILE]: null, [PLAN_GZ_FILE]: null, 'changes.ldif': null } as const;

/** The target's change detector for this pass, opened once per target. */
function detectorFor(ctx: ReconcileContext, target: string): Promise<PreviewTarget | undefined> {
  const pass = ctx.pass!;
  let t = pass.targets.get(target);
  if (!t) {
    t = ctx.preview.openTarget(target);
    t.catch(() => undefined);
    pass.targets.set(target, t);
  }
  // A target that cannot be opened now is read by the preview itself, which reports the error.
  return t.then(
    (x) => x,
    () => undefined,
  );
}

/** One question per target, scope and watermark per pass, whichever requests share them. */
function changedSince(
  ctx: ReconcileContext,
  targetName: string,
  target: PreviewTarget,
  scope: ScopeQuery,
  watermark: Watermark,
): Promise<boolean | undefined> {
  const key = JSON.stringify([targetName, scope, watermark]);
  let answer = ctx.pass!.answers.get(key);
  if (!answer) {
    answer = target.changes!.changedSince(scope, watermark).catch((err: unknown) => {
      ctx.log.warn(
        { target: targetName, err: describeError(err).message },
        'change detection failed; reading the scope',
      );
      return undefined;
    });
    ctx.pass!.answers.set(key, answer);
  }
  return answer;
}

/**
 * Whether the committed report already says the same, and still carries this daemon's valid
 * signature over the committed plan: same state, digests, counts and errors. Times do not count.
 * A report someone edited (or whose signature no longer verifies) is written again.
 */
async function sameReport(
  ctx: ReconcileContext,
  dir: string,
  name: string,
  files: Record<string, ReportContent | null>,
  branch: string,
): Promise<boolean> {
  const next = parseStatus(textOf(files['status.yaml']));
  const read = (f: string) => readReportFile(dir, name, f);
  // One that cannot be read as the daemon's (too large, a link) is not the same: written again.
  const priorText = await read('status.yaml').catch(() => undefined);
  const prior = parseStatus(priorText);
  if (!sameStatus(prior, next)) return false;
  if (!next?.signature) return true;
  const verified = ctx.keys.trusted.map((k) => verifySigned(prior?.signature, k)).find((v) => v.ok);
  if (!verified?.ok || verified.statement.digests.plan !== next.digests?.plan) return false;
  // Main's preview carried to a pull request's branch: this branch's own is committed.
  if (carriedFromMain(ctx, branch, verified.statement)) return false;
  // A status.yaml someone edited (a count, a time, a comment) is written again.
  if (!statusHolds(verified.statement, priorText)) return false;
  // The layout (plan.jsonl, or plan.jsonl.gz without changes.ldif) must be the one it would write.
  for (const [f, content] of Object.entries(files)) {
    if (f.startsWith('plan.jsonl') || f === 'changes.ldif') {
      const present = await reportFileExists(dir, name, f).catch(() => false);
      if (present !== (content !== null)) return false;
    }
  }
  // A preview.md someone edited is written again.
  const md = await read('preview.md').catch(() => undefined);
  if (md === undefined || textDigest(md) !== verified.statement.previewMd) return false;
  return (await committedPlanDigest(dir, name)) === verified.statement.digests.plan;
}

function textOf(content: ReportContent | null | undefined): string | undefined {
  return typeof content === 'string' ? content : undefined;
}

function stateOf(files: Record<string, ReportContent | null>): string {
  return parseStatus(textOf(files['status.yaml']))?.state ?? 'unknown';
}

function commitMessage(kind: string, name: string, files: Record<string, ReportContent | null>): string {
  return `reexport: ${kind} ${name} (${stateOf(files)})`;
}

export type { ExecutionRecord };
