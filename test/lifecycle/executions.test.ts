import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  claimLostBecause,
  decideOnMain,
  type ExecutionRecord,
  inTimeOrder,
  latestRecord,
  isExecutionRecord,
  newestRecordTime,
  nextRecordTime,
  RECORD_TRAILER,
  recordsInMessage,
  recordTrailer,
  untrustedStatement,
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
    unchangedForMs: 0,
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

  it('waits for another daemon’s claim, and resumes it once seen unchanged for the timeout', () => {
    const other = [rec({ by: 'host-b/1' })];
    expect(decide(other).action).toBe('wait');
    expect(decide(other, { unchangedForMs: 15 * 60_000 }).action).toBe('wait');
    expect(decide(other, { unchangedForMs: 15 * 60_000 + 1 })).toMatchObject({
      action: 'execute',
      resume: other[0],
    });
  });

  it("counts a claim's age as this daemon saw it, never from the signer's time", () => {
    // Signed a day "before" (a clock behind, or this one ahead): only just seen, so a live claim.
    expect(decide([rec({ by: 'host-b/1', at: '2026-11-29T00:00:00.000Z' })]).action).toBe('wait');
    // Signed "in the future" by a clock that runs ahead: taken over once unchanged long enough.
    const ahead = [rec({ by: 'host-b/1', at: '2026-12-01T00:00:00.000Z' })];
    expect(decide(ahead, { unchangedForMs: 16 * 60_000 })).toMatchObject({ action: 'execute' });
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

  it('never executes a request whose records it saw on main are gone (main rewritten), and says how to resolve it', () => {
    const seen = '2026-11-30T00:05:00.000Z';
    // Another daemon's claim was on main; a force-push took it away before this daemon's pass.
    const gone = decide([], { newestSeen: seen });
    expect(gone.action).toBe('blocked');
    expect(gone.action === 'blocked' && gone.why).toMatch(
      /2026-11-30T00:05:00.000Z.*force-push.*new request/,
    );
    // Its renewal gone, its first claim left: blocked as well, not a claim seen afresh.
    const older = [{ ...rec({ by: 'host-b/1' }), commit: 'c1' }];
    expect(decide(older, { newestSeen: seen }).action).toBe('blocked');
    expect(decide(older, { newestSeen: seen, execute: false }).action).toBe('blocked');
    // Everything seen is there (or in the ledger): decided as before.
    const there = [{ ...rec({ by: 'host-b/1', at: seen }), commit: 'c2' }];
    expect(decide(there, { newestSeen: seen }).action).toBe('wait');
    expect(decide([rec({ by: 'host-a/100', at: seen })], { newestSeen: seen }).action).toBe('execute');
    expect(decide([], { newestSeen: undefined }).action).toBe('execute');
  });

  it('does not take its own final record, only in its ledger, as the last word once another daemon took over', () => {
    const claimA = { ...rec({ by: 'host-a/1', at: '2026-11-30T00:00:00.000Z' }), commit: 'c1' };
    const claimB = { ...rec({ by: 'host-b/1', at: '2026-11-30T00:10:00.000Z' }), commit: 'c2' };
    const doneA = rec({
      by: 'host-a/1',
      kind: 'execution',
      state: 'executed',
      at: '2026-11-30T00:05:00.000Z',
    });
    // Its push failed, or was refused as B had taken the claim: B's run is the last word.
    expect(decide([claimA, doneA, claimB], { self: 'host-a/2' })).toMatchObject({
      action: 'wait',
      claim: claimB,
    });
    // Not superseded (no other record after our claim): ours, pushed by the restore.
    expect(decide([claimA, doneA], { self: 'host-a/2' })).toMatchObject({
      action: 'executed',
      record: doneA,
    });
  });

  it('a copy of an old record, pushed again or merged later, keeps its place: its time is signed', () => {
    const partial = {
      ...rec({ by: 'host-b/1', kind: 'execution', state: 'partial', at: '2026-11-30T00:00:00.000Z' }),
      commit: 'c1',
    };
    const claimA = { ...rec({ by: 'host-c/1', at: '2026-11-30T00:01:00.000Z' }), commit: 'c2' };
    const replayed = { ...partial, commit: 'c3' };
    // Not "finishing a partial execution" beside host-c's live claim.
    expect(decide([partial, claimA, replayed])).toMatchObject({ action: 'wait', claim: claimA });
    expect(latestRecord([replayed, claimA, partial], 'req')).toBe(claimA);
  });

  it("a record only in this daemon's ledger never comes after another daemon's later record on main", () => {
    // host-a (clock an hour ahead) claimed, renewed, then signed its partial record, whose push
    // failed; host-b took the claim over meanwhile, signing just after host-a's last renewal.
    const claimA = { ...rec({ by: 'host-a/100', at: '2026-11-30T01:00:00.000Z' }), commit: 'c1' };
    const renewA = { ...rec({ by: 'host-a/100', at: '2026-11-30T01:05:00.000Z' }), commit: 'c2' };
    const claimB = { ...rec({ by: 'host-b/1', at: '2026-11-30T01:05:00.001Z' }), commit: 'c3' };
    const partialA = rec({
      by: 'host-a/100',
      kind: 'execution',
      state: 'partial',
      at: '2026-11-30T01:06:00.000Z',
    });
    expect(inTimeOrder([partialA, claimB, renewA, claimA], 'req')).toEqual([
      claimA,
      renewA,
      partialA,
      claimB,
    ]);
    expect(decide([claimA, renewA, claimB, partialA])).toMatchObject({ action: 'wait', claim: claimB });
    // Nobody else acted: its own partial record is the latest, and it finishes the work.
    expect(decide([claimA, renewA, partialA])).toMatchObject({ action: 'execute', resume: partialA });
    // A ledger copy of a record on main is that record.
    expect(inTimeOrder([claimA, rec({ by: 'host-a/100', at: '2026-11-30T01:00:00.000Z' })], 'req')).toEqual([
      claimA,
    ]);
  });

  it('signs the next record after every record it knows of, whatever its clock says', () => {
    const now = new Date('2026-11-30T00:00:00.000Z');
    expect(nextRecordTime([], 'req', now)).toEqual(now);
    const ahead = [rec({ by: 'host-b/1', at: '2026-11-30T01:00:00.000Z' })];
    expect(nextRecordTime(ahead, 'req', now).toISOString()).toBe('2026-11-30T01:00:00.001Z');
    expect(nextRecordTime(ahead, 'other', now)).toEqual(now);
    // An untrusted record's time is whatever its writer chose: it moves nothing.
    expect(nextRecordTime([rec({ at: '2099-01-01T00:00:00.000Z' }, false)], 'req', now)).toEqual(now);
    const last = [rec({ by: 'host-b/1', at: '+275760-09-13T00:00:00.000Z' })];
    expect(nextRecordTime(last, 'req', now).toISOString()).toBe('+275760-09-13T00:00:00.000Z');
    expect(nextRecordTime([], 'req', now, new Date('2026-11-30T00:00:05.000Z')).toISOString()).toBe(
      '2026-11-30T00:00:05.001Z',
    );
  });

  it('a takeover waits on the newest record time: a copy of an old record, or one gone, changes nothing', () => {
    const a = { ...rec({ by: 'host-b/1' }), commit: 'c1' };
    const b = { ...rec({ by: 'host-b/1', at: '2026-11-30T00:05:00.000Z' }), commit: 'c2' };
    expect(newestRecordTime([a, b], 'req')).toBe('2026-11-30T00:05:00.000Z');
    expect(newestRecordTime([b, a, { ...a, commit: 'c3' }], 'req')).toBe('2026-11-30T00:05:00.000Z');
    expect(newestRecordTime([a], 'req')).toBe('2026-11-30T00:00:00.000Z');
    // A time that is not one (an unverifiable record can hold anything) is left out.
    expect(newestRecordTime([a, rec({ at: '~' }, false)], 'req')).toBe('2026-11-30T00:00:00.000Z');
    expect(newestRecordTime([], 'req')).toBe('');
    // A record only in this daemon's ledger (its push failed), however late, holds nothing still:
    // another daemon's renewals on main must restart the count.
    const ledgerOnly = rec({
      by: 'host-a/1',
      kind: 'execution',
      state: 'partial',
      at: '2026-11-30T09:00:00.000Z',
    });
    expect(newestRecordTime([a, b, ledgerOnly], 'req')).toBe('2026-11-30T00:05:00.000Z');
    // Nor is such a record ever the latest: it cannot stop a running execution.
    const junk = { ...rec({ by: 'host-x/1', at: '~' }, false), commit: 'c9' };
    expect(latestRecord([b, junk, a], 'req')).toBe(b);
    expect(claimLostBecause([a, junk], 'req', 'host-b/1')).toBeUndefined();
  });

  it('takes only claims and executions as execution records: a preview signature in a trailer is none', () => {
    expect(isExecutionRecord(stmt({}))).toBe(true);
    expect(isExecutionRecord(stmt({ kind: 'execution', state: 'partial' }))).toBe(true);
    expect(isExecutionRecord(stmt({ kind: 'execution', state: 'executed' }))).toBe(true);
    expect(isExecutionRecord(stmt({ kind: 'preview', state: 'previewed', by: undefined }))).toBe(false);
    expect(isExecutionRecord(stmt({ kind: 'preview', state: 'executing' }))).toBe(false);
    expect(isExecutionRecord(stmt({ by: undefined }))).toBe(false);
  });

  it('ignores records of other requests', () => {
    expect(decide([rec({ request: 'other', kind: 'execution', state: 'executed' })]).action).toBe('execute');
  });
});

describe('execution records in commit messages', () => {
  it('reads only the three strings of a record trailer, and skips one too large or not a record', () => {
    const trailer = (value: unknown) =>
      `${RECORD_TRAILER}: ${Buffer.from(JSON.stringify(value)).toString('base64url')}`;
    const extra = { keyId: 'k', statement: '{}', signature: 's', more: { deep: [1, 2] } };
    const nested = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const message = [
      'subject',
      '',
      trailer(extra),
      trailer({ keyId: 'k', statement: { not: 'text' }, signature: 's' }),
      `${RECORD_TRAILER}: ${Buffer.from(nested).toString('base64url')}`,
      trailer({ keyId: 'k', statement: 'x'.repeat(20_000), signature: 's' }),
    ].join('\n');
    expect(recordsInMessage(message)).toEqual([{ keyId: 'k', statement: '{}', signature: 's' }]);
  });

  it('reads an unverifiable statement as text fields only: nothing nested or odd is carried on', () => {
    const deep = `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
    const s = untrustedStatement(
      `{"request":"req","at":"2026-11-30T00:00:00.000Z","state":"executing","by":7,"digests":${deep}}`,
    );
    expect(s).toMatchObject({ request: 'req', at: '2026-11-30T00:00:00.000Z', state: 'executing' });
    expect(s && 'by' in s).toBe(false);
    expect(() => JSON.stringify(s)).not.toThrow();
    expect(untrustedStatement('[1]')).toBeUndefined();
    expect(untrustedStatement('{"request":"req"}')).toBeUndefined();
    expect(untrustedStatement('not json')).toBeUndefined();
  });

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
