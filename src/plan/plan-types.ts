import type { PlanChanges } from './plan-changes.js';
import type { SchemaAnswer } from './values.js';

/** The reviewed unit of work: what a preview shows and what execution applies, nothing more. */
export interface PlanChange {
  /** The user's ID (the template's match.sourceField). */
  id: string;
  dn: string;
  /** As the template spells it. */
  attribute: string;
  /** Directory values at preview time (normalised). Empty: the attribute had no value. */
  before: string[];
  /** Values after the change. Empty: the attribute is cleared. */
  after: string[];
}

export interface PlanHeader {
  format: 'reexport-plan/v1';
  request: string;
  template: string;
  target: string;
  mappings: string[];
  digests: { request: string; template: string; source: string; plan: string };
  /** The config repository commit the plan was made from, when known. */
  commit?: string;
  /** What the target's schema said of the plan's attributes; execution uses this, not a second read. */
  schema?: SchemaAnswer;
  createdAt: string;
}

export interface AttributeCounts {
  changes: number;
  clears: number;
  skippedEmpty: number;
}

export interface PlanSummary {
  /** Directory entries in the template's scope that carry a match value. */
  entriesInScope: number;
  recordsInSource: number;
  recordsSelected: number;
  matched: number;
  unchanged: number;
  usersToChange: number;
  attributeChanges: number;
  clears: number;
  perAttribute: Record<string, AttributeCounts>;
  /** Selected source records without a directory entry. */
  noEntry: Array<{ id: string; origin: string }>;
  /** IDs listed in the request that are not in the source. */
  unknownIds: string[];
  /** IDs found on more than one entry: never written. */
  duplicateMatches: Array<{ id: string; dns: string[] }>;
  evaluationErrors: Array<{ id: string; attribute: string; message: string }>;
  sourceIssues: Array<{ origin: string; message: string }>;
  /** Attributes left alone because a directory value is not text. */
  binarySkipped: Array<{ id: string; attribute: string }>;
  /** Values computed for more than one user where a directory expects uniqueness (mail). */
  collisions: Array<{ attribute: string; value: string; ids: string[] }>;
  /**
   * Entries in scope whose match value is in no source record (leavers, service accounts): counted,
   * and the first LISTED_MAX by ID named, so a reviewer sees who the re-export leaves alone.
   */
  unmatchedEntries: { count: number; first: Array<{ id: string; dn: string }> };
}

/** How many items of a list (no entry, unmatched…) the plan keeps and preview.md shows by name. */
export const LISTED_MAX = 50;

/** A mapping as the template writes it, for showing why a value is what it is. */
export interface MappingExplanation {
  /** The source expressions (one, or one per value of a multi-valued mapping). */
  source: string[];
  /** The source fields the expressions read. */
  fields: string[];
  policy?: 'replace' | 'merge' | 'keep';
  onEmpty?: 'clear' | 'skip';
}

/**
 * Why each value: the mappings' expressions, and for the first users (by ID) the source values the
 * mappings that change them read. Only for reading: never in plan.jsonl or the plan digest, and
 * bounded (a plan of 100,000 users keeps the values of the users preview.md shows, not of all).
 */
export interface PlanExplanations {
  /** Per attribute, as the template spells it. */
  mappings: Record<string, MappingExplanation>;
  /** User ID → field → value as text; null when the record has no such field. */
  sources: Map<string, Record<string, string | null>>;
}

export interface SafetyVerdict {
  ok: boolean;
  entries: number;
  clears: number;
  maxChanges: number;
  maxClears: number;
  confirmedBy?: number;
  message: string;
}

export interface Plan {
  header: PlanHeader;
  /** Sorted by user ID, then by the template's mapping order; held compactly (see PlanChanges). */
  changes: PlanChanges;
  summary: PlanSummary;
  safety: SafetyVerdict;
  /** Absent for a plan read back from plan.jsonl. */
  explanations?: PlanExplanations;
}
