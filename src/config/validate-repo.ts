import { checkExpression } from '../expr/engine.js';
import { type ConfigRepo, readConfigRepo } from './config-repo.js';
import type { LoadedDaemonConfig } from './daemon-config.js';
import { type Diagnostic, sortDiagnostics } from '../shared/diagnostics.js';
import { applyRules, collectDiagnostics } from './rules.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { requestDigest } from './digests.js';

export interface ValidatedRepo {
  repo: ConfigRepo;
  diagnostics: Diagnostic[];
}

/** Both stages for a checkout: shape, then context. Collects every problem; throws only for I/O failures. */
export async function validateRepo(root: string, daemon?: LoadedDaemonConfig): Promise<ValidatedRepo> {
  const repo = await readConfigRepo(root);
  await applyRules({ repo, daemon, checkExpression });
  await executedRequestRule(repo);
  return { repo, diagnostics: sortDiagnostics(collectDiagnostics(repo)) };
}

/**
 * An executed request is history: editing it would make its reports lie about what was applied.
 * The daemon's status.yaml remembers the digest it executed; a different request is an error.
 */
async function executedRequestRule(repo: ConfigRepo): Promise<void> {
  for (const r of repo.requests.values()) {
    const text = await readFile(path.join(repo.root, 'reports', r.name, 'status.yaml'), 'utf8').catch(
      () => undefined,
    );
    if (!text) continue;
    let status: { executedAt?: string; state?: string; digests?: { request?: string } } | undefined;
    try {
      status = parse(text) as typeof status;
    } catch {
      continue;
    }
    const executed = Boolean(status?.executedAt) || status?.state === 'executed';
    if (!executed || !status?.digests?.request || !r.value) continue;
    if (requestDigest(r.value) !== status.digests.request) {
      r.diagnostics.push({
        file: r.file,
        line: 1,
        col: 1,
        message:
          'this request was already executed and must not change; revert the edit and create a new request',
      });
    }
  }
}
