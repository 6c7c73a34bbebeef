import { readFile } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import type { ConfigRepo } from '../config/config-repo.js';
import type { LoadedDaemonConfig } from '../config/daemon-config.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { diagnosticsForRequest } from '../config/rules.js';
import { validateRepo } from '../config/validate-repo.js';
import { type ApplyDeps, applyRequest, readStatus } from './apply.js';
import { describeError } from '../shared/errors.js';
import { countOutcomes } from '../execute/outcomes.js';
import { type Logger, withLogFields } from '../shared/log.js';
import { requestDigest } from '../plan/build-plan.js';
import { type PreviewDeps, previewRequest } from './preview.js';
import { renderStatus, type RequestStatus } from '../lifecycle/status.js';
import { renderInvalidFiles, renderPreviewFiles } from '../report/write-reports.js';
import type { Metrics } from '../adapters/http/metrics.js';
import type { RepoPort } from '../ports/repo.js';
import type { Observer } from '../ports/observer.js';

export interface ReconcileContext {
  repo: RepoPort;
  daemon: LoadedDaemonConfig;
  log: Logger;
  metrics: Metrics;
  /** Told what the pass does, for the status page (a no-op outside the daemon). */
  observer: Observer;
  preview: PreviewDeps;
  apply: Pick<ApplyDeps, 'openWriters' | 'journalDir' | 'signal' | 'retry'>;
}

export interface PassSummary {
  branches: number;
  previews: number;
  executions: number;
  /** Branches and requests that failed; a pass with any has failed. */
  errors: number;
}

const EXECUTED_EDITED =
  'this request was already executed and must not change; revert the edit and create a new request';

/**
 * One reconcile pass: previews for the requests each preview branch adds or changes, then main:
 * previews for `execute: false`, execution (once) for `execute: true`. Reports are committed
 * only when their content changed, so the daemon's own commits never cause another commit.
 */
export async function reconcilePass(ctx: ReconcileContext): Promise<PassSummary> {
  const { repo, daemon } = ctx;
  const main = daemon.config.repo?.branch ?? 'main';
  const isPreview = picomatch(daemon.config.repo?.previewBranches ?? ['*']);
  await repo.fetch();
  const branches = await repo.branches();
  if (!branches.some((b) => b.name === main)) throw new Error(`the config repository has no branch ${main}`);
  const summary: PassSummary = { branches: 0, previews: 0, executions: 0, errors: 0 };
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
      summary.errors++;
      ctx.observer.problem({ branch: b.name, message: report.message });
      ctx.log.error(
        { branch: b.name, err: String((err as Error).message ?? err) },
        'preview of branch failed',
      );
    }
  }
  const m = await processMain(ctx, main);
  summary.previews += m.previews;
  summary.executions += m.executions;
  summary.errors += m.errors;
  return summary;
}

async function previewBranch(ctx: ReconcileContext, branch: string, main: string): Promise<number> {
  const { dir, commit } = await ctx.repo.checkout(branch);
  const changed = await ctx.repo.changedFiles(`origin/${main}`, `origin/${branch}`);
  const { repo } = await validateRepo(dir, ctx.daemon);
  const names = requestsTouched(repo, changed);
  let committed = 0;
  for (const name of names) {
    const log = ctx.log.child({ branch, request: name, commit });
    const files = await withLogFields({ branch, request: name }, () =>
      previewFiles(ctx, dir, repo, name, commit),
    );
    await observeState(ctx, branch, name, commit, dir, files);
    if (await sameReport(dir, name, files)) {
      log.debug('preview unchanged');
      continue;
    }
    const res = await ctx.repo.commitAndPush(
      branch,
      underReports(name, files),
      commitMessage('preview', name, files),
    );
    if ('commit' in res) {
      committed++;
      ctx.metrics.previews.inc({ state: stateOf(files) });
      log.info({ pushed: res.commit, state: stateOf(files) }, 'preview committed');
    }
  }
  return committed;
}

/** Requests the branch adds or changes, and those whose template it changes. */
function requestsTouched(repo: ConfigRepo, changed: readonly string[]): string[] {
  const set = new Set(changed);
  const names = new Set<string>();
  for (const r of repo.requests.values()) {
    if (set.has(r.file)) names.add(r.name);
    const t = r.value && repo.templates.get(r.value.spec.template);
    if (t && set.has(t.file)) names.add(r.name);
  }
  return [...names].sort();
}

async function processMain(
  ctx: ReconcileContext,
  main: string,
): Promise<{ previews: number; executions: number; errors: number }> {
  let { dir, commit } = await ctx.repo.checkout(main);
  const { repo } = await validateRepo(dir, ctx.daemon);
  const counts = { previews: 0, executions: 0, errors: 0 };
  for (const [name, r] of repo.requests)
    if (r.value?.spec.execute && !wasExecuted(await readStatus(path.join(dir, 'reports', name))))
      ctx.observer.executionQueued(name);
  for (const name of [...repo.requests.keys()].sort()) {
    if (ctx.apply.signal?.aborted) break;
    const log = ctx.log.child({ branch: main, request: name, commit });
    const request = repo.requests.get(name)!;
    const status = await readStatus(path.join(dir, 'reports', name));
    try {
      if (!request.value?.spec.execute || wasExecuted(status)) {
        const files = await withLogFields({ branch: main, request: name }, () =>
          previewFiles(ctx, dir, repo, name, commit),
        );
        await observeState(ctx, main, name, commit, dir, files);
        if (await sameReport(dir, name, files)) continue;
        const res = await ctx.repo.commitAndPush(
          main,
          underReports(name, files),
          commitMessage('preview', name, files),
        );
        if ('commit' in res) {
          counts.previews++;
          ctx.metrics.previews.inc({ state: stateOf(files) });
          log.info({ pushed: res.commit, state: stateOf(files) }, 'preview committed');
        }
        continue;
      }
      counts.executions++;
      const result = await withLogFields({ branch: main, request: name }, () =>
        applyRequest(
          dir,
          name,
          ctx.daemon,
          {
            ...ctx.preview,
            ...ctx.apply,
            beforeWrite: async (files) => {
              const res = await ctx.repo.commitAndPush(
                main,
                underReports(name, files),
                `reexport: executing ${name}\n\nReexport-Report: true`,
              );
              log.info({ pushed: 'commit' in res ? res.commit : undefined }, 'execution started');
              ctx.observer.executionStarted(name);
            },
            onEntry: (done, total) => ctx.observer.executionProgress(name, done, total),
          },
          { commit },
        ),
      );
      ctx.observer.executionFinished(name, { state: result.state, counts: countOutcomes(result.outcomes) });
      ctx.observer.requestState({
        branch: main,
        request: name,
        state: result.state,
        commit,
        message: result.message,
      });
      ctx.metrics.executions.inc({ result: result.state });
      for (const o of result.outcomes) ctx.metrics.changes.inc({ outcome: o.outcome });
      log.info(
        { state: result.state, reviewed: result.reviewed, plan: result.header?.digests.plan },
        `execution ${result.state}: ${result.message}`,
      );
      if (result.state === 'interrupted') break;
      const files: Record<string, string> = { ...result.files };
      if (result.diagnostics?.length)
        Object.assign(files, renderInvalidFiles(name, result.diagnostics, commit));
      if (await sameReport(dir, name, files)) continue;
      await ctx.repo.commitAndPush(
        main,
        underReports(name, files),
        `reexport: ${result.state} ${name}\n\nReexport-Report: true`,
      );
      // A later request on main needs the tree as pushed.
      ({ dir, commit } = await ctx.repo.checkout(main));
    } catch (err) {
      ctx.metrics.errors.inc({ kind: 'request' });
      counts.errors++;
      ctx.observer.problem({ branch: main, request: name, message: describeError(err).message });
      if (request.value?.spec.execute && !wasExecuted(status))
        ctx.observer.executionFinished(name, { state: 'failed', counts: {} });
      log.error({ err: String((err as Error).message ?? err) }, 'request failed');
    }
  }
  return counts;
}

/** Tells the observer the state the request's reports say now (the new ones, or the committed ones). */
async function observeState(
  ctx: ReconcileContext,
  branch: string,
  request: string,
  commit: string,
  dir: string,
  files: Record<string, string>,
): Promise<void> {
  const state = files['status.yaml']
    ? stateOf(files)
    : ((await readStatus(path.join(dir, 'reports', request)))?.state ?? 'unknown');
  ctx.observer.requestState({ branch, request, state, commit });
}

function wasExecuted(status: RequestStatus | undefined): boolean {
  return Boolean(status?.executedAt) || status?.state === 'executed';
}

/** A preview, or the located problems; an executed request that was edited is a problem too. */
async function previewFiles(
  ctx: ReconcileContext,
  dir: string,
  repo: ConfigRepo,
  name: string,
  commit: string,
): Promise<Record<string, string>> {
  const status = await readStatus(path.join(dir, 'reports', name));
  const request = repo.requests.get(name)!;
  if (wasExecuted(status)) {
    const edited =
      !request.value || (status?.digests?.request && requestDigest(request.value) !== status.digests.request);
    if (!edited) return {};
    const problem: Diagnostic = { file: request.file, line: 1, col: 1, message: EXECUTED_EDITED };
    return {
      'preview.md': renderInvalidFiles(name, [problem], commit)['preview.md']!,
      'status.yaml': renderStatus({
        ...status!,
        state: 'invalid',
        errors: [`${request.file}:1:1: ${EXECUTED_EDITED}`],
      }),
    };
  }
  const problems = diagnosticsForRequest(repo, name);
  if (problems.length) return renderInvalidFiles(name, problems, commit);
  const result = await previewRequest(dir, name, ctx.daemon, ctx.preview, { commit });
  if ('invalid' in result) return renderInvalidFiles(name, result.invalid, commit);
  return renderPreviewFiles(result.plan, ctx.daemon.config.preview?.maxUsersInMarkdown ?? 200);
}

/**
 * Whether the committed report already says the same: same state and plan digest for a
 * preview, same errors or message otherwise. Timestamps do not count.
 */
async function sameReport(dir: string, name: string, files: Record<string, string>): Promise<boolean> {
  if (Object.keys(files).length === 0) return true;
  const next = files['status.yaml'];
  const prior = await readFile(path.join(dir, 'reports', name, 'status.yaml'), 'utf8').catch(() => undefined);
  if (!next || !prior) return false;
  const a = essence(prior);
  const b = essence(next);
  return a === b;
}

function essence(statusYaml: string): string {
  const lines = statusYaml
    .split('\n')
    .filter((l) => !/^(previewedAt|executionStartedAt|executedAt|commit|executedCommit):/.test(l));
  return lines.join('\n');
}

function underReports(name: string, files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([f, c]) => [`reports/${name}/${f}`, c]));
}

function stateOf(files: Record<string, string>): string {
  return /^state: (\w+)/m.exec(files['status.yaml'] ?? '')?.[1] ?? 'unknown';
}

function commitMessage(kind: string, name: string, files: Record<string, string>): string {
  return `reexport: ${kind} ${name} (${stateOf(files)})\n\nReexport-Report: true`;
}
