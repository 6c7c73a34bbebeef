import { type EntryWriter, type ModifyOp, WriteFailure } from '../../src/execute/executor.js';

/**
 * An in-memory directory behind the EntryWriter port, with LDAP's modify semantics that matter
 * for compare-and-swap: delete-by-value fails (16) when a value is not there, add fails (20) when
 * it is, a single-valued attribute refuses a second value (19), and scripted faults.
 */
export class FakeDirectory {
  readonly entries = new Map<string, Map<string, string[]>>();
  readonly writes: Array<{ dn: string; ops: ModifyOp[] }> = [];
  /** Thrown (once each, in order) by the next modify calls. */
  faults: WriteFailure[] = [];
  /** Values the server refuses, per attribute (a syntax rule). */
  refuse = new Map<string, (v: string) => boolean>();
  singleValued = new Set<string>();
  /** Runs right before each modify is applied: someone else's edit racing ours. */
  beforeModify?: (dn: string) => void;

  constructor(entries: Record<string, Record<string, string[]>> = {}) {
    for (const [dn, attrs] of Object.entries(entries)) {
      this.entries.set(dn, new Map(Object.entries(attrs).map(([k, v]) => [k.toLowerCase(), [...v]])));
    }
  }

  get(dn: string, attr: string): string[] {
    return this.entries.get(dn)?.get(attr.toLowerCase()) ?? [];
  }

  /** What a fresh read before writing gives. */
  fresh(): Map<string, Map<string, string[]>> {
    return new Map([...this.entries].map(([dn, a]) => [dn, new Map([...a].map(([k, v]) => [k, [...v]]))]));
  }

  writer(): EntryWriter {
    return {
      modify: async (dn, ops) => {
        const fault = this.faults.shift();
        if (fault) throw fault;
        this.beforeModify?.(dn);
        const entry = this.entries.get(dn);
        if (!entry) throw new WriteFailure('no such object', 32, false);
        const next = new Map([...entry].map(([k, v]) => [k, [...v]]));
        for (const op of ops) {
          const key = op.attribute.toLowerCase();
          const now = next.get(key) ?? [];
          if (op.op === 'delete') {
            for (const v of op.values) {
              if (!now.includes(v)) throw new WriteFailure(`no such value ${v}`, 16, false);
            }
            next.set(
              key,
              now.filter((v) => !op.values.includes(v)),
            );
          } else if (op.op === 'add') {
            for (const v of op.values) {
              if (now.includes(v)) throw new WriteFailure(`value exists ${v}`, 20, false);
              if (this.refuse.get(key)?.(v)) throw new WriteFailure(`invalid syntax ${v}`, 21, false);
            }
            const all = [...now, ...op.values];
            if (this.singleValued.has(key) && all.length > 1)
              throw new WriteFailure('single-valued', 19, false);
            next.set(key, all);
          } else {
            next.set(key, [...op.values]);
          }
        }
        this.entries.set(dn, next);
        this.writes.push({ dn, ops });
      },
      read: async (dn, attributes) => {
        const entry = this.entries.get(dn);
        if (!entry) return undefined;
        return new Map(attributes.map((a) => [a.toLowerCase(), [...(entry.get(a.toLowerCase()) ?? [])]]));
      },
    };
  }
}
