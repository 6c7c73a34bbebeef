import { TEMPLATE_DEFAULTS } from '../config/defaults.js';
import type { Mapping } from '../config/types.generated.js';
import { DnSyntaxError, normalizeDn } from '../syntax/dn.js';

/**
 * Values are compared the way a reviewer reads them: Unicode-normalised (NFC and NFD spellings of ø
 * are the same to the directory and to the eye, so they are never a phantom change), order-free for
 * multi-valued attributes, but case-sensitive, because a change of letter case is a real change.
 */
export function normalizeValues(values: readonly string[]): string[] {
  if (values.length === 0) return [];
  if (values.length === 1) {
    const n = nfc(values[0]!);
    if (n === '') return [];
    // Already normal (nearly every value): the list itself, not a copy; no caller changes it.
    return n === values[0] ? (values as string[]) : [n];
  }
  const out: string[] = [];
  const seen = new Set<string>();
  for (const v of values) {
    const n = nfc(v);
    if (n === '' || seen.has(n)) continue;
    seen.add(n);
    out.push(n);
  }
  return out;
}

import { nfc } from '../syntax/unicode.js';

export { nfc };

/**
 * Attributes whose values are DNs of other entries. Directories compare them as DNs and hand them
 * back in their own spelling (Active Directory always returns the referenced object's DN as it is
 * stored), so a value that differs only in case or spacing is the same value: comparing text would
 * show a change on every preview and never converge.
 */
const DN_VALUED = new Set([
  'manager',
  'secretary',
  'assistant',
  'seealso',
  'owner',
  'managedby',
  'member',
  'roleoccupant',
]);

/** Which attributes hold DNs: from the directory's schema when it could be read, else the well-known ones. */
export type DnValued = (attribute: string) => boolean;

export const isDnValued: DnValued = (attribute) => DN_VALUED.has(attribute.toLowerCase());

export function dnValuedFrom(schema: { dnValued: ReadonlySet<string> } | undefined): DnValued {
  return schema ? (attribute) => schema.dnValued.has(attribute.toLowerCase()) : isDnValued;
}

/**
 * What the plan assumed of the target's schema, for its own attributes: a small, stable answer the
 * plan header records, so the execution compares values exactly as the reviewed preview did
 * instead of reading the schema again (and perhaps getting another answer).
 */
export interface SchemaAnswer {
  /** `directory`: read from the subschema entry; `built-in`: it could not be read (logged), well-known DN attributes assumed. */
  source: 'directory' | 'built-in';
  /** The plan's attributes (lower case, sorted) whose values are DNs. */
  dnValued: string[];
  /** The plan's attributes (lower case, sorted) that hold at most one value. */
  singleValued: string[];
}

export function schemaAnswerFrom(
  schema: { dnValued: ReadonlySet<string>; singleValued: ReadonlySet<string> } | undefined,
  attributes: readonly string[],
): SchemaAnswer {
  const names = [...new Set(attributes.map((a) => a.toLowerCase()))].sort();
  if (!schema) return { source: 'built-in', dnValued: names.filter(isDnValued), singleValued: [] };
  return {
    source: 'directory',
    dnValued: names.filter((a) => schema.dnValued.has(a)),
    singleValued: names.filter((a) => schema.singleValued.has(a)),
  };
}

/** The recorded answer as the schema the planner and executor take. */
export function schemaFromAnswer(answer: SchemaAnswer): {
  dnValued: ReadonlySet<string>;
  singleValued: ReadonlySet<string>;
} {
  return { dnValued: new Set(answer.dnValued), singleValued: new Set(answer.singleValued) };
}

type ValueKey = (value: string) => string;
const exact: ValueKey = (v) => v;
const asDn: ValueKey = (v) => {
  try {
    return normalizeDn(v);
  } catch (err) {
    if (err instanceof DnSyntaxError) return v;
    throw err;
  }
};

/** How the directory tells two values of the attribute apart, as far as the plan must. */
export function valueKey(attribute: string, dnValued: DnValued = isDnValued): ValueKey {
  return dnValued(attribute) ? asDn : exact;
}

export function sameValues(a: readonly string[], b: readonly string[], key: ValueKey = exact): boolean {
  if (a.length !== b.length) return false;
  if (a.length === 1) return key(a[0]!) === key(b[0]!);
  const set = new Set(a.map(key));
  return b.every((v) => set.has(key(v)));
}

export type AttributeOutcome =
  { kind: 'unchanged' } | { kind: 'skip-empty' } | { kind: 'change'; after: string[] };

// Shared: a large plan decides hundreds of thousands of attributes, most of them unchanged.
const UNCHANGED: AttributeOutcome = Object.freeze({ kind: 'unchanged' });
const SKIP_EMPTY: AttributeOutcome = Object.freeze({ kind: 'skip-empty' });

/**
 * What one mapping does to one attribute of one entry, by policy and onEmpty. Inputs are
 * normalised. A change may hand back `desired` itself as its `after` (a large plan makes hundreds
 * of thousands of them): callers pass a list they do not change afterwards.
 */
export function decideChange(
  current: readonly string[],
  desired: string[],
  mapping: Pick<Mapping, 'policy' | 'onEmpty'> & { target?: string },
  dnValued: DnValued = isDnValued,
): AttributeOutcome {
  const policy = mapping.policy ?? TEMPLATE_DEFAULTS.policy;
  if (desired.length === 0 && (mapping.onEmpty ?? TEMPLATE_DEFAULTS.onEmpty) === 'skip') return SKIP_EMPTY;
  if (policy === 'keep') {
    return current.length === 0 && desired.length > 0 ? { kind: 'change', after: desired } : UNCHANGED;
  }
  const key = mapping.target === undefined ? exact : valueKey(mapping.target, dnValued);
  if (policy === 'merge' && key === asDn) {
    const have = new Set(current.map(key));
    const missing = desired.filter((v) => !have.has(key(v)));
    return missing.length ? { kind: 'change', after: [...current, ...missing] } : UNCHANGED;
  }
  if (policy === 'merge') {
    // A value present in another letter case is replaced by the computed spelling (SMTP: vs smtp: matters to Exchange).
    const wanted = new Map(desired.map((v) => [v.toLowerCase(), v]));
    const demoted =
      mapping.target?.toLowerCase() === 'proxyaddresses' ? demoteOtherPrimaries(current, desired) : current;
    const kept = demoted.filter((v) => !wanted.has(v.toLowerCase()) || wanted.get(v.toLowerCase()) === v);
    const keptSet = new Set(kept);
    const after = [...kept, ...desired.filter((v) => !keptSet.has(v))];
    return sameValues(current, after) ? UNCHANGED : { kind: 'change', after };
  }
  return sameValues(current, desired, key) ? UNCHANGED : { kind: 'change', after: desired };
}

/**
 * Exchange allows one primary address (upper-case `SMTP:`). When merged values bring a new
 * primary, the old primary stays as a secondary (`smtp:`), so mail to it is still delivered.
 */
function demoteOtherPrimaries(current: readonly string[], desired: readonly string[]): string[] {
  const primary = desired.find((v) => v.startsWith('SMTP:'));
  if (!primary) return [...current];
  return current.map((v) => (v.startsWith('SMTP:') && v !== primary ? `smtp:${v.slice(5)}` : v));
}
