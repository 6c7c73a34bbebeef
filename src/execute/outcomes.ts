import type { PlanChange } from '../plan/plan-types.js';
import { type DnValued, isDnValued, normalizeValues, sameValues, valueKey } from '../plan/values.js';

/**
 * applied: written now. already-applied: the directory holds exactly the reviewed value (a resumed
 * run, or someone typed it): never written again. stale: the directory (or the source) moved after
 * the preview: not overwritten. failed: the directory refused the value (final). skipped: not
 * attempted, with why. pending: not yet written because the directory was unreachable or busy;
 * a later pass retries it.
 */
export const OUTCOME_KINDS = ['applied', 'already-applied', 'stale', 'failed', 'skipped', 'pending'] as const;
export type OutcomeKind = (typeof OUTCOME_KINDS)[number];

/** What happened to one planned attribute change. */
export interface ChangeOutcome {
  id: string;
  dn: string;
  attribute: string;
  outcome: OutcomeKind;
  /** Why, for stale, failed, skipped and pending; how, for a fallback write. */
  reason?: string;
  /** LDAP result code, for failed. */
  code?: number;
  /** Directory values seen when the change was found stale. */
  found?: string[];
}

/** Outcomes that end a change for good; a pending change is tried again by a later pass. */
export const isFinal = (o: ChangeOutcome): boolean => o.outcome !== 'pending';

export type AttributeState = 'before' | 'after' | 'other';

/**
 * Where the directory stands for one change, from a fresh read. Exact comparison first: a value
 * that is exactly the reviewed one is done, even if it differs from `before` only by letter case
 * (a resumed run must not write a case-only change twice). DN-valued attributes compare as DNs,
 * because the directory hands DNs back in its own spelling. Anything else, including a
 * case-only hand edit of the previewed value, is someone's change: stale.
 */
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

/**
 * The compare-and-swap operations for a change whose entry holds `current` (equal to the
 * reviewed `before`): the values to remove are deleted by their exact current spelling (the
 * server refuses the delete if one is gone: the compare), the new values are added.
 */
export function casOperations(
  change: PlanChange,
  current: readonly string[] = change.before,
  dnValued: DnValued = isDnValued,
): { remove: string[]; add: string[] } {
  const key = valueKey(change.attribute, dnValued);
  const after = new Set(change.after.map(key));
  const now = new Set(current.map(key));
  return {
    remove: current.filter((v) => !after.has(key(v))),
    add: change.after.filter((v) => !now.has(key(v))),
  };
}

export function countOutcomes(outcomes: readonly ChangeOutcome[]): Record<OutcomeKind, number> {
  const counts = Object.fromEntries(OUTCOME_KINDS.map((k) => [k, 0])) as Record<OutcomeKind, number>;
  for (const o of outcomes) counts[o.outcome]++;
  return counts;
}

/**
 * An execution's outcomes as it keeps them: counts per outcome and per attribute, and each change
 * not applied (result.md lists those with why). Applied changes are only counted, so a plan of
 * 100,000 changes is not held a second time as its outcomes.
 */
export class OutcomeTally {
  readonly counts = countOutcomes([]);
  /** Attribute (as the plan spells it) → counts, in the order attributes first appear. */
  readonly perAttribute = new Map<string, Record<OutcomeKind, number>>();
  readonly notApplied: ChangeOutcome[] = [];

  static of(outcomes: readonly ChangeOutcome[]): OutcomeTally {
    const t = new OutcomeTally();
    t.add(outcomes);
    return t;
  }

  add(outcomes: readonly ChangeOutcome[]): void {
    for (const o of outcomes) {
      this.counts[o.outcome]++;
      let row = this.perAttribute.get(o.attribute);
      if (!row) this.perAttribute.set(o.attribute, (row = countOutcomes([])));
      row[o.outcome]++;
      if (o.outcome !== 'applied') this.notApplied.push(o);
    }
  }
}
