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
  /** Sorted by user ID, then by the template's mapping order. */
  changes: PlanChange[];
  summary: PlanSummary;
  safety: SafetyVerdict;
}
