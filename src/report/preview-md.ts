// The one module preview.md needs: the package's index loads its twenty (15 ms of every preview).
import { diffArrays } from 'diff/lib/diff/array.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { formatDiagnostic } from '../shared/diagnostics.js';
import {
  LISTED_MAX,
  type MappingExplanation,
  type Plan,
  type PlanChange,
  type PlanExplanations,
} from '../plan/plan-types.js';
import { formatCount as n, plural, visibleControls } from '../shared/text.js';
import { code, plain } from './markdown.js';

export interface PreviewOptions {
  /** Users shown with a diff; the rest are in plan.jsonl and changes.ldif. */
  maxUsers: number;
  /** Lines of lists (no entry, errors…) shown before "and N more". */
  maxListed?: number;
  /** The machine-readable files committed next to preview.md, when not plan.jsonl and changes.ldif. */
  files?: ReportFiles;
}

/** Which files hold the whole plan: large plans are committed compressed and without LDIF. */
export interface ReportFiles {
  plan: string;
  /** Set when changes.ldif is not committed: the byte size above which it is left out. */
  ldifOmittedAbove?: number;
}

/** preview.md: the summary a reviewer decides on, then a diff per user sorted by user ID. */
export function renderPreviewMd(plan: Plan, opts: PreviewOptions): string {
  const { header, summary: s, safety } = plan;
  const max = opts.maxListed ?? LISTED_MAX;
  const out: string[] = [];
  out.push(`# Preview: ${header.request}`, '');
  out.push(
    `Template \`${header.template}\` → target \`${header.target}\`; mappings: ${header.mappings.map((m) => `\`${m}\``).join(', ')}.`,
    '',
  );
  out.push(
    `The directory was read at ${header.createdAt}; execution compares every value with the directory again right before writing.`,
    '',
  );
  out.push('| | |', '|---|---|');
  out.push(`| Entries in scope | ${n(s.entriesInScope)} |`);
  out.push(`| Source records selected | ${n(s.recordsSelected)} of ${n(s.recordsInSource)} |`);
  out.push(`| Users matched | ${n(s.matched)} |`);
  out.push(`| Entries no source record matches | ${n(s.unmatchedEntries.count)} |`);
  out.push(`| Unchanged | ${n(s.unchanged)} |`);
  out.push(
    `| **To change** | **${plural(s.usersToChange, 'user')}, ${plural(s.attributeChanges, 'attribute change')}** |`,
  );
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
    out.push('| Attribute | Changes | Values removed | Empty, skipped |', '|---|---:|---:|---:|');
    for (const [a, c] of attrs)
      out.push(`| ${a} | ${n(c.changes)} | ${n(c.clears)} | ${n(c.skippedEmpty)} |`);
    out.push('');
  }

  const warnings: string[] = [];
  // `total`: the plan may keep only the first items of a long list (unmatched entries).
  const list = <T>(title: string, items: readonly T[], line: (t: T) => string, total = items.length) => {
    if (!total) return;
    warnings.push(`**${title}** (${n(total)}):`, '');
    for (const item of items.slice(0, max)) warnings.push(`- ${line(item)}`);
    if (total > Math.min(max, items.length))
      warnings.push(`- … and ${n(total - Math.min(max, items.length))} more`);
    warnings.push('');
  };
  list(
    'Duplicate matches: more than one entry has the ID; nothing is written to them',
    s.duplicateMatches,
    (d) => `${code(d.id)}: ${d.dns.map(code).join(', ')}`,
  );
  // Every ID, origin and message is the source's or the request's text: code or escaped, so that
  // no line break or HTML in one can add Markdown of its own (a heading, a comment hiding the rest).
  list('Evaluation errors', s.evaluationErrors, (e) => `${code(e.id)} ${e.attribute}: ${plain(e.message)}`);
  list('Source records with no directory entry', s.noEntry, (r) => `${code(r.id)} (${code(r.origin)})`);
  list('IDs in the request that are not in the source', s.unknownIds, code);
  list(
    'Directory entries in scope that no source record matches; left as they are',
    s.unmatchedEntries.first,
    (e) => `${code(e.id)}: ${code(e.dn)}`,
    s.unmatchedEntries.count,
  );
  list('Source records left out', s.sourceIssues, (i) => `${code(i.origin)}: ${plain(i.message)}`);
  list(
    'The same value computed for several users',
    s.collisions,
    (c) => `${c.attribute} ${code(c.value)}: ${c.ids.map(code).join(', ')}`,
  );
  list(
    'Attributes left alone because the directory holds a non-text value',
    s.binarySkipped,
    (b) => `${code(b.id)} ${b.attribute}`,
  );
  if (warnings.length) out.push('## Warnings', '', ...warnings);

  out.push('## Changes', '');
  if (plan.changes.length === 0)
    out.push('No changes: the directory already holds what the mappings produce.', '');
  const users = plan.changes.userCount;
  for (const changes of plan.changes.firstUsers(opts.maxUsers))
    out.push(...userDiff(changes), ...because(changes, plan.explanations), '');
  const files = opts.files ?? { plan: 'plan.jsonl' };
  const where =
    files.ldifOmittedAbove === undefined ? `\`${files.plan}\` and \`changes.ldif\`` : `\`${files.plan}\``;
  if (users > opts.maxUsers) {
    const rest = users - opts.maxUsers;
    out.push(
      `*Cut after ${n(opts.maxUsers)} of ${plural(users, 'user')}.* The other ${n(rest)} ${rest === 1 ? 'is' : 'are'} in ${where} next to this file.`,
      '',
    );
  }
  if (opts.files) out.push(...filesNote(header.request, opts.files));
  return out.join('\n');
}

/** For a plan too large to commit as text: where it is, and how to get the LDIF. */
function filesNote(request: string, files: ReportFiles): string[] {
  const out = ['## Files', ''];
  if (files.plan.endsWith('.gz'))
    out.push(
      `The plan is large, so it is committed compressed: \`${files.plan}\` (gzip; \`zcat ${files.plan}\` shows it). Its digest is the same as uncompressed.`,
      '',
    );
  if (files.ldifOmittedAbove !== undefined)
    out.push(
      `\`changes.ldif\` is not committed for plans over ${n(Math.round(files.ldifOmittedAbove / 1024))} KiB. To read the changes as LDIF: \`reexport preview ${request} --config DAEMON.yaml --format ldif\` (it shows the plan digest in its header; compare it with the one above).`,
      '',
    );
  return out;
}

/** The problems an invalid request's preview.md lists (the rest: `reexport validate`). */
const INVALID_LISTED_MAX = 1000;

/** preview.md for a request that cannot be planned: every located problem, and what to do. */
export function renderInvalidMd(request: string, diagnostics: readonly Diagnostic[]): string {
  return [
    `# Preview: ${request}`,
    '',
    '⛔ **Invalid**: this request cannot be previewed or executed until these problems are fixed.',
    '',
    '```',
    // One line each, whatever a quoted value holds: no line may close the fence.
    ...diagnostics.slice(0, INVALID_LISTED_MAX).map((d) => visibleControls(formatDiagnostic(d))),
    ...(diagnostics.length > INVALID_LISTED_MAX
      ? [`… and ${diagnostics.length - INVALID_LISTED_MAX} more: \`reexport validate\` lists them all`]
      : []),
    '```',
    '',
  ].join('\n');
}

/**
 * Above this many values of one attribute, sortedDiff instead of diff's Myers algorithm, whose
 * time grows with the values times the differences (a group of 20,000 members replaced took 76 s).
 */
const MYERS_MAX = 1000;

type DiffPart = { value: string[]; added?: boolean; removed?: boolean };

/** The diff of two sorted lists in one walk: kept values as context, the others removed or added. */
function sortedDiff(before: readonly string[], after: readonly string[]): DiffPart[] {
  const parts: DiffPart[] = [];
  const put = (v: string, kind: 'added' | 'removed' | undefined) => {
    const last = parts[parts.length - 1];
    if (last && (last.added ? 'added' : last.removed ? 'removed' : undefined) === kind) last.value.push(v);
    else parts.push(kind ? { value: [v], [kind]: true } : { value: [v] });
  };
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const b = before[i];
    const a = after[j];
    if (b !== undefined && (a === undefined || b < a)) {
      put(b, 'removed');
      i++;
    } else if (a !== undefined && (b === undefined || a < b)) {
      put(a, 'added');
      j++;
    } else {
      put(b!, undefined);
      i++;
      j++;
    }
  }
  return parts;
}

function userDiff(changes: PlanChange[]): string[] {
  const first = changes[0]!;
  const out = [`### ${plain(first.id)}`, '', code(first.dn), '', '```diff'];
  for (const c of changes) {
    const before = [...c.before].sort();
    const after = c.after;
    // Unchanged values (kept by merge) stay as context, so a reviewer sees the whole attribute.
    const sortedAfter = [...after].sort();
    const parts =
      before.length + sortedAfter.length > MYERS_MAX
        ? sortedDiff(before, sortedAfter)
        : diffArrays(before, sortedAfter);
    for (const part of parts) {
      const sign = part.added ? '+' : part.removed ? '-' : ' ';
      for (const v of part.value) out.push(`${sign}${c.attribute}: ${visibleControls(v)}`);
    }
    if (before.length === 0) out.push(`# ${c.attribute} had no value`);
    if (after.length === 0) out.push(`# ${c.attribute} is cleared`);
  }
  out.push('```');
  return out;
}

/**
 * Why each new value: per changed attribute, the mapping's expression and the source values it
 * read. Nothing when the plan carries no explanation for the user (read back, or past the limit).
 */
function because(changes: PlanChange[], explanations: PlanExplanations | undefined): string[] {
  const values = explanations?.sources.get(changes[0]!.id);
  if (!explanations || !values) return [];
  const out = ['', 'Because:', ''];
  for (const c of changes) {
    const m = explanations.mappings[c.attribute];
    if (!m) continue;
    const read = m.fields.map((f) => {
      const v = values[f];
      return `${f} = ${v === null || v === undefined ? '*(missing)*' : v === '' ? '*(empty)*' : code(v)}`;
    });
    // The values first: they are what a reviewer checks against the diff above.
    const expressions = m.source.map(code).join(', ');
    const why = m.fields.length
      ? `from ${read.join(', ')} by ${expressions}`
      : `is the fixed value ${expressions}`;
    out.push(`- **${c.attribute}** ${why}${policyNote(c, m)}`);
  }
  return out;
}

/** What a policy or onEmpty did to this change, when the expression alone does not say it. */
function policyNote(c: PlanChange, m: MappingExplanation): string {
  if (c.after.length === 0) return '; the result is empty, so the attribute is cleared (`onEmpty: clear`)';
  if (m.policy === 'keep') return '; `policy: keep` fills only an empty attribute';
  if (m.policy !== 'merge') return '';
  const demoted =
    c.attribute.toLowerCase() === 'proxyaddresses' &&
    c.before.some((v) => v.startsWith('SMTP:') && c.after.includes(`smtp:${v.slice(5)}`));
  return demoted
    ? '; `policy: merge` keeps the other values, the old primary `SMTP:` stays as a secondary `smtp:`'
    : '; `policy: merge` keeps the other values';
}
