import { stat } from 'node:fs/promises';
import { type LoadedDaemonConfig, loadDaemonConfig } from '../../config/daemon-config.js';
import { OUTPUT_FORMATS, type OutputFormat, renderFindings } from '../../report/diagnostics-output.js';
import { type Diagnostic, isError, sortDiagnostics } from '../../shared/diagnostics.js';
import { ConfigError, UsageError } from '../../shared/errors.js';
import { validateCheckout } from '../../workflows/validate.js';

export interface ValidateOptions {
  config?: string;
  format?: string;
}

/** `reexport validate`: every check short of the directory. Data on stdout, people's text on stderr. */
export async function validateCommand(
  dir: string,
  opts: ValidateOptions,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process,
): Promise<number> {
  const format = outputFormat(opts.format);
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new UsageError(`${dir} is not a folder; give the config repository checkout`);
  let daemon: LoadedDaemonConfig | undefined;
  let daemonProblems: Diagnostic[] = [];
  if (opts.config) {
    try {
      daemon = await loadDaemonConfig(opts.config);
    } catch (err) {
      // The daemon config's own problems are findings like the others, in the same format.
      if (!(err instanceof ConfigError)) throw err;
      daemonProblems = err.diagnostics;
    }
  }
  const { repo, diagnostics, notes } = await validateCheckout(dir, daemon, { dryRun: true });
  const all = sortDiagnostics([...daemonProblems, ...diagnostics]);
  if (!opts.config) notes.push('targets, sources and allowed attributes not checked: give --config');
  const counts = { templates: repo.templates.size, requests: repo.requests.size };
  const out = renderFindings(
    { check: 'validate', diagnostics: all, notes, counts },
    format,
    `ok: ${plural(counts.templates, 'template')}, ${plural(counts.requests, 'request')}`,
  );
  io.stdout.write(out.stdout);
  io.stderr.write(out.stderr);
  return all.some(isError) ? 1 : 0;
}

export function outputFormat(format = 'text'): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format))
    throw new UsageError(`--format must be ${OUTPUT_FORMATS.join(', ')}, not ${format}`);
  return format as OutputFormat;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
