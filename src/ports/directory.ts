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

/**
 * Where a target directory stood when a preview read it, so a later pass can ask "did anything
 * in this scope change since?" without reading the scope. Plain data, recorded with the preview.
 * - `usn`: Active Directory (and Samba): the domain controller's highestCommittedUSN. USNs are
 *   per domain controller, so `server` (its dsServiceName) must match for the comparison to hold.
 * - `csn`: OpenLDAP with the syncprov overlay: the contextCSN values of the suffix entry.
 * - `modifyTimestamp`: any other LDAPv3 server: the highest modifyTimestamp in the scope, and
 *   how many entries carry exactly that time (the attribute counts whole seconds).
 */
export type Watermark =
  | { kind: 'usn'; usn: string; server: string }
  | { kind: 'csn'; suffix: string; csn: string[] }
  | { kind: 'modifyTimestamp'; time: string; atTime: number };

/** The part of a template's query that says which entries it manages. */
export type ScopeQuery = Pick<EntryQuery, 'baseDN' | 'scope' | 'scopeFilter' | 'matchAttribute'>;

/**
 * Cheap change detection on a target (adapters/ldap/change-detection.ts): each call reads the root
 * DSE, one entry, or the few entries changed since the watermark, never the whole scope. Deletes
 * and moves out of the scope are not seen: the refresh interval catches them (lifecycle/freshness.ts).
 */
export interface ChangeDetector {
  /** The watermark to record before a preview's read; undefined when the server offers none. */
  readWatermark(scope: ScopeQuery, previous?: Watermark): Promise<Watermark | undefined>;
  /** Whether an entry in scope was added or modified after the watermark was read. */
  changedSince(scope: ScopeQuery, watermark: Watermark): Promise<boolean>;
}
