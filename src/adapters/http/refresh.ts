import { createHmac } from 'node:crypto';

/**
 * `POST /refresh`: an operator asks the daemon to recompute previews now, whatever its idle-pass
 * checks say (a user deleted or moved out of a scope leaves no watermark; a source the daemon
 * cannot see change). The body is signed like a forge's webhook (X-Hub-Signature-256, the
 * webhook secret) and carries its time, so a captured request is refused after REFRESH_MAX_AGE_MS.
 */
export interface RefreshAsk {
  /** Request names, or every request. */
  requests: string[] | 'all';
}

const REFRESH_MAX_AGE_MS = 5 * 60_000;

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function refreshBody(requests: string[] | 'all', now = new Date()): string {
  return JSON.stringify({ requests, at: now.toISOString() });
}

export function signBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function parseRefresh(body: Buffer, now = new Date()): RefreshAsk | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { error: 'the body is not JSON' };
  }
  const { requests, at } = (value ?? {}) as { requests?: unknown; at?: unknown };
  const when = typeof at === 'string' ? Date.parse(at) : NaN;
  if (Number.isNaN(when)) return { error: '`at` must be the time the refresh was asked (ISO 8601)' };
  if (Math.abs(now.getTime() - when) > REFRESH_MAX_AGE_MS)
    return { error: `\`at\` is more than ${REFRESH_MAX_AGE_MS / 60_000} minutes from the daemon's clock` };
  if (requests === 'all') return { requests };
  if (
    !Array.isArray(requests) ||
    requests.length === 0 ||
    !requests.every((r) => typeof r === 'string' && NAME.test(r))
  )
    return { error: '`requests` must be "all" or a list of request names' };
  return { requests: requests as string[] };
}
