import type { KeyObject } from 'node:crypto';
import { requestDigest, templateDigest } from '../../config/digests.js';
import type { ReexportRequest, SyncTemplate } from '../../config/types.generated.js';
import { planDigest } from '../../plan/build-plan.js';
import { compileMappings } from '../../plan/evaluate.js';
import type { PlanChange, PlanHeader } from '../../plan/plan-types.js';
import type { RequestStatus } from '../../lifecycle/status.js';
import { verifySigned } from '../../lifecycle/signing.js';
import { parsePlanJsonl } from '../../report/plan-jsonl.js';
import { isDnWithin } from '../../syntax/dn.js';

export interface ChosenPlan {
  header: PlanHeader;
  changes: PlanChange[];
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
  /** reports/<name>/plan.jsonl as committed, if any. */
  committedPlan?: string;
  /** reports/<name>/status.yaml as committed, parsed. */
  committedStatus?: RequestStatus;
  trustedKeys: readonly KeyObject[];
  requireReviewedPreview: boolean;
}

const AGAIN = 'reports/ is written by the daemon only: let it preview the request again in a pull request';

/**
 * Which plan an execution may run. Reviewed means signed: the committed plan runs only if the
 * daemon's signature in status.yaml covers exactly its changes (the plan digest) and the request
 * and template as they are now. Anything else is refused, or, where the operator turned the
 * review requirement off, replaced by a fresh plan that the result marks unreviewed.
 */
export function choosePlan(input: ChoosePlanInput): PlanChoice {
  const { name, request, template } = input;
  const noReview = (why: string): PlanChoice =>
    input.requireReviewedPreview
      ? {
          refused: `${why}, and the daemon requires a reviewed preview: open a pull request with this request and let the daemon preview it`,
        }
      : { fresh: why };

  if (input.committedPlan === undefined) return noReview('there is no committed plan');
  let parsed: ReturnType<typeof parsePlanJsonl>;
  try {
    parsed = parsePlanJsonl(input.committedPlan);
  } catch (err) {
    return { refused: `the committed plan.jsonl cannot be read (${(err as Error).message}); ${AGAIN}` };
  }
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
  const digest = planDigest(parsed.changes);
  if (digest !== s.digests.plan || parsed.header.digests.plan !== s.digests.plan) {
    return {
      refused: `the committed plan.jsonl is not the plan the daemon signed (its changes hash to ${digest}); ${AGAIN}`,
    };
  }
  // The header line is outside the plan digest: what the execution records are signed for
  // (request name, digests) must come from what the daemon signed, or a renamed header would sign
  // the records for another request and main would never learn that this one ran.
  const h = parsed.header;
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
  if (s.digests.request !== requestDigest(request) || s.digests.template !== templateDigest(template)) {
    return noReview('the reviewed plan was made for another version of the request or template');
  }
  const tampered = outsideRequest(parsed.changes, request, template);
  if (tampered) return { refused: `the committed plan ${tampered}; ${AGAIN}` };
  return { plan: { header: parsed.header, changes: parsed.changes, reviewed: true } };
}

/**
 * Belt and braces beside the signature: a plan only ever changes the request's mappings, inside
 * the template's baseDN, once per user and attribute.
 */
export function outsideRequest(
  changes: readonly PlanChange[],
  request: ReexportRequest,
  template: SyncTemplate,
): string | undefined {
  const selected = new Set(
    compileMappings(template, request.spec.mappings).map((m) => m.attribute.toLowerCase()),
  );
  const outside = changes.find((c) => !selected.has(c.attribute.toLowerCase()));
  if (outside) return `changes \`${outside.attribute}\`, which the request does not re-export`;
  const foreign = changes.find((c) => !isDnWithin(c.dn, template.spec.scope.baseDN));
  if (foreign) return `changes ${foreign.dn}, outside the template's baseDN`;
  const seen = new Set<string>();
  for (const c of changes) {
    const key = `${c.id.toLowerCase()}\0${c.attribute.toLowerCase()}`;
    if (seen.has(key)) return `changes \`${c.attribute}\` of ${c.id} twice`;
    seen.add(key);
  }
  return undefined;
}
