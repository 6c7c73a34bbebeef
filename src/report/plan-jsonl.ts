import type { Plan, PlanChange, PlanHeader } from '../plan/plan-types.js';
import { PlanFileError } from '../shared/errors.js';
import { committedJsonlText } from './jsonl-file.js';
import { changeJsonWriter } from '../plan/canonical.js';

/** The reviewed plan's file, and its gzip-compressed form for large plans (see write-reports.ts). */
export const PLAN_FILE = 'plan.jsonl';
export const PLAN_GZ_FILE = 'plan.jsonl.gz';

/** plan.jsonl's header line: the plan's header and the counts a reader wants without the changes. */
export function planHeaderLine(plan: Pick<Plan, 'header' | 'summary'>): string {
  return JSON.stringify({
    ...plan.header,
    summary: {
      usersToChange: plan.summary.usersToChange,
      attributeChanges: plan.summary.attributeChanges,
      clears: plan.summary.clears,
    },
  });
}

export function planChangeLine(c: PlanChange): string {
  return changeJsonWriter().line(c);
}

/**
 * plan.jsonl in pieces that concatenate to renderPlanJsonl's text, so a large plan can be written
 * to a file (or compressed) without building the whole text in memory.
 */
export function* planJsonlChunks(plan: Plan): Generator<string> {
  yield `${planHeaderLine(plan)}\n`;
  // A few hundred lines per chunk: far fewer writes than lines, and a small string each.
  const json = changeJsonWriter();
  yield* plan.changes.chunks((id, dn, a, before, after) => `${json.lineOf(id, dn, a, before, after)}\n`);
}

/** One header line with the digests, then one line per attribute change: the reviewed plan, for machines. */
export function renderPlanJsonl(plan: Plan): string {
  let out = '';
  for (const chunk of planJsonlChunks(plan)) out += chunk;
  return out;
}

export interface ParsedPlan {
  header: PlanHeader;
  changes: PlanChange[];
}

/** The plan's text from either committed form: plan.jsonl as it is, plan.jsonl.gz decompressed. */
export function planText(file: typeof PLAN_FILE | typeof PLAN_GZ_FILE, content: Uint8Array | string): string {
  return committedJsonlText(file, content);
}

/** Reads a committed plan back; throws with the line number when it was edited into something else. */
export function parsePlanJsonl(text: string): ParsedPlan {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = parsePlanHeader(lines[0] ?? '');
  const changes = lines.slice(1).map((l, i) => parsePlanChange(l, i + 2));
  return { header, changes };
}

function parseLine(line: string, n: number): Record<string, unknown> {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new PlanFileError(`plan.jsonl:${n}: not valid JSON`);
  }
}

/** The first line of plan.jsonl; throws when it is not a reexport plan's header. */
export function parsePlanHeader(line: string): PlanHeader {
  const header = parseLine(line, 1) as unknown as PlanHeader;
  if (header.format !== 'reexport-plan/v1')
    throw new PlanFileError('plan.jsonl:1: not a reexport plan (format reexport-plan/v1 expected)');
  return header;
}

/** One change line of plan.jsonl (line number `n`, for the message); for readers that stream. */
export function parsePlanChange(line: string, n: number): PlanChange {
  const c = parseLine(line, n);
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (
    typeof c.id !== 'string' ||
    typeof c.dn !== 'string' ||
    typeof c.attribute !== 'string' ||
    !strings(c.before) ||
    !strings(c.after)
  ) {
    throw new PlanFileError(`plan.jsonl:${n}: expected {id, dn, attribute, before, after}`);
  }
  return c as unknown as PlanChange;
}
