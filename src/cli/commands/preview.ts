import path from 'node:path';
import { loadDaemonConfig } from '../../config/daemon-config.js';
import { formatDiagnostic } from '../../shared/diagnostics.js';
import { UsageError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { ldapSourceReader, openTargetReader } from '../../adapters/ldap/readers.js';
import { locateRequest, previewRequest } from '../../workflows/preview.js';
import { previewLdifChunks } from '../../report/write-reports.js';
import { planJsonlChunks } from '../../report/plan-jsonl.js';
import { renderPreviewMd } from '../../report/preview-md.js';
import { renderStatus, statusForPlan } from '../../lifecycle/status.js';
import { writeChunks, writeFiles } from '../../adapters/fs/write-files.js';
import { progress } from './progress.js';

export interface PreviewCommandOptions {
  config: string;
  repo?: string;
  id?: string[];
  format: string;
  out?: string;
  maxUsers?: string;
}

const FORMATS: Record<string, string> = { md: 'preview.md', jsonl: 'plan.jsonl', ldif: 'changes.ldif' };

/** `reexport preview`: a local preview, printed or written to a folder. Never writes to a directory. */
export async function previewCommand(
  request: string,
  opts: PreviewCommandOptions,
  out = process.stdout,
): Promise<number> {
  const file = FORMATS[opts.format];
  if (!file) throw new UsageError(`--format must be md, jsonl or ldif, not ${opts.format}`);
  const { root, name } = locateRequest(request, opts.repo);
  const daemon = await loadDaemonConfig(opts.config);
  const log = createLogger(daemon.config.log.level);
  const bar = progress('reading directory entries');
  const result = await previewRequest(
    root,
    name,
    daemon,
    {
      openTarget: (target) => openTargetReader(daemon, target, log.child({ request: name })),
      readLdapSource: ldapSourceReader(daemon, log.child({ request: name })),
      onProgress: (n) => bar.update(n),
    },
    { onlyIds: opts.id },
  );
  bar.done();
  if ('invalid' in result) {
    // Errors never go where the data goes: `--format ldif > x.ldif` must not get error text.
    for (const d of result.invalid) process.stderr.write(`${formatDiagnostic(d)}\n`);
    return 1;
  }
  const maxUsers = Number(opts.maxUsers ?? daemon.config.preview.maxUsersInMarkdown);
  // The same files as renderPreviewFiles, but the large ones go out piece by piece: a plan of
  // 100,000 changes is tens of MB of text, which need never be in memory at once.
  const chunks: Record<string, () => Iterable<string>> = {
    'preview.md': () => [renderPreviewMd(result.plan, { maxUsers })],
    'plan.jsonl': () => planJsonlChunks(result.plan),
    'changes.ldif': () => previewLdifChunks(result.plan),
  };
  if (opts.out) {
    const dir = path.resolve(opts.out);
    for (const [name, make] of Object.entries(chunks)) await writeChunks(path.join(dir, name), make());
    await writeFiles(dir, { 'status.yaml': renderStatus(statusForPlan(result.plan)) });
    process.stderr.write(`wrote ${[...Object.keys(chunks), 'status.yaml'].join(', ')} to ${dir}\n`);
  } else {
    await writeOut(out, chunks[file]!());
  }
  return 0;
}

async function writeOut(out: NodeJS.WritableStream, chunks: Iterable<string>): Promise<void> {
  for (const chunk of chunks)
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}
