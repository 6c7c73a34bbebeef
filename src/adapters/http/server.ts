import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../shared/log.js';
import type { StatusSnapshot } from '../../ports/observer.js';
import { DeliveryLog, deliveryId } from './deliveries.js';
import { parseRefresh } from './refresh.js';
import type { Metrics } from './metrics.js';
import { renderStatusFragment, renderStatusPage } from './status-page.js';

export interface HttpDeps {
  metrics: Metrics;
  log: Logger;
  /** Readiness: repository reachable and the last pass succeeded. */
  ready: () => { ok: boolean; reason?: string };
  /** Starts a pass now (or right after the running one). */
  trigger: (why: string) => void;
  /** Has the next pass recompute these previews whatever its idle checks say (`POST /refresh`). */
  refresh?: (requests: string[] | 'all') => void;
  /** Without a secret the webhook is refused: an unauthenticated trigger is an easy denial of service. */
  webhookSecret?: string;
  /** What the status page and /api/status show; without it they answer 404. */
  status?: () => StatusSnapshot;
  /** The daemon's public signing key, for a forge's CI to verify previews with. */
  publicKeyPem?: string;
}

/** Forges send a few kB; 1 MiB leaves room for a push of many commits. */
export const MAX_WEBHOOK_BODY = 1024 * 1024;
/** A body this far over the limit is not drained any further: the connection is closed instead. */
const MAX_DRAIN = 64 * MAX_WEBHOOK_BODY;

type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** The status page, /api/status, /healthz, /readyz, /metrics, /public-key.pem and POST /hooks/git. */
export async function startHttp(
  deps: HttpDeps,
  port: number,
  host: string,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const deliveries = new DeliveryLog();
  const gets: Record<string, Route> = {
    '/healthz': (_req, res) => send(res, 200, 'ok\n'),
    '/readyz': (_req, res) => {
      const r = deps.ready();
      send(res, r.ok ? 200 : 503, r.ok ? 'ready\n' : `not ready: ${r.reason}\n`);
    },
    '/metrics': (_req, res) => send(res, 200, deps.metrics.render(), 'text/plain; version=0.0.4'),
    '/public-key.pem': (_req, res) =>
      deps.publicKeyPem
        ? send(res, 200, deps.publicKeyPem, 'application/x-pem-file')
        : send(res, 404, 'no public key configured\n'),
    '/': (_req, res) =>
      deps.status
        ? send(res, 200, renderStatusPage(deps.status()), 'text/html; charset=utf-8')
        : send(res, 404, 'not found\n'),
    '/status/fragment': (_req, res) =>
      deps.status
        ? send(res, 200, renderStatusFragment(deps.status()), 'text/html; charset=utf-8')
        : send(res, 404, 'not found\n'),
    '/api/status': (_req, res) =>
      deps.status
        ? send(res, 200, `${JSON.stringify(deps.status(), null, 2)}\n`, 'application/json')
        : send(res, 404, 'not found\n'),
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const get = gets[url.pathname];
    if (get) {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return send(res, 405, 'GET only\n', undefined, 'GET');
      return get(req, res);
    }
    if (url.pathname === '/refresh' && deps.refresh) {
      const refresh = deps.refresh;
      if (req.method !== 'POST') return send(res, 405, 'POST only\n', undefined, 'POST');
      void readBody(req).then(
        (body) => {
          if (typeof body === 'string') {
            send(res, 413, `body over ${MAX_WEBHOOK_BODY} bytes\n`);
            if (body === 'far too large') req.socket.destroy();
            return;
          }
          const verdict = verifyWebhook(req, body, deps.webhookSecret);
          if (!verdict.ok) {
            deps.log.warn({ remote: req.socket.remoteAddress, reason: verdict.reason }, 'refresh refused');
            return send(res, verdict.status, `${verdict.reason}\n`);
          }
          const ask = parseRefresh(body);
          if ('error' in ask) return send(res, 400, `${ask.error}\n`);
          refresh(ask.requests);
          deps.trigger('refresh');
          const what = ask.requests === 'all' ? 'every request' : ask.requests.join(', ');
          return send(res, 202, `refresh of ${what} asked; pass triggered\n`);
        },
        () => send(res, 400, 'bad request\n'),
      );
      return;
    }
    if (url.pathname === '/hooks/git') {
      if (req.method !== 'POST') return send(res, 405, 'POST only\n', undefined, 'POST');
      void readBody(req).then(
        (body) => {
          if (body === 'too large') return send(res, 413, `body over ${MAX_WEBHOOK_BODY} bytes\n`);
          if (body === 'far too large') {
            res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
            res.end(`body over ${MAX_WEBHOOK_BODY} bytes\n`, () => req.socket.destroy());
            return;
          }
          const verdict = verifyWebhook(req, body, deps.webhookSecret);
          if (!verdict.ok) {
            deps.log.warn({ remote: req.socket.remoteAddress, reason: verdict.reason }, 'webhook refused');
            return send(res, verdict.status, `${verdict.reason}\n`);
          }
          // Checked after the signature, so that no one without the secret can fill the log.
          const id = deliveryId(req);
          if (id && !deliveries.firstTime(id)) {
            deps.log.info({ delivery: id }, 'webhook delivery seen before; ignored');
            return send(res, 200, 'delivery seen before; ignored\n');
          }
          deps.trigger('webhook');
          return send(res, 202, 'pass triggered\n');
        },
        () => send(res, 400, 'bad request\n'),
      );
      return;
    }
    return send(res, 404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The status page keeps a connection alive between its refreshes.
        server.closeIdleConnections();
      }),
  };
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
  allow?: string,
): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...(type.startsWith('text/html')
      ? {
          'content-security-policy':
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
        }
      : {}),
    ...(allow ? { allow } : {}),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * The body, or why not. An oversized body is read to its end and dropped, so the client gets its
 * 413 instead of a reset connection; past MAX_DRAIN the connection is closed after the answer.
 */
function readBody(req: IncomingMessage): Promise<Buffer | 'too large' | 'far too large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_DRAIN) {
        req.off('data', onData);
        req.pause();
        resolve('far too large');
      } else if (size <= MAX_WEBHOOK_BODY) chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(size > MAX_WEBHOOK_BODY ? 'too large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** GitHub and Gitea sign the body (X-Hub-Signature-256: sha256=<hmac>); GitLab sends the secret as a token. */
export function verifyWebhook(
  req: Pick<IncomingMessage, 'headers'>,
  body: Buffer,
  secret: string | undefined,
): { ok: true } | { ok: false; status: number; reason: string } {
  if (!secret)
    return {
      ok: false,
      status: 403,
      reason: 'webhook disabled: no secret configured (http.webhookSecretEnv or http.webhookSecretFile)',
    };
  const signature = header(req, 'x-hub-signature-256');
  if (signature) {
    const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    return safeEqual(signature, expected)
      ? { ok: true }
      : { ok: false, status: 401, reason: 'bad signature' };
  }
  const token = header(req, 'x-gitlab-token');
  if (token) return safeEqual(token, secret) ? { ok: true } : { ok: false, status: 401, reason: 'bad token' };
  return { ok: false, status: 401, reason: 'missing X-Hub-Signature-256 or X-Gitlab-Token' };
}

function header(req: Pick<IncomingMessage, 'headers'>, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
