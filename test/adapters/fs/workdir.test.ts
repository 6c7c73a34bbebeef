import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockWorkdir } from '../../../src/adapters/fs/workdir.js';

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
    // Its time an hour and more behind this machine's clock (its pod long gone): taken over.
    await held({ pid: 1, host: 'reexport-7d9f-abcde', boot: 'other', pidns: 'pid:[1]' }, 3_700_000);
    await (await lockWorkdir(dir)).release();
  });

  it('takes over a lock it watched go unrefreshed for the lease on its own clock, when asked to wait', async () => {
    // Its time looks fresh to this clock (another node's clock runs ahead), but nothing refreshes it.
    await held({ pid: 1, host: 'elsewhere', boot: 'b', pidns: 'pid:[1]' }, -5 * 60_000);
    await expect(lockWorkdir(dir, { leaseMs: 1500 })).rejects.toThrow(/in use by process 1 on elsewhere/);
    const started = Date.now();
    await (await lockWorkdir(dir, { waitMs: 10_000, leaseMs: 1500 })).release();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it('waits while the owner refreshes its lock, then refuses, naming it', async () => {
    await held({ pid: 1, host: 'elsewhere', boot: 'b', pidns: 'pid:[1]' });
    const refresh = setInterval(() => {
      const t = new Date();
      void utimes(lock(), t, t);
    }, 300);
    try {
      await expect(lockWorkdir(dir, { waitMs: 2500, leaseMs: 1500 })).rejects.toThrow(
        /in use by process 1 on elsewhere/,
      );
    } finally {
      clearInterval(refresh);
    }
  });

  it('reads a lock written before owners were named (a pid alone)', async () => {
    await writeFile(lock(), '999999999\n');
    await (await lockWorkdir(dir)).release();
    await writeFile(lock(), `${process.ppid}\n`);
    await expect(lockWorkdir(dir)).rejects.toThrow(`in use by process ${process.ppid};`);
  });
});
