import type { PlanChange } from '../plan/plan-types.js';
import type { DnValued } from '../plan/values.js';
import { type Drift, driftKey } from './source-drift.js';
import { type ChangeOutcome, casOperations, classify } from './outcomes.js';

export interface ModifyOp {
  op: 'add' | 'delete' | 'replace';
  attribute: string;
  values: string[];
}

/** A write failure as the executor needs to see it: the LDAP result code and whether retrying can help. */
export class WriteFailure extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
    readonly transient: boolean,
  ) {
    super(message);
  }
}

/** One connection's worth of writing; the LDAP adapter implements it. */
export interface EntryWriter {
  modify(dn: string, ops: ModifyOp[]): Promise<void>;
  /** Fresh values of the given attributes (lower-cased keys); undefined when the entry is gone. */
  read(dn: string, attributes: string[]): Promise<Map<string, string[]> | undefined>;
}

/** Where each entry's outcomes are recorded durably before the next entry starts (the fs journal). */
export interface OutcomeJournal {
  record(dn: string, outcomes: ChangeOutcome[]): Promise<void>;
}

export interface ExecuteOptions {
  changes: readonly PlanChange[];
  /** Changes whose source moved since the preview, with the reason. */
  drift: ReadonlyMap<string, Drift>;
  /** Which attributes compare as DNs when a fresh read decides (the directory's schema). */
  dnValued?: DnValued;
  journal: OutcomeJournal;
  /** Entries finished by an earlier, interrupted run. */
  done: ReadonlyMap<string, ChangeOutcome[]>;
  writers: EntryWriter[];
  /** Operations per second across all connections; undefined = as fast as the directory answers. */
  rateLimit?: number;
  /** Aborting stops taking new entries; the entry in flight finishes and is journaled. */
  signal?: AbortSignal;
  retry?: { attempts: number; baseDelayMs: number };
  onEntry?: (done: number, total: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

const ENTRY_GONE = 'the entry no longer exists (deleted or moved after the preview); nothing to write';
// 19: OpenLDAP's answer to adding a second value to a single-valued attribute someone filled meanwhile.
const LDAP = {
  noSuchAttribute: 16,
  constraintViolation: 19,
  inappropriateMatching: 18,
  typeOrValueExists: 20,
  noSuchObject: 32,
} as const;

/** Applies the plan entry by entry as compare-and-swap writes; returns every change's outcome. */
export async function executePlan(
  opts: ExecuteOptions,
): Promise<{ outcomes: ChangeOutcome[]; interrupted: boolean }> {
  const entries = groupByEntry(opts.changes);
  const results = new Array<ChangeOutcome[]>(entries.length);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const limiter = rateLimiter(opts.rateLimit, sleep);
  let next = 0;
  let finished = 0;
  const worker = async (writer: EntryWriter) => {
    while (!opts.signal?.aborted) {
      const i = next++;
      if (i >= entries.length) return;
      const changes = entries[i]!;
      const dn = changes[0]!.dn;
      const prior = opts.done.get(dn);
      if (prior) {
        results[i] = prior;
      } else {
        await limiter();
        const outcomes = await applyEntry(writer, changes, opts, sleep);
        await opts.journal.record(dn, outcomes);
        results[i] = outcomes;
      }
      opts.onEntry?.(++finished, entries.length);
    }
  };
  await Promise.all(opts.writers.map(worker));
  const interrupted = results.filter(Boolean).length < entries.length;
  return { outcomes: results.filter(Boolean).flat(), interrupted };
}

async function applyEntry(
  writer: EntryWriter,
  changes: PlanChange[],
  opts: ExecuteOptions,
  sleep: (ms: number) => Promise<void>,
): Promise<ChangeOutcome[]> {
  const out: ChangeOutcome[] = [];
  const live: PlanChange[] = [];
  for (const c of changes) {
    const drift = opts.drift.get(driftKey(c));
    if (drift)
      out.push({
        ...outcome(c, drift.outcome ?? 'stale', drift.reason),
        ...(drift.found ? { found: drift.found } : {}),
      });
    else live.push(c);
  }
  if (live.length === 0) return out;
  try {
    await withRetry(() => writer.modify(live[0]!.dn, live.flatMap(casOps)), opts, sleep);
    return [...out, ...live.map((c) => outcome(c, 'applied'))];
  } catch (err) {
    if (!(err instanceof WriteFailure)) throw err;
    if (
      err.code === LDAP.noSuchAttribute ||
      err.code === LDAP.typeOrValueExists ||
      err.code === LDAP.constraintViolation
    )
      return [...out, ...(await resolveAfterRead(writer, live, 'cas', opts, sleep))];
    if (err.code === LDAP.inappropriateMatching)
      return [...out, ...(await resolveAfterRead(writer, live, 'replace', opts, sleep))];
    if (err.code === LDAP.noSuchObject)
      return [...out, ...live.map((c) => outcome(c, 'skipped', ENTRY_GONE))];
    return [...out, ...live.map((c) => outcome(c, 'failed', err.message, err.code))];
  }
}

/**
 * The compare failed for some attribute, or the directory cannot compare at all (no equality rule).
 * A fresh read tells, per change, whether it is already done (a resumed run), still at the reviewed
 * value (write it), or moved (stale: not overwritten).
 */
async function resolveAfterRead(
  writer: EntryWriter,
  live: PlanChange[],
  mode: 'cas' | 'replace',
  opts: ExecuteOptions,
  sleep: (ms: number) => Promise<void>,
): Promise<ChangeOutcome[]> {
  const current = await withRetry(
    () =>
      writer.read(
        live[0]!.dn,
        live.map((c) => c.attribute),
      ),
    opts,
    sleep,
  );
  if (!current) return live.map((c) => outcome(c, 'skipped', ENTRY_GONE));
  const out: ChangeOutcome[] = [];
  const pending: PlanChange[] = [];
  for (const c of live) {
    const values = current.get(c.attribute.toLowerCase()) ?? [];
    const state = classify(c, values, opts.dnValued);
    if (state === 'after') out.push(outcome(c, 'already-applied'));
    else if (state === 'before') pending.push(c);
    else
      out.push({
        ...outcome(c, 'stale', 'the directory value changed after the preview; not overwritten'),
        found: values,
      });
  }
  if (pending.length === 0) return out;
  const ops =
    mode === 'cas'
      ? pending.flatMap(casOps)
      : pending.map((c) => ({ op: 'replace' as const, attribute: c.attribute, values: c.after }));
  const how =
    mode === 'replace'
      ? 'the directory cannot delete these values by value (no equality rule): compared on a fresh read, then replaced'
      : undefined;
  try {
    await withRetry(() => writer.modify(pending[0]!.dn, ops), opts, sleep);
    return [...out, ...pending.map((c) => outcome(c, 'applied', how))];
  } catch (err) {
    if (!(err instanceof WriteFailure)) throw err;
    return [...out, ...pending.map((c) => outcome(c, 'failed', err.message, err.code))];
  }
}

function casOps(c: PlanChange): ModifyOp[] {
  const { remove, add } = casOperations(c);
  const ops: ModifyOp[] = [];
  if (remove.length) ops.push({ op: 'delete', attribute: c.attribute, values: remove });
  if (add.length) ops.push({ op: 'add', attribute: c.attribute, values: add });
  return ops;
}

/** Busy, unavailable and lost connections are worth another try; everything else is an answer. */
async function withRetry<T>(
  fn: () => Promise<T>,
  opts: ExecuteOptions,
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  const { attempts, baseDelayMs } = opts.retry ?? { attempts: 5, baseDelayMs: 200 };
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof WriteFailure) || !err.transient || attempt >= attempts) throw err;
      await sleep(baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
    }
  }
}

function outcome(
  c: PlanChange,
  kind: ChangeOutcome['outcome'],
  reason?: string,
  code?: number,
): ChangeOutcome {
  return {
    id: c.id,
    dn: c.dn,
    attribute: c.attribute,
    outcome: kind,
    ...(reason ? { reason } : {}),
    ...(code !== undefined ? { code } : {}),
  };
}

function groupByEntry(changes: readonly PlanChange[]): PlanChange[][] {
  const byDn = new Map<string, PlanChange[]>();
  for (const c of changes) {
    const list = byDn.get(c.dn);
    if (list) list.push(c);
    else byDn.set(c.dn, [c]);
  }
  return [...byDn.values()];
}

function rateLimiter(
  perSecond: number | undefined,
  sleep: (ms: number) => Promise<void>,
): () => Promise<void> {
  if (!perSecond) return async () => {};
  const interval = 1000 / perSecond;
  let nextSlot = 0;
  return async () => {
    const now = Date.now();
    const slot = Math.max(now, nextSlot);
    nextSlot = slot + interval;
    if (slot > now) await sleep(slot - now);
  };
}
