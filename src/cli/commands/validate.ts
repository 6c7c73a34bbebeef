import { stat } from 'node:fs/promises';
import { loadDaemonConfig } from '../../config/daemon-config.js';
import { formatDiagnostic } from '../../shared/diagnostics.js';
import { validateRepo } from '../../config/validate-repo.js';
import { UsageError } from '../../shared/errors.js';

/** `reexport validate`: prints located errors and returns the exit code. */
export async function validateCommand(
  dir: string,
  opts: { config?: string },
  out = process.stdout,
): Promise<number> {
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new UsageError(`${dir} is not a folder; give the config repository checkout`);
  const daemon = opts.config ? await loadDaemonConfig(opts.config) : undefined;
  const { repo, diagnostics } = await validateRepo(dir, daemon);
  if (diagnostics.length) {
    for (const d of diagnostics) out.write(`${formatDiagnostic(d)}\n`);
    out.write(`${diagnostics.length} error${diagnostics.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  const skipped = daemon ? '' : ' (targets, sources and allowed attributes not checked: give --config)';
  out.write(
    `ok: ${repo.templates.size} template${repo.templates.size === 1 ? '' : 's'}, ${repo.requests.size} request${repo.requests.size === 1 ? '' : 's'}${skipped}\n`,
  );
  return 0;
}
