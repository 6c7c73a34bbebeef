import { readReportFile, readReportPlanText } from '../../adapters/fs/report-files.js';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { readBranchHistory } from '../../adapters/git/branch-history.js';
import { requestsTouched } from '../../config/config-repo.js';
import { renderFindings } from '../../report/diagnostics-output.js';
import { isError, sortDiagnostics } from '../../shared/diagnostics.js';
import { UsageError } from '../../shared/errors.js';
import { validateCheckout } from '../../workflows/validate.js';
import { type VerifyRequest, verifyBranch } from '../../workflows/verify.js';
import { outputFormat } from './validate.js';

export interface VerifyOptions {
  base?: string;
  publicKey?: string;
  format?: string;
}

/** `reexport verify`: the pull request's required check. Exit 0 when every preview is current. */
export async function verifyCommand(
  dir: string,
  opts: VerifyOptions,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv } = process,
): Promise<number> {
  const format = outputFormat(opts.format);
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new UsageError(`${dir} is not a folder; give the config repository checkout`);
  const publicKey = await loadPublicKey(opts.publicKey, io.env.REEXPORT_PUBLIC_KEY);
  const history = await readBranchHistory(dir, opts.base);
  const { repo, sources } = await validateCheckout(dir);
  const requests: VerifyRequest[] = [];
  for (const name of requestsTouched(repo, history.changed)) {
    const r = repo.requests.get(name)!;
    const templateName = r.value?.spec.template;
    const t = templateName !== undefined ? repo.templates.get(templateName) : undefined;
    const spec = t?.value?.spec.source;
    const data = templateName !== undefined ? sources.get(templateName) : undefined;
    // As the daemon reads them: links refused, a large plan from plan.jsonl.gz.
    const read = (f: string) => readReportFile(repo.root, name, f).catch(() => undefined);
    requests.push({
      name,
      file: r.file,
      request: r.value,
      template: t?.value,
      source:
        typeof spec === 'object' && data
          ? { digest: `sha256:${data.digest}`, file: spec.file }
          : {
              note:
                typeof spec === 'string'
                  ? `source \`${spec}\` is the daemon's; its digest can only be checked by the daemon`
                  : 'its source could not be read here',
            },
      reports: {
        status: await read('status.yaml'),
        plan: await readReportPlanText(repo.root, name).catch(() => undefined),
        ldif: await read('changes.ldif'),
        md: await read('preview.md'),
      },
    });
  }
  const result = verifyBranch({
    requests,
    reportCommits: history.reportCommits,
    publicKey,
    // The target branch's name as the daemon signs it (origin/main → main).
    baseBranch: history.base.replace(/^(refs\/remotes\/)?origin\//, ''),
  });
  const diagnostics = sortDiagnostics(result.diagnostics);
  const okLine =
    requests.length === 0
      ? `ok: no request added or changed since ${history.base}`
      : `ok: ${result.current.length} request${result.current.length === 1 ? ' has' : 's have'} the daemon's current, signed preview`;
  const out = renderFindings(
    { check: 'verify', diagnostics, notes: result.notes, counts: { requests: requests.length } },
    format,
    okLine,
  );
  io.stdout.write(out.stdout);
  io.stderr.write(out.stderr);
  return diagnostics.some(isError) ? 1 : 0;
}

async function loadPublicKey(file: string | undefined, env: string | undefined): Promise<KeyObject> {
  const pem = file ? await readFile(file, 'utf8').catch(() => undefined) : env;
  if (pem === undefined || pem.trim() === '')
    throw new UsageError(
      file
        ? `--public-key ${file} cannot be read`
        : "give the daemon's public key: --public-key FILE, or REEXPORT_PUBLIC_KEY with the PEM (the daemon serves it at /public-key.pem)",
    );
  try {
    return createPublicKey(pem);
  } catch {
    throw new UsageError("the daemon's public key is not a PEM public key");
  }
}
