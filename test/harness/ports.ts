/**
 * Loopback networking and daemon-process plumbing shared by the slapd and Samba harnesses.
 *
 * Everything listens on loopback only (the workplace forbids traffic elsewhere), and every
 * daemon is tied to the test process three ways so a crashed or killed vitest worker never
 * leaves servers behind: an explicit stop(), a process 'exit' hook, and a detached watchdog
 * shell that notices when the worker is gone (covers SIGKILL, where no JS hook runs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A TCP port that was free on `host` a moment ago (the kernel picks it; callers must tolerate a lost race). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether `host:port` can be bound right now (used for Samba's fixed ports on a per-instance address). */
export function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** One TCP connect attempt; true when something accepted it. */
export function tcpConnects(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * Poll `probe` until it returns true. `abort` is checked every round so a daemon that died
 * during start-up fails the wait at once instead of after the whole timeout.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const why = opts.abort?.();
    if (why) throw new Error(`${what}: ${why}`);
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${opts.timeoutMs} ms`);
    await sleep(opts.intervalMs ?? 100);
  }
}

export interface Daemon {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Set once the process has exited (code or signal). */
  exitStatus(): string | undefined;
  /** The last ~64 KiB of combined stdout/stderr, for error messages. */
  output(): string;
  /** SIGTERM the process group, SIGKILL after graceTimeoutMs, wait for exit, then remove `dir`. Idempotent. */
  stop(): Promise<void>;
}

const OUTPUT_LIMIT = 64 * 1024;
const live = new Set<{ pid: number; dir?: string; watchdog?: number }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL the groups and remove folders without awaiting.
  process.on('exit', () => {
    for (const d of live) {
      killGroup(d.pid, 'SIGKILL');
      if (d.watchdog) killGroup(d.watchdog, 'SIGKILL');
      if (d.dir) rmSync(d.dir, { recursive: true, force: true });
    }
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

/**
 * A shell in its own session that kills the daemon's process group and removes its folder once
 * this Node process is gone. Arguments go in argv, never into the script text.
 */
function spawnWatchdog(groupPid: number, dir: string | undefined): ChildProcess {
  // No `--` before the negative pid: dash's kill builtin rejects it ("Illegal number: -").
  const script =
    'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -KILL "-$2" 2>/dev/null; [ -n "$3" ] && rm -rf -- "$3"; exit 0';
  const wd = spawn(
    '/bin/sh',
    ['-c', script, 'reexport-watchdog', String(process.pid), String(groupPid), dir ?? ''],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  wd.unref();
  return wd;
}

/**
 * Start a long-running server in the foreground, in its own process group (daemons such as
 * Samba fork helpers; killing the group catches them all).
 */
export function spawnDaemon(
  command: string,
  args: string[],
  opts: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    dir?: string;
    graceTimeoutMs?: number;
    stdinPipe?: boolean;
    outputLimit?: number;
  },
): Daemon {
  installExitHook();
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    // Samba -i exits on EOF of stdin, so it needs a pipe that stays open for its whole life.
    stdio: [opts.stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const collect = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    const limit = opts.outputLimit ?? OUTPUT_LIMIT;
    if (out.length > limit * 2) out = out.slice(-limit);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let status: string | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      status = `failed to start: ${err.message}`;
      resolve();
    });
  });
  // Keep the test process from waiting on the daemon's pipes or on the daemon itself.
  child.unref();
  (child.stdout as net.Socket | null)?.unref?.();
  (child.stderr as net.Socket | null)?.unref?.();
  (child.stdin as net.Socket | null)?.unref?.();

  const pid = child.pid;
  if (pid === undefined) {
    // spawn failed synchronously enough that there is no pid; surface it on first use.
    return {
      pid: -1,
      child,
      exitStatus: () => status ?? `failed to start ${command}${spawnError ? `: ${spawnError.message}` : ''}`,
      output: () => out,
      stop: async () => {
        await exited;
        if (opts.dir) await rm(opts.dir, { recursive: true, force: true });
      },
    };
  }
  const watchdog = spawnWatchdog(pid, opts.dir);
  const entry = { pid, dir: opts.dir, watchdog: watchdog.pid };
  live.add(entry);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (status === undefined) {
        // Re-ref so a caller's event loop stays alive until the daemon has really exited.
        child.ref();
        killGroup(pid, 'SIGTERM');
        const cancelGrace = new AbortController();
        const grace = sleep(opts.graceTimeoutMs ?? 10_000, 'timeout' as const, {
          signal: cancelGrace.signal,
        }).catch(() => 'exited' as const);
        const first = await Promise.race([exited.then(() => 'exited' as const), grace]);
        cancelGrace.abort();
        if (first === 'timeout') {
          killGroup(pid, 'SIGKILL');
          await exited;
        }
      }
      // The leader is gone; make sure no forked helper of the group survives it.
      killGroup(pid, 'SIGKILL');
      if (watchdog.pid) killGroup(watchdog.pid, 'SIGKILL');
      child.stdin?.destroy();
      live.delete(entry);
      if (opts.dir) await rm(opts.dir, { recursive: true, force: true });
    })());

  return { pid, child, exitStatus: () => status, output: () => out, stop };
}
