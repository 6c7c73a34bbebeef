import type { ConfigRepo } from '../config/config-repo.js';
import type { LoadedDaemonConfig } from '../config/daemon-config.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { diagnosticsForRequest } from '../config/rules.js';
import { Planner, type PlanEntry } from '../plan/build-plan.js';
import type { Plan } from '../plan/plan-types.js';
import type { DirectorySchema } from '../syntax/ldap-schema.js';
import { type EntryQuery, entryQuery } from '../ports/directory.js';
import { DEFAULT_SAFETY } from '../plan/safety.js';
import type { SourceData } from '../source/records.js';
import { checkSourceFields } from '../plan/check-fields.js';

export interface PlanPorts {
  loadSource: () => Promise<SourceData>;
  readEntries: (query: EntryQuery) => AsyncIterable<PlanEntry[]>;
  /** The target's schema; undefined when it cannot be read (then well-known DN attributes are assumed). */
  readSchema?: (target: string) => Promise<DirectorySchema | undefined>;
  now: () => Date;
  onProgress?: (entriesRead: number) => void;
}

export type PlanResult = { plan: Plan; source: SourceData } | { invalid: Diagnostic[] };

/** Few IDs are cheaper to look up one by one than to page through the whole scope. */
const TARGETED_SEARCH_MAX_IDS = 200;

/** Computes the plan for one request of a validated checkout. I/O only through the ports. */
export async function makePlan(
  repo: ConfigRepo,
  requestName: string,
  daemon: LoadedDaemonConfig | undefined,
  ports: PlanPorts,
  opts: { onlyIds?: string[]; commit?: string } = {},
): Promise<PlanResult> {
  const problems = diagnosticsForRequest(repo, requestName);
  const requestFile = repo.requests.get(requestName);
  if (!requestFile) throw new Error(`no request ${requestName}`);
  if (problems.length || !requestFile.value) return { invalid: problems };
  const request = requestFile.value;
  const templateFile = repo.templates.get(request.spec.template)!;
  const template = templateFile.value!;

  const source = await ports.loadSource();
  const fieldProblems = checkSourceFields(templateFile, requestFile, source.fields, source.name);
  if (fieldProblems.length) return { invalid: fieldProblems };

  const safety = { ...DEFAULT_SAFETY, ...daemon?.config.safety };
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
    ...(daemon?.config.preview?.maxUsersInMarkdown
      ? { explainUsers: daemon.config.preview.maxUsersInMarkdown }
      : {}),
  });
  const ids = planner.selectedIds;
  const targeted = (request.spec.users !== 'all' || opts.onlyIds) && ids.length <= TARGETED_SEARCH_MAX_IDS;
  const query = entryQuery(template, planner.attributes, targeted ? ids : undefined);
  let read = 0;
  if (!(query.ids && query.ids.length === 0)) {
    for await (const page of ports.readEntries(query)) {
      planner.addEntries(page);
      read += page.length;
      ports.onProgress?.(read);
    }
  }
  const plan = planner.finish(ports.now().toISOString());
  return { plan, source };
}
