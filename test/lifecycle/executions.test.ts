import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  claimLostBecause,
  decideOnMain,
  type ExecutionRecord,
  inRecordOrder,
  latestRecord,
  recordsInMessage,
  recordTrailer,
} from '../../src/lifecycle/executions.js';
import { signStatement, type Statement, verifySigned } from '../../src/lifecycle/signing.js';

const digests = { request: 'r1', template: 't1', source: 's1', plan: 'p1' };
const stmt = (over: Partial<Statement>): Statement => ({
  v: 1,
  kind: 'claim',
  request: 'req',
  branch: 'main',
  commit: 'c',
  digests,
  state: 'executing',
  at: '2026-11-30T00:00:00.000Z',
  by: 'host-a/100',
  ...over,
});
const rec = (over: Partial<Statement>, trusted = true): ExecutionRecord => ({
  statement: stmt(over),
  trusted,
});
const decide = (records: ExecutionRecord[], over: Partial<Parameters<typeof decideOnMain>[0]> = {}) =>
  decideOnMain({
    request: 'req',
    execute: true,
    requestDigest: 'r1',
    records,
    self: 'host-a/200',
    now: new Date('2026-11-30T00:05:00.000Z'),
    latestSeenAt: new Date('2026-11-30T00:05:00.000Z'),
    claimTimeoutMs: 15 * 60_000,
    ...over,
  });

describe('decideOnMain: the once-only rule from execution records alone', () => {
  it('previews what is not to execute, executes what is merged with execute: true', () => {
    expect(decide([], { execute: false }).action).toBe('preview');
    expect(decide([]).action).toBe('execute');
  });

  it('an executed request stays executed whatever the request says now; an edit is flagged', () => {
    const done = [rec({ kind: 'execution', state: 'executed' })];
    expect(decide(done)).toMatchObject({ action: 'executed', edited: false });
    expect(decide(done, { execute: false })).toMatchObject({ action: 'executed' });
    expect(decide(done, { requestDigest: 'r2' })).toMatchObject({ action: 'executed', edited: true });
  });

  it('waits for another daemon’s claim, and resumes it once unrenewed for the timeout', () => {
    const other = [rec({ by: 'host-b/1' })];
    expect(decide(other).action).toBe('wait');
    const later = new Date('2026-11-30T00:20:00.001Z');
    // Just seen, however old its own time says it is.
    expect(decide(other, { now: later, latestSeenAt: later })).toMatchObject({ action: 'wait' });
    expect(decide(other, { now: later, latestSeenAt: new Date('2026-11-30T00:05:00.000Z') })).toMatchObject({
      action: 'execute',
      resume: other[0],
    });
  });

  it("counts a claim's age on its own clock, from when it first saw it, not from the signer's time", () => {
    // Signed an hour "before" by a replica whose clock runs behind (or read by one whose clock runs
    // ahead): only just seen, so it is another daemon's live claim.
    const skewed = [rec({ by: 'host-b/1', at: '2026-11-29T23:05:00.000Z' })];
    expect(decide(skewed)).toMatchObject({ action: 'wait' });
    // Signed "in the future" by a clock that runs ahead: still taken over once unrenewed long enough.
    const ahead = [rec({ by: 'host-b/1', at: '2026-12-01T00:00:00.000Z' })];
    expect(
      decide(ahead, {
        now: new Date('2026-11-30T00:21:00.000Z'),
        latestSeenAt: new Date('2026-11-30T00:05:00.000Z'),
      }),
    ).toMatchObject({ action: 'execute', resume: ahead[0] });
  });

  it('resumes its own claim at once after a restart (same workdir identity, another pid)', () => {
    expect(decide([rec({ by: 'host-a/100' })])).toMatchObject({ action: 'execute' });
  });

  it('finishes a partial execution', () => {
    expect(decide([rec({ kind: 'execution', state: 'partial' })])).toMatchObject({ action: 'execute' });
  });

  it('writes nothing more of a partial or claimed execution once the request says execute: false', () => {
    expect(decide([rec({ kind: 'execution', state: 'partial' })], { execute: false }).action).toBe('halted');
    expect(decide([rec({ by: 'host-a/100' })], { execute: false }).action).toBe('halted');
  });

  it('never executes over a record it cannot verify, and says how to resolve it', () => {
    const r = decide([{ ...rec({ kind: 'execution', state: 'executed' }, false), distrust: 'unknown key' }]);
    expect(r.action).toBe('blocked');
    expect(r.action === 'blocked' && r.why).toMatch(/same signing key/);
  });

  it("orders records by main's history, not by their signers' clocks", () => {
    // host-b took over host-a's stale claim with a clock twenty minutes behind: its claim is the
    // later one on main, so it is host-b's live claim that is waited for.
    const a = { ...rec({ by: 'host-c/1', at: '2026-11-30T00:00:00.000Z' }), commit: 'c1', position: 0 };
    const b = { ...rec({ by: 'host-b/1', at: '2026-11-29T23:50:00.000Z' }), commit: 'c2', position: 1 };
    expect(decide([b, a])).toMatchObject({ action: 'wait', claim: b });
    expect(latestRecord([b, a], 'req')).toBe(b);
    // A record only in this daemon's ledger (its push failed) is placed by its time; a ledger copy
    // of a history record sits where that record is.
    const ledgerOnly = rec({
      by: 'host-a/100',
      kind: 'execution',
      state: 'partial',
      at: '2026-11-29T23:55:00.000Z',
    });
    const copyOfA = rec({ by: 'host-c/1', at: '2026-11-30T00:00:00.000Z' });
    expect(inRecordOrder([copyOfA, b, ledgerOnly, a], 'req')).toEqual([ledgerOnly, a, copyOfA, b]);
  });

  it('ignores records of other requests', () => {
    expect(decide([rec({ request: 'other', kind: 'execution', state: 'executed' })]).action).toBe('execute');
  });
});

describe('execution records in commit messages', () => {
  it('round-trips a signed statement through a trailer, and only the key holder can make one', () => {
    const key = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const signed = signStatement(stmt({}), key.privateKey);
    const message = `reexport: executing req\n\nsome text\n\n${recordTrailer(signed)}\nReexport-Report: true\n`;
    const [found] = recordsInMessage(message);
    expect(verifySigned(found, key.publicKey)).toMatchObject({ ok: true, statement: { request: 'req' } });
    expect(verifySigned(found, other.publicKey).ok).toBe(false);
    // Edited statement text: the signature no longer matches.
    const forged = { ...signed, statement: signed.statement.replace('"executing"', '"executed"') };
    expect(verifySigned(forged, key.publicKey)).toMatchObject({ ok: false, reason: /does not match/ });
  });
});

describe('claimLostBecause: whether a running execution still holds its claim', () => {
  const onMain = (over: Partial<Statement>, trusted = true): ExecutionRecord => ({
    ...rec(over, trusted),
    commit: 'abc',
  });
  const self = 'host-a/100';
  it('holds while its own claim is the latest record on main', () => {
    const claims = [onMain({}), onMain({ at: '2026-11-30T00:01:00.000Z' })];
    expect(claimLostBecause(claims, 'req', self)).toBeUndefined();
  });

  it("is lost to another daemon's later claim, even when its own ledger has a later renewal", () => {
    const records = [
      onMain({}),
      onMain({ by: 'host-b/7', at: '2026-11-30T00:04:00.000Z' }),
      rec({ at: '2026-11-30T00:05:00.000Z' }),
    ];
    expect(claimLostBecause(records, 'req', self)).toBe(
      'the latest record is executing by host-b/7 at 2026-11-30T00:04:00.000Z',
    );
  });

  it('is lost to a finished execution, an untrusted record, or no record on main', () => {
    expect(
      claimLostBecause(
        [onMain({}), onMain({ state: 'executed', at: '2026-11-30T00:02:00.000Z' })],
        'req',
        self,
      ),
    ).toMatch(/executed/);
    expect(claimLostBecause([onMain({}, false)], 'req', self)).toMatch(/^the latest record is executing/);
    expect(claimLostBecause([rec({})], 'req', self)).toBe('the latest record is none');
  });
});
