import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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

  it('names its owner, rewrites the lock while it holds it, and lets go on release', async () => {
    const l = await lockWorkdir(dir, { refreshMs: 100 });
    const first = JSON.parse(await readFile(lock(), 'utf8')) as Record<string, unknown>;
    expect(first).toMatchObject({ pid: process.pid, ...here, beat: 0 });
    expect(first.nonce).toMatch(/^[0-9a-f]{16}$/);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(JSON.parse(await readFile(lock(), 'utf8'))).toMatchObject({
      nonce: first.nonce,
      beat: expect.any(Number),
    });
    expect((JSON.parse(await readFile(lock(), 'utf8')) as { beat: number }).beat).toBeGreaterThan(0);
    expect(l.held()).toBe(true);
    await l.release();
    await expect(stat(lock())).rejects.toThrow();
  });

  it('of processes starting at once on a lock left behind, exactly one gets it', async () => {
    await writeFile(lock(), '999999999\n');
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    // All start at the same moment, once each has loaded the code.
    const at = Date.now() + 3000;
    const script = `import('./src/adapters/fs/workdir.ts').then(async (m) => {
      await new Promise((r) => setTimeout(r, ${at} - Date.now()));
      try { const l = await m.lockWorkdir(${JSON.stringify(dir)}); console.log('got'); await new Promise((r) => setTimeout(r, 1500)); await l.release(); }
      catch (e) { console.log('refused'); }
    })`;
    const run = () =>
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.once('exit', () => resolve(out.trim()));
      });
    const results = await Promise.all(Array.from({ length: 8 }, run));
    expect(results.filter((r) => r === 'got')).toHaveLength(1);
    expect(results.filter((r) => r === 'refused')).toHaveLength(7);
  }, 30_000);

  it('an owner whose lock was taken over finds out, writes no more, and leaves the new lock alone', async () => {
    let lostWhy = '';
    const l = await lockWorkdir(dir, { refreshMs: 100, onLost: (why) => (lostWhy = why) });
    // Paused past the lease, it comes back to another process's lock.
    await writeFile(
      lock(),
      `${JSON.stringify({ pid: 1, host: 'other', nonce: 'ffffffffffffffff', beat: 0 })}\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lostWhy).toMatch(/was taken over by another process/);
    expect(l.held()).toBe(false);
    await l.release();
    expect(JSON.parse(await readFile(lock(), 'utf8'))).toMatchObject({ nonce: 'ffffffffffffffff' });
  });

  it('a late refresh is made up before a write: held() checks the file and refreshes it then', async () => {
    let lost = false;
    const l = await lockWorkdir(dir, { leaseMs: 400, refreshMs: 60_000, onLost: () => (lost = true) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(l.held()).toBe(true);
    expect((JSON.parse(await readFile(lock(), 'utf8')) as { beat: number }).beat).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await writeFile(
      lock(),
      `${JSON.stringify({ pid: 1, host: 'other', nonce: 'eeeeeeeeeeeeeeee', beat: 0 })}\n`,
    );
    expect(l.held()).toBe(false);
    expect(lost).toBe(true);
    await l.release();
  });

  it('an owner not refreshed for the lease (paused, or busy) counts its lock as lost', async () => {
    let why = '';
    const l = await lockWorkdir(dir, { leaseMs: 300, refreshMs: 60_000, onLost: (w) => (why = w) });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(l.held()).toBe(false);
    expect(why).toMatch(/was not refreshed for 0.3 s/);
    await l.release();
  });

  it('removes what a killed lock operation left beside the lock, an hour on', async () => {
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (const name of ['lock.0123456789abcdef.tmp', 'lock.stale.0123456789abcdef', 'lock.fresh.now']) {
      await writeFile(path.join(dir, name), 'x');
      if (name !== 'lock.fresh.now') await utimes(path.join(dir, name), old, old);
    }
    const l = await lockWorkdir(dir);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await readdir(dir)).sort()).toEqual(['lock', 'lock.fresh.now']);
    await l.release();
  });

  it('a step of the wall clock, either way, is no pause: the lock stays held', async () => {
    const l = await lockWorkdir(dir, { leaseMs: 1000, refreshMs: 100 });
    const real = Date.now;
    try {
      for (const step of [-120_000, 120_000]) {
        Date.now = () => real() + step;
        await new Promise((resolve) => setTimeout(resolve, 250));
        expect(l.held()).toBe(true);
      }
    } finally {
      Date.now = real;
    }
    await l.release();
  });

  it('release lets go for good, even with a refresh under way', async () => {
    for (let i = 0; i < 30; i++) {
      const l = await lockWorkdir(dir, { refreshMs: 1 });
      await new Promise((resolve) => setTimeout(resolve, i % 7));
      await l.release();
      await new Promise((resolve) => setTimeout(resolve, 5));
      await expect(stat(lock())).rejects.toThrow();
    }
  }, 30_000);

  it('refuses a lock that is not a file', async () => {
    await mkdir(lock());
    await expect(lockWorkdir(dir)).rejects.toThrow(`${lock()} is not a file; remove it`);
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
    await expect(lockWorkdir(dir, { waitMs: 0 })).rejects.toThrow(
      /in use by process \d+ on reexport-7d9f-abcde;/,
    );
  });

  it('takes over a lock it watched go unrefreshed for the lease on its own clock, when asked to wait', async () => {
    // Its time looks fresh to this clock (another node's clock runs ahead), but nothing refreshes it.
    await held({ pid: 1, host: 'elsewhere', boot: 'b', pidns: 'pid:[1]' }, -5 * 60_000);
    await expect(lockWorkdir(dir, { waitMs: 0, leaseMs: 1500 })).rejects.toThrow(
      /in use by process 1 on elsewhere/,
    );
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
