import type { PlanChange } from '../plan/plan-types.js';
import { type DnValued, isDnValued, normalizeValues, sameValues, valueKey } from '../plan/values.js';

export type OutcomeKind = 'applied' | 'already-applied' | 'stale' | 'failed' | 'skipped';

/** What happened to one planned attribute change. */
export interface ChangeOutcome {
  id: string;
  dn: string;
  attribute: string;
  outcome: OutcomeKind;
  /** Why, for stale, failed and skipped; how, for a fallback write. */
  reason?: string;
  /** LDAP result code, for failed. */
  code?: number;
  /** Directory values seen when the change was found stale. */
  found?: string[];
}

export type AttributeState = 'before' | 'after' | 'other';

/** Where the directory stands for one change, from a fresh read. */
export function classify(
  change: PlanChange,
  currentValues: readonly string[],
  dnValued: DnValued = isDnValued,
): AttributeState {
  const current = normalizeValues(currentValues);
  const key = valueKey(change.attribute, dnValued);
  if (sameValues(current, change.after, key)) return 'after';
  if (sameValues(current, change.before, key)) return 'before';
  return 'other';
}

/** Removed values are deleted by exact value (the compare in compare-and-swap); new values are added. */
export function casOperations(change: PlanChange): { remove: string[]; add: string[] } {
  return {
    remove: change.before.filter((v) => !change.after.includes(v)),
    add: change.after.filter((v) => !change.before.includes(v)),
  };
}

export function countOutcomes(outcomes: readonly ChangeOutcome[]): Record<OutcomeKind, number> {
  const counts: Record<OutcomeKind, number> = {
    applied: 0,
    'already-applied': 0,
    stale: 0,
    failed: 0,
    skipped: 0,
  };
  for (const o of outcomes) counts[o.outcome]++;
  return counts;
}
