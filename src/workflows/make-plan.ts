import type { ConfigRepo } from '../config/config-repo.js';
import type { LoadedDaemonConfig } from '../config/daemon-config.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { UsageError } from '../shared/errors.js';
import { diagnosticsForRequest } from '../config/rules.js';
import { Planner, type PlanEntry } from '../plan/build-plan.js';
import type { Plan } from '../plan/plan-types.js';
import type { DirectorySchema } from '../syntax/ldap-schema.js';
import type { ReexportRequest } from '../config/types.generated.js';
import { type EntryQuery, entryQuery } from '../ports/directory.js';
import type { SourceData } from '../source/records.js';
import { checkSourceFields } from '../plan/check-fields.js';
import { FilterSyntaxError } from '../syntax/filter.js';
import { locate } from '../config/yaml-file.js';

export interface PlanPorts {
  loadSource: () => Promise<SourceData>;
  readEntries: (query: EntryQuery) => AsyncIterable<PlanEntry[]>;
  /** The target's schema; undefined when it cannot be read (then well-known DN attributes are assumed). */
  readSchema?: (target: string) => Promise<DirectorySchema | undefined>;
  now: () => Date;
  onProgress?: (entriesRead: number) => void;
}

/**
 * The plan, without the source it was made from: a caller that renders a large plan need not hold
 * 100,000 records (some 35 MB) while it does; one that needs the source has it already.
 */
export type PlanResult = { plan: Plan } | { invalid: Diagnostic[] };

/** Few IDs are cheaper to look up one by one than to page through the whole scope. */
const TARGETED_SEARCH_MAX_IDS = 200;

/**
 * The IDs a plan's directory read looks up one by one, or undefined when it reads the whole
 * scope: a request of all users, or of more users than are cheaper to look up one by one. A
 * pass shares a whole scope's read between its requests (reconcile.ts), whatever selects them.
 */
export function targetedIds(
  users: ReexportRequest['spec']['users'],
  selectedIds: () => string[],
  onlyIds?: readonly string[],
): string[] | undefined {
  // Only a request naming its users can be read user by user: all users is a whole scope.
  if (users === 'all' && !onlyIds) return undefined;
  const ids = selectedIds();
  return ids.length <= TARGETED_SEARCH_MAX_IDS ? ids : undefined;
}

/** Computes the plan for one request of a validated checkout. I/O only through the ports. */
export async function makePlan(
  repo: ConfigRepo,
  requestName: string,
  daemon: LoadedDaemonConfig,
  ports: PlanPorts,
  opts: { onlyIds?: string[]; commit?: string } = {},
): Promise<PlanResult> {
  const problems = diagnosticsForRequest(repo, requestName);
  const requestFile = repo.requests.get(requestName);
  if (!requestFile) throw new UsageError(`no request \`${requestName}\` in ${repo.root}/requests/`);
  if (problems.length || !requestFile.value) return { invalid: problems };
  const request = requestFile.value;
  const templateFile = repo.templates.get(request.spec.template)!;
  const template = templateFile.value!;

  const source = await ports.loadSource();
  const fieldProblems = checkSourceFields(templateFile, requestFile, source.fields, source.name);
  if (fieldProblems.length) return { invalid: fieldProblems };

  const { safety } = daemon.config;
  const schema = await ports.readSchema?.(template.spec.target);
  const planner = new Planner({
    requestName,
    request,
    onlyIds: opts.onlyIds,
    templateName: templateFile.name,
    template,
    source,
    safety,
    commit: opts.commit,
    schema,
    // "Because" lines for exactly the users preview.md shows.
    explainUsers: daemon.config.preview.maxUsersInMarkdown,
  });
  const ids = targetedIds(request.spec.users, () => planner.selectedIds, opts.onlyIds);
  const query = entryQuery(template, planner.attributes, ids);
  let read = 0;
  if (!(query.ids && query.ids.length === 0)) {
    try {
      for await (const page of ports.readEntries(query)) {
        planner.addEntries(page);
        read += page.length;
        ports.onProgress?.(read);
      }
    } catch (err) {
      // The directory read parses the scope filter: a filter validation let through is still the
      // template's problem, shown where it is written, not a failure of the daemon.
      if (!(err instanceof FilterSyntaxError)) throw err;
      const at = templateFile.yaml
        ? locate(templateFile.yaml, ['spec', 'scope', 'filter'])
        : { line: 1, col: 1 };
      return { invalid: [{ file: templateFile.file, ...at, message: `scope.filter: ${err.message}` }] };
    }
  }
  const plan = planner.finish(ports.now().toISOString());
  return { plan };
}
