import { stringify } from 'yaml';
import type { Diagnostic } from '../shared/diagnostics.js';
import { formatDiagnostic } from '../shared/diagnostics.js';
import type { Plan } from '../plan/plan-types.js';

export type RequestState = 'previewed' | 'executing' | 'executed' | 'failed' | 'invalid' | 'refused';

/** status.yaml: the request's state as the daemon sees it; the daemon's memory across restarts. */
export interface RequestStatus {
  request: string;
  state: RequestState;
  message?: string;
  digests?: Plan['header']['digests'];
  counts?: Record<string, number>;
  safety?: { ok: boolean; message: string };
  errors?: string[];
  commit?: string;
  previewedAt?: string;
  executionStartedAt?: string;
  executedAt?: string;
  executedCommit?: string;
}

export function statusForPlan(plan: Plan): RequestStatus {
  const s = plan.summary;
  return {
    request: plan.header.request,
    state: 'previewed',
    digests: plan.header.digests,
    counts: {
      entriesInScope: s.entriesInScope,
      usersToChange: s.usersToChange,
      attributeChanges: s.attributeChanges,
      clears: s.clears,
      noEntry: s.noEntry.length,
      duplicateMatches: s.duplicateMatches.length,
      evaluationErrors: s.evaluationErrors.length,
    },
    safety: { ok: plan.safety.ok, message: plan.safety.message },
    ...(plan.header.commit ? { commit: plan.header.commit } : {}),
    previewedAt: plan.header.createdAt,
  };
}

export function statusForInvalid(
  request: string,
  diagnostics: readonly Diagnostic[],
  commit?: string,
): RequestStatus {
  return {
    request,
    state: 'invalid',
    errors: diagnostics.map(formatDiagnostic),
    ...(commit ? { commit } : {}),
  };
}

export function renderStatus(status: RequestStatus): string {
  return `# Written by reexport. Do not edit.\n${stringify(status, { lineWidth: 0 })}`;
}
