import { loadDaemonConfig } from '../../config/daemon-config.js';
import { Metrics } from '../../adapters/http/metrics.js';
import { reconcileContext, runPass, startDaemon } from '../../daemon/daemon.js';
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
