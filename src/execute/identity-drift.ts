import type { PlanChange } from '../plan/plan-types.js';
import { idKey } from '../source/records.js';
import { type Drift, driftKey } from './source-drift.js';

/**
 * Changes whose entry is not, right before writing, the one the user's ID matches. The fresh read
 * asks the template's scope for the planned IDs, so an entry missing from it was deleted or moved,
 * lost its ID, or never carried it: a plan is data from the repository, and a change pointed at
 * another user's entry must not be written whatever its digest says.
 */
export function identityDrift(
  changes: readonly PlanChange[],
  current: ReadonlyMap<string, ReadonlyMap<string, string[]>>,
  matchAttribute: string,
  dnKey: (dn: string) => string,
): Map<string, Drift> {
  const drift = new Map<string, Drift>();
  const matchKey = matchAttribute.toLowerCase();
  for (const c of changes) {
    const attrs = current.get(dnKey(c.dn));
    if (!attrs) {
      drift.set(driftKey(c), {
        outcome: 'skipped',
        reason: `the entry no longer exists in the template's scope with ${matchAttribute} ${c.id} (deleted, moved or changed after the preview); nothing written`,
      });
      continue;
    }
    const ids = (attrs.get(matchKey) ?? []).map(idKey);
    if (!ids.includes(idKey(c.id))) {
      drift.set(driftKey(c), {
        reason: `the entry's ${matchAttribute} is not ${c.id} (any more); nothing written`,
        found: attrs.get(matchKey) ?? [],
      });
    }
  }
  return drift;
}
