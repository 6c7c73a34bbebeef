import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../../shared/errors.js';

/**
 * The daemon's identity: made once per workdir and kept, so a restarted daemon recognises its own
 * claims (and its journal, which lives beside it) while another workdir is another daemon.
 */
export async function daemonIdentity(workdir: string): Promise<string> {
  const file = path.join(workdir, 'daemon-id');
  let id = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (!id) {
    await mkdir(workdir, { recursive: true });
    id = `${hostname()}-${randomBytes(4).toString('hex')}`;
    await writeFile(file, `${id}\n`, { flag: 'wx' }).catch(async () => {
      id = (await readFile(file, 'utf8')).trim();
    });
  }
  return `${id}/${process.pid}`;
}

/** Who holds a workdir's lock: its process, and where that process's pid means something. */
interface LockOwner {
  pid: number;
  /** Host name, boot and pid namespace: a pid says whether the owner lives only where all agree. */
  host?: string;
  boot?: string;
  pidns?: string;
}

/**
 * The owner refreshes its lock's time this often, and a lock not refreshed for LOCK_LEASE_MS is
 * taken over: the only sign of life across machines and containers, where a pid says nothing.
 * The lease leaves room for the longest stretch the daemon's event loop may be busy.
 */
const LOCK_REFRESH_MS = 10_000;
export const LOCK_LEASE_MS = 60_000;
/**
 * A lock whose time is this far behind this machine's clock is taken over at once: only clocks
 * more than an hour apart would make a live owner's lock look that old.
 */
const LOCK_ABANDONED_MS = 3_600_000;

/** This process, as a lock names its owner. */
function selfOwner(): LockOwner {
  const read = (file: string, how: (f: string) => string) => {
    try {
      return how(file).trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const boot = read('/proc/sys/kernel/random/boot_id', (f) => readFileSync(f, 'utf8'));
  const pidns = read('/proc/self/ns/pid', (f) => readlinkSync(f));
  return {
    pid: process.pid,
    host: hostname(),
    ...(boot ? { boot } : {}),
    ...(pidns ? { pidns } : {}),
  };
}

function parseOwner(text: string): LockOwner | undefined {
  // Before owners were named, the lock held only a pid.
  if (/^\d+\s*$/.test(text)) return { pid: Number(text) };
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    return typeof o.pid === 'number' ? (o as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether an owner is certainly gone: only where its pid means the same as ours (one host, one
 * boot, one pid namespace) can the pid be asked. Two containers are both pid 1; a pod on another
 * node shares a network volume but no pids. There only the lease tells (see lockWorkdir).
 */
function certainlyGone(owner: LockOwner, self: LockOwner): boolean {
  if (owner.host === undefined) return owner.pid === self.pid || !alive(owner.pid);
  const here = owner.host === self.host && owner.boot === self.boot && owner.pidns === self.pidns;
  return here && self.pidns !== undefined && (owner.pid === self.pid || !alive(owner.pid));
}

/**
 * One process per workdir: two daemons on one clone and journal would race on both, and would
 * share one identity, so each would take the other's claims for its own. The lock is a file
 * naming its owner (pid, host, boot, pid namespace), whose time the owner refreshes while it runs.
 * It is taken over when its owner is certainly gone (the same machine and pid namespace, and the
 * pid not running, or our own pid: a restarted container); or when this process has watched it
 * go unrefreshed for `leaseMs` on its own clock (a pod on another node, a killed container in
 * another namespace: the lock's time is the owner's clock, which may be minutes off ours); or
 * when its time is over an hour old. While a live owner holds it, this waits up to `waitMs`,
 * then refuses, naming the owner.
 */
export async function lockWorkdir(
  workdir: string,
  opts: { waitMs?: number; leaseMs?: number } = {},
): Promise<{ release(): Promise<void> }> {
  await mkdir(workdir, { recursive: true });
  const file = path.join(workdir, 'lock');
  const self = selfOwner();
  const leaseMs = opts.leaseMs ?? LOCK_LEASE_MS;
  const until = performance.now() + (opts.waitMs ?? 0);
  // The lock as last seen (its time and text), and since when, on this process's monotonic clock.
  let watched: { seen: string; since: number } | undefined;
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(`${JSON.stringify(self)}\n`);
      await handle.close();
      const refresh = setInterval(() => {
        const now = new Date();
        utimes(file, now, now).catch(() => {});
      }, LOCK_REFRESH_MS);
      refresh.unref();
      return {
        release: async () => {
          clearInterval(refresh);
          await rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const [text, st] = await Promise.all([
      readFile(file, 'utf8').catch(() => ''),
      stat(file).catch(() => undefined),
    ]);
    if (!st) continue;
    const owner = parseOwner(text.trim());
    const seen = `${st.mtimeMs} ${text}`;
    if (watched?.seen !== seen) watched = { seen, since: performance.now() };
    const unrefreshed = performance.now() - watched.since >= leaseMs;
    const abandoned = Date.now() - st.mtimeMs > LOCK_ABANDONED_MS;
    if (!owner || unrefreshed || abandoned || certainlyGone(owner, self)) {
      await rm(file, { force: true });
      watched = undefined;
      continue;
    }
    if (performance.now() >= until) {
      const where = owner.host && owner.host !== self.host ? ` on ${owner.host}` : '';
      throw new UsageError(
        `the workdir ${workdir} is in use by process ${owner.pid}${where}; give each daemon its own repo.workdir`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
