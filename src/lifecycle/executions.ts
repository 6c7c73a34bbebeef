import { createHash } from 'node:crypto';
import type { Signed, Statement } from './signing.js';
import type { RequestStatus } from './status.js';

/**
 * The once-only rule. Whether a request has executed is never read from reports/ (anyone who can
 * push can delete or edit those files); it is decided from execution records: statements the
 * daemon signed and put into main's history as commit trailers, and the same statements in the
 * daemon's own ledger in its workdir. A record survives any later commit; deleting reports/ or
 * editing status.yaml changes nothing here.
 */
export const RECORD_TRAILER = 'Reexport-Record';

export const EXECUTED_EDITED =
  'this request was already executed and must not change; revert the edit and create a new request';

/**
 * The offline answer, from status.yaml alone, for `reexport validate` in a forge's CI (which has
 * neither the daemon's history scan nor its ledger): the daemon itself decides from records.
 */
export function editedAfterExecution(status: RequestStatus | undefined, requestDigest: string): boolean {
  const executed = status?.state === 'executed' || Boolean(status?.executedAt);
  return executed && Boolean(status?.digests?.request) && status?.digests?.request !== requestDigest;
}

export interface ExecutionRecord {
  statement: Statement;
  /** Signed by a key this daemon trusts. An untrusted record still blocks execution (see below). */
  trusted: boolean;
  /** Why it is not trusted. */
  distrust?: string;
  /** The commit that carries it (history records). */
  commit?: string;
  /**
   * Its place in main's history (history records; parents before children): the order records
   * are read in, whatever clock signed them.
   */
  position?: number;
  /** The signed statement itself (ledger records), to put into main's history if it is missing there. */
  signed?: Signed;
}

/** The trailer line for a commit message: the signed statement as one line of base64url JSON. */
export function recordTrailer(signed: Signed): string {
  return `${RECORD_TRAILER}: ${Buffer.from(JSON.stringify(signed)).toString('base64url')}`;
}

/** Every record trailer in a commit message, decoded but not verified. */
export function recordsInMessage(message: string): unknown[] {
  const out: unknown[] = [];
  for (const m of message.matchAll(new RegExp(`^${RECORD_TRAILER}: ([A-Za-z0-9_-]+)\\s*$`, 'gm'))) {
    try {
      out.push(JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')));
    } catch {
      // A mangled trailer is no record; verification would refuse it anyway.
    }
  }
  return out;
}

export interface MainDecisionInput {
  request: string;
  execute: boolean;
  /** requestDigest of the request as it is now on main. */
  requestDigest: string;
  /** Every record for this request, from history and ledger, any order. */
  records: readonly ExecutionRecord[];
  /** This daemon's identity (persisted in its workdir), to recognise its own claims after a crash. */
  self: string;
  now: Date;
  /**
   * When this daemon first saw the latest record (latestRecord) as the latest, on its own clock:
   * a claim is taken over once nobody renewed it for claimTimeoutMs as this daemon measured it.
   * The claim's own time is the signer's clock; a replica whose clock ran ahead would take a live
   * claim over early (Kubernetes' leader election measures a lease the same way, locally).
   */
  latestSeenAt: Date;
  claimTimeoutMs: number;
}

export type MainDecision =
  /** Never executed and not to be: keep its preview current. */
  | { action: 'preview' }
  /** Claim it (a compare-and-swap on main) and execute; `resume` when an earlier run left work. */
  | { action: 'execute'; resume?: ExecutionRecord; why: string }
  /** Another live daemon holds the claim: leave it alone. */
  | { action: 'wait'; claim: ExecutionRecord; why: string }
  /** Executed once, for good. `edited` when the request changed since (a validation error). */
  | { action: 'executed'; record: ExecutionRecord; edited: boolean }
  /** Partly executed, but the request no longer says execute: true: stop here, say so. */
  | { action: 'halted'; record: ExecutionRecord; why: string }
  /** A record this daemon cannot verify: never execute over it, say why. */
  | { action: 'blocked'; record: ExecutionRecord; why: string };

/**
 * A record's identity for "has it changed?": its statement (a renewal is a new one). The copy of a
 * record in main's history and in the ledger are one record.
 */
export function recordKey(record: ExecutionRecord): string {
  return createHash('sha256').update(JSON.stringify(record.statement)).digest('base64url');
}

/**
 * A request's records in the order they were made: main's history decides (its commits were
 * each made on the one before, compare-and-swap), not the time in a statement, which is the
 * signer's clock and may be minutes off another replica's. A record only in this daemon's ledger
 * (its push failed, or the daemon stopped before it) is placed among them by its time, the best
 * there is for it; a ledger copy of a history record takes the history record's place.
 */
export function inRecordOrder(records: readonly ExecutionRecord[], request: string): ExecutionRecord[] {
  const mine = records.filter((r) => r.statement.request === request);
  const history = mine.filter((r) => r.position !== undefined).sort((a, b) => a.position! - b.position!);
  const placed = new Map<string, ExecutionRecord[]>();
  for (const r of history) placed.set(recordKey(r), []);
  const unplaced: ExecutionRecord[] = [];
  for (const r of mine) {
    if (r.position !== undefined) continue;
    const copies = placed.get(recordKey(r));
    if (copies) copies.push(r);
    else unplaced.push(r);
  }
  unplaced.sort((a, b) => a.statement.at.localeCompare(b.statement.at));
  const out: ExecutionRecord[] = [];
  let next = 0;
  for (const r of history) {
    while (next < unplaced.length && unplaced[next]!.statement.at < r.statement.at)
      out.push(unplaced[next++]!);
    out.push(r, ...placed.get(recordKey(r))!);
  }
  out.push(...unplaced.slice(next));
  return out;
}

/** The request's latest record (inRecordOrder), the one whose age decides a takeover. */
export function latestRecord(
  records: readonly ExecutionRecord[],
  request: string,
): ExecutionRecord | undefined {
  return inRecordOrder(records, request).at(-1);
}

/**
 * Why a running execution's claim is no longer this daemon's, or undefined while it is: the latest
 * record of the request on main (what other daemons decide from; the ledger is this daemon's
 * own) must be its trusted claim. Pure, as decideOnMain, which it agrees with.
 */
export function claimLostBecause(
  records: readonly ExecutionRecord[],
  request: string,
  self: string,
): string | undefined {
  const latest = latestRecord(
    records.filter((r) => r.commit !== undefined),
    request,
  );
  const s = latest?.statement;
  if (latest?.trusted && s?.by === self && s.state === 'executing') return undefined;
  return `the latest record is ${s ? `${s.state} by ${s.by ?? 'another daemon'} at ${s.at}` : 'none'}`;
}

/**
 * What to do with a request on main, from its execution records alone. Pure, so every branch of
 * the once-only rule is unit-tested.
 */
export function decideOnMain(input: MainDecisionInput): MainDecision {
  const records = inRecordOrder(input.records, input.request);
  // Any record someone else signed stops execution: it may be a second daemon with another key,
  // and running twice is worse than not running. The status says how to resolve it.
  const untrusted = records.find((r) => !r.trusted);
  if (untrusted) {
    return {
      action: 'blocked',
      record: untrusted,
      why:
        `main's history has an execution record for this request that this daemon cannot verify ` +
        `(${untrusted.distrust ?? 'unknown key'}${untrusted.commit ? `, commit ${untrusted.commit.slice(0, 12)}` : ''}); ` +
        'if another daemon executed it, give both daemons the same signing key',
    };
  }
  const latest = records.at(-1);
  if (!latest)
    return input.execute ? { action: 'execute', why: 'merged with execute: true' } : { action: 'preview' };
  const s = latest.statement;
  // The copy in main's history when there is one: a record only in the ledger is pushed on restore.
  const executed = records.filter((r) => r.statement.state === 'executed');
  const done = executed.find((r) => r.commit !== undefined) ?? executed[0];
  if (done) {
    return {
      action: 'executed',
      record: done,
      edited: done.statement.digests.request !== input.requestDigest,
    };
  }
  // Approval withdrawn (execute: false) after a partial run or a claim: nothing more is written.
  if (!input.execute && (s.state === 'partial' || s.state === 'executing')) {
    return {
      action: 'halted',
      record: latest,
      why: 'the request now says execute: false, so the rest of its execution is not written; set execute: true again to finish it',
    };
  }
  if (s.state === 'partial')
    return { action: 'execute', resume: latest, why: 'finishing a partial execution' };
  // A claim (state executing) without a final record.
  if (s.by && s.by.split('/')[0] === input.self.split('/')[0] && s.by !== input.self) {
    return { action: 'execute', resume: latest, why: 'resuming this daemon’s own interrupted execution' };
  }
  if (s.by === input.self)
    return { action: 'execute', resume: latest, why: 'continuing this daemon’s claim' };
  const unrenewed = input.now.getTime() - input.latestSeenAt.getTime();
  if (unrenewed > input.claimTimeoutMs) {
    return {
      action: 'execute',
      resume: latest,
      why: `the claim of ${s.by ?? 'another daemon'} was not renewed for ${Math.round(unrenewed / 1000)} s (timeout ${Math.round(input.claimTimeoutMs / 1000)} s): resuming from a fresh read`,
    };
  }
  return { action: 'wait', claim: latest, why: `claimed by ${s.by ?? 'another daemon'} at ${s.at}` };
}
