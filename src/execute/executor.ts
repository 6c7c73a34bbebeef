import type { PlanChange } from '../plan/plan-types.js';
import { type DnValued, isDnValued } from '../plan/values.js';
import { type Drift, driftKey } from './source-drift.js';
import { type ChangeOutcome, casOperations, classify, isFinal } from './outcomes.js';

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

/**
 * One write in flight at a time (a lane: the LDAP adapter runs several on one connection); the
 * LDAP adapter implements it, tests fake it.
 */
export interface EntryWriter {
  modify(dn: string, ops: ModifyOp[]): Promise<void>;
  /** Fresh values of the given attributes (lower-cased keys); undefined when the entry is gone. */
  read(dn: string, attributes: string[]): Promise<Map<string, string[]> | undefined>;
}

/** Where each entry's final outcomes are recorded durably before the next entry starts (the fs journal). */
export interface OutcomeJournal {
  record(dn: string, outcomes: ChangeOutcome[]): Promise<void>;
}

/**
 * One chunk of a plan made ready for writing: its changes, the entries as read right before
 * writing, and what drifted.
 */
export interface PreparedChunk {
  changes: readonly PlanChange[];
  /**
   * The planned entries as read right before writing (normalised DN → lower-cased attribute →
   * values). Every outcome is decided on this read, never on the plan alone.
   */
  fresh: ReadonlyMap<string, ReadonlyMap<string, string[]>>;
  dnKey: (dn: string) => string;
  /** Changes found stale or skipped before any write (source moved, entry is not the user's). */
  drift: ReadonlyMap<string, Drift>;
}

/** How an execution writes, whatever its chunks. */
export interface WriteOptions {
  /** Which attributes compare as DNs (the directory's schema, as the preview had it). */
  dnValued?: DnValued;
  journal: OutcomeJournal;
  /** Final outcomes from earlier runs of this plan, per DN. */
  done: ReadonlyMap<string, ChangeOutcome[]>;
  writers: EntryWriter[];
  /** Operations per second across all writers; undefined = as fast as the directory answers. */
  rateLimit?: number;
  /** Aborting stops taking new entries; the entry in flight finishes and is journaled. */
  signal?: AbortSignal;
  /**
   * Asked right before each entry is written; it may abort `signal` (the claim's fence, whose
   * timers may not have run yet when a machine wakes from suspend with answers waiting).
   */
  beforeWrite?: () => void;
  /** From the daemon config's execution.retry. */
  retry: { attempts: number; baseDelayMs: number };
  sleep?: (ms: number) => Promise<void>;
}

export interface ExecuteOptions extends PreparedChunk, WriteOptions {
  onEntry?: (done: number, total: number) => void;
}

const ENTRY_GONE = 'the entry no longer exists (deleted or moved after the preview); nothing to write';
const STALE = 'the directory value changed after the preview; not overwritten';
const LDAP = { inappropriateMatching: 18, noSuchObject: 32 } as const;
/** Entries in a row left pending (at least one per writer) that mean the directory is down. */
const OUTAGE_AFTER_ENTRIES = 3;

/** Applies one chunk's changes entry by entry as compare-and-swap writes; returns every change's outcome. */
export async function executePlan(
  opts: ExecuteOptions,
): Promise<{ outcomes: ChangeOutcome[]; interrupted: boolean }> {
  const outcomes: ChangeOutcome[] = [];
  const total = new Set(opts.changes.map((c) => c.dn)).size;
  const { interrupted } = await executeChunks(
    (async function* () {
      yield opts;
    })(),
    {
      ...opts,
      onEntry: (n) => opts.onEntry?.(n, total),
      onChunk: (_, done) => outcomes.push(...done),
    },
  );
  return { outcomes, interrupted };
}

/** A chunk being written: its entries, handed out in order, and their outcomes as they finish. */
interface Active<C> {
  chunk: C;
  ctx: EntryContext;
  entries: PlanChange[][];
  results: ChangeOutcome[][];
  taken: number;
  finished: number;
}

/**
 * Applies a plan's chunks with one pool of writers across them: a writer that finds the current
 * chunk handed out takes the next one's entries, so the writers never wait for a chunk's last
 * entry. The next chunk is asked of `chunks` as soon as one starts being written (its reading,
 * fresh read and drift then run during these writes), so at most two are prepared at once.
 * `onChunk` gets each chunk's outcomes, in chunk order, once all of its entries finished (or,
 * interrupted, those that did). Resolves when every writer stopped; a failure (the plan file
 * changed, a fresh read failed, the journal refused a line) stops the writers from taking more
 * and is thrown once the entries in flight are finished and journaled.
 */
export async function executeChunks<C extends PreparedChunk>(
  chunks: AsyncIterator<C>,
  opts: WriteOptions & {
    onEntry?: (done: number) => void;
    onChunk?: (chunk: C, outcomes: ChangeOutcome[]) => void;
  },
): Promise<{ interrupted: boolean }> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  // A stop ends the wait for a rate-limit slot at once: with 32 writers at one write a second the
  // last would otherwise wake half a minute later, past a pod's grace period.
  const limiter = rateLimiter(opts.rateLimit, (ms) => pause(ms, opts.signal, opts.sleep));
  // Chunks activated and not yet reported, oldest first (the head may still have entries in flight).
  const open: Array<Active<C>> = [];
  const activate = (chunk: C): Active<C> => {
    const entries = groupByEntry(chunk.changes);
    const a = {
      chunk,
      ctx: { opts: { ...opts, ...chunk }, sleep },
      entries,
      results: [],
      taken: 0,
      finished: 0,
    };
    open.push(a);
    return a;
  };
  const pull = () => chunks.next().then((step) => (step.done ? undefined : step.value));
  let active: Active<C> | undefined;
  let upcoming: Promise<C | undefined> = pull();
  upcoming.catch(() => undefined);
  let ended = false;
  let failure: { error: unknown } | undefined;
  const report = () => {
    while (open[0] && open[0].finished === open[0].entries.length) {
      const a = open.shift()!;
      opts.onChunk?.(a.chunk, a.results.flat());
    }
  };
  /** The next entry to write, moving on to the next chunk when this one is handed out. */
  const take = async (): Promise<{ a: Active<C>; i: number } | undefined> => {
    for (;;) {
      if (opts.signal?.aborted || failure || ended) return undefined;
      if (active && active.taken < active.entries.length) return { a: active, i: active.taken++ };
      const seen = active;
      const next = await upcoming;
      if (opts.signal?.aborted || failure) return undefined;
      // The first writer here moves everyone on; the others find `active` changed and loop.
      if (active === seen) {
        if (!next) ended = true;
        else {
          active = activate(next);
          upcoming = pull();
          upcoming.catch(() => undefined);
          // A chunk with nothing to write (all of it skipped) is reported as it comes.
          report();
        }
      }
    }
  };

  let finished = 0;
  // A directory that stops answering would otherwise cost every remaining entry its full retries,
  // each try up to timeoutMs (hours for a large plan behind a dropped link). After this many
  // entries in a row left pending, the rest are left pending untried, for the next pass.
  const outageAfter = Math.max(OUTAGE_AFTER_ENTRIES, opts.writers.length);
  let pendingInARow = 0;
  let down: string | undefined;
  const worker = async (writer: EntryWriter) => {
    for (let t = await take(); t; t = await take()) {
      const { a, i } = t;
      const changes = a.entries[i]!;
      const dn = changes[0]!.dn;
      // A first run has no earlier outcomes: nothing to look up or filter per entry.
      const done = opts.done.size ? opts.done.get(dn) : undefined;
      const prior = done ? done.filter(isFinal) : [];
      const finalFor = prior.length ? new Set(prior.map((o) => o.attribute.toLowerCase())) : undefined;
      const open = finalFor ? changes.filter((c) => !finalFor.has(c.attribute.toLowerCase())) : changes;
      let outcomes: ChangeOutcome[] = [];
      if (open.length && down === undefined) {
        await limiter();
        opts.beforeWrite?.();
        // A stop asked for while this writer waited for its slot (the claim's fence, SIGTERM):
        // the entry is not written, and is left for the next run like those never taken.
        if (opts.signal?.aborted || failure) break;
      }
      // `down` may have been decided while this writer waited for its slot.
      if (open.length && down !== undefined) {
        outcomes = open.map((c) => outcome(c, 'pending', down));
      } else if (open.length) {
        const probe = answers(writer, opts);
        outcomes = await applyEntry(probe.writer, open, a.ctx);
        const final = outcomes.filter(isFinal);
        if (final.length) await opts.journal.record(dn, final);
        const left = outcomes.find((o) => o.outcome === 'pending');
        // Only an answer says the directory is up: an entry decided on the fresh read alone
        // (already applied, stale, gone) says nothing, and among many writers one such entry
        // would nearly always break a run of pending ones, so an outage would never be noticed.
        if (left) pendingInARow++;
        else if (probe.answered) pendingInARow = 0;
        if (left && pendingInARow >= outageAfter && down === undefined) {
          down = `not tried: the directory stopped answering (${pendingInARow} entries in a row left pending, the last ${left.id}); a later pass retries it`;
        }
      }
      a.results[i] = prior.length
        ? [...prior.filter((o) => changes.some((c) => sameAttr(c, o))), ...outcomes]
        : outcomes;
      a.finished++;
      report();
      opts.onEntry?.(++finished);
    }
  };
  await Promise.all(
    opts.writers.map((w) =>
      worker(w).catch((error: unknown) => {
        failure ??= { error };
      }),
    ),
  );
  // A chunk being prepared when the writers stopped is let finish, so nothing reads on after this returns.
  if (!ended) await upcoming.catch((error: unknown) => void (failure ??= { error }));
  if (failure) throw failure.error instanceof Error ? failure.error : new Error(String(failure.error));
  const interrupted = !ended || open.some((a) => a.finished < a.entries.length);
  // Interrupted: what was handed out and finished is reported; the rest is for the next run.
  for (const a of open) opts.onChunk?.(a.chunk, a.results.filter(Boolean).flat());
  return { interrupted };
}

interface EntryContext {
  opts: WriteOptions & PreparedChunk;
  sleep: (ms: number) => Promise<void>;
}

/** One entry: decide each change on the fresh read, then write what is still at `before`. */
async function applyEntry(
  writer: EntryWriter,
  changes: PlanChange[],
  ctx: EntryContext,
): Promise<ChangeOutcome[]> {
  const { opts } = ctx;
  const out: ChangeOutcome[] = [];
  const candidates: PlanChange[] = [];
  const anyDrift = opts.drift.size > 0;
  for (const c of changes) {
    const drift = anyDrift ? opts.drift.get(driftKey(c)) : undefined;
    if (drift) out.push(outcome(c, drift.outcome ?? 'stale', drift.reason, undefined, drift.found));
    else candidates.push(c);
  }
  if (candidates.length === 0) return out;
  const attrs = opts.fresh.get(opts.dnKey(candidates[0]!.dn));
  if (!attrs) return [...out, ...candidates.map((c) => outcome(c, 'skipped', ENTRY_GONE))];
  const { decided, writable } = decide(candidates, attrs, opts.dnValued);
  out.push(...decided);
  if (writable.length === 0) return out;
  try {
    const dn = writable[0]!.change.dn;
    const ops =
      writable.length === 1
        ? casOps(writable[0]!, opts.dnValued)
        : writable.flatMap((w) => casOps(w, opts.dnValued));
    await withRetry(() => writer.modify(dn, ops), ctx);
    for (const w of writable) out.push(outcome(w.change, 'applied'));
    return out;
  } catch (err) {
    if (!(err instanceof WriteFailure)) throw err;
    if (err.transient) return [...out, ...writable.map((w) => pending(w.change, err))];
    if (err.code === LDAP.noSuchObject)
      return [...out, ...writable.map((w) => outcome(w.change, 'skipped', ENTRY_GONE))];
    // One refused value must not fail the entry's other changes: each is tried on its own.
    for (const w of writable)
      out.push(await applyOne(writer, w.change, ctx, writable.length === 1 ? err : undefined));
    return out;
  }
}

interface Writable {
  change: PlanChange;
  /** The values the entry holds now (equal to `before` under the attribute's comparison). */
  current: string[];
}

function decide(
  changes: readonly PlanChange[],
  attrs: ReadonlyMap<string, string[]>,
  dnValued: DnValued | undefined,
): { decided: ChangeOutcome[]; writable: Writable[] } {
  const decided: ChangeOutcome[] = [];
  const writable: Writable[] = [];
  for (const c of changes) {
    const current = attrs.get(c.attribute.toLowerCase()) ?? [];
    const state = classify(c, current, dnValued);
    if (state === 'after') decided.push(outcome(c, 'already-applied'));
    else if (state === 'before') writable.push({ change: c, current });
    else decided.push(outcome(c, 'stale', STALE, undefined, current));
  }
  return { decided, writable };
}

/**
 * One change on its own, after its entry's combined write failed. Its own write's failure (or the
 * combined one, for a lone change) is decided on a fresh read: moved meanwhile → stale or
 * already-applied; still at `before` → the server refuses this value (failed, final), or cannot
 * delete by value (no equality rule) and gets a replace after the compare.
 */
async function applyOne(
  writer: EntryWriter,
  change: PlanChange,
  ctx: EntryContext,
  known?: WriteFailure,
): Promise<ChangeOutcome> {
  const { opts } = ctx;
  let failure = known;
  let current: string[] | undefined;
  if (!failure) {
    try {
      current = await readAttr(writer, change, ctx);
      if (current === undefined) return outcome(change, 'skipped', ENTRY_GONE);
      const state = classify(change, current, opts.dnValued);
      if (state === 'after') return outcome(change, 'already-applied');
      if (state === 'other') return outcome(change, 'stale', STALE, undefined, current);
      await withRetry(
        () => writer.modify(change.dn, casOps({ change, current: current! }, opts.dnValued)),
        ctx,
      );
      return outcome(change, 'applied');
    } catch (err) {
      if (!(err instanceof WriteFailure)) throw err;
      failure = err;
    }
  }
  if (failure.transient) return pending(change, failure);
  if (failure.code === LDAP.noSuchObject) return outcome(change, 'skipped', ENTRY_GONE);
  try {
    current = await readAttr(writer, change, ctx);
  } catch (err) {
    if (err instanceof WriteFailure && err.transient) return pending(change, err);
    throw err;
  }
  if (current === undefined) return outcome(change, 'skipped', ENTRY_GONE);
  const state = classify(change, current, opts.dnValued);
  if (state === 'after') return outcome(change, 'already-applied');
  if (state === 'other') return outcome(change, 'stale', STALE, undefined, current);
  if (failure.code !== LDAP.inappropriateMatching)
    return outcome(change, 'failed', failure.message, failure.code);
  try {
    const replace: ModifyOp[] = [{ op: 'replace', attribute: change.attribute, values: change.after }];
    await withRetry(() => writer.modify(change.dn, replace), ctx);
    return outcome(
      change,
      'applied',
      'the directory cannot delete these values by value (no equality rule): compared on a fresh read, then replaced',
    );
  } catch (err) {
    if (!(err instanceof WriteFailure)) throw err;
    return err.transient ? pending(change, err) : outcome(change, 'failed', err.message, err.code);
  }
}

async function readAttr(
  writer: EntryWriter,
  change: PlanChange,
  ctx: EntryContext,
): Promise<string[] | undefined> {
  const attrs = await withRetry(() => writer.read(change.dn, [change.attribute]), ctx);
  return attrs ? (attrs.get(change.attribute.toLowerCase()) ?? []) : undefined;
}

function casOps(w: Writable, dnValued: DnValued = isDnValued): ModifyOp[] {
  const { remove, add } = casOperations(w.change, w.current, dnValued);
  const ops: ModifyOp[] = [];
  if (remove.length) ops.push({ op: 'delete', attribute: w.change.attribute, values: remove });
  if (add.length) ops.push({ op: 'add', attribute: w.change.attribute, values: add });
  return ops;
}

/** Busy, unavailable and lost connections are worth another try; everything else is an answer. */
async function withRetry<T>(fn: () => Promise<T>, ctx: EntryContext): Promise<T> {
  const { attempts, baseDelayMs } = ctx.opts.retry;
  const { signal } = ctx.opts;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof WriteFailure) || !err.transient || attempt >= attempts) throw err;
      // A stopped execution (its claim fenced, SIGTERM) tries no more: the change stays pending.
      if (signal?.aborted) throw err;
      await ctx.sleep(baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
      if (signal?.aborted) throw err;
    }
  }
}

/**
 * `writer`, noting whether the directory answered any of its calls: a result, or a refusal that
 * is not a transient fault (a busy, unavailable or lost connection is no answer).
 */
function answers(
  writer: EntryWriter,
  opts: Pick<WriteOptions, 'beforeWrite' | 'signal'>,
): { writer: EntryWriter; answered: boolean } {
  const probe = { writer, answered: false };
  const seen = <T>(call: Promise<T>): Promise<T> =>
    call.then(
      (value) => {
        probe.answered = true;
        return value;
      },
      (err: unknown) => {
        if (!(err instanceof WriteFailure && err.transient)) probe.answered = true;
        throw err;
      },
    );
  probe.writer = {
    // Every write asks first, retries and the per-change fallback included: a stop found here
    // leaves the change pending (a transient failure is not retried once stopped).
    modify: (dn, ops) => {
      opts.beforeWrite?.();
      if (opts.signal?.aborted)
        return Promise.reject(new WriteFailure('the execution stopped before this write', undefined, true));
      return seen(writer.modify(dn, ops));
    },
    read: (dn, attributes) => seen(writer.read(dn, attributes)),
  };
  return probe;
}

function pending(c: PlanChange, err: WriteFailure): ChangeOutcome {
  return outcome(c, 'pending', `not written yet: ${err.message}; a later pass retries it`, err.code);
}

function outcome(
  c: PlanChange,
  kind: ChangeOutcome['outcome'],
  reason?: string,
  code?: number,
  found?: string[],
): ChangeOutcome {
  const o: ChangeOutcome = { id: c.id, dn: c.dn, attribute: c.attribute, outcome: kind };
  if (reason) o.reason = reason;
  if (code !== undefined) o.code = code;
  if (found) o.found = found;
  return o;
}

const sameAttr = (c: PlanChange, o: ChangeOutcome) => c.attribute.toLowerCase() === o.attribute.toLowerCase();

function groupByEntry(changes: readonly PlanChange[]): PlanChange[][] {
  const byDn = new Map<string, PlanChange[]>();
  for (const c of changes) {
    const list = byDn.get(c.dn);
    if (list) list.push(c);
    else byDn.set(c.dn, [c]);
  }
  return [...byDn.values()];
}

/**
 * Waits `ms` (through `sleep` when given, as tests do), ending at once when `signal` aborts; the
 * timer of the default wait is cleared then, so it does not keep the process alive.
 */
async function pause(ms: number, signal?: AbortSignal, sleep?: (ms: number) => Promise<void>): Promise<void> {
  if (signal?.aborted) return;
  if (!sleep) {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
  if (!signal) return sleep(ms);
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  signal.addEventListener('abort', stop, { once: true });
  try {
    await Promise.race([sleep(ms), stopped]);
  } finally {
    signal.removeEventListener('abort', stop);
  }
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
