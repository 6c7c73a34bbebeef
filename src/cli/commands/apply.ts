import path from 'node:path';
import { loadDaemonConfig, resolveFromConfig } from '../../config/daemon-config.js';
import { formatDiagnostic } from '../../shared/diagnostics.js';
import { applyRequest } from '../../workflows/apply.js';
import { openLdapWriters } from '../../adapters/ldap/writer.js';
import { createLogger } from '../../shared/log.js';
import { ldapSourceReader, openTargetReader } from '../../adapters/ldap/readers.js';
import { locateRequest } from '../../workflows/preview.js';
import { writeFiles } from '../../adapters/fs/write-files.js';
import { progress } from './progress.js';

/**
 * `reexport apply`: for administrators, the execution the daemon does on merge. Applies the
 * committed reports/<request>/plan.jsonl when it matches, and writes the results next to it.
 * SIGINT/SIGTERM finish the entry in flight; running the command again resumes.
 */
export async function applyCommand(
  request: string,
  opts: { config: string; repo?: string; journal?: string },
  out = process.stdout,
): Promise<number> {
  const { root, name } = locateRequest(request, opts.repo);
  const daemon = await loadDaemonConfig(opts.config);
  const log = createLogger(daemon.config.log?.level).child({ request: name });
  const journalDir = opts.journal
    ? path.resolve(opts.journal)
    : path.join(resolveFromConfig(daemon, daemon.config.repo?.workdir ?? './var/reexport'), 'journal');
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const bar = progress('applying entries');
  try {
    const result = await applyRequest(root, name, daemon, {
      openTarget: (t) => openTargetReader(daemon, t, log),
      readLdapSource: ldapSourceReader(daemon, log),
      openWriters: (t, n) => openLdapWriters(daemon, t, n, log),
      journalDir,
      signal: stop.signal,
      onEntry: (done, total) => bar.update(done, total),
      beforeWrite: (files) => writeFiles(path.join(root, 'reports', name), files),
    });
    bar.done();
    for (const d of result.diagnostics ?? []) out.write(`${formatDiagnostic(d)}\n`);
    if (Object.keys(result.files).length) await writeFiles(path.join(root, 'reports', name), result.files);
    out.write(`${result.state}: ${result.message}\n`);
    log.info(
      { state: result.state, reviewed: result.reviewed, plan: result.header?.digests.plan },
      result.message,
    );
    return result.state === 'executed' ? 0 : result.state === 'interrupted' ? 3 : 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
