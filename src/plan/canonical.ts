export { canonicalJson, digestOf } from '../shared/canonical.js';

/**
 * Made when first needed: loading ICU's Norwegian collation costs every command a few
 * milliseconds, and most orderings are of plain numbers (compareDigits).
 */
let collator: Intl.Collator | undefined;

/** User IDs sort as people expect: 2 before 10, and Norwegian letters in Norwegian order. */
export const compareIds = (a: string, b: string): number =>
  compareDigits(a, b) ||
  (collator ??= new Intl.Collator('nb', { numeric: true, sensitivity: 'variant' })).compare(a, b) ||
  (a < b ? -1 : a > b ? 1 : 0);

/**
 * Most IDs are plain numbers; ordering them needs no collator (a tenth of a large plan's time went
 * there). 0 when either is not all digits or both are the same number, so the collator decides.
 */
function compareDigits(a: string, b: string): number {
  const i = digitsStart(a);
  const j = digitsStart(b);
  if (i < 0 || j < 0) return 0;
  const la = a.length - i;
  const lb = b.length - j;
  if (la !== lb) return la < lb ? -1 : 1;
  for (let k = 0; k < la; k++) {
    const d = a.charCodeAt(i + k) - b.charCodeAt(j + k);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Where the significant digits of an all-digit string start (leading zeros skipped); -1 when it is not one. */
function digitsStart(s: string): number {
  let i = 0;
  while (i < s.length - 1 && s.charCodeAt(i) === 48) i++;
  for (let j = i; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c < 48 || c > 57) return -1;
  }
  return s.length === 0 ? -1 : i;
}

/**
 * JSON text of plan changes, byte for byte what JSON.stringify gives for the change line
 * (`{id, dn, attribute, before, after}`) and for the digest's item (`[id, dn, attribute, before,
 * after]`), at under half the cost: a user's changes come one after another, so the ID's and DN's
 * JSON is made once per user, the attribute's once per attribute (a large plan has 300,000
 * changes, each written twice: once for its digest, once for plan.jsonl).
 */
export function changeJsonWriter(): {
  line(c: ChangeParts): string;
  item(c: ChangeParts): string;
} {
  let id: string | undefined;
  let dn: string | undefined;
  let jsonId = '';
  let jsonDn = '';
  const attributes = new Map<string, string>();
  const attributeJson = (a: string): string => {
    let json = attributes.get(a);
    if (json === undefined) {
      json = JSON.stringify(a);
      // A plan names few attributes; a hand-made file naming thousands is not worth remembering.
      if (attributes.size < 64) attributes.set(a, json);
    }
    return json;
  };
  const remember = (c: ChangeParts) => {
    if (c.id !== id) {
      id = c.id;
      jsonId = JSON.stringify(id);
    }
    if (c.dn !== dn) {
      dn = c.dn;
      jsonDn = JSON.stringify(dn);
    }
  };
  return {
    line(c) {
      remember(c);
      return `{"id":${jsonId},"dn":${jsonDn},"attribute":${attributeJson(c.attribute)},"before":${JSON.stringify(c.before)},"after":${JSON.stringify(c.after)}}`;
    },
    item(c) {
      remember(c);
      return `[${jsonId},${jsonDn},${attributeJson(c.attribute)},${JSON.stringify(c.before)},${JSON.stringify(c.after)}]`;
    },
  };
}

interface ChangeParts {
  id: string;
  dn: string;
  attribute: string;
  before: readonly string[];
  after: readonly string[];
}
