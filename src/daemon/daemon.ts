import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CronJob } from 'cron';
import { daemonFileRules, type LoadedDaemonConfig, repoOf } from '../config/daemon-config.js';
import { ConfigError, describeError } from '../shared/errors.js';
import { locate } from '../config/yaml-file.js';
import { loadSigningKeys } from '../adapters/fs/signing-key.js';
import { Ledger } from '../adapters/fs/ledger.js';
import { openSourceCheckMemory } from '../adapters/fs/source-check-memory.js';
import { openFreshnessMemory } from '../adapters/fs/freshness-memory.js';
import { openClaimWatch } from '../adapters/fs/claim-watch.js';
import { daemonIdentity, lockWorkdir } from '../adapters/fs/workdir.js';
import { openLdapWriters } from '../adapters/ldap/writer.js';
import { ConfigRepoGit } from '../adapters/git/config-repo-git.js';
import type { Logger } from '../shared/log.js';
import { ldapSourceReader, openTargetReader } from '../adapters/ldap/readers.js';
import { openScopeSnapshots } from '../adapters/fs/scope-snapshots.js';
import type { PreviewDeps } from '../workflows/preview.js';
import { startHttp } from '../adapters/http/server.js';
import { Metrics } from '../adapters/http/metrics.js';
import { PassRunner } from './pass-runner.js';
import { type PassSummary, type ReconcileContext, reconcilePass } from '../workflows/reconcile.js';
import type { RepoPort } from '../ports/repo.js';
import { noopObserver, type Observer } from '../ports/observer.js';
import type { PreviewTarget } from '../ports/directory.js';
import { StatusBoard } from './status-board.js';

export interface DaemonOptions {
  daemon: LoadedDaemonConfig;
  log: Logger;
  /** Replaces the LDAP ports (the embedded demo directory); default: the daemon config's targets. */
  preview?: PreviewDeps;
  openWriters?: ReconcileContext['apply']['openWriters'];
  repo?: RepoPort;
  /** Served at /public-key.pem, so a forge's CI can verify the daemon's signatures. */
  publicKeyPem?: string;
}

export interface DaemonHandle {
  runner: PassRunner;
  metrics: Metrics;
  board: StatusBoard;
  httpPort?: number;
  /** Finishes the change in flight, journals it, stops the schedule and the HTTP server. */
  stop(): Promise<void>;
}

/** Everything a pass needs, from the daemon config; holds the workdir's lock until `release`. */
export async function reconcileContext(
  opts: DaemonOptions,
  metrics: Metrics,
  signal: AbortSignal,
  observer: Observer = noopObserver,
): Promise<ReconcileContext & { release(): Promise<void>; publicPem: string }> {
  const { daemon, log } = opts;
  // The keys and passwords a pass reads: there before it takes the workdir.
  const missing = await daemonFileRules(daemon, { webhookSecret: false, keys: true });
  if (missing.length) throw new ConfigError(missing);
  const cfg = daemon.config;
  const repoConfig = repoOf(daemon);
  const { workdir } = repoConfig;
  // Another process took the workdir over (this one was paused past the lock's lease): it now
  // acts as this daemon, so this one writes nothing more and stops.
  const lockLost = new AbortController();
  const stopWriting = (why: string) => {
    if (lockLost.signal.aborted) return;
    log.error(why);
    lockLost.abort(why);
  };
  const lock = await lockWorkdir(workdir, {
    onLost: (why) => {
      stopWriting(`${why}; stopping`);
      process.exitCode = 1;
      void lock.release().finally(() => process.kill(process.pid, 'SIGTERM'));
    },
  });
  try {
    const repo =
      opts.repo ??
      (await ConfigRepoGit.open({
        url: repoConfig.url,
        workdir,
        author: repoConfig.author,
        mainBranch: repoConfig.branch,
        log,
      }));
    const { signing } = cfg;
    const keys = await loadSigningKeys({
      ...(signing.keyFile ? { keyFile: signing.keyFile } : {}),
      workdir,
      trustedPublicKeyFiles: signing.trustedPublicKeyFiles,
      onCreated: (k) =>
        log.warn(
          { file: k.file, keyId: k.keyId, publicKey: k.publicPem },
          'created a signing key for this daemon; publish its public key for `reexport verify` in CI',
        ),
    });
    const preview = timedReads(
      opts.preview ?? {
        openTarget: (t: string) => openTargetReader(daemon, t, log),
        readLdapSource: ldapSourceReader(daemon, log),
      },
      metrics,
    );
    return {
      repo,
      daemon,
      log,
      metrics,
      observer,
      preview,
      keys,
      publicPem: keys.publicPem,
      ledger: await Ledger.open(workdir),
      freshness: await openFreshnessMemory(workdir),
      sourceChecks: await openSourceCheckMemory(workdir),
      snapshots: await openScopeSnapshots(path.join(workdir, 'pass-reads')),
      self: await daemonIdentity(workdir),
      claimTimeoutMs: cfg.execution.claimTimeoutSeconds * 1000,
      claims: await openClaimWatch(workdir),
      apply: {
        ...preview,
        openWriters: opts.openWriters ?? ((t, n) => openLdapWriters(daemon, t, n, log)),
        journalDir: path.join(workdir, 'journal'),
        signal: AbortSignal.any([signal, lockLost.signal]),
        // Before each write: the lock still this process's (its refresh may be late after a pause).
        beforeWrite: () => {
          if (!lock.held())
            stopWriting(`the workdir lock ${workdir}/lock was not refreshed in time; stopping writes`);
        },
      },
      release: () => lock.release(),
    };
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/**
 * One pass with metrics and logs. A pass in which a branch or a request failed has failed too:
 * an unreachable directory must not look healthy. A partial request does not fail the pass (the
 * work goes on next pass); `once` reports it in its exit code.
 */
export async function runPass(ctx: ReconcileContext): Promise<{ ok: boolean; summary?: PassSummary }> {
  const started = Date.now();
  ctx.observer.passStarted();
  let ok = false;
  let summary: PassSummary | undefined;
  try {
    summary = await reconcilePass(ctx);
    ok = summary.errors.length === 0;
    ctx.observer.passFinished({
      ok,
      errors: summary.errors,
      summary: {
        branches: summary.branches,
        previews: summary.previews,
        executions: summary.executions,
        partial: summary.partial.length,
      },
    });
    const fields = { ...summary, ms: Date.now() - started };
    if (ok) ctx.log.info(fields, 'pass finished');
    else ctx.log.error(fields, `pass failed: ${summary.errors.join('; ')}`);
  } catch (err) {
    const message = describeError(err).message;
    ctx.metrics.errors.inc({ kind: 'pass' });
    ctx.observer.passFinished({ ok: false, errors: [message] });
    ctx.log.error({ err: message, ms: Date.now() - started }, 'pass failed');
  } finally {
    ctx.metrics.passes.inc({ result: ok ? 'ok' : 'error' });
    ctx.metrics.lastPassOk.set(ok ? 1 : 0);
    ctx.metrics.passDuration.observe((Date.now() - started) / 1000);
    ctx.metrics.lastPassTime.set(Math.round(Date.now() / 1000));
  }
  return { ok, ...(summary ? { summary } : {}) };
}

/** Measures each read of a target directory, from opening it to closing it, for the metrics. */
function timedReads(deps: PreviewDeps, metrics: Metrics): PreviewDeps {
  return {
    ...deps,
    openTarget: async (target): Promise<PreviewTarget> => {
      const started = Date.now();
      const reader = await deps.openTarget(target);
      return {
        ...reader,
        close: async () => {
          metrics.directoryRead.observe((Date.now() - started) / 1000, { target });
          await reader.close();
        },
      };
    },
  };
}

/** The long-running reconciler: cron schedule, webhook, health endpoints. */
export async function startDaemon(opts: DaemonOptions): Promise<DaemonHandle> {
  // The webhook secret too: the daemon serves POST /hooks/git and /refresh with it.
  const secretMissing = await daemonFileRules(opts.daemon, { webhookSecret: true, keys: false });
  if (secretMissing.length) throw new ConfigError(secretMissing);
  const metrics = new Metrics();
  const cfg = opts.daemon.config;
  const board = new StatusBoard({ reportUrl: cfg.http.reportUrl });
  metrics.readLive(() => board.live());
  const abort = new AbortController();
  const ctx = await reconcileContext(opts, metrics, abort.signal, board);
  let lastOk: boolean | undefined;
  // Refreshes asked for (POST /refresh) since the last pass began; that pass's idle checks yield.
  let asked: Set<string> | 'all' | undefined;
  const runner = new PassRunner(
    async () => {
      const these = asked;
      asked = undefined;
      const onDemand = these && ((name: string) => these === 'all' || these.has(name));
      lastOk = (await runPass(onDemand ? { ...ctx, onDemand } : ctx)).ok;
    },
    (err) => opts.log.error({ err: String(err) }, 'pass crashed'),
  );
  // Created stopped: nothing runs on schedule until every part of the daemon has started.
  const job = CronJob.from({
    cronTime: cfg.schedule,
    onTick: () => runner.trigger(),
    waitForCompletion: true,
    start: false,
    ...(cfg.timeZone ? { timeZone: cfg.timeZone } : {}),
    errorHandler: (err) => opts.log.error({ err: String(err) }, 'scheduled pass failed'),
  });
  let http: Awaited<ReturnType<typeof startHttp>>;
  try {
    const secret = await webhookSecret(opts.daemon);
    http = await startHttp(
      {
        metrics,
        log: opts.log,
        ready: () =>
          lastOk === undefined
            ? { ok: false, reason: 'first pass not finished' }
            : lastOk
              ? { ok: true }
              : { ok: false, reason: 'last pass failed (see logs)' },
        trigger: (why) => {
          opts.log.info({ why }, 'pass requested');
          void runner.trigger();
        },
        refresh: (requests) => {
          asked = requests === 'all' || asked === 'all' ? 'all' : new Set([...(asked ?? []), ...requests]);
          opts.log.info({ requests }, 'refresh asked');
        },
        webhookSecret: secret,
        status: () => board.snapshot(),
        publicKeyPem: opts.publicKeyPem ?? ctx.publicPem,
      },
      cfg.http.port,
      cfg.http.host,
    ).catch((err: unknown) => {
      throw listenFailure(err, opts.daemon);
    });
  } catch (err) {
    // A daemon without its health, metrics and webhook endpoints must not go on executing.
    await ctx.release();
    throw err;
  }
  job.start();
  void runner.trigger();
  return {
    runner,
    metrics,
    board,
    httpPort: http.port,
    async stop() {
      abort.abort();
      await job.stop();
      await runner.idle();
      await http.close();
      await ctx.release();
    },
  };
}

/** Why the HTTP endpoints could not start, said of the config's http.port and http.host. */
function listenFailure(err: unknown, daemon: LoadedDaemonConfig): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const { port, host } = daemon.config.http;
  const why =
    code === 'EADDRINUSE'
      ? `http.port ${port} on ${host} is in use by another process; stop it, or give this daemon another port`
      : code === 'EACCES'
        ? `this process may not listen on http.port ${port} on ${host} (ports below 1024 need privileges); choose a port above 1023`
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `http.host ${host} is not an address of this machine; use 0.0.0.0, or one of its addresses`
          : undefined;
  if (!why) return err;
  return new ConfigError([
    {
      file: daemon.yaml.file,
      ...locate(daemon.yaml, ['http', code === 'EADDRINUSE' || code === 'EACCES' ? 'port' : 'host']),
      message: why,
    },
  ]);
}

/** The webhook secret from the daemon config (also what `reexport refresh` signs with). */
export async function webhookSecret(daemon: LoadedDaemonConfig): Promise<string | undefined> {
  const h = daemon.config.http;
  if (h.webhookSecretEnv) return process.env[h.webhookSecretEnv] || undefined;
  if (h.webhookSecretFile) return (await readFile(h.webhookSecretFile, 'utf8')).trim() || undefined;
  return undefined;
}
