import path from 'node:path';
import type { LoadedDaemonConfig } from '../config/daemon-config.js';
import { validateCheckout } from './validate.js';
import { UsageError } from '../shared/errors.js';
import type { ConfigRepo } from '../config/config-repo.js';
import type { SourceData } from '../source/records.js';
import { loadTemplateSource } from './load-source.js';
import type { PreviewTarget } from '../ports/directory.js';
import { makePlan, type PlanResult } from './make-plan.js';

export type { PreviewTarget };

export interface PreviewDeps {
  /** Opens the named target's directory (from the daemon config) for reading. */
  openTarget: (target: string) => Promise<PreviewTarget>;
  readLdapSource?: Parameters<typeof loadTemplateSource>[3];
  now?: () => Date;
  onProgress?: (entriesRead: number) => void;
}

/** Resolves `REQUEST` given as a name (in `repoDir`) or as a path to requests/<name>.yaml. */
export function locateRequest(request: string, repoDir?: string): { root: string; name: string } {
  if (/\.ya?ml$/.test(request)) {
    const abs = path.resolve(request);
    if (path.basename(path.dirname(abs)) !== 'requests')
      throw new UsageError(`${request} is not in a requests/ folder of a config repository`);
    return {
      root: repoDir ? path.resolve(repoDir) : path.dirname(path.dirname(abs)),
      name: path.basename(abs).replace(/\.ya?ml$/, ''),
    };
  }
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(request)) {
    const named = request
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '');
    throw new UsageError(
      /^[\w.-]+$/.test(request) && named
        ? `request names are lower-case letters, digits and -; did you mean ${named}?`
        : `${request} is neither a request name (lower-case letters, digits and -) nor a requests/<name>.yaml path`,
    );
  }
  return { root: path.resolve(repoDir ?? '.'), name: request };
}

/** Validates the checkout, reads source and directory, and returns the plan (or the located problems). */
export async function previewRequest(
  root: string,
  name: string,
  daemon: LoadedDaemonConfig,
  deps: PreviewDeps,
  opts: { onlyIds?: string[]; commit?: string } = {},
): Promise<PlanResult> {
  // Data-file problems become the request's located diagnostics here, not a failure later; the
  // source read for validation is the one the plan uses.
  const { repo, sources } = await validateCheckout(root, daemon);
  const template = repo.requests.get(name)?.value?.spec.template;
  const source = template !== undefined ? sources.get(template) : undefined;
  return previewValidated(repo, name, daemon, deps, { ...opts, source });
}

/** The plan for one request of an already validated checkout (a pass validates once). */
export async function previewValidated(
  repo: ConfigRepo,
  name: string,
  daemon: LoadedDaemonConfig,
  deps: PreviewDeps,
  opts: { onlyIds?: string[]; commit?: string; source?: SourceData } = {},
): Promise<PlanResult> {
  if (!repo.requests.has(name)) throw new UsageError(`no request \`${name}\` in ${repo.root}/requests/`);
  let target: PreviewTarget | undefined;
  try {
    return await makePlan(
      repo,
      name,
      daemon,
      {
        loadSource: async () => {
          if (opts.source) return opts.source;
          const template = repo.templates.get(repo.requests.get(name)!.value!.spec.template)!.value!;
          return loadTemplateSource(template, repo, daemon, deps.readLdapSource);
        },
        readEntries: (query) => ({
          async *[Symbol.asyncIterator]() {
            target ??= await deps.openTarget(query.target);
            yield* target.readEntries(query);
          },
        }),
        readSchema: async (name) => {
          target ??= await deps.openTarget(name);
          return target.readSchema?.();
        },
        now: deps.now ?? (() => new Date()),
        onProgress: deps.onProgress,
      },
      opts,
    );
  } finally {
    await target?.close();
  }
}
