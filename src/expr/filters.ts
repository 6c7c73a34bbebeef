import { ascii } from './ascii.js';

/**
 * The filters reexport adds to Liquid, as plain functions so the fast path (fast-path.ts) runs
 * exactly the code Liquid runs.
 */
export const str = (v: unknown): string => (v == null ? '' : String(v));

export const OWN_FILTERS = {
  ascii,
  lower: (v: unknown) => str(v).toLowerCase(),
  upper: (v: unknown) => str(v).toUpperCase(),
  trim: (v: unknown) => str(v).trim(),
  // Directory values never want repeated or edge whitespace, e.g. from hand-typed HR data.
  collapse: (v: unknown) => str(v).replace(/\s+/gu, ' ').trim(),
  // Liquid's own truncate appends "..." inside the limit; a directory value wants a clean cut
  // (sAMAccountName's 20 characters). An explicit second argument still adds a marker.
  truncate: (v: unknown, length: unknown = 50, marker: unknown = '') => {
    const s = [...str(v)];
    const n = Math.max(0, Number(length) || 0);
    if (s.length <= n) return s.join('');
    const m = [...str(marker)];
    return s.slice(0, Math.max(0, n - m.length)).join('') + m.join('');
  },
  fallback: (v: unknown, ...alternatives: unknown[]) => {
    const first = str(v);
    if (first.trim() !== '') return first;
    for (const a of alternatives) if (str(a).trim() !== '') return str(a);
    return '';
  },
} satisfies Record<string, (v: unknown, ...args: unknown[]) => string>;
