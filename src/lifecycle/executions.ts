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
  /** The signed statement itself (ledger records), to put into main's history if it is missing there. */
  signed?: Signed;
}

/** The trailer line for a commit message: the signed statement as one line of base64url JSON. */
export function recordTrailer(signed: Signed): string {
  return `${RECORD_TRAILER}: ${Buffer.from(JSON.stringify(signed)).toString('base64url')}`;
}

/**
 * The longest trailer read as a record: a signed statement is about 1 KB. Anyone who can push
 * writes commit messages, and a huge or deeply nested value must not stop the daemon.
 */
const MAX_TRAILER_CHARS = 16 * 1024;

/**
 * Every record trailer in a commit message, decoded but not verified: only its three strings,
 * `keyId`, `statement` and `signature`, so nothing else a writer put there is carried on.
 */
export function recordsInMessage(message: string): Signed[] {
  const out: Signed[] = [];
  for (const m of message.matchAll(new RegExp(`^${RECORD_TRAILER}: ([A-Za-z0-9_-]+)\\s*$`, 'gm'))) {
    if (m[1]!.length > MAX_TRAILER_CHARS) continue;
    try {
      const raw: unknown = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8'));
      const { keyId, statement, signature } = (raw ?? {}) as Record<string, unknown>;
      if (typeof keyId === 'string' && typeof statement === 'string' && typeof signature === 'string')
        out.push({ keyId, statement, signature });
    } catch {
      // A mangled trailer is no record; verification would refuse it anyway.
    }
  }
  return out;
}

/**
 * The statement of a record that cannot be verified, as far as it can be read: only its fields
 * that are text, so a hostile one (deeply nested, odd types) is shown and ordered, never obeyed.
 */
export function untrustedStatement(text: string): Statement | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const o = parsed as Record<string, unknown>;
  const field = (k: string) => (typeof o[k] === 'string' ? o[k] : undefined);
  const request = field('request');
  const at = field('at');
  if (request === undefined || at === undefined) return undefined;
  const kind = field('kind');
  const by = field('by');
  return {
    v: 1,
    kind: kind === 'preview' || kind === 'claim' || kind === 'execution' ? kind : 'execution',
    request,
    branch: field('branch') ?? '',
    commit: field('commit') ?? '',
    digests: { request: '', template: '', source: '', plan: '' },
    state: field('state') ?? '',
    at,
    ...(by !== undefined ? { by } : {}),
  };
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
  /**
   * How long this daemon has seen the request's records without a newer one (newestRecordTime),
   * on its own clock: a claim is taken over once nobody renewed it for claimTimeoutMs as this
   * daemon measured it (Kubernetes' leader election measures a lease the same way). The time in
   * the claim is its signer's clock: a replica whose clock ran ahead would take a live claim
   * over early.
   */
  unchangedForMs: number;
  claimTimeoutMs: number;
  /**
   * The newest record time this daemon has seen on main for the request (ClaimWatch.newestSeen).
   * When no record on main or in the ledger is that new, main's history lost records: the
   * request is not executed again.
   */
  newestSeen?: string;
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
  /**
   * A record this daemon cannot verify, or records it saw gone from main: never execute, say why.
   * `record`: the record that blocks, when one does.
   */
  | { action: 'blocked'; record?: ExecutionRecord; why: string };

/** A record's identity: its statement. A copy of it (in the ledger, or pushed again) is the same record. */
export function recordKey(record: ExecutionRecord): string {
  return createHash('sha256').update(JSON.stringify(record.statement)).digest('base64url');
}

/** The daemon that signed a record: its workdir's identity, without the process. */
const signerOf = (r: ExecutionRecord): string =>
  typeof r.statement.by === 'string' ? r.statement.by.split('/')[0]! : '';

/** A record's time; one that is not a time (an unverifiable record may hold anything) is the earliest. */
const timeOf = (r: ExecutionRecord): number => {
  const t = Date.parse(r.statement.at);
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
};

const byTime = (a: ExecutionRecord, b: ExecutionRecord): number => {
  const ta = timeOf(a);
  const tb = timeOf(b);
  return ta < tb ? -1 : ta > tb ? 1 : 0;
};

/**
 * The time to sign a request's next record with: now, or just after the latest record this daemon
 * knows of when that is later. So a record made after another is later than it whatever the
 * signers' clocks say (a replica whose clock runs behind still signs its takeover after the claim
 * it takes over), while a copy of an old record, pushed again or merged from a side branch, keeps
 * its old time and place: the time is signed, the place in main's history is not.
 */
export function nextRecordTime(
  records: readonly ExecutionRecord[],
  request: string,
  now: Date,
  after?: Date,
): Date {
  let latest = after?.getTime() ?? Number.NEGATIVE_INFINITY;
  for (const r of records) {
    if (r.statement.request !== request || !r.trusted) continue;
    const t = Date.parse(r.statement.at);
    if (t > latest) latest = t;
  }
  // Never past the last time a Date can hold (a record at that very time is no reason to fail).
  return new Date(Math.min(MAX_TIME, Math.max(now.getTime(), latest + 1)));
}

/** The latest time a Date holds (ECMAScript's 8.64e15 ms after 1970). */
const MAX_TIME = 8.64e15;

/**
 * A request's records in the order they were made: by their (signed, logical) times, see
 * nextRecordTime. A record only in this daemon's ledger (its push failed, or the daemon stopped
 * first) was seen by no other daemon: it comes after its signer's last record on main, by time,
 * unless another daemon's record on main follows that one, made without knowing it; then it is
 * superseded, placed before that record, never the latest. A ledger copy of a record on main is
 * that record.
 */
export function inTimeOrder(records: readonly ExecutionRecord[], request: string): ExecutionRecord[] {
  const mine = records.filter((r) => r.statement.request === request);
  const history = mine.filter((r) => r.commit !== undefined).sort(byTime);
  const onMain = new Set(history.map(recordKey));
  const ledgerOnly = mine.filter((r) => r.commit === undefined && !onMain.has(recordKey(r)));
  // Each record's place: after the history record at `anchor` (-1: before all), then by time.
  const placed = history.map((record, anchor) => ({ record, anchor, tier: 0 }));
  const lastIndex = (test: (r: ExecutionRecord) => boolean) => {
    for (let i = history.length - 1; i >= 0; i--) if (test(history[i]!)) return i;
    return -1;
  };
  for (const record of ledgerOnly) {
    const signer = signerOf(record);
    const last = lastIndex((r) => signerOf(r) === signer);
    const superseded = history.slice(last + 1).some((r) => signerOf(r) !== signer);
    const anchor = superseded
      ? last
      : Math.max(
          last,
          lastIndex((r) => byTime(r, record) <= 0),
        );
    placed.push({ record, anchor, tier: 1 });
  }
  placed.sort((a, b) => a.anchor - b.anchor || a.tier - b.tier || byTime(a.record, b.record));
  return placed.map((p) => p.record);
}

/** The request's latest record (inTimeOrder). */
export function latestRecord(
  records: readonly ExecutionRecord[],
  request: string,
): ExecutionRecord | undefined {
  return inTimeOrder(records, request).at(-1);
}

/**
 * What a takeover waits on: the newest time among the request's records on main (any signer;
 * times that are not times are left out), or '' when none has one. Only a record with a later
 * time starts the count again: every renewal is one (nextRecordTime), while a copy of an old
 * record pushed again, or a record gone from main, is not, so a hostile push can neither delay a
 * takeover for ever nor bring one forward. Records only in this daemon's ledger are left out:
 * other daemons renew on main, and one of ours whose push failed must not hold the count still
 * while another daemon's renewals come in.
 */
export function newestRecordTime(records: readonly ExecutionRecord[], request: string): string {
  let newest = '';
  let newestMs = Number.NEGATIVE_INFINITY;
  for (const r of records) {
    if (r.statement.request !== request || r.commit === undefined) continue;
    const t = Date.parse(r.statement.at);
    if (t > newestMs) {
      newestMs = t;
      newest = new Date(t).toISOString();
    }
  }
  return newest;
}

/**
 * `seen` (the newest record time this daemon saw on main) when no record of the request, on
 * main or in the ledger, is that new: records it saw are gone. Undefined while they are there.
 */
export function recordsLostSince(
  records: readonly ExecutionRecord[],
  seen: string | undefined,
): string | undefined {
  if (seen === undefined) return undefined;
  const seenMs = Date.parse(seen);
  if (!Number.isFinite(seenMs)) return undefined;
  return records.some((r) => Date.parse(r.statement.at) >= seenMs) ? undefined : seen;
}

/** Whether a verified statement is an execution record: a claim, or a partial or final execution. */
export function isExecutionRecord(s: Statement): boolean {
  return (
    typeof s.by === 'string' &&
    ((s.kind === 'claim' && s.state === 'executing') ||
      (s.kind === 'execution' && (s.state === 'partial' || s.state === 'executed')))
  );
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
  /** Any process of this daemon (its workdir identity): a record left by an earlier process. */
  anyProcess = false,
): string | undefined {
  const latest = latestRecord(
    records.filter((r) => r.commit !== undefined),
    request,
  );
  const s = latest?.statement;
  const ours = anyProcess ? latest !== undefined && signerOf(latest) === self.split('/')[0] : s?.by === self;
  if (latest?.trusted && ours && s?.state === 'executing') return undefined;
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
  const lost = recordsLostSince(records, input.newestSeen);
  if (lost) {
    return {
      action: 'blocked',
      why:
        `this daemon saw an execution record of this request on main signed at ${lost}, and ` +
        `neither main nor its ledger holds it any more: main's history was rewritten (a force-push?). ` +
        'Nothing is executed, so that nothing is written twice: push the lost commits back to main, ' +
        'or add the change again as a new request with another name',
    };
  }
  const latest = records.at(-1);
  if (!latest)
    return input.execute ? { action: 'execute', why: 'merged with execute: true' } : { action: 'preview' };
  const s = latest.statement;
  // The copy in main's history when there is one: a record only in the ledger is pushed on restore.
  const executed = records.filter((r) => r.statement.state === 'executed');
  // One only in our ledger counts while it is the latest: superseded (another daemon took the
  // claim over before it reached main), it is not the last word, the other daemon's run is.
  const done =
    executed.find((r) => r.commit !== undefined) ??
    (latest.statement.state === 'executed' ? latest : undefined);
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
  const unrenewed = input.unchangedForMs;
  if (unrenewed > input.claimTimeoutMs) {
    return {
      action: 'execute',
      resume: latest,
      why: `the claim of ${s.by ?? 'another daemon'} was not renewed for ${Math.round(unrenewed / 1000)} s (timeout ${Math.round(input.claimTimeoutMs / 1000)} s): resuming from a fresh read`,
    };
  }
  return { action: 'wait', claim: latest, why: `claimed by ${s.by ?? 'another daemon'} at ${s.at}` };
}
