import { TEMPLATE_DEFAULTS } from '../config/defaults.js';
import type { SyncTemplate } from '../config/types.generated.js';
import type { PlanEntry } from '../plan/build-plan.js';
import type { DirectorySchema } from '../syntax/ldap-schema.js';

/** The directory query a plan needs; the adapter escapes the IDs. */
export interface EntryQuery {
  target: string;
  baseDN: string;
  scope: 'sub' | 'one';
  scopeFilter?: string;
  matchAttribute: string;
  /** When set, only entries whose match attribute equals one of these. */
  ids?: string[];
  attributes: string[];
}

/** The template's part of a directory query: where its entries are and how they match. */
export function entryQuery(template: SyncTemplate, attributes: string[], ids?: string[]): EntryQuery {
  const { target, scope, match } = template.spec;
  return {
    target,
    baseDN: scope.baseDN,
    scope: scope.searchScope ?? TEMPLATE_DEFAULTS.searchScope,
    scopeFilter: scope.filter,
    matchAttribute: match.targetAttribute,
    attributes,
    ...(ids ? { ids } : {}),
  };
}

/** A target directory opened for reading: what preview and the fresh read before writing need. */
export interface PreviewTarget {
  readEntries: (query: EntryQuery) => AsyncIterable<PlanEntry[]>;
  readSchema?: () => Promise<DirectorySchema | undefined>;
  close(): Promise<void>;
}
