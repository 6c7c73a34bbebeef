import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openClaimWatch } from '../../../src/adapters/fs/claim-watch.js';

const minute = 60_000;
const at = (m: number) => new Date(Date.UTC(2026, 10, 30, 10, m));

describe('ClaimWatch: how long this daemon has seen a request’s records unchanged', () => {
  let dir: string;
  /** The monotonic clock, moved by the test. */
  let mono = 0;
  const clock = () => mono;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'claim-watch-'));
    mono = 1_000_000;
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('counts across restarts, and from zero again when the records change', async () => {
    const first = await openClaimWatch(dir, clock);
    expect(first.unchangedFor('req', 'state-1', at(0))).toBe(0);
    mono += 5 * minute;
    expect(first.unchangedFor('req', 'state-1', at(5))).toBe(5 * minute);
    await first.save();

    // `reexport once` from a scheduler: another process, the same workdir, only the wall clock.
    const again = await openClaimWatch(dir, clock);
    expect(again.unchangedFor('req', 'state-1', at(20))).toBe(20 * minute);
    expect(again.unchangedFor('other', 'state-9', at(20))).toBe(0);
    // A renewal (or any record added or gone) is another state: the count starts again.
    expect(again.unchangedFor('req', 'state-2', at(21))).toBe(0);
    mono += 9 * minute;
    expect(again.unchangedFor('req', 'state-2', at(30))).toBe(9 * minute);
  });

  it('within a process a step of the wall clock ages nothing: the count is monotonic', async () => {
    const watch = await openClaimWatch(dir, clock);
    expect(watch.unchangedFor('req', 'state-1', at(0))).toBe(0);
    mono += minute;
    // An NTP correction (or a resumed VM) moves the wall clock an hour ahead.
    expect(watch.unchangedFor('req', 'state-1', at(61))).toBe(minute);
  });

  it('never makes a claim older than it is: a torn file or a clock set back counts from now', async () => {
    await writeFile(path.join(dir, 'claims-seen.json'), '{"req": {"state": "state-1", "since": "2026-11');
    const torn = await openClaimWatch(dir, clock);
    expect(torn.unchangedFor('req', 'state-1', at(40))).toBe(0);
    await torn.save();
    expect(JSON.parse(await readFile(path.join(dir, 'claims-seen.json'), 'utf8'))).toEqual({
      req: { state: 'state-1', since: at(40).toISOString() },
    });
    // The next process starts with its clock set back ten minutes: not from the future.
    const back = await openClaimWatch(dir, clock);
    expect(back.unchangedFor('req', 'state-1', at(30))).toBe(0);
  });

  it('takes any request name as a key, __proto__ included', async () => {
    const watch = await openClaimWatch(dir, clock);
    expect(watch.unchangedFor('__proto__', 'state-1', at(0))).toBe(0);
    await watch.save();
    const again = await openClaimWatch(dir, clock);
    expect(again.unchangedFor('__proto__', 'state-1', at(9))).toBe(9 * minute);
  });
});
