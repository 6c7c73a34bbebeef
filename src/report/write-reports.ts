import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import type { Diagnostic } from '../shared/diagnostics.js';
import type { Plan, PlanChange } from '../plan/plan-types.js';
import type { Signed } from '../lifecycle/signing.js';
import type { Watermark } from '../lifecycle/freshness.js';
import { ldifChunks } from './ldif.js';
import { PLAN_FILE, PLAN_GZ_FILE, planJsonlChunks } from './plan-jsonl.js';
import { renderInvalidMd, renderPreviewMd, type ReportFiles } from './preview-md.js';
import { renderStatus, statusForInvalid, statusForPlan } from '../lifecycle/status.js';

export const REPORT_FILES = ['preview.md', PLAN_FILE, PLAN_GZ_FILE, 'changes.ldif', 'status.yaml'] as const;

/**
 * Above these sizes a preview does not commit its plan as text: a 100,000-change plan is over 10 MB
 * as plan.jsonl and again as changes.ldif, added to the config repository on every refresh.
 * plan.jsonl is then committed gzip-compressed (a tenth of the size) and changes.ldif not at all.
 */
export const REPORT_SIZE_LIMITS = {
  /** plan.jsonl larger than this is committed as plan.jsonl.gz instead. */
  planJsonlBytes: 1024 * 1024,
  /**
   * result.jsonl larger than this is committed as result.jsonl.gz instead (on main, by every
   * execution: 100,000 outcomes are about 10 MB of text).
   */
  resultJsonlBytes: 1024 * 1024,
  /** changes.ldif larger than this is not committed; preview.md says how to produce it. */
  ldifBytes: 1024 * 1024,
};

export type ReportContent = string | Uint8Array;

const ldifHeader = (plan: Pick<Plan, 'header'>) => [
  `reexport plan for request ${plan.header.request}`,
  `plan digest ${plan.header.digests.plan}`,
];

/** changes.ldif's pieces (they concatenate to the file). */
export const previewLdifChunks = (plan: { header: Plan['header']; changes: Iterable<PlanChange> }) =>
  ldifChunks(plan.changes, ldifHeader(plan));

/** changes.ldif follows from plan.jsonl alone, so `verify` can tell whether it was edited. */
export function renderChangesLdif(plan: { header: Plan['header']; changes: Iterable<PlanChange> }): string {
  return join(previewLdifChunks(plan));
}

/** The text of chunks, or undefined as soon as it passes `limit` bytes (the rest is not rendered). */
function joinUpTo(chunks: Iterable<string>, limit: number): string | undefined {
  let out = '';
  let bytes = 0;
  for (const c of chunks) {
    bytes += Buffer.byteLength(c);
    if (bytes > limit) return undefined;
    out += c;
  }
  return out;
}

function join(chunks: Iterable<string>): string {
  let out = '';
  for (const c of chunks) out += c;
  return out;
}

/** What the daemon signs a preview with, and for which branch. */
export interface PreviewSignature {
  branch?: string;
  signature?: Signed;
  /** When the directory was read, and where it stood (for cheap idle passes). */
  directoryReadAt?: string;
  watermark?: Watermark;
}

export const previewStatus = (plan: Plan, signed?: PreviewSignature) =>
  renderStatus({
    ...statusForPlan(plan, signed?.branch),
    ...(signed?.signature ? { signature: signed.signature } : {}),
    ...(signed?.directoryReadAt ? { directoryReadAt: signed.directoryReadAt } : {}),
    ...(signed?.watermark ? { watermark: signed.watermark } : {}),
  });

/** The files of a preview in full, as text; pure, so the daemon can compare before it commits. */
export function renderPreviewFiles(
  plan: Plan,
  maxUsers: number,
  signed?: PreviewSignature,
): Record<string, string> {
  return {
    'preview.md': renderPreviewMd(plan, { maxUsers }),
    [PLAN_FILE]: join(planJsonlChunks(plan)),
    'changes.ldif': renderChangesLdif(plan),
    'status.yaml': previewStatus(plan, signed),
  };
}

/**
 * The files a preview commits to the config repository: in full for a small plan; above
 * REPORT_SIZE_LIMITS plan.jsonl.gz instead of plan.jsonl and no changes.ldif. A null value
 * removes a file the other layout left (a plan that grew or shrank between refreshes). Pure and
 * deterministic (gzip without a time stamp, whatever the pieces it is given), so the daemon can compare before it commits. The plan
 * digest is over the changes, not the bytes: execution verifies the same plan from either file.
 */
export async function renderCommittedPreviewFiles(
  plan: Plan,
  maxUsers: number,
  signed?: PreviewSignature,
  limits: Pick<typeof REPORT_SIZE_LIMITS, 'planJsonlBytes' | 'ldifBytes'> = REPORT_SIZE_LIMITS,
): Promise<Record<string, ReportContent | null>> {
  const jsonl = await jsonlUpTo(planJsonlChunks(plan), limits.planJsonlBytes);
  const compress = 'gz' in jsonl;
  const ldif = joinUpTo(previewLdifChunks(plan), limits.ldifBytes);
  const files: ReportFiles | undefined =
    compress || ldif === undefined
      ? {
          plan: compress ? PLAN_GZ_FILE : PLAN_FILE,
          ...(ldif === undefined ? { ldifOmittedAbove: limits.ldifBytes } : {}),
        }
      : undefined;
  return {
    'preview.md': renderPreviewMd(plan, { maxUsers, ...(files ? { files } : {}) }),
    [PLAN_FILE]: 'text' in jsonl ? jsonl.text : null,
    [PLAN_GZ_FILE]: 'gz' in jsonl ? jsonl.gz : null,
    'changes.ldif': ldif ?? null,
    'status.yaml': previewStatus(plan, signed),
  };
}

/**
 * A JSON-lines file's text (plan.jsonl, result.jsonl) when it is at most `limit` bytes; above, its
 * gzip bytes, compressed as the text is produced: a large plan is never one string in memory
 * (100,000 changes are 13 MB of text, twice that as a JavaScript string once a name has an å),
 * and the compression runs on libuv's threads while this one renders. The fastest level: such
 * text still compresses tenfold. Deterministic (no time stamp in the gzip header).
 */
export async function jsonlUpTo(
  chunks: Iterable<string>,
  limit: number,
): Promise<{ text: string } | { gz: Buffer }> {
  const it = chunks[Symbol.iterator]();
  let text = '';
  let bytes = 0;
  for (let step = it.next(); !step.done; step = it.next()) {
    text += step.value;
    bytes += Buffer.byteLength(step.value);
    if (bytes <= limit) continue;
    const gzip = createGzip({ level: 1 });
    const out: Buffer[] = [];
    gzip.on('data', (b: Buffer) => out.push(b));
    const ended = once(gzip, 'end');
    const write = async (chunk: string) => {
      if (!gzip.write(chunk)) await once(gzip, 'drain');
    };
    await write(text);
    for (let next = it.next(); !next.done; next = it.next()) await write(next.value);
    gzip.end();
    await ended;
    return { gz: Buffer.concat(out) };
  }
  return { text };
}

export function renderInvalidFiles(
  request: string,
  diagnostics: readonly Diagnostic[],
  commit?: string,
): Record<string, string> {
  return {
    'preview.md': renderInvalidMd(request, diagnostics),
    'status.yaml': renderStatus(statusForInvalid(request, diagnostics, commit)),
  };
}
