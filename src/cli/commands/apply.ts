import { loadDaemonConfig, repoOf } from '../../config/daemon-config.js';
import { Metrics } from '../../adapters/http/metrics.js';
import { reconcileContext } from '../../daemon/daemon.js';
import { formatDiagnostic } from '../../shared/diagnostics.js';
import { UsageError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { validateCheckout } from '../../workflows/validate.js';
import { executeOnMain, readRecords } from '../../workflows/execution.js';
import { progress } from './progress.js';

/** Decisions on main are made again when another daemon's commit beat ours. */
const ATTEMPTS = 3;

/**
 * `reexport apply`: an operator's execution, under exactly the daemon's rules: on main of the
 * config repository the daemon config names, once only (the same execution records and the same
 * claim), only a reviewed plan and only with execute: true unless `--force`. Results are
 * committed like the daemon's, so the daemon never runs the request again. SIGINT/SIGTERM
 * finish the entry in flight; running the command again resumes.
 */
export async function applyCommand(
  request: string,
  opts: { config: string; force?: boolean },
  out = process.stdout,
): Promise<number> {
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(request)) {
    throw new UsageError(
      `${request} is not a request name (requests/<name>.yaml, lower-case letters, digits and -)`,
    );
  }
  const daemon = await loadDaemonConfig(opts.config);
  // No request field here: the execution workflow names the request on every line it logs.
  const log = createLogger(daemon.config.log.level);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const ctx = await reconcileContext({ daemon, log }, new Metrics(), stop.signal);
  const bar = progress('applying entries');
  try {
    const main = repoOf(daemon).branch;
    const exec = {
      ...ctx,
      main,
      force: Boolean(opts.force),
      apply: { ...ctx.apply, onEntry: (d: number, t: number) => bar.update(d, t) },
    };
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      await ctx.repo.fetch();
      const { dir, commit } = await ctx.repo.checkout(main);
      // The daemon's validation (data files too), and the source it read, handed on.
      const { repo, sources } = await validateCheckout(dir, daemon);
      if (!repo.requests.has(request)) throw new UsageError(`no request \`${request}\` on ${main}`);
      const records = (await readRecords(exec)).get(request) ?? [];
      const source = sources.get(repo.requests.get(request)?.value?.spec.template ?? '');
      const outcome = await executeOnMain(exec, { repo, commit }, request, records, {
        source: () => Promise.resolve(source),
      });
      bar.done();
      switch (outcome.did) {
        case 'retry':
          continue;
        case 'preview':
          out.write(
            `refused: ${request} says execute: false; merge it with execute: true, or pass --force\n`,
          );
          return 1;
        case 'nothing':
          out.write(`not executed: ${outcome.why}\n`);
          return 1;
        case 'committed':
          out.write(`${outcome.state}: ${outcome.why}\n`);
          return 1;
        case 'executed': {
          const r = outcome.result;
          for (const d of r.diagnostics ?? []) out.write(`${formatDiagnostic(d)}\n`);
          out.write(`${r.state}: ${r.message}\n`);
          if (r.state === 'interrupted') return 3;
          const failed = r.counts.failed > 0;
          return r.state === 'executed' && !failed ? 0 : 1;
        }
      }
    }
    out.write(`not executed: main kept moving; try again\n`);
    return 1;
  } finally {
    bar.done();
    await ctx.release();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
