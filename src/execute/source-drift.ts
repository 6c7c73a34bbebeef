import type { ReexportRequest, SyncTemplate } from '../config/types.generated.js';
import { selectRecords } from '../plan/build-plan.js';
import { compileMappings, evaluateMapping } from '../plan/evaluate.js';
import type { PlanChange } from '../plan/plan-types.js';
import { decideChange, type DnValued, isDnValued, sameValues } from '../plan/values.js';
import { idKey, type SourceData } from '../source/records.js';

/**
 * Changes whose source no longer yields the reviewed value: those are stale, because applying
 * them would write what the source no longer says, and applying the new value would write what
 * nobody reviewed. Keyed by `${id}\0${attribute}`.
 */
export interface Drift {
  reason: string;
  /** How the change ends; stale unless said otherwise. */
  outcome?: 'stale' | 'skipped';
  /** Directory values seen, when the drift is in the directory. */
  found?: string[];
}

/**
 * The source as execution checks it against: records by key, the users the request selects, the
 * compiled mappings. Built once per execution, then `sourceDrift` runs per chunk of the plan.
 */
export interface SourceCheck {
  records: Pick<SourceData, 'find'>;
  selected: Set<string>;
  mappings: Map<string, ReturnType<typeof compileMappings>[number]>;
  dnValued: DnValued;
}

export function sourceCheck(
  template: SyncTemplate,
  request: ReexportRequest,
  source: SourceData,
  dnValued: DnValued = isDnValued,
): SourceCheck {
  return {
    records: source,
    selected: new Set(selectRecords(source, request.spec.users, []).map((r) => r.key)),
    mappings: new Map(
      compileMappings(template, request.spec.mappings).map((m) => [m.attribute.toLowerCase(), m]),
    ),
    dnValued,
  };
}

export function sourceDrift(changes: readonly PlanChange[], check: SourceCheck): Map<string, Drift> {
  const { records, selected, mappings, dnValued } = check;
  const drift = new Map<string, Drift>();
  for (const c of changes) {
    const key = driftKey(c);
    const record = records.find(idKey(c.id));
    if (!record) {
      drift.set(key, { reason: 'the user is no longer in the source' });
      continue;
    }
    // A plan is data from the repository; only users the request selects may be written.
    if (!selected.has(record.key)) {
      drift.set(key, { reason: 'the request does not select this user (any more); nothing written' });
      continue;
    }
    const m = mappings.get(c.attribute.toLowerCase());
    if (!m) {
      drift.set(key, { reason: 'the mapping is no longer in the template' });
      continue;
    }
    const result = evaluateMapping(m, record.fields);
    if ('error' in result) {
      drift.set(key, { reason: `the mapping now fails: ${result.error}` });
      continue;
    }
    const outcome = decideChange(c.before, result.values, m.mapping, dnValued);
    const expected = outcome.kind === 'change' ? outcome.after : c.before;
    if (!sameValues(expected, c.after))
      drift.set(key, {
        reason: `the source now gives ${JSON.stringify(result.values)}, not the reviewed ${JSON.stringify(c.after)}`,
      });
  }
  return drift;
}

export const driftKey = (c: Pick<PlanChange, 'id' | 'attribute'>) => `${c.id}\0${c.attribute.toLowerCase()}`;
