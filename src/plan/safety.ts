import { plural } from '../shared/text.js';
import type { PlanChange, SafetyVerdict } from './plan-types.js';

export interface SafetyLimits {
  maxChanges: number;
  maxClears: number;
}

/**
 * Values a change removes without putting another in their place: clearing a 3-value attribute
 * removes 3, cutting 1,600 members to 1 removes 1,599; replacing a mail address removes none
 * (the attribute keeps a value). Every such value counts against maxClears, not only emptied
 * attributes, so thinning a group to one member is as visible as clearing it.
 */
export function removedValues(c: Pick<PlanChange, 'before' | 'after'>): number {
  // Most changes replace at most one value with at most one: no sets needed for those.
  if (c.before.length <= 1 && c.after.length <= 1)
    return c.before.length === 1 && c.after.length === 0 ? 1 : 0;
  const after = new Set(c.after);
  const before = new Set(c.before);
  const removed = c.before.filter((v) => !after.has(v)).length;
  const added = c.after.filter((v) => !before.has(v)).length;
  return Math.max(0, removed - added);
}

/**
 * A plan larger than the operator's limits needs the request's explicit confirmation
 * (maxChanges at least the number of entries changed), so a typo cannot rewrite every mailbox.
 */
export function assessSafety(
  changes: readonly PlanChange[],
  limits: SafetyLimits,
  confirmed?: number,
): SafetyVerdict {
  const tally = safetyTally();
  for (const c of changes) tally.add(c);
  return tally.verdict(limits, confirmed);
}

/**
 * assessSafety change by change, for a reader that streams the plan instead of holding it: only
 * the changed entries' DNs are kept, to count each entry once.
 */
export function safetyTally(): {
  add(change: Pick<PlanChange, 'dn' | 'before' | 'after'>): void;
  /** What the verdict needs, without the DNs seen: keep this once every change was added. */
  counts(): { entries: number; clears: number };
  verdict(limits: SafetyLimits, confirmed?: number): SafetyVerdict;
} {
  const dns = new Set<string>();
  let clears = 0;
  return {
    add(c) {
      dns.add(c.dn.toLowerCase());
      clears += removedValues(c);
    },
    counts: () => ({ entries: dns.size, clears }),
    verdict: (limits, confirmed) => safetyVerdict({ entries: dns.size, clears }, limits, confirmed),
  };
}

/** The verdict on a plan's counts: distinct entries changed, and values cleared (removedValues). */
export function safetyVerdict(
  { entries, clears }: { entries: number; clears: number },
  limits: SafetyLimits,
  confirmed?: number,
): SafetyVerdict {
  const base = {
    entries,
    clears,
    maxChanges: limits.maxChanges,
    maxClears: limits.maxClears,
    ...(confirmed !== undefined ? { confirmedBy: confirmed } : {}),
  };
  const over: string[] = [];
  if (entries > limits.maxChanges)
    over.push(`changes ${plural(entries, 'entry', 'entries')}, over the limit of ${limits.maxChanges}`);
  if (clears > limits.maxClears)
    over.push(`removes ${plural(clears, 'value')}, over the limit of ${limits.maxClears}`);
  if (over.length === 0)
    return {
      ...base,
      ok: true,
      message: `within limits (${entries} of ${limits.maxChanges} entries, ${clears} of ${limits.maxClears} values removed)`,
    };
  if (confirmed !== undefined && confirmed >= entries) {
    return {
      ...base,
      ok: true,
      message: `the plan ${over.join(' and ')}, confirmed by the request's maxChanges: ${confirmed}`,
    };
  }
  const ask =
    confirmed !== undefined
      ? `the request's maxChanges: ${confirmed} is lower than ${entries}; raise it to ${entries} if this is intended`
      : `if this is intended, add \`maxChanges: ${entries}\` to the request's spec`;
  return { ...base, ok: false, message: `refused: the plan ${over.join(' and ')}; ${ask}` };
}
