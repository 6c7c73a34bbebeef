import { TEMPLATE_DEFAULTS } from '../config/defaults.js';
import type { SyncTemplate } from '../config/types.generated.js';
import type { PlanEntry } from '../plan/build-plan.js';
import type { DirectorySchema } from '../syntax/ldap-schema.js';
import type { Watermark } from '../lifecycle/freshness.js';

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

export interface ReadOptions {
  signal?: AbortSignal;
  keepIn?: string;
}

/** A target directory opened for reading: what preview and the fresh read before writing need. */
export interface PreviewTarget {
  /**
   * `signal` ends a read at once, even while it waits for the directory. `keepIn` also writes the
   * pages to that file as they are read, for `replay` (one read of a scope per pass); only for a
   * whole scope (a query without `ids`).
   */
  readEntries: (query: EntryQuery, opts?: ReadOptions) => AsyncIterable<PlanEntry[]>;
  /** The pages a read with `keepIn` wrote to `file`, in read order. */
  replay?: (file: string) => AsyncIterable<PlanEntry[]>;
  readSchema?: () => Promise<DirectorySchema | undefined>;
  /** Cheap "did the scope change?" questions, where the adapter can answer them. */
  changes?: ChangeDetector;
  close(): Promise<void>;
}

export type { Watermark };

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

/**
 * One read of a scope per pass (adapters/fs/scope-snapshots.ts names and forgets the files; the
 * target writes and replays them): the first preview of a pass that must read a scope keeps a copy
 * of what it read, and the pass's other previews of the same scope plan from that copy instead of
 * reading the directory again. Kept for one pass only.
 */
export interface ScopeSnapshots {
  find(key: string): ScopeSnapshot | undefined;
  /** A file for a read's pages under `key`; they count only once `keep` is called. */
  record(key: string): ScopeRecording;
  /** Forgets every snapshot (at the end of a pass: the next pass asks the directory again). */
  clear(): Promise<void>;
}

export interface SnapshotMeta {
  /** The attributes the read asked for: a snapshot serves reads of the same or fewer. */
  attributes: string[];
  /** When the read finished (the plan's createdAt): what preview.md says. */
  readAt: string;
  /** Where the directory stood before the read: the previews made from it keep this one. */
  watermark?: Watermark;
}

export interface ScopeSnapshot extends SnapshotMeta {
  /** Where the target kept the pages (PreviewTarget.replay reads them). */
  file: string;
}

export interface ScopeRecording {
  file: string;
  keep(meta: SnapshotMeta): void;
  /** Removes the file unless it was kept; safe to call after keep. */
  drop(): Promise<void>;
}
