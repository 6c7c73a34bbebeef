import type { PlanChange } from './plan-types.js';

/**
 * A plan's changes in plan order, held compactly. Each change keeps its attribute (an index) and
 * the JSON text of its values before and after: the text plan.jsonl and the plan digest are made
 * of, so it is made once, when the change is planned. An object per change with its two arrays
 * was about 280 bytes of heap: 88 MB when 80,000 users change four attributes each, most of such
 * a preview's memory, and work for every garbage collection. PlanChange objects are made only for
 * a reader that iterates (preview.md's first users, changes.ldif, tests).
 */
export class PlanChanges implements Iterable<PlanChange> {
  /** How many attribute changes. */
  readonly length: number;

  /**
   * @param users    per user in plan order: its ID, its entry's DN, where its changes start in
   *                 `store` and how many there are (a user's changes are in mapping order)
   * @param store    the changes as planned: attribute index, and JSON of before and after
   */
  constructor(
    private readonly users: {
      ids: readonly string[];
      dns: readonly string[];
      starts: Int32Array;
      counts: Int32Array;
    },
    private readonly store: ChangeStore,
  ) {
    let n = 0;
    for (const c of users.counts) n += c;
    this.length = n;
  }

  /** How many users have changes. */
  get userCount(): number {
    return this.users.ids.length;
  }

  /** From change objects in plan order (a user's changes next to each other). */
  static of(changes: Iterable<PlanChange>): PlanChanges {
    const store = new ChangeStore();
    const ids: string[] = [];
    const dns: string[] = [];
    const starts: number[] = [];
    const counts: number[] = [];
    for (const c of changes) {
      const u = ids.length - 1;
      if (u < 0 || ids[u] !== c.id || dns[u] !== c.dn) {
        ids.push(c.id);
        dns.push(c.dn);
        starts.push(store.size);
        counts.push(0);
      }
      store.add(c.attribute, c.before, c.after);
      counts[ids.length - 1]!++;
    }
    return new PlanChanges(
      { ids, dns, starts: Int32Array.from(starts), counts: Int32Array.from(counts) },
      store,
    );
  }

  /**
   * Text made of every change in plan order, without an object per change, in pieces of about
   * 64 KiB: `text` gets the ID and DN, the attribute, and the JSON of the values before and after.
   */
  *chunks(
    text: (id: string, dn: string, attribute: string, beforeJson: string, afterJson: string) => string,
  ): Generator<string> {
    const { ids, dns, starts, counts } = this.users;
    const { attributes, attrs, befores, afters } = this.store;
    let chunk = '';
    for (let u = 0; u < ids.length; u++) {
      const id = ids[u]!;
      const dn = dns[u]!;
      const end = starts[u]! + counts[u]!;
      for (let k = starts[u]!; k < end; k++)
        chunk += text(id, dn, attributes[attrs[k]!]!, befores[k]!, afters[k]!);
      if (chunk.length >= 64 * 1024) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk) yield chunk;
  }

  /** The first `max` users' changes, as objects, a list per user. */
  firstUsers(max: number): PlanChange[][] {
    const out: PlanChange[][] = [];
    for (let u = 0; u < Math.min(max, this.userCount); u++) out.push(this.userChanges(u));
    return out;
  }

  *[Symbol.iterator](): Iterator<PlanChange> {
    for (let u = 0; u < this.userCount; u++) yield* this.userChanges(u);
  }

  private userChanges(u: number): PlanChange[] {
    const { ids, dns, starts, counts } = this.users;
    const { attributes, attrs, befores, afters } = this.store;
    const out: PlanChange[] = [];
    const end = starts[u]! + counts[u]!;
    for (let k = starts[u]!; k < end; k++) {
      out.push({
        id: ids[u]!,
        dn: dns[u]!,
        attribute: attributes[attrs[k]!]!,
        before: JSON.parse(befores[k]!) as string[],
        after: JSON.parse(afters[k]!) as string[],
      });
    }
    return out;
  }
}

/** Changes appended as they are planned: the attribute's index and the JSON of both value lists. */
export class ChangeStore {
  readonly attributes: string[] = [];
  readonly attrs: number[] = [];
  readonly befores: string[] = [];
  readonly afters: string[] = [];
  private readonly attributeIndex = new Map<string, number>();

  get size(): number {
    return this.attrs.length;
  }

  add(attribute: string, before: readonly string[], after: readonly string[]): void {
    let a = this.attributeIndex.get(attribute);
    if (a === undefined) {
      a = this.attributes.push(attribute) - 1;
      this.attributeIndex.set(attribute, a);
    }
    this.attrs.push(a);
    this.befores.push(JSON.stringify(before));
    this.afters.push(JSON.stringify(after));
  }
}
