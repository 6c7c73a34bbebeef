import type { KeyObject } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { requestDigest, templateDigest } from '../config/digests.js';
import type { ReexportRequest, SyncTemplate } from '../config/types.generated.js';
import { verifySigned } from '../lifecycle/signing.js';
import { statusHolds, textDigest } from '../lifecycle/statements.js';
import { planDigest } from '../plan/build-plan.js';
import { parsePlanJsonl } from '../report/plan-jsonl.js';
import { renderChangesLdif } from '../report/write-reports.js';
import type { Diagnostic } from '../shared/diagnostics.js';

/** One request the branch adds or changes, as the checkout has it. */
export interface VerifyRequest {
  name: string;
  /** requests/<name>.yaml */
  file: string;
  request?: ReexportRequest;
  template?: SyncTemplate;
  /** `sha256:<hex>` of an in-repo source file's bytes, as the runtime computes it; or why it cannot be checked. */
  source: { digest: string; file: string } | { note: string };
  /** The files under reports/<name>/, when present. */
  reports: { status?: string; plan?: string; ldif?: string; md?: string };
}

/** A commit since the base that touched reports/ (see adapters/git/branch-history.ts). */
export interface VerifyCommit {
  commit: string;
  subject: string;
  byDaemon: boolean;
  files: string[];
}

export interface VerifyResult {
  diagnostics: Diagnostic[];
  notes: string[];
  /** Requests whose signed preview is current. */
  current: string[];
}

const WAIT = "wait for the daemon's preview (it previews the branch on its next pass)";
const EDITED = "reports/ was edited by a commit that is not the daemon's: revert it";

/**
 * The required check, without I/O: each request has the daemon's signed preview of exactly the
 * request, template, source and plan on the branch, and no one but the daemon touched reports/.
 */
export function verifyBranch(input: {
  requests: readonly VerifyRequest[];
  reportCommits: readonly VerifyCommit[];
  publicKey: KeyObject;
  /** The branch the pull request targets (main): a preview signed there is no review of this one. */
  baseBranch?: string;
}): VerifyResult {
  const diagnostics: Diagnostic[] = [];
  const notes: string[] = [];
  const current: string[] = [];
  for (const c of input.reportCommits) {
    const outside = c.files.filter((f) => !f.startsWith('reports/'));
    if (c.byDaemon && outside.length === 0) continue;
    const first = c.files.find((f) => f.startsWith('reports/')) ?? 'reports';
    diagnostics.push({
      file: first,
      line: 1,
      col: 1,
      message: `commit ${c.commit.slice(0, 12)} (${c.subject}) changes reports/${c.byDaemon ? ' together with other files' : ''}; ${EDITED}`,
    });
  }
  for (const r of input.requests) {
    const problems = checkRequest(r, input.publicKey, notes, input.baseBranch);
    if (problems.length === 0) current.push(r.name);
    for (const message of problems) diagnostics.push({ file: r.file, line: 1, col: 1, message });
  }
  return { diagnostics, notes, current };
}

function checkRequest(
  r: VerifyRequest,
  publicKey: KeyObject,
  notes: string[],
  baseBranch?: string,
): string[] {
  const where = `reports/${r.name}`;
  if (r.reports.status === undefined) return [`${where}/status.yaml is missing: ${WAIT}`];
  let status: { state?: unknown; errors?: unknown; signature?: unknown; safety?: { message?: unknown } };
  try {
    status = (parseYaml(r.reports.status) ?? {}) as typeof status;
  } catch {
    return [`${where}/status.yaml is not YAML; ${EDITED}`];
  }
  const verified = verifySigned(status.signature, publicKey);
  if (!verified.ok) {
    if (verified.reason === 'no signature') {
      return status.state === 'invalid'
        ? [`the daemon found errors in this request: ${listErrors(status.errors)}`]
        : [`${where}/status.yaml carries no daemon signature: ${WAIT}`];
    }
    return [`${where}/status.yaml is not signed by this daemon (${verified.reason}); ${EDITED}, and ${WAIT}`];
  }
  const st = verified.statement;
  if (st.kind !== 'preview' || st.request !== r.name)
    return [
      `${where}/status.yaml holds the daemon's ${st.kind} statement for ${st.request}, not a preview of ${r.name}: ${WAIT}`,
    ];
  if (status.state !== st.state)
    return [`${where}/status.yaml says ${String(status.state)} but the daemon signed ${st.state}; ${EDITED}`];
  if (st.state === 'invalid')
    return [`the daemon found errors in this request: ${listErrors(status.errors)}`];
  if (st.state !== 'previewed') return [`the daemon's preview is ${st.state}, not previewed`];
  // Main's preview, come with the branch: the daemon signs this branch's own on its next pass,
  // and executes only that one after the merge.
  if (baseBranch !== undefined && st.branch === baseBranch)
    return [`the preview in ${where} was made on ${baseBranch}, not for this pull request: ${WAIT}`];

  const out: string[] = [];
  if (!r.request || !r.template) {
    return ['the request or its template does not validate here; run `reexport validate`'];
  }
  if (st.digests.request !== requestDigest(r.request))
    out.push(`the preview is for an older version of the request: ${WAIT}`);
  if (st.digests.template !== templateDigest(r.template))
    out.push(`the preview is for an older version of template ${r.template.metadata.name}: ${WAIT}`);
  if ('digest' in r.source) {
    if (st.digests.source !== r.source.digest)
      out.push(`the preview is for an older version of ${r.source.file}: ${WAIT}`);
  } else {
    notes.push(`${r.name}: ${r.source.note}`);
  }
  if (r.reports.plan === undefined) {
    out.push(`${where}/plan.jsonl is missing; ${EDITED}`);
    return out;
  }
  let plan;
  try {
    plan = parsePlanJsonl(r.reports.plan);
  } catch (err) {
    out.push(`${where}/plan.jsonl cannot be read (${(err as Error).message}); ${EDITED}`);
    return out;
  }
  const h = plan.header;
  const headerSigned =
    h.request === st.request &&
    (['request', 'template', 'source', 'plan'] as const).every((k) => h.digests?.[k] === st.digests[k]);
  if (planDigest(plan.changes) !== st.digests.plan || !headerSigned) {
    out.push(`${where}/plan.jsonl is not the plan the daemon signed; ${EDITED}`);
  } else if (r.reports.ldif !== undefined && r.reports.ldif !== renderChangesLdif(plan)) {
    out.push(`${where}/changes.ldif does not match plan.jsonl; ${EDITED}`);
  } else if (st.previewMd === undefined || st.status === undefined) {
    // Such a statement vouches for the plan only; the daemon previews the request again.
    out.push(`${where}/status.yaml holds a preview signed by an older version of the daemon: ${WAIT}`);
  } else if (r.reports.md === undefined || textDigest(r.reports.md) !== st.previewMd) {
    out.push(`${where}/preview.md is not the text the daemon signed; ${EDITED}`);
  } else if (!statusHolds(st, r.reports.status)) {
    // Its counts and safety message are what the forge shows beside the plan.
    out.push(`${where}/status.yaml is not the text the daemon signed; ${EDITED}`);
  } else if (st.withinLimits === false) {
    // The verdict is signed; its wording (status.yaml) only says why, and is shown as such.
    const why = typeof status.safety?.message === 'string' ? status.safety.message : 'see preview.md';
    out.push(
      `the daemon would refuse to execute this plan (${why}); change the request until its preview is within limits`,
    );
  }
  return out;
}

function listErrors(errors: unknown): string {
  return Array.isArray(errors) && errors.length ? errors.map(String).join('; ') : 'see preview.md';
}
