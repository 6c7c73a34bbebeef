import path from 'node:path';
import type { LoadedDaemonConfig } from '../config/daemon-config.js';
import { validateCheckout } from './validate.js';
import { diagnosticsForRequest } from '../config/rules.js';
import { UsageError } from '../shared/errors.js';
import type { ConfigRepo } from '../config/config-repo.js';
import type { SourceData } from '../source/records.js';
import { loadTemplateSource } from './load-source.js';
import type { PreviewTarget } from '../ports/directory.js';
import { makePlan, type PlanResult } from './make-plan.js';
import { entryQuery, type EntryQuery } from '../ports/directory.js';
import { type PlanEntry, plannedAttributes } from '../plan/build-plan.js';

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
  let ahead: ReadAhead | undefined;
  try {
    const { repo, sources } = await validateCheckout(root, daemon, {
      onRepo: (repo) => (ahead = readAhead(repo, name, deps, opts)),
    });
    const template = repo.requests.get(name)?.value?.spec.template;
    const source = template !== undefined ? sources.get(template) : undefined;
    return await previewValidated(repo, name, daemon, deps, { ...opts, source, ahead });
  } finally {
    await ahead?.close();
  }
}

/** A directory read started before the plan asks for it. */
interface ReadAhead {
  query: EntryQuery;
  target: Promise<PreviewTarget>;
  /** The pages; the first is already asked for. Taken once. */
  pages?: AsyncIterable<PlanEntry[]>;
  close(): Promise<void>;
}

/**
 * Starts reading the request's scope as soon as its template and request are known, so the
 * directory (and the thread that decodes its answers) works while the source is read and checked.
 * Only a whole scope is known that early: a request naming users reads just them, found in the
 * source first. A read nobody takes (the request turned out invalid) is stopped by close().
 */
function readAhead(
  repo: ConfigRepo,
  name: string,
  deps: PreviewDeps,
  opts: { onlyIds?: string[] },
): ReadAhead | undefined {
  const request = repo.requests.get(name)?.value;
  const template = request && repo.templates.get(request.spec.template)?.value;
  if (!request || !template || request.spec.users !== 'all' || opts.onlyIds) return undefined;
  // A request that breaks a rule (an attribute not allowed, a scope it may not read) is not read.
  if (diagnosticsForRequest(repo, name).length) return undefined;
  const query = entryQuery(template, plannedAttributes(template, request));
  const target = deps.openTarget(query.target);
  // Until the plan takes it, a failure (no connection) is kept for it rather than unhandled.
  target.catch(() => {});
  const stop = new AbortController();
  const read = (async function* () {
    yield* (await target).readEntries(query, { signal: stop.signal });
  })();
  const first = read.next();
  first.catch(() => {});
  const pages = (async function* () {
    const step = await first;
    if (step.done) return;
    yield step.value;
    yield* { [Symbol.asyncIterator]: () => read };
  })();
  return {
    query,
    target,
    pages,
    async close() {
      // Not a wait for the directory: a read the plan never took may still be connecting.
      stop.abort();
      await read.return(undefined).catch(() => {});
      await (await target.catch(() => undefined))?.close();
    },
  };
}

/** The plan for one request of an already validated checkout (a pass validates once). */
export async function previewValidated(
  repo: ConfigRepo,
  name: string,
  daemon: LoadedDaemonConfig,
  deps: PreviewDeps,
  opts: { onlyIds?: string[]; commit?: string; source?: SourceData; ahead?: ReadAhead } = {},
): Promise<PlanResult> {
  if (!repo.requests.has(name)) throw new UsageError(`no request \`${name}\` in ${repo.root}/requests/`);
  const { ahead } = opts;
  // A target opened here is closed here; the read-ahead's belongs to whoever started it.
  let target: PreviewTarget | undefined;
  const open = async (name: string) =>
    ahead && ahead.query.target === name ? ahead.target : (target ??= await deps.openTarget(name));
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
        readEntries: (query) => {
          if (ahead?.pages && JSON.stringify(query) === JSON.stringify(ahead.query)) {
            const { pages } = ahead;
            ahead.pages = undefined;
            return pages;
          }
          return {
            async *[Symbol.asyncIterator]() {
              yield* (await open(query.target)).readEntries(query);
            },
          };
        },
        readSchema: async (name) => (await open(name)).readSchema?.(),
        now: deps.now ?? (() => new Date()),
        onProgress: deps.onProgress,
      },
      opts,
    );
  } finally {
    await target?.close();
  }
}
