import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { link, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
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
  /** This holding of the lock, and how often its owner has refreshed it. */
  nonce?: string;
  beat?: number;
}

/**
 * The owner rewrites its lock this often, and a lock that does not change for LOCK_LEASE_MS is
 * taken over: the only sign of life across machines and containers, where a pid says nothing.
 * The lease leaves room for the longest stretch the daemon's event loop may be busy.
 */
const LOCK_REFRESH_MS = 10_000;
export const LOCK_LEASE_MS = 60_000;
/** Files a killed lock operation left beside the lock are removed once this old. */
const LOCK_ABANDONED_MS = 3_600_000;
/** held() reads the lock file at most this often. */
const LOCK_READ_EVERY_MS = 1000;
/** How long after creating its lock a process looks again whether it is still its own. */
const LOCK_SETTLE_MS = 250;

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

/** Whether an owner is certainly running: on this machine and pid namespace, another live pid. */
function certainlyAlive(owner: LockOwner, self: LockOwner): boolean {
  const here =
    owner.host === undefined ||
    (owner.host === self.host &&
      owner.boot === self.boot &&
      owner.pidns === self.pidns &&
      self.pidns !== undefined);
  return here && owner.pid !== self.pid && alive(owner.pid);
}

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

export interface WorkdirLock {
  /**
   * Whether the lock is still this process's, for a write about to go out: refreshed within half
   * the lease by both clocks, or else (the refresh is late: a pause, a busy event loop) found ours
   * in the file and refreshed right now, synchronously. False once it was taken over.
   */
  held(): boolean;
  /** Lets go of the lock, if it is still this process's. */
  release(): Promise<void>;
}

/**
 * One process per workdir: two daemons on one clone and journal would race on both, and would
 * share one identity, so each would take the other's claims for its own. The lock is a file
 * naming its owner (pid, host, boot, pid namespace, a nonce), created whole (written aside, then
 * linked into place) and rewritten by its owner every LOCK_REFRESH_MS. It is taken over when its
 * owner is certainly gone (the same machine and pid namespace, and the pid not running, or our own
 * pid), or when this process has watched it stay the same for `leaseMs` on
 * its own clock (a pod on another node, a killed container in another namespace: the lock's time
 * is the owner's clock, which may be off ours). Taking over moves the lock aside and checks that
 * what moved is what was judged gone (else puts it back). A live owner on this machine is refused
 * at once; one whose liveness only the lease tells is waited for, up to `waitMs` (the lease and a
 * little), then refused, named. An owner that finds its lock taken, or not refreshed for the
 * lease (it was paused), calls `onLost`; held() asks the file before each write.
 */
export async function lockWorkdir(
  workdir: string,
  opts: { waitMs?: number; leaseMs?: number; refreshMs?: number; onLost?: (why: string) => void } = {},
): Promise<WorkdirLock> {
  await mkdir(workdir, { recursive: true });
  const file = path.join(workdir, 'lock');
  const me: LockOwner = { ...selfOwner(), nonce: randomBytes(8).toString('hex'), beat: 0 };
  const leaseMs = opts.leaseMs ?? LOCK_LEASE_MS;
  const until = performance.now() + (opts.waitMs ?? leaseMs + 5000);
  /** Writes the lock's text aside, then puts it in place (`link`: only if none is there). */
  const place = async (how: 'create' | 'replace'): Promise<boolean> => {
    const tmp = `${file}.${me.nonce}.tmp`;
    await writeFile(tmp, `${JSON.stringify(me)}\n`);
    try {
      if (how === 'replace') await rename(tmp, file);
      else await link(tmp, file);
      return true;
    } catch (err) {
      if (how === 'create' && code(err) === 'EEXIST') return false;
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
  };
  /** Whose the lock is now: ours, another's (or none), or unknown (it cannot be read). */
  const whose = (read: () => string): 'ours' | 'theirs' | 'unknown' => {
    try {
      return parseOwner(read().trim())?.nonce === me.nonce ? 'ours' : 'theirs';
    } catch (err) {
      return code(err) === 'ENOENT' ? 'theirs' : 'unknown';
    }
  };
  const ours = async () => {
    const text = await readFile(file, 'utf8').catch((err: unknown) =>
      code(err) === 'ENOENT' ? '' : undefined,
    );
    return text === undefined ? 'unknown' : whose(() => text);
  };
  // The lock as last seen (its time, inode and text), and since when, on this process's clock.
  let watched: { seen: string; since: number } | undefined;
  for (;;) {
    if (await place('create')) {
      // A process that judged the lock before ours gone may move ours aside in the moment after
      // (takeOver puts it back only if nobody took the place): look again once that has passed.
      await new Promise((resolve) => setTimeout(resolve, LOCK_SETTLE_MS));
      if ((await ours()) === 'ours') break;
      continue;
    }
    const st = await lstat(file).catch((err: unknown) => {
      if (code(err) === 'ENOENT') return undefined;
      throw err;
    });
    if (!st) continue;
    if (!st.isFile()) throw new UsageError(`${file} is not a file; remove it`);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const owner = parseOwner(text.trim());
    // Our own (a link whose answer was lost, on a network volume, and was tried again).
    if (owner?.nonce === me.nonce) break;
    const seen = `${st.mtimeMs} ${st.ino} ${text}`;
    if (watched?.seen !== seen) watched = { seen, since: performance.now() };
    const unrefreshed = performance.now() - watched.since >= leaseMs;
    if (!owner || unrefreshed || certainlyGone(owner, me)) {
      await takeOver(file, text, me.nonce!);
      watched = undefined;
      continue;
    }
    // A live process on this machine: no use waiting for its lease.
    if (certainlyAlive(owner, me) || performance.now() >= until) {
      const where = owner.host && owner.host !== me.host ? ` on ${owner.host}` : '';
      throw new UsageError(
        `the workdir ${workdir} is in use by process ${owner.pid}${where}; give each daemon its own repo.workdir`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  void removeLeftovers(workdir);
  /** When the lock was last written: the monotonic clock, and the boot clock (it counts a suspend). */
  const clocks = () => ({ mono: performance.now(), boot: bootClock() });
  let refreshed = clocks();
  /** Lost (taken, or not refreshed in time), or let go: either way no longer this process's. */
  let lost = false;
  let released = false;
  let lastRead = Number.NEGATIVE_INFINITY;
  const loseLock = (why = `the workdir lock ${file} was taken over by another process`) => {
    if (lost || released) return;
    lost = true;
    clearInterval(refresh);
    opts.onLost?.(why);
  };
  /**
   * How long since the lock was last written, by the clocks that a pause or a suspend cannot
   * stop together: the monotonic one, and where the machine has one, the boot clock. The wall
   * clock is not one of them: an NTP step is no pause.
   */
  const sinceRefresh = (boot = false) => {
    const mono = performance.now() - refreshed.mono;
    const now = boot && refreshed.boot !== undefined ? bootClock() : undefined;
    return now === undefined ? mono : Math.max(mono, now - refreshed.boot!);
  };
  const notRefreshed = `the workdir lock ${file} was not refreshed for ${leaseMs / 1000} s`;
  let ticking: Promise<void> | undefined;
  const refresh = setInterval(() => {
    if (ticking) return;
    ticking = (async () => {
      if (lost || released) return;
      // Paused past the lease: another process may have taken over, whatever the file says now.
      if (sinceRefresh(true) >= leaseMs) return loseLock(notRefreshed);
      // The file says whose the lock is; one that cannot be read now is tried again next time.
      const now = await ours();
      if (lost || released || now === 'unknown') return;
      if (now === 'theirs') return loseLock();
      me.beat! += 1;
      await place('replace');
      refreshed = clocks();
    })()
      .catch(() => {})
      .finally(() => (ticking = undefined));
  }, opts.refreshMs ?? LOCK_REFRESH_MS);
  refresh.unref();
  return {
    held: () => {
      if (lost || released) return false;
      if (sinceRefresh() >= leaseMs) {
        loseLock(notRefreshed);
        return false;
      }
      // The file itself (and the boot clock), at most once a second: a large execution writes
      // thousands of entries a second. A lock taken over stops writes within a second, not at the
      // next refresh; a takeover after a pause needs the lease to pass, which the clocks show.
      const at = performance.now();
      const late = at - refreshed.mono >= leaseMs / 2;
      if (!late && at - lastRead < LOCK_READ_EVERY_MS) return true;
      lastRead = at;
      if (sinceRefresh(true) >= leaseMs) {
        loseLock(notRefreshed);
        return false;
      }
      const now = whose(() => readFileSync(file, 'utf8'));
      if (now === 'ours') {
        if (!late && sinceRefresh(true) < leaseMs / 2) return true;
        try {
          me.beat! += 1;
          const tmp = `${file}.${me.nonce}.now`;
          writeFileSync(tmp, `${JSON.stringify(me)}\n`);
          renameSync(tmp, file);
          refreshed = clocks();
          return true;
        } catch {
          // Not refreshed: not known to stay ours.
        }
      }
      loseLock(now === 'theirs' ? undefined : `the workdir lock ${file} cannot be read or refreshed`);
      return false;
    },
    release: async () => {
      clearInterval(refresh);
      const wasOurs = !lost && !released;
      released = true;
      // A refresh under way would write the lock again after it is removed.
      await ticking;
      if (wasOurs && (await ours()) === 'ours') await rm(file, { force: true });
    },
  };
}

/** Milliseconds since boot, suspend included (Linux's /proc/uptime); undefined elsewhere. */
function bootClock(): number | undefined {
  try {
    const ms = Number.parseFloat(readFileSync('/proc/uptime', 'utf8')) * 1000;
    return Number.isFinite(ms) ? ms : undefined;
  } catch {
    return undefined;
  }
}

/** Files a lock operation killed midway left beside the lock (`lock.<nonce>.tmp`, …), an hour old. */
async function removeLeftovers(workdir: string): Promise<void> {
  const names = await readdir(workdir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith('lock.')) continue;
    const at = path.join(workdir, name);
    const st = await lstat(at).catch(() => undefined);
    if (st?.isFile() && Date.now() - st.mtimeMs > LOCK_ABANDONED_MS) await rm(at, { force: true });
  }
}

/**
 * Takes a lock judged gone out of the way: moved aside, then removed if what moved is the text
 * judged (else it was a newer lock, put back unless another took the place meanwhile).
 */
async function takeOver(file: string, judged: string, nonce: string): Promise<void> {
  const aside = `${file}.stale.${nonce}`;
  try {
    await rename(file, aside);
  } catch (err) {
    if (code(err) === 'ENOENT') return;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== judged) await link(aside, file).catch(() => {});
  await rm(aside, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
