import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openClaimWatch, type WatchClocks } from '../../../src/adapters/fs/claim-watch.js';

const minute = 60_000;
const at = (m: number) => new Date(Date.UTC(2026, 10, 30, 10, m));
/** A record time: the newest of a request's records. */
const t = (m: number) => at(m).toISOString();

describe('ClaimWatch: how long this daemon has seen a request’s records without a newer one', () => {
  let dir: string;
  /** The clocks, moved by the test: monotonic within a process, the machine's uptime. */
  let mono = 0;
  let uptime = 0;
  let bootId: string | undefined = 'boot-1';
  const clocks: WatchClocks = {
    monotonic: () => mono,
    boot: () => (bootId ? { id: bootId, uptimeMs: uptime } : undefined),
  };
  const pass = (ms: number) => {
    mono += ms;
    uptime += ms;
  };
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'claim-watch-'));
    mono = 1_000_000;
    uptime = 5_000_000;
    bootId = 'boot-1';
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('counts across restarts on the same boot, and from zero when a newer record appears', async () => {
    const first = await openClaimWatch(dir, clocks);
    expect(first.unchangedFor('req', t(0), at(0))).toBe(0);
    pass(5 * minute);
    expect(first.unchangedFor('req', t(0), at(5))).toBe(5 * minute);
    await first.save();

    // `reexport once` from a scheduler: another process, the same workdir and boot.
    pass(15 * minute);
    mono = 0;
    const again = await openClaimWatch(dir, clocks);
    expect(again.unchangedFor('req', t(0), at(20))).toBe(20 * minute);
    expect(again.unchangedFor('other', t(3), at(20))).toBe(0);
    // A renewal has a later time: the count starts again.
    expect(again.unchangedFor('req', t(21), at(21))).toBe(0);
    pass(9 * minute);
    expect(again.unchangedFor('req', t(21), at(30))).toBe(9 * minute);
    // A copy of an old record pushed again, or the newest record gone from main: no change.
    expect(again.unchangedFor('req', t(0), at(30))).toBe(9 * minute);
  });

  it('no step of the wall clock ages a claim, within a process or between processes', async () => {
    const watch = await openClaimWatch(dir, clocks);
    expect(watch.unchangedFor('req', t(0), at(0))).toBe(0);
    pass(minute);
    // An NTP correction (or a resumed VM) moves the wall clock an hour ahead.
    expect(watch.unchangedFor('req', t(0), at(61))).toBe(minute);
    await watch.save();
    pass(minute);
    const restarted = await openClaimWatch(dir, clocks);
    expect(restarted.unchangedFor('req', t(0), at(120))).toBe(2 * minute);
  });

  it('counts from zero on another boot, after a torn file, or with the clock set back', async () => {
    const first = await openClaimWatch(dir, clocks);
    first.unchangedFor('req', t(0), at(0));
    await first.save();
    bootId = 'boot-2';
    uptime = 1000;
    const rebooted = await openClaimWatch(dir, clocks);
    expect(rebooted.unchangedFor('req', t(0), at(30))).toBe(0);
    await rebooted.save();
    pass(minute);
    expect((await openClaimWatch(dir, clocks)).unchangedFor('req', t(0), at(31))).toBe(minute);

    await writeFile(
      path.join(dir, 'claims-seen.json'),
      '{"req": {"newest": "2026-11-30T10:00:00.000Z", "since',
    );
    const torn = await openClaimWatch(dir, clocks);
    expect(torn.unchangedFor('req', t(0), at(40))).toBe(0);
    await torn.save();
    expect(JSON.parse(await readFile(path.join(dir, 'claims-seen.json'), 'utf8'))).toEqual({
      req: { newest: t(0), since: at(40).toISOString(), boot: 'boot-2', uptimeMs: uptime },
    });

    // Without an uptime (not Linux) only the wall clock is left, and never from the future.
    bootId = undefined;
    await writeFile(
      path.join(dir, 'claims-seen.json'),
      JSON.stringify({ req: { newest: t(0), since: at(40).toISOString() } }),
    );
    expect((await openClaimWatch(dir, clocks)).unchangedFor('req', t(0), at(45))).toBe(5 * minute);
    expect((await openClaimWatch(dir, clocks)).unchangedFor('req', t(0), at(30))).toBe(0);
  });

  it('remembers the newest record it saw, across restarts and reboots, never lowered', async () => {
    const first = await openClaimWatch(dir, clocks);
    expect(first.newestSeen('req')).toBeUndefined();
    first.unchangedFor('req', t(0), at(0));
    first.unchangedFor('req', t(5), at(5));
    // Main rewritten to before the renewal: still the renewal's time.
    first.unchangedFor('req', t(0), at(6));
    expect(first.newestSeen('req')).toBe(t(5));
    await first.save();
    bootId = 'boot-2';
    uptime = 1000;
    const rebooted = await openClaimWatch(dir, clocks);
    expect(rebooted.newestSeen('req')).toBe(t(5));
    // Seen afresh on another boot, from main without the renewal: the renewal stays the newest.
    expect(rebooted.unchangedFor('req', t(0), at(30))).toBe(0);
    expect(rebooted.newestSeen('req')).toBe(t(5));
    await rebooted.save();
    expect((await openClaimWatch(dir, clocks)).newestSeen('req')).toBe(t(5));
    // Another boot, and main without any record of it (''): still what was seen.
    bootId = 'boot-3';
    const again = await openClaimWatch(dir, clocks);
    again.unchangedFor('req', '', at(40));
    expect(again.newestSeen('req')).toBe(t(5));
    await again.save();
    expect((await openClaimWatch(dir, clocks)).newestSeen('req')).toBe(t(5));
  });

  it('takes any request name as a key, __proto__ included', async () => {
    const watch = await openClaimWatch(dir, clocks);
    expect(watch.unchangedFor('__proto__', t(0), at(0))).toBe(0);
    await watch.save();
    pass(9 * minute);
    const again = await openClaimWatch(dir, clocks);
    expect(again.unchangedFor('__proto__', t(0), at(9))).toBe(9 * minute);
  });
});
