import { rm } from 'node:fs/promises';
import path from 'node:path';
import { loadDaemonConfig } from '../../config/daemon-config.js';
import { formatDiagnostic } from '../../shared/diagnostics.js';
import { UsageError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { ldapSourceReader, openTargetReader } from '../../adapters/ldap/readers.js';
import { locateRequest, previewRequest } from '../../workflows/preview.js';
import { previewLdifChunks, renderCommittedPreviewFiles } from '../../report/write-reports.js';
import { planJsonlChunks } from '../../report/plan-jsonl.js';
import { renderPreviewMd } from '../../report/preview-md.js';
import { writeFiles } from '../../adapters/fs/write-files.js';
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
  if (opts.out) {
    // The report folder as the daemon would commit it (a large plan compressed, its LDIF left to
    // --format ldif), so what an operator tries locally is what reviewers will see; unsigned.
    const dir = path.resolve(opts.out);
    const files = await renderCommittedPreviewFiles(result.plan, maxUsers);
    const written = Object.keys(files).filter((f) => files[f] !== null);
    await writeFiles(dir, Object.fromEntries(written.map((f) => [f, files[f]!])));
    // A file of the other layout, left from an earlier run, would not belong to this plan.
    for (const f of Object.keys(files)) if (files[f] === null) await rm(path.join(dir, f), { force: true });
    process.stderr.write(`wrote ${written.join(', ')} to ${dir}\n`);
    return 0;
  }
  // One file to stdout, piece by piece: a plan of 100,000 changes is tens of MB of text, which
  // need never be in memory at once.
  const chunks: Record<string, () => Iterable<string>> = {
    'preview.md': () => [renderPreviewMd(result.plan, { maxUsers })],
    'plan.jsonl': () => planJsonlChunks(result.plan),
    'changes.ldif': () => previewLdifChunks(result.plan),
  };
  await writeOut(out, chunks[file]!());
  return 0;
}

async function writeOut(out: NodeJS.WritableStream, chunks: Iterable<string>): Promise<void> {
  for (const chunk of chunks)
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}
