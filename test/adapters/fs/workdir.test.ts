import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_LEASE_MS, lockWorkdir } from '../../../src/adapters/fs/workdir.js';

/** Where a pid means what it means to this process (what the lock names as its owner's place). */
const here = {
  host: hostname(),
  boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
  pidns: readlinkSync('/proc/self/ns/pid'),
};

describe('lockWorkdir: one process per workdir, on one machine or across containers and nodes', () => {
  let dir: string;
  const lock = () => path.join(dir, 'lock');
  const held = (owner: object, ageMs = 0) =>
    writeFile(lock(), `${JSON.stringify(owner)}\n`).then(() => {
      const t = new Date(Date.now() - ageMs);
      return utimes(lock(), t, t);
    });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'workdir-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('names its owner, and lets go on release', async () => {
    const l = await lockWorkdir(dir);
    expect(JSON.parse(await readFile(lock(), 'utf8'))).toEqual({ pid: process.pid, ...here });
    await l.release();
    await expect(stat(lock())).rejects.toThrow();
  });

  it('refuses a workdir a live process on this machine holds, and takes one whose process is gone', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await held({ pid: child.pid, ...here });
      await expect(lockWorkdir(dir)).rejects.toThrow(
        `the workdir ${dir} is in use by process ${child.pid}; give each daemon its own repo.workdir`,
      );
    } finally {
      child.kill();
      await new Promise((resolve) => child.once('exit', resolve));
    }
    // The same lock, its process gone (a crash): taken over at once.
    await (await lockWorkdir(dir)).release();
  });

  it('never takes over a fresh lock of another container or node on the grounds of its pid', async () => {
    // Two pods on one volume (a rolling update) are both pid 1: the pid says nothing there.
    await held({ pid: process.pid, host: 'reexport-7d9f-abcde', boot: here.boot, pidns: 'pid:[1]' });
    await expect(lockWorkdir(dir)).rejects.toThrow(/in use by process \d+ on reexport-7d9f-abcde;/);
    // Not refreshed for the lease (its pod gone with its node): taken over.
    await held(
      { pid: 1, host: 'reexport-7d9f-abcde', boot: 'other', pidns: 'pid:[1]' },
      LOCK_LEASE_MS + 1000,
    );
    await (await lockWorkdir(dir)).release();
  });

  it('waits for a lock whose lease runs out, when asked to wait', async () => {
    await held({ pid: 1, host: 'elsewhere', boot: 'b', pidns: 'pid:[1]' }, LOCK_LEASE_MS - 1500);
    await expect(lockWorkdir(dir)).rejects.toThrow(/in use by process 1 on elsewhere/);
    const started = Date.now();
    await (await lockWorkdir(dir, { waitMs: 10_000 })).release();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('reads a lock written before owners were named (a pid alone)', async () => {
    await writeFile(lock(), '999999999\n');
    await (await lockWorkdir(dir)).release();
    await writeFile(lock(), `${process.ppid}\n`);
    await expect(lockWorkdir(dir)).rejects.toThrow(`in use by process ${process.ppid};`);
  });
});
