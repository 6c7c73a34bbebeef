import { parse, stringify } from 'yaml';
import type { Diagnostic } from '../shared/diagnostics.js';
import { formatDiagnostic } from '../shared/diagnostics.js';
import type { Plan } from '../plan/plan-types.js';
import type { Signed } from './signing.js';
import type { Watermark } from './freshness.js';

/**
 * A request's states. previewed: a plan is committed for review. invalid: the request or what it
 * uses has errors. refused: a rule stopped it before anything was written (safety threshold, no
 * reviewed plan, a plan nobody signed). executing: an execution is claimed and running. partial:
 * an execution left changes for a later pass (transient faults). executed: done, once and for all.
 */
export const REQUEST_STATES = [
  'previewed',
  'invalid',
  'refused',
  'executing',
  'partial',
  'executed',
] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

/** status.yaml: the request's state as the daemon last wrote it. Repository data: never trusted alone. */
export interface RequestStatus {
  request: string;
  state: RequestState;
  message?: string;
  digests?: Plan['header']['digests'];
  counts?: Record<string, number>;
  safety?: { ok: boolean; message: string };
  errors?: string[];
  branch?: string;
  commit?: string;
  previewedAt?: string;
  /** When the directory was read for the preview: how fresh it is. */
  directoryReadAt?: string;
  /**
   * Where the directory stood when it was read (a USN, CSN or time stamp): a later pass asks
   * "did the scope change since?" instead of reading it again. A hint only: execution always
   * compares with a fresh read.
   */
  watermark?: Watermark;
  executionStartedAt?: string;
  executedAt?: string;
  executedCommit?: string;
  /** False when an operator let a fresh, unreviewed plan run (requireReviewedPreview: false). */
  reviewed?: boolean;
  /** The daemon's signature over what this status vouches for (see lifecycle/signing.ts). */
  signature?: Signed;
  /** During and after an execution: the signed preview whose plan it runs. */
  previewSignature?: Signed;
}

export function statusForPlan(plan: Plan, branch?: string): RequestStatus {
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
    ...(branch ? { branch } : {}),
    ...(plan.header.commit ? { commit: plan.header.commit } : {}),
    previewedAt: plan.header.createdAt,
  };
}

export function statusForInvalid(
  request: string,
  diagnostics: readonly Diagnostic[],
  commit?: string,
): RequestStatus {
  // preview.md lists every problem; status.yaml, which every pass reads back, the first ones: a
  // template of 15,000 broken mappings made a 5.7 MB status.yaml.
  const errors = diagnostics.slice(0, STATUS_ERRORS_MAX).map(formatDiagnostic);
  if (diagnostics.length > STATUS_ERRORS_MAX)
    errors.push(`… and ${diagnostics.length - STATUS_ERRORS_MAX} more in preview.md`);
  return {
    request,
    state: 'invalid',
    errors,
    ...(commit ? { commit } : {}),
  };
}

/** The errors an invalid request's status.yaml lists. */
export const STATUS_ERRORS_MAX = 100;

export function renderStatus(status: RequestStatus): string {
  return `# Written by reexport. Do not edit.\n${stringify(status, { lineWidth: 0 })}`;
}

/**
 * Reads status.yaml back; undefined when it is missing, not YAML, or not a status (a state this
 * version does not know, no request name). Callers treat undefined as "the daemon wrote nothing".
 */
export function parseStatus(text: string | undefined): RequestStatus | undefined {
  if (!text) return undefined;
  let value: unknown;
  try {
    value = parse(text, { maxAliasCount: 0 });
  } catch {
    return undefined;
  }
  const s = value as Partial<RequestStatus> | null;
  if (!s || typeof s !== 'object' || typeof s.request !== 'string') return undefined;
  if (!REQUEST_STATES.includes(s.state as RequestState)) return undefined;
  return s as RequestStatus;
}

/**
 * status.yaml's text without its signature, as the daemon rendered it before signing (a preview
 * statement's `status` digest is of this text); undefined when the file is not exactly what
 * renderStatus writes for its own content: a comment, a reordered key or any other hand edit.
 */
export function unsignedStatusText(text: string | undefined): string | undefined {
  const status = parseStatus(text);
  if (!status?.signature) return undefined;
  // The signature as the daemon writes it, and nothing beside: a key added inside it (a note
  // to reviewers, say) is text no digest covers.
  const { keyId, statement, signature } = status.signature;
  const exact = { ...status, signature: { keyId, statement, signature } };
  if (renderStatus(exact) !== text) return undefined;
  const { signature: _signature, ...rest } = status;
  return renderStatus(rest);
}

/**
 * Whether two statuses say the same thing: same state, digests, counts, errors and message.
 * Times, commits and signatures do not count, so an unchanged preview is never committed again.
 */
export function sameStatus(a: RequestStatus | undefined, b: RequestStatus | undefined): boolean {
  if (!a || !b) return false;
  const essence = (s: RequestStatus) =>
    JSON.stringify([s.request, s.state, s.message, s.digests, s.counts, s.safety, s.errors, s.reviewed]);
  return essence(a) === essence(b);
}
