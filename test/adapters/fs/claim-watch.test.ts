import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openClaimWatch } from '../../../src/adapters/fs/claim-watch.js';

const at = (minute: number) => new Date(Date.UTC(2026, 10, 30, 10, minute));

describe('ClaimWatch: when this daemon first saw a request’s latest record', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'claim-watch-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps the first sight of a record across restarts, and starts again for a new record', async () => {
    const first = await openClaimWatch(dir);
    expect(first.seenSince('req', 'claim-1', at(0))).toEqual(at(0));
    expect(first.seenSince('req', 'claim-1', at(5))).toEqual(at(0));
    await first.save();

    // `reexport once` from a scheduler: another process, the same workdir.
    const again = await openClaimWatch(dir);
    expect(again.seenSince('req', 'claim-1', at(20))).toEqual(at(0));
    expect(again.seenSince('other', 'claim-9', at(20))).toEqual(at(20));
    // A renewal is a new record: its age starts now.
    expect(again.seenSince('req', 'claim-2', at(21))).toEqual(at(21));
    expect(again.seenSince('req', 'claim-2', at(30))).toEqual(at(21));
  });

  it('never makes a claim older than it is: a torn file or a clock set back starts the count again', async () => {
    await writeFile(path.join(dir, 'claims-seen.json'), '{"req": {"record": "claim-1", "since": "2026-11');
    const torn = await openClaimWatch(dir);
    expect(torn.seenSince('req', 'claim-1', at(40))).toEqual(at(40));
    await torn.save();
    expect(JSON.parse(await readFile(path.join(dir, 'claims-seen.json'), 'utf8'))).toEqual({
      req: { record: 'claim-1', since: at(40).toISOString() },
    });
    // The clock went back ten minutes: the record is seen from now on, not from the future.
    expect(torn.seenSince('req', 'claim-1', at(30))).toEqual(at(30));
  });

  it('takes any request name as a key, __proto__ included', async () => {
    const watch = await openClaimWatch(dir);
    expect(watch.seenSince('__proto__', 'claim-1', at(0))).toEqual(at(0));
    await watch.save();
    const again = await openClaimWatch(dir);
    expect(again.seenSince('__proto__', 'claim-1', at(9))).toEqual(at(0));
  });
});
