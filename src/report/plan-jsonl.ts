import type { Plan, PlanChange, PlanHeader } from '../plan/plan-types.js';
import { PlanFileError } from '../shared/errors.js';

/** One header line with the digests, then one line per attribute change: the reviewed plan, for machines. */
export function renderPlanJsonl(plan: Plan): string {
  const lines = [
    JSON.stringify({
      ...plan.header,
      summary: {
        usersToChange: plan.summary.usersToChange,
        attributeChanges: plan.summary.attributeChanges,
        clears: plan.summary.clears,
      },
    }),
  ];
  for (const c of plan.changes)
    lines.push(
      JSON.stringify({ id: c.id, dn: c.dn, attribute: c.attribute, before: c.before, after: c.after }),
    );
  return `${lines.join('\n')}\n`;
}

export interface ParsedPlan {
  header: PlanHeader;
  changes: PlanChange[];
}

/** Reads a committed plan back; throws with the line number when it was edited into something else. */
export function parsePlanJsonl(text: string): ParsedPlan {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const parse = (line: string, n: number) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new PlanFileError(`plan.jsonl:${n}: not valid JSON`);
    }
  };
  const header = parse(lines[0] ?? '', 1) as unknown as PlanHeader;
  if (header.format !== 'reexport-plan/v1')
    throw new PlanFileError('plan.jsonl:1: not a reexport plan (format reexport-plan/v1 expected)');
  const changes = lines.slice(1).map((l, i) => {
    const c = parse(l, i + 2);
    const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (
      typeof c.id !== 'string' ||
      typeof c.dn !== 'string' ||
      typeof c.attribute !== 'string' ||
      !strings(c.before) ||
      !strings(c.after)
    ) {
      throw new PlanFileError(`plan.jsonl:${i + 2}: expected {id, dn, attribute, before, after}`);
    }
    return c as unknown as PlanChange;
  });
  return { header, changes };
}
