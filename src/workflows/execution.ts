import type { KeyObject } from 'node:crypto';
import { readReportBytes, readReportFile } from '../adapters/fs/report-files.js';
import type { ConfigRepo } from '../config/config-repo.js';
import type { LoadedDaemonConfig } from '../config/daemon-config.js';
import { checkYamlText } from '../config/load-file.js';
import type { ReexportRequest } from '../config/types.generated.js';
import { requestDigest } from '../config/digests.js';
import {
  claimLostBecause,
  decideOnMain,
  EXECUTED_EDITED,
  type ExecutionRecord,
  latestRecord,
  type MainDecision,
  nextRecordTime,
  RECORD_TRAILER,
  isExecutionRecord,
  newestRecordTime,
  recordKey,
  recordsInMessage,
  recordTrailer,
  untrustedStatement,
} from '../lifecycle/executions.js';
import type { ClaimWatch } from '../ports/claims.js';
import { type Signed, type Statement, type Verified, verifySigned } from '../lifecycle/signing.js';
import { signExecution } from '../lifecycle/statements.js';
import { parseStatus, renderStatus, type RequestStatus } from '../lifecycle/status.js';
import type { PlanHeader } from '../plan/plan-types.js';
import { RESULT_FILE, RESULT_GZ_FILE } from '../report/result.js';
import type { LedgerPort } from '../ports/ledger.js';
import type { Pushed, RepoPort } from '../ports/repo.js';
import { describeError, ReexportError, RepoError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { SourceData } from '../source/records.js';
import { type ApplyDeps, type ApplyResult, applyValidated } from './apply/apply-request.js';

/** The files an execution owns in reports/<request>/, restored when someone deletes or edits them. */
const RESULT_FILES = ['result.md', RESULT_FILE, RESULT_GZ_FILE, 'status.yaml'] as const;
/** The outcomes are in result.jsonl or (a large execution) result.jsonl.gz, never both. */
const OUTCOME_FORMS = [RESULT_FILE, RESULT_GZ_FILE] as const;

export interface ExecutionContext {
  repo: RepoPort;
  daemon: LoadedDaemonConfig;
  log: Logger;
  main: string;
  keys: { privateKey: KeyObject; trusted: readonly KeyObject[] };
  ledger: LedgerPort;
  /** This daemon's identity (workdir id / pid). */
  self: string;
  claimTimeoutMs: number;
  /** When this daemon first saw each request's latest record: a claim's age on its own clock. */
  claims: ClaimWatch;
  apply: Omit<ApplyDeps, 'trustedKeys'>;
  now?: () => Date;
  /** An operator's `reexport apply --force`: execute without execute: true / a reviewed plan. */
  force?: boolean;
}

/** Another daemon claimed the request between our decision and our claim: decide again. */
export class ClaimLost extends ReexportError {
  readonly kind = 'claim';
}

export type MainOutcome =
  | { did: 'preview' }
  /** `wrote`: the execution wrote to the directory before it stopped (its claim was lost). */
  | { did: 'nothing'; why: string; wrote?: boolean }
  /** `pushed`: our commit and the commit of main it was made on (absent when nothing changed). */
  | { did: 'committed'; state: string; why: string; pushed?: Pushed }
  | { did: 'executed'; result: ApplyResult; pushed?: Pushed }
  | { did: 'retry'; why: string };

/**
 * What each set of trusted keys said of each signed record (its statement, or why it is not
 * believed), kept by the key set: a verdict never outlives the keys that gave it.
 */
export type RecordVerdicts = WeakMap<readonly KeyObject[], Map<string, Verified[]>>;

/**
 * Every execution record in main's history and in the daemon's ledger, verified, by request.
 * `verdicts` keeps each record's verification for the next read: a pass reads the records again
 * after each of its commits on main, and verifying every record each time grew with the square
 * of the executions.
 */
export async function readRecords(
  ctx: ExecutionContext,
  verdicts: RecordVerdicts = new WeakMap(),
): Promise<Map<string, ExecutionRecord[]>> {
  const out = new Map<string, ExecutionRecord[]>();
  const { trusted } = ctx.keys;
  let memo = verdicts.get(trusted);
  if (!memo) verdicts.set(trusted, (memo = new Map<string, Verified[]>()));
  const verdictsOf = (raw: unknown): Verified[] => {
    // The whole record is the key: the same signature beside another statement is another record.
    const key = JSON.stringify(raw) ?? '';
    let known = memo.get(key);
    if (!known) memo.set(key, (known = trusted.map((k) => verifySigned(raw, k))));
    return known;
  };
  const add = (raw: unknown, commit?: string) => {
    const verdictsOfRaw = verdictsOf(raw);
    const ok = verdictsOfRaw.find((v) => v.ok);
    let record: ExecutionRecord;
    // A statement the key signed that is no execution record (a preview's signature, public in
    // its status.yaml, copied into a trailer) says nothing about execution.
    if (ok?.ok && !isExecutionRecord(ok.statement)) return;
    if (ok?.ok)
      record = {
        statement: ok.statement,
        trusted: true,
        ...(commit ? { commit } : { signed: raw as Signed }),
      };
    else {
      // Untrusted: the statement text is still readable (it is JSON); its claim is not believed.
      const text = (raw as { statement?: unknown } | null)?.statement;
      const statement = typeof text === 'string' ? untrustedStatement(text) : undefined;
      if (!statement) return;
      const reason = verdictsOfRaw.map((v) => (v.ok ? '' : v.reason)).join('; ');
      record = { statement, trusted: false, distrust: reason, ...(commit ? { commit } : {}) };
    }
    const list = out.get(record.statement.request) ?? [];
    list.push(record);
    out.set(record.statement.request, list);
  };
  for (const { commit, message } of await ctx.repo.messagesWith(ctx.main, `${RECORD_TRAILER}: `)) {
    for (const raw of recordsInMessage(message)) add(raw, commit);
  }
  for (const raw of await ctx.ledger.records()) add(raw);
  return out;
}

/**
 * One request on main whose execution state matters (execute: true, or any record): decides from
 * the execution records alone, then restores, refuses, waits, or claims and executes. The claim
 * is a compare-and-swap on main: the executing commit must sit directly on `commit`, the commit
 * the decision was made on; when main moved, nothing was written and the caller decides again.
 */
export async function executeOnMain(
  ctx: ExecutionContext,
  checkout: { repo: ConfigRepo; commit: string },
  name: string,
  records: readonly ExecutionRecord[],
  /** The template's source, read only if the request is executed (most passes decide otherwise). */
  opts: { source?: () => Promise<SourceData | undefined> } = {},
): Promise<MainOutcome> {
  const now = ctx.now ?? (() => new Date());
  const file = checkout.repo.requests.get(name);
  const request = file?.value;
  const status = parseStatus(await readReportFile(checkout.repo.root, name, 'status.yaml'));
  const log = ctx.log.child({ request: name });
  const latest = latestRecord(records, name);
  const unchangedForMs = latest ? ctx.claims.unchangedFor(name, newestRecordTime(records, name), now()) : 0;
  // Forgetting only delays a takeover (the claim is seen afresh), so a failed write is no failure.
  await ctx.claims.save().catch((err: unknown) => {
    log.warn({ err: describeError(err).message }, 'could not keep when claims were first seen');
  });
  const decision: MainDecision = decideOnMain({
    request: name,
    execute: Boolean(request?.spec.execute) || Boolean(ctx.force),
    requestDigest: request ? requestDigest(request) : '',
    records,
    self: ctx.self,
    unchangedForMs,
    claimTimeoutMs: ctx.claimTimeoutMs,
    newestSeen: ctx.claims.newestSeen(name),
  });
  switch (decision.action) {
    case 'preview':
      return { did: 'preview' };
    case 'wait':
      log.info({ claim: decision.claim.statement.by }, `execution claimed elsewhere: ${decision.why}`);
      return { did: 'nothing', why: decision.why };
    case 'blocked': {
      // Most likely a second daemon with another key at work (the latest record is its claim, seen
      // renewed within the timeout by this daemon's clock): say so in the log, leave its status.
      const s = latest?.statement;
      if (
        !latest?.trusted &&
        (s?.state === 'executing' || s?.state === 'partial') &&
        unchangedForMs < ctx.claimTimeoutMs
      ) {
        log.warn({ claim: s.by }, decision.why);
        return { did: 'nothing', why: decision.why };
      }
      const next: RequestStatus = {
        ...(status ?? {}),
        request: name,
        state: 'refused',
        message: decision.why,
      };
      return commitStatusIfChanged(ctx, name, status, next, 'refused');
    }
    case 'halted': {
      // An invalid request says no execute: true either; say what is wrong with it.
      const why =
        file && !request
          ? `${file.file} is no longer a valid request, so the rest of its execution is not written; fix it to finish the execution`
          : decision.why;
      const next: RequestStatus = {
        ...(status ?? { request: name }),
        request: name,
        state: 'partial',
        message: why,
      };
      return commitStatusIfChanged(ctx, name, status, next, 'partial');
    }
    case 'executed':
      return restoreExecuted(ctx, checkout, name, status, decision.record, decision.edited);
    case 'execute':
      break;
  }
  if (!request) return { did: 'nothing', why: 'the request file is gone' };
  const source = await opts.source?.();

  const requestFile = file?.file ?? `requests/${name}.yaml`;
  let claimed = false;
  let renewal: ClaimRenewal | undefined;
  // Our last commit on main while every commit since the decision's is ours, else undefined.
  let ours: string | undefined;
  // Aborted when the claim is no longer ours: the execution stops writing.
  const lost = new AbortController();
  // The time of the last record we signed: each next one is later (nextRecordTime).
  let lastAt: Date | undefined;
  const claim = async (header: PlanHeader) => {
    // The claim and each renewal: the same statement, signed at another time.
    const signClaim = (at: Date) =>
      signExecution(
        header,
        'executing',
        { branch: ctx.main, commit: checkout.commit, by: ctx.self, at },
        ctx.keys.privateKey,
      );
    const signedAt = performance.now();
    const startedAt = now();
    // The record's time orders records (nextRecordTime); people are told this clock's.
    const at = nextRecordTime(records, name, startedAt);
    const signed = signClaim(at);
    const executing: RequestStatus = {
      request: name,
      state: 'executing',
      digests: header.digests,
      executionStartedAt:
        status?.state === 'executing' || status?.state === 'partial'
          ? (status.executionStartedAt ?? startedAt.toISOString())
          : startedAt.toISOString(),
      commit: checkout.commit,
      signature: signed,
      ...(status?.previewSignature || status?.signature
        ? { previewSignature: status.previewSignature ?? status.signature }
        : {}),
    };
    const res = await ctx.repo.commitOnto(
      ctx.main,
      checkout.commit,
      { [`reports/${name}/status.yaml`]: renderStatus(executing) },
      `reexport: executing ${name}\n\n${decision.why}\n\n${recordTrailer(signed)}`,
    );
    if ('moved' in res) throw new ClaimLost(`main moved before the claim of ${name}; deciding again`);
    await ctx.ledger.append(signed);
    claimed = true;
    lastAt = at;
    ours = res.commit;
    log.info({ claim: res.commit, plan: header.digests.plan }, 'execution claimed');
    renewal = renewClaim(
      ctx,
      name,
      signedAt,
      (fresh) => {
        const renewedAt = nextRecordTime(fresh, name, now(), lastAt);
        lastAt = renewedAt;
        return signClaim(renewedAt);
      },
      {
        pushed: (pushed) => (ours = pushed.onto === ours ? pushed.commit : undefined),
        lost: (why) => lost.abort(why),
        withdrawn: (onto) => (ctx.force ? Promise.resolve(undefined) : withdrawnAt(ctx, onto, requestFile)),
      },
    );
  };

  let result: ApplyResult;
  try {
    result = await applyValidated(
      checkout.repo,
      name,
      ctx.daemon,
      {
        ...ctx.apply,
        signal: ctx.apply.signal ? AbortSignal.any([ctx.apply.signal, lost.signal]) : lost.signal,
        // Before each write: the fence by both clocks, even before its timers have run.
        beforeWrite: () => {
          ctx.apply.beforeWrite?.();
          renewal?.check();
        },
        trustedKeys: ctx.keys.trusted,
        claim,
        claimedPlans: new Set(
          records
            .filter((r) => r.trusted && r.statement.request === name && r.statement.state !== 'executed')
            .map((r) => r.statement.digests.plan),
        ),
      },
      { commit: checkout.commit, now, ...(source ? { source } : {}), force: ctx.force },
    );
  } catch (err) {
    if (err instanceof ClaimLost) return { did: 'retry', why: err.message };
    throw err;
  } finally {
    // Before the final record: no renewal lands after it.
    await renewal?.stop();
  }
  // The claim went to another daemon (or may have: it could not be renewed in time), which goes on
  // from a fresh read: what was written is in the journal, and no record of ours may follow its
  // claim, not even one of a run that had just finished (the other's result would say the same
  // changes were already applied, and be the last word). Without another daemon, our own next
  // pass continues our claim and finds everything applied.
  if (lost.signal.aborted && !ctx.apply.signal?.aborted)
    return { did: 'nothing', why: String(lost.signal.reason), wrote: true };
  if (!claimed) {
    // Refused or invalid before anything was written: only the status says why.
    const next = parseStatus(result.files['status.yaml']);
    if (!next) return { did: 'nothing', why: result.message };
    return commitStatusIfChanged(ctx, name, status, next, result.state);
  }
  if (result.state === 'interrupted') return { did: 'executed', result };
  const state = result.state === 'partial' ? 'partial' : 'executed';
  const signed = signExecution(
    result.header!,
    state,
    {
      branch: ctx.main,
      commit: checkout.commit,
      by: ctx.self,
      at: nextRecordTime(records, name, now(), lastAt),
    },
    ctx.keys.privateKey,
  );
  const final = parseStatus(result.files['status.yaml'])!;
  const files: ApplyResult['files'] = {
    ...result.files,
    'status.yaml': renderStatus({
      ...final,
      signature: signed,
      ...(status?.previewSignature || status?.signature
        ? { previewSignature: status.previewSignature ?? status.signature }
        : {}),
    }),
  };
  // The outcomes' other form goes (result.jsonl of an earlier partial run, now result.jsonl.gz).
  const committed = {
    ...files,
    ...Object.fromEntries(OUTCOME_FORMS.filter((f) => !(f in files)).map((f) => [f, null])),
  };
  // The ledger first: if the push fails, the next pass still knows, and pushes these files.
  await ctx.ledger.append(signed, committed);
  const res = await pushFinalRecord(
    ctx,
    name,
    underReports(name, committed),
    `reexport: ${state} ${name}\n\n${result.message}\n\n${recordTrailer(signed)}`,
  );
  if ('lost' in res) {
    // Another daemon took the claim over while this one finished (a stalled push, a pause): its
    // record is the last word; ours stays in the ledger, superseded.
    log.warn(res.lost);
    return { did: 'nothing', why: res.lost, wrote: true };
  }
  if ('moved' in res) {
    log.warn('main kept moving; the result is in the ledger and the next pass pushes it');
    return { did: 'executed', result: { ...result, files } };
  }
  // Only our commits since the decision's: main differs from it in this request's reports only.
  const linear = ours !== undefined && res.onto === ours;
  return {
    did: 'executed',
    result: { ...result, files },
    ...(linear ? { pushed: { commit: res.commit, onto: checkout.commit } } : {}),
  };
}

/** How many times the final record's push finds main moved before leaving it to the next pass. */
const FINAL_PUSH_ATTEMPTS = 5;

/**
 * Why a running execution must stop because of its request as it is now at `onto` on main: it
 * says execute: false (the documented way to withdraw an approval), or it is gone or unreadable.
 * The next pass decides what follows (halted, or resumed from a fresh read).
 */
async function withdrawnAt(ctx: ExecutionContext, onto: string, file: string): Promise<string | undefined> {
  const text = await ctx.repo.readFileAt(onto, file);
  if (text === undefined) return `${file} is gone from ${ctx.main}; stopping: nothing more is written`;
  const checked = checkYamlText<ReexportRequest>(text, file, 'reexport-request');
  if (!checked.value)
    return `${file} on ${ctx.main} is no longer a valid request; stopping: nothing more is written`;
  if (checked.value.spec.execute !== true)
    return `${file} on ${ctx.main} now says execute: false; stopping: nothing more is written`;
  return undefined;
}

/**
 * Pushes an execution's final record and files as a compare-and-swap, as a renewal is pushed:
 * fetch, check that the latest record of the request on main is still our claim, then commit
 * onto exactly that commit. A plain push rebased onto main would land after another daemon's
 * takeover when this one stalled past its fence between its last write and this push, and
 * main would end with two final records. `lost` when the claim went elsewhere; `moved` when main
 * kept moving (humans pushing): the ledger keeps the record and the next pass pushes it.
 */
async function pushFinalRecord(
  ctx: ExecutionContext,
  name: string,
  files: Record<string, string | Uint8Array | null>,
  message: string,
  opts: { anyProcess?: boolean } = {},
): Promise<Pushed | { lost: string } | { moved: true }> {
  for (let attempt = 0; attempt < FINAL_PUSH_ATTEMPTS; attempt++) {
    await ctx.repo.fetch();
    const onto = (await ctx.repo.branches()).find((b) => b.name === ctx.main)?.commit;
    if (!onto) throw new RepoError(`${ctx.main} is not on origin`);
    const onMain = ((await readRecords(ctx)).get(name) ?? []).filter((r) => r.commit !== undefined);
    // Our claim the latest on main, or no record there at all (main rewritten: ours heal it). A
    // restore pushes a record an earlier process of this daemon left in the ledger.
    const why = onMain.length ? claimLostBecause(onMain, name, ctx.self, opts.anyProcess) : undefined;
    if (why)
      return { lost: `the claim is no longer ours (on ${ctx.main}, ${why}); its result is not recorded` };
    const res = await ctx.repo.commitOnto(ctx.main, onto, files, message);
    if (!('moved' in res)) return { commit: res.commit, onto };
  }
  return { moved: true };
}

interface ClaimRenewal {
  stop(): Promise<void>;
  /** Stops the execution (`lost`) now if the fence has run out by either clock. */
  check(): void;
}

/**
 * Keeps a running execution's claim on main alive, and stops the execution when it is no longer
 * ours. Every third of the claim timeout: fetch, check that the latest record of the request on
 * main is still our claim, then push a renewed claim (a signed claim with a fresh time, as the
 * trailer of an empty commit) with a lease on exactly the commit checked. The working tree, which
 * the execution reads its plan from, is not touched.
 * - Another daemon's record came first (we were paused, or cut off, past the timeout and it took
 *   over): `lost` is called and the execution stops writing; the other daemon goes on.
 * - No renewal got through for most of the timeout (git unreachable, a process paused): `lost`
 *   too, before another daemon may take over, so that there is never a second writer.
 */
function renewClaim(
  ctx: ExecutionContext,
  name: string,
  claimedAt: number,
  /** A renewed claim, signed after every record in `records` (the request's, as just read). */
  sign: (records: readonly ExecutionRecord[]) => Signed,
  events: {
    pushed(p: Pushed): void;
    lost(why: string): void;
    /** Why the request at this commit of main no longer asks to execute, if it does not. */
    withdrawn(onto: string): Promise<string | undefined>;
  },
): ClaimRenewal {
  const log = ctx.log.child({ request: name });
  let stopped = false;
  let running: Promise<void> | undefined;
  let fence: NodeJS.Timeout | undefined;
  const lose = (why: string) => {
    if (stopped) return;
    stopped = true;
    log.warn(why);
    events.lost(why);
  };
  // Armed from the moment the claim, then each renewal, was signed. Other daemons count the
  // timeout from when they first saw it on main, which is later, on their own clocks, so this
  // fence runs out first whatever the clocks say. Its timer runs on the monotonic clock (no step of
  // the wall clock moves it), which stops while the machine is suspended: a check each second of
  // the wall clock (which does not stop) catches that on waking. Either stops the execution; a
  // wall clock stepped ahead only stops it early. Each write asks first (check), so a daemon
  // paused or suspended past it stops before its next write, whatever runs first as it wakes.
  let wallDeadline = Number.POSITIVE_INFINITY;
  let monoDeadline = Number.POSITIVE_INFINITY;
  const fenceMs = ctx.claimTimeoutMs * CLAIM_FENCE;
  const expired = () =>
    lose(
      `the claim could not be renewed for ${Math.round(fenceMs / 1000)} s; stopping before another daemon takes it over`,
    );
  const arm = (signedAt: number) => {
    clearTimeout(fence);
    monoDeadline = signedAt + fenceMs;
    const left = monoDeadline - performance.now();
    wallDeadline = Date.now() + left;
    fence = setTimeout(expired, Math.min(2 ** 31 - 1, Math.max(0, left)));
    fence.unref();
  };
  const check = () => {
    if (!stopped && (performance.now() > monoDeadline || Date.now() > wallDeadline)) expired();
  };
  const wall = setInterval(check, 1000);
  wall.unref();
  const renewEveryMs = ctx.claimTimeoutMs / 3;
  const tickMs = timerMs(Math.min(renewEveryMs, WITHDRAWAL_CHECK_MS));
  let renewedAt = claimedAt;
  const renew = async () => {
    for (let attempt = 1; attempt <= CLAIM_RENEWAL_ATTEMPTS && !stopped; attempt++) {
      await ctx.repo.fetch();
      const onto = (await ctx.repo.branches()).find((b) => b.name === ctx.main)?.commit;
      if (!onto) throw new RepoError(`${ctx.main} is not on origin`);
      const records = (await readRecords(ctx)).get(name) ?? [];
      const why = claimLostBecause(records, name, ctx.self);
      if (why) {
        lose(`the claim is no longer ours (on ${ctx.main}, ${why}); stopping`);
        return;
      }
      const withdrawn = await events.withdrawn(onto);
      if (withdrawn) {
        lose(withdrawn);
        return;
      }
      // Main is watched more often than the claim is renewed: withdrawing stops an execution soon.
      // Renewed at the tick nearest to a third of the timeout since the last one (a slow fetch
      // never makes it skip a tick and wait a whole one more).
      if (stopped || performance.now() - renewedAt < renewEveryMs - tickMs / 2) return;
      const signedAt = performance.now();
      const signed = sign(records);
      const res = await ctx.repo.commitEmpty(
        ctx.main,
        onto,
        `reexport: executing ${name} (claim renewed)\n\n${recordTrailer(signed)}`,
      );
      if ('moved' in res) continue;
      renewedAt = signedAt;
      arm(signedAt);
      events.pushed({ commit: res.commit, onto });
      log.info({ claim: res.commit }, 'execution claim renewed');
      return;
    }
  };
  const timer = setInterval(() => {
    // One at a time: ticks while a renewal waits on a slow remote are skipped, not queued.
    if (stopped || running) return;
    running = renew()
      .catch((err: unknown) => log.warn({ err: describeError(err).message }, 'could not renew the claim'))
      .finally(() => (running = undefined));
  }, tickMs);
  timer.unref();
  arm(claimedAt);
  return {
    check,
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearInterval(wall);
      clearTimeout(fence);
      await running;
    },
  };
}

/**
 * How often a running execution looks at main for its request (besides renewing its claim every
 * third of the timeout): `execute: false` pushed to main stops it within about this long.
 */
const WITHDRAWAL_CHECK_MS = 30_000;

/** Of the claim timeout: without a renewal for this long, an execution stops writing. */
const CLAIM_FENCE = 0.75;
/** A renewal that finds main moved checks again, this many times per tick. */
const CLAIM_RENEWAL_ATTEMPTS = 3;

/** A timer's delay: renewals are git pushes (never more often than 250 ms), and Node's timers
 * take at most 2^31 - 1 ms (a longer one fires at once). */
const timerMs = (ms: number) => Math.min(2 ** 31 - 1, Math.max(250, ms));

/**
 * An executed request stays executed. Its result files come back when someone deleted or edited
 * them (from the daemon's ledger, or from the commit that carries the record); an edited request
 * is a validation error until the edit is reverted.
 */
async function restoreExecuted(
  ctx: ExecutionContext,
  checkout: { repo: ConfigRepo },
  name: string,
  status: RequestStatus | undefined,
  record: ExecutionRecord,
  edited: boolean,
): Promise<MainOutcome> {
  const owned = await filesOfRecord(ctx, name, record);
  const recorded = parseStatus(owned['status.yaml'] && Buffer.from(owned['status.yaml']).toString('utf8'));
  // A record only in the ledger (the results push failed) goes into main's history first, with
  // its files: a replica, or this daemon after losing its workdir, must find it there, whatever
  // else happens to the request (an edit), or it would execute the request again.
  const missing = record.commit === undefined && record.signed ? `\n\n${recordTrailer(record.signed)}` : '';
  if (edited && !(missing && recorded)) {
    const file = checkout.repo.requests.get(name)?.file ?? `requests/${name}.yaml`;
    const next: RequestStatus = {
      ...(recorded ?? { request: name, state: 'executed' }),
      state: 'invalid',
      errors: [`${file}:1:1: ${EXECUTED_EDITED}`],
    };
    return commitStatusIfChanged(ctx, name, status, next, 'invalid');
  }
  if (!recorded) return { did: 'nothing', why: 'executed; no result files to restore' };
  const current: Record<string, Uint8Array | undefined> = {};
  for (const f of RESULT_FILES) {
    // A link where a result file belongs reads as "not ours": restoring it then fails, loudly.
    current[f] = await readReportBytes(checkout.repo.root, name, f).catch(() => undefined);
  }
  const changed = RESULT_FILES.filter((f) => {
    const mine = owned[f];
    const now = current[f];
    return mine !== undefined && (now === undefined || !Buffer.from(mine).equals(now));
  });
  // A file of the outcomes' other form beside the daemon's is not the daemon's: readers would have to guess.
  const stray = OUTCOME_FORMS.some((f) => owned[f] !== undefined)
    ? OUTCOME_FORMS.filter((f) => owned[f] === undefined && current[f] !== undefined)
    : [];
  if (changed.length === 0 && stray.length === 0 && !missing)
    return { did: 'nothing', why: 'already executed' };
  const files: Record<string, Uint8Array | null> = {
    ...Object.fromEntries(changed.map((f) => [f, owned[f]!])),
    ...Object.fromEntries(stray.map((f) => [f, null])),
  };
  const what =
    [
      ...(changed.length ? [`restored ${changed.join(', ')}`] : []),
      ...(stray.length ? [`removed ${stray.join(', ')}`] : []),
    ].join('; ') || 'its execution record';
  const message = `reexport: restore ${name} (executed)\n\nreports/${name}/ is written by the daemon only; ${what}.${missing}`;
  // A record only in the ledger goes as a final record does: only while no other daemon's
  // record is the latest on main (its claim may have come since this pass decided).
  const res = missing
    ? await pushFinalRecord(ctx, name, underReports(name, files), message, { anyProcess: true })
    : await ctx.repo.commitAndPush(ctx.main, underReports(name, files), message);
  if ('lost' in res || 'moved' in res) {
    const why = 'lost' in res ? res.lost : 'main kept moving; the next pass pushes the record';
    ctx.log.warn({ request: name }, why);
    return { did: 'nothing', why };
  }
  ctx.log.warn(
    { request: name, files: [...changed, ...stray] },
    'restored result files someone deleted or edited',
  );
  return { did: 'committed', state: 'executed', why: what, ...('commit' in res ? { pushed: res } : {}) };
}

/**
 * The result files of the execution `record` stands for: the ledger's when they are this record's
 * (the ledger keeps this daemon's last final files of each request, which may be of another run
 * than the record main's history decides by, such as our partial run that another daemon
 * finished), else those of the commit that carries the record.
 */
async function filesOfRecord(
  ctx: ExecutionContext,
  name: string,
  record: ExecutionRecord,
): Promise<Record<string, Uint8Array>> {
  const kept = await ctx.ledger.files(name, RESULT_FILES);
  const keptStatus = parseStatus(kept['status.yaml'] && Buffer.from(kept['status.yaml']).toString('utf8'));
  if (keptStatus?.signature?.statement !== undefined && sameStatement(keptStatus.signature.statement, record))
    return kept;
  const owned: Record<string, Uint8Array> = {};
  if (!record.commit) return owned;
  for (const f of RESULT_FILES) {
    const bytes = await ctx.repo.readBytesAt(record.commit, `reports/${name}/${f}`);
    if (bytes !== undefined) owned[f] = bytes;
  }
  return owned;
}

/** Whether a signed statement's text is the statement of `record`. */
function sameStatement(statement: string, record: ExecutionRecord): boolean {
  if (record.signed) return record.signed.statement === statement;
  try {
    return recordKey({ statement: JSON.parse(statement) as Statement, trusted: true }) === recordKey(record);
  } catch {
    return false;
  }
}

async function commitStatusIfChanged(
  ctx: ExecutionContext,
  name: string,
  prior: RequestStatus | undefined,
  next: RequestStatus,
  state: string,
): Promise<MainOutcome> {
  if (
    prior &&
    prior.state === next.state &&
    prior.message === next.message &&
    JSON.stringify(prior.errors) === JSON.stringify(next.errors)
  ) {
    return { did: 'nothing', why: next.message ?? state };
  }
  const res = await ctx.repo.commitAndPush(
    ctx.main,
    { [`reports/${name}/status.yaml`]: renderStatus(next) },
    `reexport: ${state} ${name}\n\n${next.message ?? next.errors?.join('\n') ?? ''}`,
  );
  return { did: 'committed', state, why: next.message ?? state, ...('commit' in res ? { pushed: res } : {}) };
}

export function underReports<T>(name: string, files: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(files).map(([f, c]) => [`reports/${name}/${f}`, c]));
}
