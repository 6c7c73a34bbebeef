import type { PlanChange } from '../plan/plan-types.js';
import { type DnValued, isDnValued, normalizeValues, sameValues } from '../plan/values.js';
import { type Drift, driftKey } from './source-drift.js';

/**
 * Directories compare most text attributes case-insensitively, so deleting the previewed
 * `Ola@kommune.no` also deletes a hand-typed `OLA@kommune.no`: the compare in compare-and-swap
 * cannot see a change of letter case. A fresh read before writing can, and such changes are
 * stale (a person changed the value after the review). Other differences are left to the
 * compare-and-swap, which also tells already-applied changes apart.
 */
export function caseDrift(
  changes: readonly PlanChange[],
  current: ReadonlyMap<string, ReadonlyMap<string, string[]>>,
  dnKey: (dn: string) => string,
  dnValued: DnValued = isDnValued,
): Map<string, Drift> {
  const drift = new Map<string, Drift>();
  for (const c of changes) {
    // DN values come back in the directory's spelling; their case says nothing about a hand edit.
    if (dnValued(c.attribute)) continue;
    const attrs = current.get(dnKey(c.dn));
    if (!attrs) continue;
    const now = normalizeValues(attrs.get(c.attribute.toLowerCase()) ?? []);
    if (sameValues(now, c.before) || sameValues(now, c.after)) continue;
    const lower = (vs: readonly string[]) => vs.map((v) => v.toLowerCase());
    if (sameValues(lower(now), lower(c.before))) {
      drift.set(driftKey(c), {
        reason: 'the directory value changed after the preview (letter case only); not overwritten',
        found: now,
      });
    }
  }
  return drift;
}
