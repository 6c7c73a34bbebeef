/**
 * Running a command and measuring it: wall time from this process (spawn to exit), peak RSS and
 * CPU times from GNU time (`/usr/bin/time -v`, i.e. the kernel's wait4() rusage of the command),
 * and the CPU a server process (slapd) spent meanwhile from /proc/<pid>/stat.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const GNU_TIME = '/usr/bin/time';
export const hasGnuTime = (() => {
  try {
    accessSync(GNU_TIME, constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

export interface Measured {
  label: string;
  wallMs: number;
  /** Peak resident set size of the command (kB → MB, 1 MB = 1024 kB). */
  maxRssMb: number;
  userS: number;
  sysS: number;
  exitCode: number;
  /** CPU seconds slapd spent during the run (when a server pid was given). */
  serverCpuS?: number;
  /** 1-minute load average when the run started (other work on the machine skews timings). */
  load: number;
  /** How the RSS was measured. */
  rssMethod: 'gnu-time' | 'proc-vmhwm';
  stdoutFile?: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where stdout goes: a file path, or /dev/null by default. */
  stdoutFile?: string;
  /** A server whose CPU time to account for the run. */
  serverPid?: number;
  /** Wrap the command, e.g. ['strace', '-f', …]; time still measures the wrapper and its children. */
  wrapper?: string[];
}

const CLK_TCK = 100;

/** utime + stime of a process (and its threads), in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

function parseGnuTime(text: string): { maxRssKb: number; userS: number; sysS: number; exit?: number } {
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return {
    maxRssKb: num(/Maximum resident set size \(kbytes\): (\d+)/),
    userS: num(/User time \(seconds\): ([\d.]+)/),
    sysS: num(/System time \(seconds\): ([\d.]+)/),
    exit: /Command exited with non-zero status (\d+)/.test(text)
      ? num(/Command exited with non-zero status (\d+)/)
      : undefined,
  };
}

let seq = 0;

/** Runs `cmd args` to completion and measures it. Never rejects on a non-zero exit: check exitCode. */
export async function measure(
  label: string,
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<Measured> {
  const timeFile = path.join(tmpdir(), `reexport-bench-time-${process.pid}-${++seq}.txt`);
  const full = [...(opts.wrapper ?? []), cmd, ...args];
  const argv = hasGnuTime ? [GNU_TIME, '-v', '-o', timeFile, ...full] : full;
  const out = openSync(opts.stdoutFile ?? '/dev/null', 'w');
  const load = os.loadavg()[0]!;
  const serverBefore = opts.serverPid ? processCpuSeconds(opts.serverPid) : undefined;
  let stderr = '';
  let hwmKb = 0;
  const started = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', out, 'pipe'],
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
    if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
  });
  // Without GNU time: poll the kernel's high-water mark of the child's RSS while it runs.
  let polling = !hasGnuTime;
  const poller = (async () => {
    while (polling && child.pid) {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwmKb = Math.max(hwmKb, Number(m[1]));
      } catch {
        /* gone */
      }
      await sleep(10);
    }
  })();
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  polling = false;
  await poller;
  closeSync(out);
  const serverCpuS =
    opts.serverPid && serverBefore !== undefined
      ? processCpuSeconds(opts.serverPid) - serverBefore
      : undefined;
  let maxRssKb = hwmKb;
  let userS = NaN;
  let sysS = NaN;
  if (hasGnuTime) {
    const t = parseGnuTime(await readFile(timeFile, 'utf8').catch(() => ''));
    await rm(timeFile, { force: true });
    ({ maxRssKb, userS, sysS } = t);
  }
  return {
    label,
    wallMs,
    maxRssMb: maxRssKb / 1024,
    userS,
    sysS,
    exitCode: code,
    serverCpuS,
    load,
    rssMethod: hasGnuTime ? 'gnu-time' : 'proc-vmhwm',
    stdoutFile: opts.stdoutFile,
    stderr,
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
export const fmtMb = (mb: number) => `${mb.toFixed(0)} MB`;

/** Throws with the command's stderr when it failed. */
export function check(m: Measured): Measured {
  if (m.exitCode !== 0) throw new Error(`${m.label} exited with ${m.exitCode}:\n${m.stderr.slice(-4000)}`);
  return m;
}
