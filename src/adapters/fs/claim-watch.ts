import path from 'node:path';
import type { ClaimWatch } from '../../ports/claims.js';
import { openJsonMemory } from './json-memory.js';

interface Seen {
  record: string;
  since: string;
}

/**
 * ClaimWatch as one JSON file in the workdir, so `reexport once` run from a scheduler counts a
 * claim's age across runs. A lost or torn file means every claim is seen afresh: a takeover then
 * waits one more claim timeout, never less.
 */
export async function openClaimWatch(workdir: string): Promise<ClaimWatch> {
  const memory = await openJsonMemory<Seen>(path.join(workdir, 'claims-seen.json'));
  return {
    seenSince(request, record, now) {
      const seen = memory.get(request);
      const since = seen?.record === record ? Date.parse(seen.since) : Number.NaN;
      // A time this daemon's clock has not reached yet (it was set back) counts from now.
      if (Number.isFinite(since) && since <= now.getTime()) return new Date(since);
      memory.set(request, { record, since: now.toISOString() });
      return now;
    },
    save: () => memory.save(),
  };
}
