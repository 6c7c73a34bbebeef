import type { ReexportRequest, SyncTemplate } from '../config/types.generated.js';
import { idKey, type SourceData, type SourceRecord } from '../source/records.js';
import { changeJsonWriter, compareIds, idOrder, sortByIds } from './canonical.js';
import { listDigest } from '../shared/canonical.js';
import { type CompiledMapping, compileMappings, evaluateMapping, selectedMappings } from './evaluate.js';
import {
  LISTED_MAX,
  type Plan,
  type PlanChange,
  type PlanExplanations,
  type PlanHeader,
  type PlanSummary,
} from './plan-types.js';
import { removedValues, type SafetyLimits, safetyVerdict } from './safety.js';
import { PlanChanges, readChanges, UserChanges } from './plan-changes.js';
import {
  type AttributeOutcome,
  decideChange,
  type DnValued,
  dnValuedFrom,
  schemaAnswerFrom,
  normalizeValues,
} from './values.js';
import type { DirectorySchema } from '../syntax/ldap-schema.js';

/** The part of a directory entry planning needs; attribute keys are lower-cased names. */
export interface PlanEntry {
  dn: string;
  attrs: Map<string, { name: string; values: string[]; binary?: true }>;
}

export interface PlanInput {
  requestName: string;
  request: ReexportRequest;
  templateName: string;
  template: SyncTemplate;
  source: SourceData;
  safety: SafetyLimits;
  commit?: string;
  /** Narrows the request's selection further (a local preview of a few users). */
  onlyIds?: string[];
  /** The target directory's schema, when it could be read: which attributes hold DNs or one value. */
  schema?: DirectorySchema;
  /**
   * How many users (the first by ID) keep the source values that explain their changes: the
   * daemon config's preview.maxUsersInMarkdown; every user when not given.
   */
  explainUsers?: number;
}

/** What a matched entry says beyond changes; most of 100,000 matched users have none of it. */
interface MatchNotes {
  skippedEmpty?: string[];
  evaluationErrors?: PlanSummary['evaluationErrors'];
  binarySkipped?: PlanSummary['binarySkipped'];
}

const NO_VALUES: readonly string[] = Object.freeze([]);

/**
 * What the directory read found for one selected record: kept in arrays by the record's position,
 * not in an object per record (100,000 of them were 6 MB of a large preview's heap). Notes and
 * duplicate DNs are rare and live in maps by position.
 */
interface Found {
  /** The matched entry's DN; undefined until an entry matches. */
  dns: (string | undefined)[];
  /** The record's changes as PlanChanges holds them (see UserChanges), and how many. */
  changes: (string | undefined)[];
  changeCount: Int32Array;
  /** By position × mappings + mapping, the values a change removes, where it removes any. */
  clears: Map<number, number>;
  notes: Map<number, MatchNotes>;
  /** Every DN once a second entry claims the record: nobody can tell which is right. */
  duplicateDns: Map<number, string[]>;
}

/** Attributes whose values must be unique per user; a collision is a warning worth a reviewer's eye. */
const UNIQUE_ATTRIBUTES = new Set(['mail', 'userprincipalname', 'samaccountname', 'proxyaddresses', 'uid']);

/**
 * Builds a plan incrementally as directory pages arrive, without I/O: memory holds the selected
 * source records and the changes, never the whole directory.
 */
export class Planner {
  private readonly mappings: CompiledMapping[];
  private readonly matchAttr: string;
  /** The selected records, and by a source record's index its position there (and in `found`), or -1. */
  private readonly selected: SourceRecord[];
  private readonly positions: Int32Array;
  private readonly found: Found;
  private readonly summary: PlanSummary;
  /** Attribute → value (lower case) → the ID that yields it, or every ID once there are several. */
  private readonly valueOwners = new Map<string, Map<string, string | string[]>>();
  /** Per mapping (found once, not per user): its valueOwners, and whether its attribute holds one value. */
  private readonly ownersOf: (Map<string, string | string[]> | undefined)[];
  private readonly singleValued: boolean[];
  /** The mappings' attribute names in lower case, as entry attributes are keyed. */
  private readonly keys: string[];
  private readonly dnValued: DnValued;
  /**
   * Every source record's ID key, made only when the request selects some records and an entry
   * matches none of them: an entry of an unselected record is no news, one no record names is.
   */
  private sourceKeys?: Set<string>;
  /** DNs of entries that matched more than one selected record (rare: several match values). */
  private readonly sharedEntries = new Set<string>();
  /** Per mapping, whether its attribute holds DNs, as a DnValued that need not look again. */
  private readonly dnValuedOf: DnValued[];

  constructor(private readonly input: PlanInput) {
    const { request, template, source } = input;
    this.mappings = compileMappings(template, request.spec.mappings);
    this.matchAttr = template.spec.match.targetAttribute.toLowerCase();
    this.keys = this.mappings.map((m) => m.attribute.toLowerCase());
    this.dnValued = dnValuedFrom(input.schema);
    this.dnValuedOf = this.mappings.map((m) => {
      const yes = this.dnValued(m.attribute);
      return () => yes;
    });
    this.summary = {
      entriesInScope: 0,
      recordsInSource: source.records.length,
      recordsSelected: 0,
      matched: 0,
      unchanged: 0,
      usersToChange: 0,
      attributeChanges: 0,
      clears: 0,
      perAttribute: Object.fromEntries(
        this.mappings.map((m) => [m.attribute, { changes: 0, clears: 0, skippedEmpty: 0 }]),
      ),
      noEntry: [],
      unknownIds: [],
      duplicateMatches: [],
      evaluationErrors: [],
      sourceIssues: source.issues,
      binarySkipped: [],
      collisions: [],
      unmatchedEntries: { count: 0, first: [] },
    };
    const only = input.onlyIds && new Set(input.onlyIds.map(idKey));
    // Records are looked up in the source's own index, not in a second map of 100,000 keys.
    this.positions = new Int32Array(source.records.length).fill(-1);
    this.selected = selectedRecords(source, request.spec.users, this.summary.unknownIds, only);
    this.selected.forEach((r, at) => (this.positions[r.index] = at));
    const n = this.selected.length;
    this.found = {
      dns: new Array<string | undefined>(n).fill(undefined),
      changes: new Array<string | undefined>(n).fill(undefined),
      changeCount: new Int32Array(n),
      clears: new Map(),
      notes: new Map(),
      duplicateDns: new Map(),
    };
    this.summary.recordsSelected = n;
    if (this.mappings.some((m) => UNIQUE_ATTRIBUTES.has(m.attribute.toLowerCase()))) {
      for (const m of this.mappings)
        if (UNIQUE_ATTRIBUTES.has(m.attribute.toLowerCase())) this.valueOwners.set(m.attribute, new Map());
    }
    this.ownersOf = this.mappings.map((m) => this.valueOwners.get(m.attribute));
    this.singleValued = this.keys.map((k) => input.schema?.singleValued.has(k) ?? false);
  }

  /** The attributes to ask the directory for. */
  get attributes(): string[] {
    return plannedAttributes(this.input.template, this.input.request);
  }

  /** The selected IDs, for a targeted directory search when the request names few users. */
  get selectedIds(): string[] {
    return this.selected.map((r) => r.id);
  }

  addEntries(entries: Iterable<PlanEntry>): void {
    for (const entry of entries) this.addEntry(entry);
  }

  private addEntry(entry: PlanEntry): void {
    const matchValues = entry.attrs.get(this.matchAttr)?.values ?? [];
    if (matchValues.length === 0) return;
    this.summary.entriesInScope++;
    let matched = false;
    const { found } = this;
    for (const value of matchValues) {
      const record = this.input.source.find(idKey(value));
      const at = record ? (this.positions[record.index] ?? -1) : -1;
      if (at < 0) continue;
      if (matched) this.sharedEntries.add(entry.dn);
      matched = true;
      const dn = found.dns[at];
      if (dn !== undefined) {
        // Two entries claim one user: nobody can tell which is right, so neither is written.
        const dns = found.duplicateDns.get(at);
        if (dns) dns.push(entry.dn);
        else found.duplicateDns.set(at, [dn, entry.dn]);
        found.changes[at] = undefined;
        found.notes.delete(at);
        continue;
      }
      this.match(at, entry);
    }
    if (!matched) this.noteUnmatched(entry.dn, matchValues);
  }

  /** Counts an entry no source record matches; keeps the first LISTED_MAX by ID, whatever the read order. */
  private noteUnmatched(dn: string, matchValues: readonly string[]): void {
    const { input } = this;
    if (input.request.spec.users !== 'all' || input.onlyIds) {
      this.sourceKeys ??= new Set(input.source.records.map((r) => r.key));
      for (const v of matchValues) if (this.sourceKeys.has(idKey(v))) return;
    }
    const unmatched = this.summary.unmatchedEntries;
    unmatched.count++;
    const id = matchValues.join(', ');
    const first = unmatched.first;
    if (first.length === LISTED_MAX && compareIds(id, first[LISTED_MAX - 1]!.id) >= 0) return;
    let at = first.length;
    while (at > 0 && compareIds(first[at - 1]!.id, id) > 0) at--;
    first.splice(at, 0, { id, dn });
    if (first.length > LISTED_MAX) first.pop();
  }

  private notesOf(at: number): MatchNotes {
    let notes = this.found.notes.get(at);
    if (!notes) this.found.notes.set(at, (notes = {}));
    return notes;
  }

  private match(at: number, entry: PlanEntry): void {
    const record = this.selected[at]!;
    const { found } = this;
    found.dns[at] = entry.dn;
    let changes: UserChanges | undefined;
    for (let i = 0; i < this.mappings.length; i++) {
      const m = this.mappings[i]!;
      const current = entry.attrs.get(this.keys[i]!);
      if (current?.binary) {
        (this.notesOf(at).binarySkipped ??= []).push({ id: record.id, attribute: m.attribute });
        continue;
      }
      const result = evaluateMapping(m, record.fields);
      if ('error' in result) {
        (this.notesOf(at).evaluationErrors ??= []).push({
          id: record.id,
          attribute: m.attribute,
          message: result.error,
        });
        continue;
      }
      const before = normalizeValues(current?.values ?? NO_VALUES);
      const outcome = decideChange(before, result.values, m.mapping, this.dnValuedOf[i]);
      const tooMany = this.singleValued[i] ? tooManyValues(result.values, outcome) : undefined;
      if (tooMany) {
        // The directory would refuse the write at execution; say so in the preview instead.
        (this.notesOf(at).evaluationErrors ??= []).push({
          id: record.id,
          attribute: m.attribute,
          message: `\`${m.attribute}\` holds one value in the directory, but ${tooMany}`,
        });
        continue;
      }
      const owners = this.ownersOf[i];
      if (owners) noteOwner(owners, result.values, record.id);
      if (outcome.kind === 'skip-empty') (this.notesOf(at).skippedEmpty ??= []).push(m.attribute);
      if (outcome.kind !== 'change') continue;
      (changes ??= new UserChanges()).add(i, before, outcome.after);
      const removed = removedValues({ before, after: outcome.after });
      if (removed) found.clears.set(at * this.mappings.length + i, removed);
    }
    if (!changes) return;
    found.changes[at] = changes.text();
    found.changeCount[at] = changes.count;
  }

  finish(createdAt: string): Plan {
    const s = this.summary;
    // First, and then let go: every user's unique values (400,000 with three proxyAddresses each)
    // need not be held while the plan is ordered, digested and rendered.
    for (const [attribute, owners] of this.valueOwners) {
      for (const [value, ids] of owners)
        if (typeof ids !== 'string') s.collisions.push({ attribute, value, ids: sortByIds(ids, (id) => id) });
      owners.clear();
    }
    // Users with changes, sorted by ID; each user's changes are already in mapping order, so
    // sorting the users (not the changes) gives the plan's order at a fraction of the cost.
    const changedAt: number[] = [];
    const { found } = this;
    for (let at = 0; at < this.selected.length; at++) {
      const record = this.selected[at]!;
      const dn = found.dns[at];
      const duplicateDns = found.duplicateDns.get(at);
      const changes = found.changes[at] !== undefined;
      const notes = found.notes.get(at);
      if (dn === undefined) s.noEntry.push({ id: record.id, origin: record.origin });
      else if (duplicateDns) s.duplicateMatches.push({ id: record.id, dns: duplicateDns });
      else {
        s.matched++;
        if (!changes) s.unchanged++;
        else {
          s.usersToChange++;
          changedAt.push(at);
        }
        if (!notes) continue;
        for (const a of notes.skippedEmpty ?? NO_VALUES) s.perAttribute[a]!.skippedEmpty++;
        if (notes.evaluationErrors) s.evaluationErrors.push(...notes.evaluationErrors);
        if (notes.binarySkipped) s.binarySkipped.push(...notes.binarySkipped);
      }
    }
    const digest = planDigester();
    // assessSafety's count of entries changed: one per user, but an entry that several records
    // matched (a multi-valued match attribute) once.
    let entries = 0;
    const shared = new Set<string>();
    const order = planOrder(changedAt, this.selected);
    const users = {
      ids: Array.from(order, (at) => this.selected[at]!.id),
      dns: Array.from(order, (at) => found.dns[at]!),
      texts: Array.from(order, (at) => found.changes[at]!),
      counts: order.map((at) => found.changeCount[at]!),
    };
    const attributes = this.mappings.map((m) => m.attribute);
    for (let u = 0; u < order.length; u++) {
      const id = users.ids[u]!;
      const dn = users.dns[u]!;
      if (!this.sharedEntries.has(dn)) entries++;
      else if (!shared.has(dn)) {
        shared.add(dn);
        entries++;
      }
      const clearsAt = order[u]! * attributes.length;
      readChanges(users.texts[u]!, users.counts[u]!, (i, before, after) => {
        const attribute = attributes[i]!;
        digest.addText(id, dn, attribute, before, after);
        const counts = s.perAttribute[attribute]!;
        counts.changes++;
        s.attributeChanges++;
        const removed = found.clears.get(clearsAt + i) ?? 0;
        counts.clears += removed;
        s.clears += removed;
      });
    }
    const changes = new PlanChanges(users, attributes);
    s.noEntry = sortByIds(s.noEntry, (x) => x.id);
    s.duplicateMatches = sortByIds(s.duplicateMatches, (x) => x.id);
    s.evaluationErrors = sortByIds(s.evaluationErrors, (x) => x.id);
    const { requestName, templateName, template, request, source, commit } = this.input;
    const header: PlanHeader = {
      format: 'reexport-plan/v1',
      request: requestName,
      template: templateName,
      target: template.spec.target,
      mappings: this.mappings.map((m) => m.attribute),
      digests: {
        request: requestDigest(request),
        template: templateDigest(template),
        source: `sha256:${source.digest}`,
        plan: digest.digest(),
      },
      ...(commit ? { commit } : {}),
      schema: schemaAnswerFrom(this.input.schema, [this.matchAttr, ...this.keys]),
      createdAt,
    };
    return {
      header,
      changes,
      summary: s,
      safety: safetyVerdict({ entries, clears: s.clears }, this.input.safety, request.spec.maxChanges),
      explanations: this.explain(changes),
    };
  }

  /**
   * The mappings as written, and for the first users of the sorted plan the values of the fields
   * their changed mappings read: a bounded copy, so the plan never holds the whole source.
   */
  private explain(changes: Iterable<PlanChange>): PlanExplanations {
    const byAttribute = new Map(this.mappings.map((m) => [m.attribute, m]));
    const mappings: PlanExplanations['mappings'] = {};
    for (const m of this.mappings) {
      mappings[m.attribute] = {
        source: m.expressions.map((e) => e.text),
        fields: m.fields,
        ...(m.mapping.policy ? { policy: m.mapping.policy } : {}),
        ...(m.mapping.onEmpty ? { onEmpty: m.mapping.onEmpty } : {}),
      };
    }
    const sources: PlanExplanations['sources'] = new Map();
    const limit = this.input.explainUsers ?? Number.POSITIVE_INFINITY;
    for (const c of changes) {
      let values = sources.get(c.id);
      if (!values) {
        if (sources.size >= limit) break;
        values = Object.create(null) as Record<string, string | null>;
        sources.set(c.id, values);
      }
      const fields = this.input.source.find(idKey(c.id))!.fields;
      for (const f of byAttribute.get(c.attribute)!.fields) if (!(f in values)) values[f] = asText(fields[f]);
    }
    return { mappings, sources };
  }
}

/** Why a single-valued attribute would get several values, if it would. */
function tooManyValues(desired: readonly string[], outcome: AttributeOutcome): string | undefined {
  if (desired.length > 1) return `the mapping gives ${desired.length}`;
  if (outcome.kind === 'change' && outcome.after.length > 1)
    return `merging would leave ${outcome.after.length}; use policy: replace`;
  return undefined;
}

/** Notes who yields each value of an attribute whose values must be unique (by value, any case). */
function noteOwner(owners: Map<string, string | string[]>, values: readonly string[], id: string): void {
  for (const v of values) {
    const key = v.toLowerCase();
    const prior = owners.get(key);
    if (prior === undefined) owners.set(key, id);
    else if (typeof prior === 'string') owners.set(key, [prior, id]);
    else prior.push(id);
  }
}

/** The changed users' positions in plan order: by ID, as compareIds orders them. */
function planOrder(positions: readonly number[], records: readonly SourceRecord[]): Int32Array {
  const order = idOrder(positions.map((at) => records[at]!.id));
  return Int32Array.from(order, (i) => positions[i]!);
}

export { requestDigest, templateDigest } from '../config/digests.js';
import { requestDigest, templateDigest } from '../config/digests.js';

/** A source value as a reviewer reads it; null for a field the record lacks. */
function asText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The attributes a request's plan reads from the directory: the match attribute, then the
 * selected mappings' targets. Known from the template and request alone, so a read can start
 * before the source is loaded.
 */
export function plannedAttributes(template: SyncTemplate, request: ReexportRequest): string[] {
  return [
    template.spec.match.targetAttribute,
    ...selectedMappings(template, request.spec.mappings).map((m) => m.target),
  ];
}

/** The digest execution verifies: over the changes in plan order, whatever file they came from. */
export function planDigest(changes: Iterable<PlanChange>): string {
  const digest = planDigester();
  for (const c of changes) digest.add(c);
  return digest.digest();
}

/**
 * planDigest change by change (a reader streaming plan.jsonl need not hold the plan). The
 * canonical JSON of `[id, dn, attribute, before, after]` is plain JSON: it holds no objects.
 */
export function planDigester(): {
  add(change: PlanChange): void;
  /** add, from the values' JSON text (as PlanChanges holds a change). */
  addText(id: string, dn: string, attribute: string, beforeJson: string, afterJson: string): void;
  digest(): string;
} {
  const list = listDigest((json) => json as string);
  const json = changeJsonWriter();
  return {
    add: (c) => list.add(json.item(c)),
    addText: (id, dn, attribute, before, after) => list.add(json.itemOf(id, dn, attribute, before, after)),
    digest: () => list.digest(),
  };
}

/**
 * The records a plan of the request covers: those `users` selects, each once (`ids: [a, A]`
 * names one user), and of those only the ones whose ID key `only` has, when given.
 */
export function selectedRecords(
  source: SourceData,
  users: ReexportRequest['spec']['users'],
  unknownIds: string[],
  only?: ReadonlySet<string>,
): SourceRecord[] {
  const seen = new Uint8Array(source.records.length);
  const out: SourceRecord[] = [];
  for (const r of selectRecords(source, users, unknownIds)) {
    if ((only && !only.has(r.key)) || seen[r.index]) continue;
    seen[r.index] = 1;
    out.push(r);
  }
  return out;
}

/** The records a request's `users` selects; IDs it names that the source lacks go to unknownIds. */
export function selectRecords(
  source: SourceData,
  users: ReexportRequest['spec']['users'],
  unknownIds: string[],
): SourceRecord[] {
  if (users === 'all') return source.records;
  if ('ids' in users) {
    const out: SourceRecord[] = [];
    for (const id of users.ids) {
      const r = source.find(idKey(id));
      if (r) out.push(r);
      else unknownIds.push(id);
    }
    return out;
  }
  const conditions = Object.entries(users.where).map(
    ([field, v]) =>
      [field, new Set((Array.isArray(v) ? v : [v]).map((x) => x.normalize('NFC').trim()))] as const,
  );
  return source.records.filter((r) =>
    conditions.every(([field, accepted]) => {
      const value = r.fields[field];
      return value !== undefined && value !== null && accepted.has(String(value).normalize('NFC').trim());
    }),
  );
}
