import { describe, expect, it } from 'vitest';
import { executeChunks, executePlan, type ModifyOp, WriteFailure } from '../../src/execute/executor.js';
import { PlanFileError } from '../../src/shared/errors.js';
import type { ChangeOutcome } from '../../src/execute/outcomes.js';
import type { PlanChange } from '../../src/plan/plan-types.js';
import { FakeDirectory } from './fake-writer.js';

const A = 'uid=a,ou=p';
const B = 'uid=b,ou=p';
const change = (dn: string, attribute: string, before: string[], after: string[], id = dn): PlanChange => ({
  id,
  dn,
  attribute,
  before,
  after,
});

async function run(
  dir: FakeDirectory,
  changes: PlanChange[],
  extra: { done?: Map<string, ChangeOutcome[]> } = {},
) {
  const journaled: Array<{ dn: string; outcomes: ChangeOutcome[] }> = [];
  const result = await executePlan({
    changes,
    fresh: dir.fresh(),
    dnKey: (dn) => dn,
    drift: new Map(),
    journal: { record: async (dn, outcomes) => void journaled.push({ dn, outcomes }) },
    done: extra.done ?? new Map(),
    writers: [dir.writer()],
    retry: { attempts: 3, baseDelayMs: 0 },
    sleep: async () => {},
  });
  const kinds = result.outcomes.map((o) => `${o.id} ${o.attribute} ${o.outcome}`).sort();
  return { ...result, kinds, journaled };
}

/** executePlan over `dir` with `writers` writers on it, no journal kept, and `extra` on top. */
function executeOn(
  dir: FakeDirectory,
  changes: PlanChange[],
  writers: number,
  extra: Partial<Parameters<typeof executePlan>[0]> = {},
) {
  return executePlan({
    changes,
    fresh: dir.fresh(),
    dnKey: (dn) => dn,
    drift: new Map(),
    journal: { record: async () => {} },
    done: new Map(),
    writers: Array.from({ length: writers }, () => dir.writer()),
    retry: { attempts: 3, baseDelayMs: 0 },
    ...extra,
  });
}

/** A mail change from `a` to `b` for each DN. */
const mailChanges = (dns: string[]) => dns.map((dn) => change(dn, 'mail', ['a'], ['b']));

describe('executePlan: every outcome decided on the fresh read', () => {
  it('writes a change whose entry is at the reviewed before, as delete-by-value plus add', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['old@x'] } });
    const r = await run(dir, [change(A, 'mail', ['old@x'], ['new@x'])]);
    expect(r.kinds).toEqual([`${A} mail applied`]);
    expect(dir.get(A, 'mail')).toEqual(['new@x']);
    expect(dir.writes[0]!.ops).toEqual([
      { op: 'delete', attribute: 'mail', values: ['old@x'] },
      { op: 'add', attribute: 'mail', values: ['new@x'] },
    ]);
  });

  it('never adds beside a value a forged `before: []` does not mention: stale, for replace, merge and keep', async () => {
    const dir = new FakeDirectory({
      [A]: { mail: ['old@x'], proxyAddresses: ['SMTP:old@x'], title: ['Boss'] },
    });
    const r = await run(dir, [
      change(A, 'mail', [], ['new@x']),
      change(A, 'proxyAddresses', [], ['SMTP:new@x', 'smtp:old@x']),
      change(A, 'title', [], ['Clerk']),
    ]);
    expect(r.kinds).toEqual([`${A} mail stale`, `${A} proxyAddresses stale`, `${A} title stale`]);
    expect(dir.writes).toEqual([]);
    expect(r.outcomes[0]!.found).toEqual(['old@x']);
  });

  it('treats exactly the reviewed value as already applied, even a case-only change, and writes nothing', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['solveig.muller@x'] } });
    const r = await run(dir, [change(A, 'mail', ['Solveig.muller@x'], ['solveig.muller@x'])]);
    expect(r.kinds).toEqual([`${A} mail already-applied`]);
    expect(dir.writes).toEqual([]);
  });

  it('leaves a case-only hand edit of the previewed value alone (stale), so no one’s edit is lost', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['OLA@x'] } });
    const r = await run(dir, [change(A, 'mail', ['ola@x'], ['ola.n@x'])]);
    expect(r.kinds).toEqual([`${A} mail stale`]);
    expect(dir.get(A, 'mail')).toEqual(['OLA@x']);
  });

  it('compares DN-valued attributes as DNs: the directory’s own spelling is the reviewed before', async () => {
    const dir = new FakeDirectory({ [A]: { manager: ['CN=Kari,OU=P'] } });
    const r = await run(dir, [change(A, 'manager', ['cn=kari,ou=p'], ['cn=ola,ou=p'])]);
    expect(r.kinds).toEqual([`${A} manager applied`]);
    // The delete names the value as the directory holds it, so the compare matches.
    expect(dir.writes[0]!.ops[0]).toEqual({ op: 'delete', attribute: 'manager', values: ['CN=Kari,OU=P'] });
  });

  it('skips an entry the fresh read did not find', async () => {
    const dir = new FakeDirectory({});
    const r = await run(dir, [change(A, 'mail', ['a'], ['b'])]);
    expect(r.kinds).toEqual([`${A} mail skipped`]);
  });

  it('fails only the value the server refuses; the entry’s other changes are written', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['a@x'], telephoneNumber: ['1'] } });
    dir.refuse.set('telephonenumber', (v) => /ø/.test(v));
    const r = await run(dir, [
      change(A, 'mail', ['a@x'], ['b@x']),
      change(A, 'telephoneNumber', ['1'], ['0ø']),
    ]);
    expect(r.kinds).toEqual([`${A} mail applied`, `${A} telephoneNumber failed`]);
    expect(r.outcomes.find((o) => o.outcome === 'failed')).toMatchObject({ code: 21 });
    expect(dir.get(A, 'mail')).toEqual(['b@x']);
  });

  it('finds a value changed between the fresh read and the write stale (the compare fails), and writes nothing over it', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['a@x'] } });
    let once = true;
    dir.beforeModify = (dn) => {
      if (!once) return;
      once = false;
      dir.entries.get(dn)!.set('mail', ['hand@x']);
    };
    const r = await run(dir, [change(A, 'mail', ['a@x'], ['b@x'])]);
    expect(r.kinds).toEqual([`${A} mail stale`]);
    expect(dir.get(A, 'mail')).toEqual(['hand@x']);
  });

  it('retries transient faults; what still fails is pending, not journaled, and not final', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['a'] }, [B]: { mail: ['c'] } });
    const down = () => new WriteFailure('connect ECONNREFUSED', undefined, true);
    dir.faults = [down(), down(), down()];
    const r = await run(dir, [change(A, 'mail', ['a'], ['b']), change(B, 'mail', ['c'], ['d'])]);
    expect(r.kinds).toEqual([`${A} mail pending`, `${B} mail applied`]);
    expect(r.journaled.map((j) => j.dn)).toEqual([B]);
    // A later run (the next pass) with the journal finishes A and does not touch B again.
    const done = new Map(r.journaled.map((j) => [j.dn, j.outcomes]));
    const writes = dir.writes.length;
    const again = await run(dir, [change(A, 'mail', ['a'], ['b']), change(B, 'mail', ['c'], ['d'])], {
      done,
    });
    expect(again.kinds).toEqual([`${A} mail applied`, `${B} mail applied`]);
    expect(dir.writes.length).toBe(writes + 1);
    expect(dir.get(A, 'mail')).toEqual(['b']);
  });

  it('leaves the rest pending untried once entries in a row are left pending: the directory is down', async () => {
    const dns = Array.from({ length: 8 }, (_, i) => `uid=u${i},ou=p`);
    const dir = new FakeDirectory(Object.fromEntries(dns.map((dn) => [dn, { mail: ['a'] }])));
    let tries = 0;
    dir.beforeModify = () => {
      tries++;
      throw new WriteFailure('connect ECONNREFUSED', undefined, true);
    };
    const r = await run(
      dir,
      dns.map((dn) => change(dn, 'mail', ['a'], ['b'])),
    );
    expect(r.outcomes.map((o) => o.outcome)).toEqual(dns.map(() => 'pending'));
    // Three entries had their three tries each; the other five were not tried at all.
    expect(tries).toBe(9);
    expect(
      r.outcomes.slice(0, 3).every((o) => /^not written yet: connect ECONNREFUSED/.test(o.reason!)),
    ).toBe(true);
    expect(r.outcomes[3]!.reason).toMatch(
      /^not tried: the directory stopped answering \(3 entries in a row left pending, the last uid=u2,ou=p\); a later pass retries it$/,
    );
    expect(r.journaled).toEqual([]);
  });

  it('notices the outage with 32 writers even when some entries need no write', async () => {
    // Every 20th entry is already at its new value: decided on the fresh read, with no answer
    // from the directory, it must not count as a sign that the directory is up.
    const dns = Array.from({ length: 2000 }, (_, i) => `uid=u${i},ou=p`);
    const dir = new FakeDirectory(
      Object.fromEntries(dns.map((dn, i) => [dn, { mail: [i % 20 ? 'a' : 'b'] }])),
    );
    let tries = 0;
    dir.beforeModify = () => {
      tries++;
      throw new WriteFailure('connect ECONNREFUSED', undefined, true);
    };
    const result = await executeOn(dir, mailChanges(dns), 32, { sleep: async () => {} });
    const untried = result.outcomes.filter((o) => o.reason?.startsWith('not tried: the directory stopped'));
    expect(untried.length).toBeGreaterThan(1800);
    // Each writer's first entries had their tries; the rest were not tried.
    expect(tries).toBeLessThan(3 * 2 * 32);
  });

  it('writes nothing more once stopped, not even the entries whose writers waited for the rate limit', async () => {
    const dns = Array.from({ length: 64 }, (_, i) => `uid=u${i},ou=p`);
    const dir = new FakeDirectory(Object.fromEntries(dns.map((dn) => [dn, { mail: ['a'] }])));
    const abort = new AbortController();
    let afterStop = 0;
    dir.beforeModify = () => {
      if (abort.signal.aborted) afterStop++;
    };
    // 200 writes a second: 32 writers wait up to 155 ms for their first slots.
    setTimeout(() => abort.abort(), 40);
    const result = await executeOn(dir, mailChanges(dns), 32, { rateLimit: 200, signal: abort.signal });
    expect(result.interrupted).toBe(true);
    expect(dir.writes.length).toBeGreaterThan(0);
    expect(dir.writes.length).toBeLessThan(32);
    expect(afterStop).toBe(0);
    // What was written is reported applied; nothing else is reported at all (left for the next run).
    expect(result.outcomes.map((o) => o.outcome)).toEqual(dir.writes.map(() => 'applied'));
  });

  it('asks beforeWrite right before each write, and writes nothing once it stops the execution', async () => {
    // The claim's fence, checked synchronously: its timers may not have run yet (a machine woken
    // from suspend with answers waiting), but no write may go out after it ran out.
    const dns = Array.from({ length: 40 }, (_, i) => `uid=u${i},ou=p`);
    const dir = new FakeDirectory(Object.fromEntries(dns.map((dn) => [dn, { mail: ['a'] }])));
    const abort = new AbortController();
    let afterStop = 0;
    dir.beforeModify = () => {
      if (abort.signal.aborted) afterStop++;
    };
    const result = await executeOn(dir, mailChanges(dns), 4, {
      signal: abort.signal,
      beforeWrite: () => {
        if (dir.writes.length >= 10) abort.abort();
      },
    });
    expect(result.interrupted).toBe(true);
    expect(afterStop).toBe(0);
    expect(dir.writes.length).toBeGreaterThanOrEqual(10);
    expect(dir.writes.length).toBeLessThan(40);
  });

  it('asks beforeWrite before every write, a retry included: none goes out once it stopped', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['a'] } });
    const abort = new AbortController();
    let asked = 0;
    let tries = 0;
    dir.beforeModify = () => {
      tries++;
      throw new WriteFailure('busy', 51, true);
    };
    const result = await executeOn(dir, mailChanges([A]), 1, {
      signal: abort.signal,
      // The fence runs out between the first try and its retry (a machine woken from suspend).
      beforeWrite: () => {
        if (++asked === 3) abort.abort();
      },
      retry: { attempts: 5, baseDelayMs: 0 },
      sleep: async () => {},
    });
    // Asked once before taking the entry, once before the first try, once before the retry.
    expect(asked).toBe(3);
    expect(tries).toBe(1);
    expect(result.outcomes.map((o) => o.outcome)).toEqual(['pending']);
  });

  it('a stop ends the writers’ wait for their rate-limit slots at once', async () => {
    const dns = Array.from({ length: 64 }, (_, i) => `uid=u${i},ou=p`);
    const dir = new FakeDirectory(Object.fromEntries(dns.map((dn) => [dn, { mail: ['a'] }])));
    const abort = new AbortController();
    const result = await executeOn(dir, mailChanges(dns), 16, {
      // Stopped once the first entry is written.
      journal: { record: async () => abort.abort() },
      rateLimit: 1,
      signal: abort.signal,
      // A wait that would never end by itself: only the stop can end it.
      sleep: () => new Promise<void>(() => {}),
    });
    expect(result.interrupted).toBe(true);
    expect(dir.writes.length).toBe(1);
  });

  it('a write in flight when the execution is stopped is not retried: its change stays pending', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['a'] } });
    const abort = new AbortController();
    let tries = 0;
    dir.beforeModify = () => {
      tries++;
      abort.abort();
      throw new WriteFailure('connection lost', undefined, true);
    };
    const result = await executeOn(dir, mailChanges([A]), 1, {
      signal: abort.signal,
      retry: { attempts: 5, baseDelayMs: 0 },
      sleep: async () => {},
    });
    expect(tries).toBe(1);
    expect(result.outcomes.map((o) => o.outcome)).toEqual(['pending']);
  });

  it('a transient fault that clears within the retries is simply applied', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['a'] } });
    dir.faults = [new WriteFailure('busy', 51, true)];
    const r = await run(dir, [change(A, 'mail', ['a'], ['b'])]);
    expect(r.kinds).toEqual([`${A} mail applied`]);
  });

  it('stops taking entries when aborted; what is done is journaled', async () => {
    const dir = new FakeDirectory({ [A]: { mail: ['a'] }, [B]: { mail: ['c'] } });
    const abort = new AbortController();
    const result = await executePlan({
      changes: [change(A, 'mail', ['a'], ['b']), change(B, 'mail', ['c'], ['d'])],
      fresh: dir.fresh(),
      dnKey: (dn) => dn,
      drift: new Map(),
      journal: { record: async () => abort.abort() },
      done: new Map(),
      writers: [dir.writer()],
      signal: abort.signal,
      retry: { attempts: 3, baseDelayMs: 0 },
    });
    expect(result.interrupted).toBe(true);
    expect(dir.get(B, 'mail')).toEqual(['c']);
  });
});

describe('executeChunks: one pool of writers across the chunks of a plan', () => {
  const dns = (chunk: number, n: number) => Array.from({ length: n }, (_, i) => `uid=c${chunk}e${i},ou=p`);
  const plan = [dns(1, 2), dns(2, 2), dns(3, 2)];
  const directory = () =>
    new FakeDirectory(Object.fromEntries(plan.flat().map((dn) => [dn, { mail: ['a'] }])));
  const prepared = (dir: FakeDirectory, events: string[], failAt?: number) =>
    (async function* () {
      for (const [k, chunk] of plan.entries()) {
        events.push(`prepare ${k + 1}`);
        if (failAt === k + 1) throw new PlanFileError('plan.jsonl changed while it was being executed');
        yield {
          changes: chunk.map((dn) => change(dn, 'mail', ['a'], ['b'])),
          fresh: dir.fresh(),
          dnKey: (dn: string) => dn,
          drift: new Map(),
          k: k + 1,
        };
      }
    })();
  const options = (dir: FakeDirectory, events: string[]) => ({
    journal: { record: async (dn: string) => void events.push(`journal ${dn}`) },
    done: new Map(),
    writers: [dir.writer(), dir.writer()],
    retry: { attempts: 3, baseDelayMs: 0 },
  });

  it('takes the next chunk while the last entry of one is still being written, and prepares at most one ahead', async () => {
    const dir = directory();
    const events: string[] = [];
    // The last entry of chunk 1 is held until an entry of chunk 2 is written: a pool that waited
    // for the whole chunk before starting the next would never finish.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    dir.beforeModify = (dn) => {
      events.push(`write ${dn}`);
      if (dn.startsWith('uid=c2')) release();
    };
    const writers = [dir.writer(), dir.writer()].map((w) => ({
      ...w,
      modify: async (dn: string, ops: ModifyOp[]) => {
        if (dn === 'uid=c1e1,ou=p') await held;
        return w.modify(dn, ops);
      },
    }));
    const reported: number[] = [];
    const run = executeChunks(prepared(dir, events), {
      ...options(dir, events),
      writers,
      onChunk: (chunk, outcomes) => {
        reported.push(chunk.k);
        expect(outcomes.map((o) => o.outcome)).toEqual(['applied', 'applied']);
      },
    });
    const timeout = new Promise<string>((r) => setTimeout(() => r('stuck between chunks'), 2000));
    expect(await Promise.race([run.then(() => 'done'), timeout])).toBe('done');
    expect((await run).interrupted).toBe(false);
    // Chunk 2 was written while chunk 1's last entry was in flight; outcomes still come in chunk order.
    expect(events.indexOf('write uid=c2e0,ou=p')).toBeLessThan(events.indexOf('write uid=c1e1,ou=p'));
    expect(reported).toEqual([1, 2, 3]);
    // A chunk is prepared only once the one before it is being written (chunk 1 handed out, chunk
    // 2 taken on): never two ahead.
    expect(events.indexOf('prepare 2')).toBeLessThan(events.indexOf('write uid=c1e0,ou=p'));
    expect(events.indexOf('prepare 3')).toBeGreaterThan(events.indexOf('write uid=c1e0,ou=p'));
    expect(events.indexOf('prepare 3')).toBeLessThan(events.indexOf('write uid=c3e0,ou=p'));
    expect(plan.flat().map((dn) => dir.get(dn, 'mail'))).toEqual(plan.flat().map(() => ['b']));
  });

  it('a chunk that cannot be prepared stops the writers: nothing of it is written, what was in flight is journaled first', async () => {
    const dir = directory();
    const events: string[] = [];
    dir.beforeModify = (dn) => void events.push(`write ${dn}`);
    const writers = [dir.writer(), dir.writer()];
    const modify = writers[1]!.modify;
    // Chunk 1's second entry is still being written when chunk 2 fails to prepare.
    writers[1]!.modify = async (dn, ops) => {
      await new Promise((r) => setTimeout(r, 50));
      return modify(dn, ops);
    };
    await expect(
      executeChunks(prepared(dir, events, 2), { ...options(dir, events), writers }),
    ).rejects.toThrow(PlanFileError);
    expect(events.filter((e) => e.startsWith('journal'))).toEqual([
      'journal uid=c1e0,ou=p',
      'journal uid=c1e1,ou=p',
    ]);
    expect(events.some((e) => e.includes('uid=c2'))).toBe(false);
  });
});
