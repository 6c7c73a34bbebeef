import { diffArrays } from 'diff';
import type { Diagnostic } from '../shared/diagnostics.js';
import { formatDiagnostic } from '../shared/diagnostics.js';
import type { Plan, PlanChange } from '../plan/plan-types.js';

export interface PreviewOptions {
  /** Users shown with a diff; the rest are in plan.jsonl and changes.ldif. */
  maxUsers: number;
  /** Lines of lists (no entry, errors…) shown before "and N more". */
  maxListed?: number;
}

const n = (x: number) => x.toLocaleString('en-US');

/** preview.md: the summary a reviewer decides on, then a diff per user sorted by user ID. */
export function renderPreviewMd(plan: Plan, opts: PreviewOptions): string {
  const { header, summary: s, safety } = plan;
  const max = opts.maxListed ?? 50;
  const out: string[] = [];
  out.push(`# Preview: ${header.request}`, '');
  out.push(
    `Template \`${header.template}\` → target \`${header.target}\`; mappings: ${header.mappings.map((m) => `\`${m}\``).join(', ')}.`,
    '',
  );
  out.push('| | |', '|---|---|');
  out.push(`| Entries in scope | ${n(s.entriesInScope)} |`);
  out.push(`| Source records selected | ${n(s.recordsSelected)} of ${n(s.recordsInSource)} |`);
  out.push(`| Users matched | ${n(s.matched)} |`);
  out.push(`| Unchanged | ${n(s.unchanged)} |`);
  out.push(`| **To change** | **${n(s.usersToChange)} users, ${n(s.attributeChanges)} attribute changes** |`);
  out.push(`| Values removed | ${n(s.clears)} |`);
  out.push(`| No directory entry | ${n(s.noEntry.length)} |`);
  out.push(`| Duplicate matches (not written) | ${n(s.duplicateMatches.length)} |`);
  out.push(`| Evaluation errors | ${n(s.evaluationErrors.length)} |`);
  out.push(`| Source records left out | ${n(s.sourceIssues.length)} |`);
  out.push(`| Safety threshold | ${safety.ok ? '✅' : '⛔'} ${safety.message} |`);
  out.push(`| Plan digest | \`${header.digests.plan}\` |`);
  out.push('');
  const attrs = Object.entries(s.perAttribute);
  if (attrs.length) {
    out.push('| Attribute | Changes | Clears | Empty, skipped |', '|---|---:|---:|---:|');
    for (const [a, c] of attrs)
      out.push(`| ${a} | ${n(c.changes)} | ${n(c.clears)} | ${n(c.skippedEmpty)} |`);
    out.push('');
  }

  const warnings: string[] = [];
  const list = <T>(title: string, items: readonly T[], line: (t: T) => string) => {
    if (!items.length) return;
    warnings.push(`**${title}** (${n(items.length)}):`, '');
    for (const item of items.slice(0, max)) warnings.push(`- ${line(item)}`);
    if (items.length > max) warnings.push(`- … and ${n(items.length - max)} more`);
    warnings.push('');
  };
  list(
    'Duplicate matches: more than one entry has the ID; nothing is written to them',
    s.duplicateMatches,
    (d) => `${d.id}: ${d.dns.map(code).join(', ')}`,
  );
  list('Evaluation errors', s.evaluationErrors, (e) => `${e.id} ${e.attribute}: ${e.message}`);
  list('Source records with no directory entry', s.noEntry, (r) => `${r.id} (${r.origin})`);
  list('IDs in the request that are not in the source', s.unknownIds, (id) => id);
  list('Source records left out', s.sourceIssues, (i) => `${i.origin}: ${i.message}`);
  list(
    'The same value computed for several users',
    s.collisions,
    (c) => `${c.attribute} ${code(c.value)}: ${c.ids.join(', ')}`,
  );
  list(
    'Attributes left alone because the directory holds a non-text value',
    s.binarySkipped,
    (b) => `${b.id} ${b.attribute}`,
  );
  if (warnings.length) out.push('## Warnings', '', ...warnings);

  out.push('## Changes', '');
  if (plan.changes.length === 0)
    out.push('No changes: the directory already holds what the mappings produce.', '');
  const users = groupByUser(plan.changes);
  for (const changes of users.slice(0, opts.maxUsers)) out.push(...userDiff(changes), '');
  if (users.length > opts.maxUsers) {
    out.push(
      `*Cut after ${n(opts.maxUsers)} of ${n(users.length)} users.* The other ${n(users.length - opts.maxUsers)} are in \`plan.jsonl\` and \`changes.ldif\` next to this file.`,
      '',
    );
  }
  return out.join('\n');
}

/** preview.md for a request that cannot be planned: every located problem, and what to do. */
export function renderInvalidMd(request: string, diagnostics: readonly Diagnostic[]): string {
  return [
    `# Preview: ${request}`,
    '',
    '⛔ **Invalid**: this request cannot be previewed or executed until these problems are fixed.',
    '',
    '```',
    ...diagnostics.map(formatDiagnostic),
    '```',
    '',
  ].join('\n');
}

function groupByUser(changes: readonly PlanChange[]): PlanChange[][] {
  const groups: PlanChange[][] = [];
  for (const c of changes) {
    const last = groups[groups.length - 1];
    if (last && last[0]!.id === c.id) last.push(c);
    else groups.push([c]);
  }
  return groups;
}

function userDiff(changes: PlanChange[]): string[] {
  const first = changes[0]!;
  const out = [`### ${first.id}`, '', `\`${first.dn}\``, '', '```diff'];
  for (const c of changes) {
    const before = [...c.before].sort();
    const after = c.after;
    // Unchanged values (kept by merge) stay as context, so a reviewer sees the whole attribute.
    const parts = diffArrays(before, [...after].sort());
    for (const part of parts) {
      const sign = part.added ? '+' : part.removed ? '-' : ' ';
      for (const v of part.value) out.push(`${sign}${c.attribute}: ${v}`);
    }
    if (before.length === 0) out.push(`# ${c.attribute} had no value`);
    if (after.length === 0) out.push(`# ${c.attribute} is cleared`);
  }
  out.push('```');
  return out;
}

function code(s: string): string {
  return `\`${s.replace(/`/g, "'")}\``;
}
