import type { KeyObject } from 'node:crypto';
import { requestDigest, templateDigest } from '../../config/digests.js';
import type { ReexportRequest, SyncTemplate } from '../../config/types.generated.js';
import { compileMappings } from '../../plan/evaluate.js';
import type { PlanChange } from '../../plan/plan-types.js';
import type { RequestStatus } from '../../lifecycle/status.js';
import { verifySigned } from '../../lifecycle/signing.js';
import { PlanFileError } from '../../shared/errors.js';
import { dnWithin } from '../../syntax/dn.js';
import { type PlanLines, type PlanSource, scanPlanFile } from './plan-stream.js';

export interface ChosenPlan {
  /** The plan, read again chunk by chunk as it executes (never held whole). */
  plan: PlanSource;
  /** True when it is the plan the daemon signed for review; false for a fresh, unreviewed plan. */
  reviewed: boolean;
}

export type PlanChoice =
  | { plan: ChosenPlan }
  | { refused: string }
  /** No reviewed plan, and the operator allows a fresh one (requireReviewedPreview: false). */
  | { fresh: string };

export interface ChoosePlanInput {
  name: string;
  request: ReexportRequest;
  template: SyncTemplate;
  /** reports/<name>/plan.jsonl (or .gz) as committed, its lines in batches, if any. */
  committedPlan?: PlanLines;
  /** reports/<name>/status.yaml as committed, parsed. */
  committedStatus?: RequestStatus;
  trustedKeys: readonly KeyObject[];
  requireReviewedPreview: boolean;
  /**
   * The branch executions run on: a preview the daemon made there (of a request pushed straight
   * to it with execute: false) is no review, so it does not count as one.
   */
  mainBranch?: string;
  /**
   * Plan digests a trusted claim of this request was made for. Resuming such a run (after a
   * restart, an upgrade, a partial run) runs the plan it claimed, even one previewed on main by a
   * version that took that for a review: what was written must be finished and recorded.
   */
  claimedPlans?: ReadonlySet<string>;
}

const AGAIN = 'reports/ is written by the daemon only: let it preview the request again in a pull request';

/**
 * Which plan an execution may run. Reviewed means signed: the committed plan runs only if the
 * daemon's signature in status.yaml covers exactly its changes (the plan digest) and the request
 * and template as they are now. Anything else is refused, or, where the operator turned the
 * review requirement off, replaced by a fresh plan that the result marks unreviewed.
 *
 * The plan file is read once here, change by change (digest, safety counts, the checks beside
 * the signature), and again chunk by chunk as it executes, each chunk verified against this
 * reading: memory holds a chunk of the plan, never the whole of it.
 */
export async function choosePlan(input: ChoosePlanInput): Promise<PlanChoice> {
  const { name, request, template } = input;
  const noReview = (why: string): PlanChoice =>
    input.requireReviewedPreview
      ? {
          refused: `${why}, and the daemon requires a reviewed preview: open a pull request with this request and let the daemon preview it`,
        }
      : { fresh: why };

  if (input.committedPlan === undefined) return noReview('there is no committed plan');
  const outside = outsideRequestCheck(request, template);
  let read: Awaited<ReturnType<typeof scanPlanFile>>;
  try {
    read = await scanPlanFile(input.committedPlan, (c) => outside.add(c));
  } catch (err) {
    if (!unreadable(err)) throw err;
    return { refused: `the committed plan.jsonl cannot be read (${(err as Error).message}); ${AGAIN}` };
  }
  const { scan, source } = read;
  const signature = input.committedStatus?.previewSignature ?? input.committedStatus?.signature;
  if (!signature)
    return {
      refused: `the committed plan is not signed by the daemon (status.yaml has no signature); ${AGAIN}`,
    };
  const verdicts = input.trustedKeys.map((k) => verifySigned(signature, k));
  const good = verdicts.find((v) => v.ok);
  if (!good?.ok) {
    const why = verdicts.map((v) => (v.ok ? '' : v.reason)).join('; ');
    return { refused: `the committed plan's signature does not verify (${why}); ${AGAIN}` };
  }
  const s = good.statement;
  if (s.kind !== 'preview' || s.request !== name) {
    return {
      refused: `the signature in status.yaml is for ${s.kind} of ${s.request}, not a preview of ${name}; ${AGAIN}`,
    };
  }
  if (scan.digest !== s.digests.plan || scan.header.digests.plan !== s.digests.plan) {
    return {
      refused: `the committed plan.jsonl is not the plan the daemon signed (its changes hash to ${scan.digest}); ${AGAIN}`,
    };
  }
  // The header line is outside the plan digest: what the execution records are signed for
  // (request name, digests) must come from what the daemon signed, or a renamed header would sign
  // the records for another request and main would never learn that this one ran.
  const h = scan.header;
  const keys = ['request', 'template', 'source', 'plan'] as const;
  if (
    h.request !== name ||
    h.template !== request.spec.template ||
    keys.some((k) => h.digests?.[k] !== s.digests[k])
  ) {
    return {
      refused: `the committed plan.jsonl's header is not the one the daemon signed (request, template or digests differ); ${AGAIN}`,
    };
  }
  if (
    input.mainBranch !== undefined &&
    s.branch === input.mainBranch &&
    !input.claimedPlans?.has(s.digests.plan)
  ) {
    return noReview(
      `the preview was made on ${input.mainBranch}, not in a pull request (change the request in a pull request, any edit, and merge it after the daemon's preview there)`,
    );
  }
  if (s.digests.request !== requestDigest(request) || s.digests.template !== templateDigest(template)) {
    return noReview('the reviewed plan was made for another version of the request or template');
  }
  const tampered = outside.result();
  if (tampered) return { refused: `the committed plan ${tampered}; ${AGAIN}` };
  return { plan: { plan: source, reviewed: true } };
}

/** A plan file that is not a plan (bad lines, a broken gzip stream), as opposed to a failing disk. */
function unreadable(err: unknown): boolean {
  if (err instanceof PlanFileError) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Belt and braces beside the signature: a plan only ever changes the request's mappings, inside
 * the template's baseDN, once per user and attribute. Fed change by change; `result` says the
 * first violation of each kind, in that order of precedence.
 */
export function outsideRequestCheck(
  request: ReexportRequest,
  template: SyncTemplate,
): { add(change: PlanChange): void; result(): string | undefined } {
  const selected = new Set(
    compileMappings(template, request.spec.mappings).map((m) => m.attribute.toLowerCase()),
  );
  const inScope = dnWithin(template.spec.scope.baseDN);
  let outside: string | undefined;
  let foreign: string | undefined;
  let twice: string | undefined;
  const seen = new Set<string>();
  // A user's changes are one after the other: their DN is parsed once, not once per change.
  let lastDn: string | undefined;
  let lastInScope = true;
  return {
    add(c) {
      const attribute = c.attribute.toLowerCase();
      if (outside === undefined && !selected.has(attribute))
        outside = `changes \`${c.attribute}\`, which the request does not re-export`;
      if (foreign === undefined) {
        if (c.dn !== lastDn) {
          lastDn = c.dn;
          lastInScope = inScope(c.dn);
        }
        if (!lastInScope) foreign = `changes ${c.dn}, outside the template's baseDN`;
      }
      const key = `${c.id.toLowerCase()}\0${attribute}`;
      if (twice === undefined && seen.has(key)) twice = `changes \`${c.attribute}\` of ${c.id} twice`;
      seen.add(key);
    },
    result: () => outside ?? foreign ?? twice,
  };
}
