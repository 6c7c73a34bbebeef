import path from 'node:path';
import type { ClaimWatch } from '../../ports/claims.js';
import { openJsonMemory } from './json-memory.js';

interface Seen {
  state: string;
  since: string;
}

/**
 * ClaimWatch as one JSON file in the workdir, so `reexport once` run from a scheduler counts
 * across runs. Within a process the count is on the monotonic clock: a step of the wall clock (an
 * NTP correction, a resumed VM) does not age a claim at once. Between processes only the wall
 * clock is left. A lost or torn file means every claim is seen afresh: a takeover then waits one
 * more claim timeout, never less.
 */
export async function openClaimWatch(
  workdir: string,
  monotonic: () => number = () => performance.now(),
): Promise<ClaimWatch> {
  const memory = await openJsonMemory<Seen>(path.join(workdir, 'claims-seen.json'));
  /** This process's first sight of each request's state, on the monotonic clock. */
  const local = new Map<string, { state: string; at: number }>();
  return {
    unchangedFor(request, state, now) {
      const mine = local.get(request);
      if (mine?.state === state) return monotonic() - mine.at;
      const seen = memory.get(request);
      const since = seen?.state === state ? Date.parse(seen.since) : Number.NaN;
      // Seen by an earlier process: as long ago as the wall clock says, unless that is in the future
      // (the clock was set back), which counts from now.
      const age = Number.isFinite(since) && since <= now.getTime() ? now.getTime() - since : 0;
      if (age === 0) memory.set(request, { state, since: now.toISOString() });
      local.set(request, { state, at: monotonic() - age });
      return age;
    },
    save: () => memory.save(),
  };
}
