import { createHash, type KeyObject } from 'node:crypto';
import type { Plan, PlanHeader } from '../plan/plan-types.js';
import { type Signed, signStatement, type Statement } from './signing.js';
import { type RequestStatus, unsignedStatusText } from './status.js';

/** The daemon's signature over a preview it commits: these inputs gave exactly this plan. */
export function signPreview(
  plan: Plan,
  where: { branch: string; commit: string; previewMd?: string; status?: string },
  key: KeyObject,
): Signed {
  return signStatement(
    {
      v: 1,
      kind: 'preview',
      request: plan.header.request,
      branch: where.branch,
      commit: where.commit,
      digests: plan.header.digests,
      state: 'previewed',
      at: plan.header.createdAt,
      ...(where.previewMd !== undefined ? { previewMd: textDigest(where.previewMd) } : {}),
      ...(where.status !== undefined ? { status: textDigest(where.status) } : {}),
      withinLimits: plan.safety.ok,
    },
    key,
  );
}

/**
 * Whether status.yaml's text is the one a preview statement signed. Not for a statement made
 * before status.yaml was signed: one such, kept from any branch's history, would vouch for
 * whatever counts an editor wrote beside it.
 */
export function statusHolds(statement: Pick<Statement, 'status'>, text: string | undefined): boolean {
  if (statement.status === undefined) return false;
  const unsigned = unsignedStatusText(text);
  return unsigned !== undefined && textDigest(unsigned) === statement.status;
}

/** A claim (state executing) or an execution record (partial, executed) for main's history. */
export function signExecution(
  header: Pick<PlanHeader, 'request' | 'digests'>,
  state: Extract<RequestStatus['state'], 'executing' | 'partial' | 'executed'>,
  where: { branch: string; commit: string; by: string; at: Date },
  key: KeyObject,
): Signed {
  const statement: Statement = {
    v: 1,
    kind: state === 'executing' ? 'claim' : 'execution',
    request: header.request,
    branch: where.branch,
    commit: where.commit,
    digests: header.digests,
    state,
    at: where.at.toISOString(),
    by: where.by,
  };
  return signStatement(statement, key);
}

/** How a signed statement names a report text (preview.md). */
export function textDigest(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}
