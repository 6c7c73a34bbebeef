import { createHash } from 'node:crypto';

/** One record of the source of truth, with where it came from for messages. */
export interface SourceRecord {
  id: string;
  fields: Record<string, unknown>;
  /** e.g. "data/ansatte.csv:12" or an LDAP DN. */
  origin: string;
}

/** A record that cannot take part: no ID, an empty ID, or an ID seen before. */
export interface SourceIssue {
  origin: string;
  message: string;
}

export interface SourceData {
  /** Human name: the file or the LDAP source. */
  name: string;
  records: SourceRecord[];
  issues: SourceIssue[];
  /** Every field name seen in any record, for checking that expressions read real fields. */
  fields: Set<string>;
  /** sha256 of the source's bytes (files) or canonical records (LDAP). */
  digest: string;
}

/** IDs compare the way directories compare employeeID: trimmed, Unicode-normalised, case-insensitive. */
export function idKey(id: string): string {
  return id.normalize('NFC').trim().toLowerCase();
}

/** Turns raw rows into records, reporting missing, empty and duplicate IDs per row instead of failing. */
export function collectRecords(
  name: string,
  rows: Iterable<{ fields: Record<string, unknown>; origin: string }>,
  idField: string,
  digest: string,
): SourceData {
  const candidates: SourceRecord[] = [];
  const issues: SourceIssue[] = [];
  const fields = new Set<string>();
  const seen = new Map<string, SourceRecord[]>();
  for (const row of rows) {
    for (const k of Object.keys(row.fields)) fields.add(k);
    const raw = row.fields[idField];
    if (raw === undefined || raw === null) {
      issues.push({ origin: row.origin, message: `has no \`${idField}\`; the record is left out` });
      continue;
    }
    if (typeof raw === 'object') {
      issues.push({ origin: row.origin, message: `\`${idField}\` is not a single value; the record is left out` });
      continue;
    }
    const id = String(raw).normalize('NFC').trim();
    if (id === '') {
      issues.push({ origin: row.origin, message: `has an empty \`${idField}\`; the record is left out` });
      continue;
    }
    const record = { id, fields: row.fields, origin: row.origin };
    candidates.push(record);
    const same = seen.get(idKey(id));
    if (same) same.push(record);
    else seen.set(idKey(id), [record]);
  }
  // A repeated ID makes every record with it ambiguous, the first one included: which one is true?
  const records = candidates.filter((r) => seen.get(idKey(r.id))!.length === 1);
  for (const group of seen.values()) {
    if (group.length < 2) continue;
    const where = group.map((r) => r.origin).join(', ');
    for (const r of group) issues.push({ origin: r.origin, message: `repeats \`${idField}\` ${r.id} (${where}); these records are left out until the source is fixed` });
  }
  return { name, records, issues, fields, digest };
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
