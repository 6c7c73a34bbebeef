import { compareIds } from '../plan/canonical.js';
import type { PlanHeader } from '../plan/plan-types.js';
import { type ChangeOutcome, countOutcomes, OUTCOME_KINDS, type OutcomeKind } from '../execute/outcomes.js';

const KINDS: readonly OutcomeKind[] = OUTCOME_KINDS;

export interface ResultInfo {
  header: PlanHeader;
  startedAt: string;
  finishedAt: string;
  /** Why some changes never ran (e.g. SIGTERM), if so. */
  interrupted?: string;
  /** Whether the applied plan was the committed, reviewed one. */
  reviewed: boolean;
}

/** result.md: counts per outcome and per attribute, then the stale and failed changes per user. */
export function renderResultMd(outcomes: readonly ChangeOutcome[], info: ResultInfo): string {
  const counts = countOutcomes(outcomes);
  const out = [`# Result: ${info.header.request}`, ''];
  out.push(
    `Applied ${info.reviewed ? 'the reviewed plan' : 'a fresh plan (no reviewed plan matched)'} \`${info.header.digests.plan}\` from ${info.startedAt} to ${info.finishedAt}.`,
    '',
  );
  if (info.interrupted)
    out.push(
      `⚠️ **Interrupted**: ${info.interrupted}. The remaining changes run when the daemon resumes.`,
      '',
    );
  out.push(
    '| Outcome | Changes |',
    '|---|---:|',
    ...KINDS.map((k) => `| ${k} | ${counts[k].toLocaleString('en-US')} |`),
    '',
  );
  const perAttr = new Map<string, Record<OutcomeKind, number>>();
  for (const o of outcomes) {
    const row = perAttr.get(o.attribute) ?? countOutcomes([]);
    row[o.outcome]++;
    perAttr.set(o.attribute, row);
  }
  if (perAttr.size) {
    out.push(`| Attribute | ${KINDS.join(' | ')} |`, `|---|${KINDS.map(() => '---:').join('|')}|`);
    for (const [a, row] of perAttr) out.push(`| ${a} | ${KINDS.map((k) => row[k]).join(' | ')} |`);
    out.push('');
  }
  const attention = outcomes
    .filter((o) => o.outcome !== 'applied' && o.outcome !== 'already-applied')
    .sort((a, b) => compareIds(a.id, b.id));
  if (attention.length) {
    out.push('## Not applied', '');
    for (const o of attention) {
      const code = o.code !== undefined ? ` (LDAP ${o.code})` : '';
      const found = o.found ? `; found ${JSON.stringify(o.found)}` : '';
      out.push(`- **${o.id}** \`${o.attribute}\` ${o.outcome}${code}: ${o.reason ?? ''}${found}`);
    }
    out.push('');
  }
  return out.join('\n');
}

export function renderResultJsonl(outcomes: readonly ChangeOutcome[]): string {
  return outcomes.map((o) => JSON.stringify(o)).join('\n') + (outcomes.length ? '\n' : '');
}
