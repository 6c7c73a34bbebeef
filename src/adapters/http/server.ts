import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../shared/log.js';
import type { Metrics } from './metrics.js';

export interface HttpDeps {
  metrics: Metrics;
  log: Logger;
  /** Readiness: repository reachable and the last pass succeeded. */
  ready: () => { ok: boolean; reason?: string };
  /** Starts a pass now (or right after the running one). */
  trigger: (why: string) => void;
  /** Without a secret the webhook is refused: an unauthenticated trigger is an easy denial of service. */
  webhookSecret?: string;
}

const MAX_BODY = 1024 * 1024;

/** /healthz, /readyz, /metrics and POST /hooks/git. */
export async function startHttp(
  deps: HttpDeps,
  port: number,
  host = '0.0.0.0',
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method === 'GET' && url.pathname === '/healthz') return send(200, 'ok\n');
    if (req.method === 'GET' && url.pathname === '/readyz') {
      const r = deps.ready();
      return send(r.ok ? 200 : 503, r.ok ? 'ready\n' : `not ready: ${r.reason}\n`);
    }
    if (req.method === 'GET' && url.pathname === '/metrics')
      return send(200, deps.metrics.render(), 'text/plain; version=0.0.4');
    if (url.pathname === '/hooks/git') {
      if (req.method !== 'POST') return send(405, 'POST only\n');
      void readBody(req).then(
        (body) => {
          if (!body) return send(413, 'body too large\n');
          const verdict = verifyWebhook(req, body, deps.webhookSecret);
          if (!verdict.ok) {
            deps.log.warn({ remote: req.socket.remoteAddress, reason: verdict.reason }, 'webhook refused');
            return send(verdict.status, `${verdict.reason}\n`);
          }
          deps.trigger('webhook');
          return send(202, 'pass triggered\n');
        },
        () => send(400, 'bad request\n'),
      );
      return;
    }
    return send(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
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
