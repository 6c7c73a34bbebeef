import { createHash } from 'node:crypto';
import { nfc } from '../syntax/unicode.js';

/** One record of the source of truth, with where it came from for messages. */
export interface SourceRecord {
  id: string;
  /** idKey(id), computed once: a large plan looks records up by it 100,000 times. */
  key: string;
  fields: Record<string, unknown>;
  /**
   * e.g. "data/ansatte.csv:12" or an LDAP DN; made when read (a getter: a copy made by spreading
   * or JSON.stringify does not have it).
   */
  origin: string;
  /** Its place in SourceData.records. */
  index: number;
}

/** Where a raw row came from, as messages say it: "file:line" for a line of the file `name`. */
export const originText = (name: string, origin: number | string): string =>
  typeof origin === 'number' ? `${name}:${origin}` : origin;

/**
 * A record whose origin is made when asked: "file:line" for each of 100,000 records was 5 MB of
 * a large preview's heap that only a message about a few of them reads.
 */
class LocatedRecord implements SourceRecord {
  index = -1;

  constructor(
    readonly id: string,
    readonly key: string,
    readonly fields: Record<string, unknown>,
    private readonly source: string,
    private readonly at: number | string,
  ) {}

  get origin(): string {
    return originText(this.source, this.at);
  }
}

/** A record that cannot take part: no ID, an empty ID, or an ID seen before. */
export interface SourceIssue {
  origin: string;
  message: string;
}

export interface SourceData {
  /** Human name: the file or the LDAP source. */
  name: string;
  /** As collectRecords made them: each record's `index` is its place here. */
  records: SourceRecord[];
  issues: SourceIssue[];
  /** Every field name seen in any record, for checking that expressions read real fields. */
  fields: Set<string>;
  /** sha256 of the source's bytes (files) or canonical records (LDAP). */
  digest: string;
  /**
   * The record of an ID key (idKey); none for a key several records share. The source's own
   * index: a plan or an execution looks records up here instead of making a second one.
   */
  find(key: string): SourceRecord | undefined;
}

/** IDs compare the way directories compare employeeID: trimmed, Unicode-normalised, case-insensitive. */
export function idKey(id: string): string {
  return nfc(id).trim().toLowerCase();
}

/** How many places of one repeated ID its message lists. */
const ORIGINS_SHOWN = 5;

/**
 * Turns raw rows into records, reporting missing, empty and duplicate IDs per row instead of failing.
 * `columns`: every field a row has, when the parser knows (it may have dropped fields nothing reads).
 * `keys` (asked with `withKeys`) says whether any record has a text or number ID of that key,
 * records left out included: a view of the records' own index, not a second set of 100,000 keys.
 */
export function collectRecords(
  name: string,
  rows: Iterable<{ fields: Record<string, unknown>; origin: number | string }>,
  idField: string,
  digest: string,
  opts: { columns?: readonly string[]; withKeys?: boolean } = {},
): SourceData & { keys?: IdKeys } {
  const issues: SourceIssue[] = [];
  const fields = new Set<string>(opts.columns);
  // One record per key, or every record with it once the key repeats.
  const seen = new Map<string, LocatedRecord | LocatedRecord[]>();
  // Rare: an empty text ID (no record, but a key), a key only IDs of other types gave.
  let emptyId = false;
  const notText = new Set<string>();
  for (const row of rows) {
    if (!opts.columns) for (const k in row.fields) if (Object.hasOwn(row.fields, k)) fields.add(k);
    const raw = row.fields[idField];
    if (raw === undefined || raw === null) {
      issues.push({
        origin: originText(name, row.origin),
        message: `has no \`${idField}\`; the record is left out`,
      });
      continue;
    }
    if (typeof raw === 'object') {
      issues.push({
        origin: originText(name, row.origin),
        message: `\`${idField}\` is not a single value; the record is left out`,
      });
      continue;
    }
    const id = nfc(String(raw)).trim();
    const key = id.toLowerCase();
    const text = typeof raw === 'string' || typeof raw === 'number';
    if (id === '') emptyId ||= text;
    else if (!text && !seen.has(key)) notText.add(key);
    else if (text) notText.delete(key);
    if (id === '') {
      issues.push({
        origin: originText(name, row.origin),
        message: `has an empty \`${idField}\`; the record is left out`,
      });
      continue;
    }
    const record = new LocatedRecord(id, key, row.fields, name, row.origin);
    const same = seen.get(key);
    if (same === undefined) seen.set(key, record);
    else {
      if (Array.isArray(same)) same.push(record);
      else seen.set(key, [same, record]);
    }
  }
  // A repeated ID makes every record with it ambiguous, the first one included: which one is true?
  const records: SourceRecord[] = [];
  for (const group of seen.values()) if (!Array.isArray(group)) group.index = records.push(group) - 1;
  for (const group of seen.values()) {
    if (!Array.isArray(group)) continue;
    // A placeholder ID in thousands of records would put all their places in every message.
    const shown = group.slice(0, ORIGINS_SHOWN).map((r) => r.origin);
    const more = group.length - shown.length;
    const where = `${shown.join(', ')}${more > 0 ? ` and ${more.toLocaleString('en')} more` : ''}`;
    for (const r of group)
      issues.push({
        origin: r.origin,
        message: `repeats \`${idField}\` ${r.id} (${where}); these records are left out until the source is fixed`,
      });
  }
  const find = (key: string) => {
    const found = seen.get(key);
    return found === undefined || Array.isArray(found) ? undefined : found;
  };
  const data = { name, records, issues, fields, digest, find };
  if (!opts.withKeys) return data;
  const keys: IdKeys = {
    has: (key) => (key === '' ? emptyId : seen.has(key) && !notText.has(key)),
  };
  return { ...data, keys };
}

/** Whether a source has an ID of a key (idKey), as validation asks of the IDs a request names. */
export interface IdKeys {
  has(key: string): boolean;
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A JSON or YAML record with only the fields asked for (plan/used-fields.ts): the whole parsed
 * file is let go before planning, not held for fields nothing reads.
 */
export function keepFields(
  fields: Record<string, unknown>,
  keep: ReadonlySet<string> | undefined,
  columns: Set<string>,
): Record<string, unknown> {
  // Every field any record has, kept or not: validation names them ("did you mean …?").
  for (const f in fields) if (Object.hasOwn(fields, f)) columns.add(f);
  if (!keep) return fields;
  const kept: Record<string, unknown> = {};
  for (const f of keep) {
    if (!Object.hasOwn(fields, f)) continue;
    // An own "__proto__" (JSON.parse makes one) stays a field, not the record's prototype.
    if (f === '__proto__')
      Object.defineProperty(kept, f, {
        value: fields[f],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else kept[f] = fields[f];
  }
  return kept;
}
