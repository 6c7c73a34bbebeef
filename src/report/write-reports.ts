import type { Diagnostic } from '../shared/diagnostics.js';
import type { Plan } from '../plan/plan-types.js';
import type { Signed } from '../lifecycle/signing.js';
import { renderLdif } from './ldif.js';
import { renderPlanJsonl } from './plan-jsonl.js';
import { renderInvalidMd, renderPreviewMd } from './preview-md.js';
import { renderStatus, statusForInvalid, statusForPlan } from '../lifecycle/status.js';

export const REPORT_FILES = ['preview.md', 'plan.jsonl', 'changes.ldif', 'status.yaml'] as const;

/** The files of a preview, rendered; pure, so the daemon can compare before it commits. */
export function renderPreviewFiles(
  plan: Plan,
  maxUsers: number,
  signed?: { branch?: string; signature?: Signed },
): Record<string, string> {
  return {
    'preview.md': renderPreviewMd(plan, { maxUsers }),
    'plan.jsonl': renderPlanJsonl(plan),
    'changes.ldif': renderChangesLdif(plan),
    'status.yaml': renderStatus({
      ...statusForPlan(plan, signed?.branch),
      ...(signed?.signature ? { signature: signed.signature } : {}),
    }),
  };
}

/** changes.ldif follows from plan.jsonl alone, so `verify` can tell whether it was edited. */
export function renderChangesLdif(plan: Pick<Plan, 'header' | 'changes'>): string {
  return renderLdif(plan.changes, [
    `reexport plan for request ${plan.header.request}`,
    `plan digest ${plan.header.digests.plan}`,
  ]);
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
