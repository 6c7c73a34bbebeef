import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level, so equal data always hashes alike. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

export function digestOf(value: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(value)).digest('hex')}`;
}

/**
 * digestOf(list) computed item by item, for lists too large to hold as one JSON text (a plan of
 * 100,000 changes): the same bytes are hashed, `[`, the items' canonical JSON joined by `,`, `]`.
 * `json` may stand in for canonicalJson when the caller knows its items hold no objects.
 */
export function listDigest(json: (item: unknown) => string = canonicalJson) {
  const hash = createHash('sha256');
  let pending = '[';
  let first = true;
  return {
    add(item: unknown): void {
      pending += first ? json(item) : `,${json(item)}`;
      first = false;
      if (pending.length >= 64 * 1024) {
        hash.update(pending);
        pending = '';
      }
    },
    digest(): string {
      hash.update(`${pending}]`);
      return `sha256:${hash.digest('hex')}`;
    },
  };
}
