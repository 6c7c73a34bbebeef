import { checkExpression } from '../expr/engine.js';
import { type ConfigRepo, readConfigRepo } from './config-repo.js';
import type { LoadedDaemonConfig } from './daemon-config.js';
import { type Diagnostic, sortDiagnostics } from '../shared/diagnostics.js';
import { applyRules, collectDiagnostics } from './rules.js';

export interface ValidatedRepo {
  repo: ConfigRepo;
  diagnostics: Diagnostic[];
}

/** Both stages for a checkout: shape, then context. Collects every problem; throws only for I/O failures. */
export async function validateRepo(root: string, daemon?: LoadedDaemonConfig): Promise<ValidatedRepo> {
  const repo = await readConfigRepo(root);
  await applyRules({ repo, daemon, checkExpression });
  return { repo, diagnostics: sortDiagnostics(collectDiagnostics(repo)) };
}
