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

/** A request's records as the once-only rule reads them: by the time each was signed. */
function inTimeOrder(records: readonly ExecutionRecord[], request: string): ExecutionRecord[] {
  return records
    .filter((r) => r.statement.request === request)
    .sort((a, b) => a.statement.at.localeCompare(b.statement.at));
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
  const latest = inTimeOrder(
    records.filter((r) => r.commit !== undefined),
    request,
  ).at(-1);
  const s = latest?.statement;
  if (latest?.trusted && s?.by === self && s.state === 'executing') return undefined;
  return `the latest record is ${s ? `${s.state} by ${s.by ?? 'another daemon'} at ${s.at}` : 'none'}`;
}

/**
 * What to do with a request on main, from its execution records alone. Pure, so every branch of
 * the once-only rule is unit-tested.
 */
export function decideOnMain(input: MainDecisionInput): MainDecision {
  const records = inTimeOrder(input.records, input.request);
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
  const age = input.now.getTime() - Date.parse(s.at);
  if (s.by === input.self)
    return { action: 'execute', resume: latest, why: 'continuing this daemon’s claim' };
  if (age > input.claimTimeoutMs) {
    return {
      action: 'execute',
      resume: latest,
      why: `the claim of ${s.by ?? 'another daemon'} is ${Math.round(age / 1000)} s old (timeout ${Math.round(input.claimTimeoutMs / 1000)} s): resuming from a fresh read`,
    };
  }
  return { action: 'wait', claim: latest, why: `claimed by ${s.by ?? 'another daemon'} at ${s.at}` };
}
