import { daemonFileRules, loadDaemonConfig } from '../../config/daemon-config.js';
import { Metrics } from '../../adapters/http/metrics.js';
import { reconcileContext, runPass, startDaemon, webhookSecret } from '../../daemon/daemon.js';
import { refreshBody, signBody } from '../../adapters/http/refresh.js';
import { ConfigError, UsageError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';

/** `reexport daemon`: runs until SIGTERM/SIGINT, then finishes the change in flight and exits 0. */
export async function daemonCommand(opts: { config: string }): Promise<number> {
  const daemon = await loadDaemonConfig(opts.config);
  const log = createLogger(daemon.config.log.level);
  const handle = await startDaemon({ daemon, log });
  log.info({ http: handle.httpPort, schedule: daemon.config.schedule }, 'daemon started');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping: finishing the change in flight');
      void handle.stop().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log.info('daemon stopped');
  return 0;
}

/** `reexport once`: one reconcile pass, for a CronJob; exit 1 when the pass failed. */
export async function onceCommand(opts: { config: string }): Promise<number> {
  const daemon = await loadDaemonConfig(opts.config);
  const log = createLogger(daemon.config.log.level);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const ctx = await reconcileContext({ daemon, log }, new Metrics(), abort.signal);
    try {
      const { ok, summary } = await runPass(ctx);
      // A partial request is work left undone: a CronJob should show it, like a failed pass.
      if (summary?.partial.length) log.warn({ requests: summary.partial }, 'requests left partial');
      return ok && !summary?.partial.length ? 0 : 1;
    } finally {
      await ctx.release();
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/**
 * `reexport refresh [REQUEST...]`: asks the running daemon (its `POST /refresh`, signed with the
 * webhook secret from the same daemon config) to recompute these previews, or every one, in its
 * next pass, which starts now.
 */
export async function refreshCommand(
  requests: string[],
  opts: { config: string; url?: string },
): Promise<number> {
  const daemon = await loadDaemonConfig(opts.config);
  const missing = await daemonFileRules(daemon, { webhookSecret: true, keys: false });
  if (missing.length) throw new ConfigError(missing);
  const secret = await webhookSecret(daemon);
  if (!secret)
    throw new UsageError(
      'the daemon config has no webhook secret (http.webhookSecretEnv or http.webhookSecretFile); the daemon accepts no refresh without one',
    );
  const { host, port } = daemon.config.http;
  const base =
    opts.url ?? `http://${!host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
  const body = refreshBody(requests.length ? requests : 'all');
  let res: Response;
  try {
    res = await fetch(new URL('/refresh', base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(body, secret) },
      body,
    });
  } catch (err) {
    process.stderr.write(
      `no daemon answered at ${base} (${(err as Error).message}); give its address with --url\n`,
    );
    return 1;
  }
  const text = (await res.text()).trim();
  (res.status === 202 ? process.stdout : process.stderr).write(`${text}\n`);
  return res.status === 202 ? 0 : 1;
}
