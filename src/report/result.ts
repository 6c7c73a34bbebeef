import { sortByIds } from '../plan/canonical.js';
import type { PlanHeader } from '../plan/plan-types.js';
import { type ChangeOutcome, OUTCOME_KINDS, type OutcomeKind, OutcomeTally } from '../execute/outcomes.js';
import { committedJsonlText } from './jsonl-file.js';
import { formatCount as n, plural, wasWere } from '../shared/text.js';
import { code, plain } from './markdown.js';

const KINDS: readonly OutcomeKind[] = OUTCOME_KINDS;

/** Every change's outcome, and its gzip-compressed form for large executions (see write-reports.ts). */
export const RESULT_FILE = 'result.jsonl';
export const RESULT_GZ_FILE = 'result.jsonl.gz';
export type ResultFile = typeof RESULT_FILE | typeof RESULT_GZ_FILE;

/** What each outcome means, in the words result.md uses for it everywhere. */
const MEANING: Record<OutcomeKind, string> = {
  applied: 'written as reviewed',
  'already-applied': 'the directory already held the reviewed value; nothing written',
  stale: 'the directory changed after the preview; not overwritten',
  failed: 'the directory refused the change',
  skipped: 'not attempted',
  pending: 'not written yet (the directory was unreachable or busy); the next pass retries it',
};

export interface ResultInfo {
  header: PlanHeader;
  startedAt: string;
  finishedAt: string;
  /** Why some changes never ran (e.g. SIGTERM), if so. */
  interrupted?: string;
  /** Whether the applied plan was the committed, reviewed one. */
  reviewed: boolean;
  /** Which file holds every change's outcome (result.jsonl unless large). */
  file?: ResultFile;
}

/**
 * One sentence that says what happened, true for every mix of outcomes: "Applied 0 of 1 change:
 * 1 was stale (the directory changed after the preview; not overwritten)." Also for status messages.
 */
export function outcomeHeadline(counts: Record<OutcomeKind, number>, interrupted = false): string {
  const total = KINDS.reduce((sum, k) => sum + counts[k], 0);
  if (total === 0)
    return interrupted ? 'No change was applied before the interruption.' : 'No changes to apply.';
  const applied = interrupted ? 'Before the interruption: applied' : 'Applied';
  if (counts.applied === total) return `${applied} ${plural(total, 'change')}.`;
  const parts: string[] = [];
  const was = (k: OutcomeKind, word: string) => {
    if (counts[k]) parts.push(`${n(counts[k])} ${wasWere(counts[k])} ${word} (${MEANING[k]})`);
  };
  was('already-applied', 'already applied');
  was('stale', 'stale');
  if (counts.failed) parts.push(`${n(counts.failed)} failed (${MEANING.failed})`);
  was('skipped', 'skipped');
  if (counts.pending) parts.push(`${n(counts.pending)} pending (${MEANING.pending})`);
  return `${applied} ${n(counts.applied)} of ${plural(total, 'change')}: ${parts.join('; ')}.`;
}

/** result.md: what happened in one sentence, counts per outcome and attribute, then each change not applied. */
export function renderResultMd(outcomes: readonly ChangeOutcome[] | OutcomeTally, info: ResultInfo): string {
  const tally = outcomes instanceof OutcomeTally ? outcomes : OutcomeTally.of(outcomes);
  const { counts, perAttribute: perAttr, notApplied } = tally;
  const out = [`# Result: ${info.header.request}`, ''];
  out.push(`**${outcomeHeadline(counts, info.interrupted !== undefined)}**`, '');
  out.push(
    `Plan: ${info.reviewed ? 'the reviewed plan' : 'a fresh plan, **not reviewed** (no reviewed plan matched)'} \`${info.header.digests.plan}\`, executed from ${info.startedAt} to ${info.finishedAt}.`,
    '',
  );
  if (info.interrupted)
    out.push(
      `⚠️ **Interrupted**: ${info.interrupted}. The remaining changes run when the daemon resumes.`,
      '',
    );
  out.push(
    '| Outcome | Changes | Meaning |',
    '|---|---:|---|',
    ...KINDS.map((k) => `| ${k} | ${n(counts[k])} | ${MEANING[k]} |`),
    '',
  );
  if (perAttr.size) {
    out.push(`| Attribute | ${KINDS.join(' | ')} |`, `|---|${KINDS.map(() => '---:').join('|')}|`);
    for (const [a, row] of perAttr) out.push(`| ${a} | ${KINDS.map((k) => n(row[k])).join(' | ')} |`);
    out.push('');
  }
  section(
    out,
    notApplied,
    'failed',
    'Failed: refused by the directory',
    "The LDAP result code and the server's message say why; fix the value or the template in a new request.",
    (o) => `LDAP result code ${o.code ?? 'unknown'}: ${plain(o.reason ?? 'no message')}`,
  );
  section(
    out,
    notApplied,
    'stale',
    'Stale: not overwritten',
    'Someone or something changed these values after the preview. Nothing was written to them; a new preview shows what the mapping would do now.',
    (o) =>
      o.found === undefined
        ? plain(o.reason ?? '')
        : `found ${o.found.length ? o.found.map(code).join(', ') : 'no value'}${o.reason ? ` (${plain(o.reason)})` : ''}`,
  );
  section(out, notApplied, 'skipped', 'Skipped', 'These changes were not attempted:', (o) =>
    plain(o.reason ?? 'no reason given'),
  );
  section(
    out,
    notApplied,
    'pending',
    'Pending: not written yet',
    'The directory did not answer (connection lost, busy or unavailable). The request stays partial; the next pass writes these, deciding each on a fresh read.',
    (o) => plain(o.reason ?? ''),
  );
  if (info.file === RESULT_GZ_FILE)
    out.push(
      '## Files',
      '',
      `Every change's outcome is in \`${RESULT_GZ_FILE}\`, committed compressed because the execution is large (gzip; \`zcat ${RESULT_GZ_FILE}\` shows it, one JSON line per change as in \`${RESULT_FILE}\`).`,
      '',
    );
  return out.join('\n');
}

function section(
  out: string[],
  outcomes: readonly ChangeOutcome[],
  kind: OutcomeKind,
  title: string,
  intro: string,
  detail: (o: ChangeOutcome) => string,
): void {
  const these = sortByIds(
    outcomes.filter((o) => o.outcome === kind),
    (o) => o.id,
  );
  if (!these.length) return;
  out.push(`## ${title} (${plural(these.length, 'change')})`, '', intro, '');
  for (const o of these) out.push(`- **${plain(o.id)}** \`${o.attribute}\` of ${code(o.dn)}: ${detail(o)}`);
  out.push('');
}

export function renderResultJsonl(outcomes: readonly ChangeOutcome[]): string {
  return outcomes.map((o) => JSON.stringify(o)).join('\n') + (outcomes.length ? '\n' : '');
}

/** The outcomes' text from either committed form: result.jsonl as it is, result.jsonl.gz decompressed. */
export function resultText(file: ResultFile, content: Uint8Array | string): string {
  return committedJsonlText(file, content);
}

/** result.jsonl read back (every change's outcome); empty for none. */
export function parseResultJsonl(text: string | undefined): ChangeOutcome[] {
  return (text ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ChangeOutcome);
}
