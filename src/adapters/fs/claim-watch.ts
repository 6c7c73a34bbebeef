import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClaimWatch } from '../../ports/claims.js';
import { openJsonMemory } from './json-memory.js';

interface Seen {
  /** The newest record time seen, and when (the wall clock, for people and other systems). */
  newest: string;
  since: string;
  /** The machine's boot and its uptime then: between processes, an age no clock step changes. */
  boot?: string;
  uptimeMs?: number;
}

/** The clocks a watch reads; tests give their own. */
export interface WatchClocks {
  /** Within a process: no step of the wall clock moves it. */
  monotonic(): number;
  /** This boot's identity and the time since it, suspend included; undefined where unknown. */
  boot(): { id: string; uptimeMs: number } | undefined;
}

/** Linux's boot ID and uptime (CLOCK_BOOTTIME: it counts a suspend, and no clock step moves it). */
function linuxBoot(): { id: string; uptimeMs: number } | undefined {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const uptimeMs = Number.parseFloat(readFileSync('/proc/uptime', 'utf8')) * 1000;
    return id && Number.isFinite(uptimeMs) ? { id, uptimeMs } : undefined;
  } catch {
    return undefined;
  }
}

const systemClocks: WatchClocks = { monotonic: () => performance.now(), boot: linuxBoot };

const later = (a: string, b: string) => Date.parse(a) > Date.parse(b);

/** A kept time as a string, if it is one (the file may have been edited or torn). */
const timeOrUndefined = (t: unknown): string | undefined =>
  typeof t === 'string' && Number.isFinite(Date.parse(t)) ? t : undefined;

/**
 * ClaimWatch as one JSON file in the workdir, so `reexport once` run from a scheduler counts
 * across runs. Within a process the count is on the monotonic clock; between processes on the
 * machine's uptime when it is the same boot (Linux), so a step of the wall clock (an NTP
 * correction, a resumed VM) never ages a claim at once. On another boot, or a machine without
 * an uptime, a claim is seen afresh (or, without one, by the wall clock, never from the future).
 * A lost or torn file also means a claim is seen afresh: a takeover then waits one more claim
 * timeout, never less.
 */
export async function openClaimWatch(
  workdir: string,
  clocks: WatchClocks = systemClocks,
): Promise<ClaimWatch> {
  const memory = await openJsonMemory<Seen>(path.join(workdir, 'claims-seen.json'));
  /** This process's count for each request, on the monotonic clock. */
  const local = new Map<string, { newest: string; at: number }>();
  /** How long ago an earlier process first saw `seen`, when that can be told. */
  const ageOf = (seen: Seen, now: Date): number | undefined => {
    const boot = clocks.boot();
    if (boot || seen.boot !== undefined)
      return boot &&
        seen.boot === boot.id &&
        typeof seen.uptimeMs === 'number' &&
        seen.uptimeMs <= boot.uptimeMs
        ? boot.uptimeMs - seen.uptimeMs
        : undefined;
    const since = Date.parse(seen.since);
    return Number.isFinite(since) && since <= now.getTime() ? now.getTime() - since : undefined;
  };
  return {
    unchangedFor(request, newest, now) {
      const mine = local.get(request);
      if (mine && !later(newest, mine.newest)) return clocks.monotonic() - mine.at;
      const seen = memory.get(request);
      const age = !mine && seen && !later(newest, String(seen.newest)) ? ageOf(seen, now) : undefined;
      if (age !== undefined) {
        local.set(request, { newest: String(seen!.newest), at: clocks.monotonic() - age });
        return age;
      }
      const boot = clocks.boot();
      // Seen afresh (another boot, a torn file) but never forgotten: a newer time seen before
      // stays the newest seen, the evidence newestSeen keeps of records gone from main.
      const prior = timeOrUndefined(seen?.newest);
      // Main without any record ('' ) is no newer time: it must not wipe out the one seen.
      const kept =
        prior !== undefined && (timeOrUndefined(newest) === undefined || later(prior, newest))
          ? prior
          : newest;
      memory.set(request, {
        newest: kept,
        since: now.toISOString(),
        ...(boot ? { boot: boot.id, uptimeMs: boot.uptimeMs } : {}),
      });
      local.set(request, { newest: kept, at: clocks.monotonic() });
      return 0;
    },
    newestSeen(request) {
      const mine = timeOrUndefined(local.get(request)?.newest);
      const stored = timeOrUndefined(memory.get(request)?.newest);
      if (mine === undefined || stored === undefined) return mine ?? stored;
      return later(stored, mine) ? stored : mine;
    },
    save: () => memory.save(),
  };
}
