import type { PlanChange } from './plan-types.js';

/**
 * A plan's changes in plan order, held compactly: per user one text of its changes, each the
 * attribute (its index, as one character) and the JSON of the values before and after, each
 * ended by U+0000 (which JSON text never holds). The JSON is what plan.jsonl and the plan digest
 * are made of, so it is made once, when the change is planned. An object per change with its two
 * arrays was about 280 bytes of heap: 88 MB when 80,000 users change four attributes each, most
 * of such a preview's memory and work for every garbage collection. PlanChange objects are made
 * only for a reader that iterates (preview.md's first users, changes.ldif, tests).
 */
export class PlanChanges implements Iterable<PlanChange> {
  /** How many attribute changes. */
  readonly length: number;

  /**
   * @param users       per user in plan order: its ID, its entry's DN, its changes' text (see
   *                    UserChanges) and how many changes that holds
   * @param attributes  the attribute names, by the index the texts hold
   */
  constructor(
    private readonly users: {
      ids: readonly string[];
      dns: readonly string[];
      texts: readonly string[];
      counts: Int32Array;
    },
    private readonly attributes: readonly string[],
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
    const attributes: string[] = [];
    const index = new Map<string, number>();
    const ids: string[] = [];
    const dns: string[] = [];
    const users: UserChanges[] = [];
    for (const c of changes) {
      const u = ids.length - 1;
      if (u < 0 || ids[u] !== c.id || dns[u] !== c.dn) {
        ids.push(c.id);
        dns.push(c.dn);
        users.push(new UserChanges());
      }
      let a = index.get(c.attribute);
      if (a === undefined) index.set(c.attribute, (a = attributes.push(c.attribute) - 1));
      users[users.length - 1]!.add(a, c.before, c.after);
    }
    return new PlanChanges(
      {
        ids,
        dns,
        texts: users.map((u) => u.text()),
        counts: Int32Array.from(users, (u) => u.count),
      },
      attributes,
    );
  }

  /**
   * Text made of every change in plan order, without an object per change, in pieces of about
   * 64 KiB: `text` gets the ID and DN, the attribute, and the JSON of the values before and after.
   */
  *chunks(
    text: (id: string, dn: string, attribute: string, beforeJson: string, afterJson: string) => string,
  ): Generator<string> {
    let chunk = '';
    for (let u = 0; u < this.userCount; u++) {
      const id = this.users.ids[u]!;
      const dn = this.users.dns[u]!;
      readChanges(this.users.texts[u]!, this.users.counts[u]!, (a, before, after) => {
        chunk += text(id, dn, this.attributes[a]!, before, after);
      });
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
    const out: PlanChange[] = [];
    const id = this.users.ids[u]!;
    const dn = this.users.dns[u]!;
    readChanges(this.users.texts[u]!, this.users.counts[u]!, (a, before, after) =>
      out.push({
        id,
        dn,
        attribute: this.attributes[a]!,
        before: JSON.parse(before) as string[],
        after: JSON.parse(after) as string[],
      }),
    );
    return out;
  }
}

const END = '\u0000';

/** One user's changes, written as they are planned, into the one text PlanChanges keeps. */
export class UserChanges {
  private parts: string[] = [];

  get count(): number {
    return this.parts.length / 4;
  }

  /** `attribute`: its index, one character (a template has at most 200 mappings). */
  add(attribute: number, before: readonly string[], after: readonly string[]): void {
    this.parts.push(
      String.fromCharCode(attribute),
      JSON.stringify(before),
      END,
      `${JSON.stringify(after)}${END}`,
    );
  }

  /** The text: one flat string (join makes one; appending would keep every piece). */
  text(): string {
    return this.parts.join('');
  }
}

/** Each change of a user's text: the attribute's index, the JSON of the values before and after. */
export function readChanges(
  text: string,
  count: number,
  fn: (attribute: number, beforeJson: string, afterJson: string) => void,
): void {
  let at = 0;
  for (let k = 0; k < count; k++) {
    const attribute = text.charCodeAt(at);
    const mid = text.indexOf(END, at + 1);
    const end = text.indexOf(END, mid + 1);
    fn(attribute, text.slice(at + 1, mid), text.slice(mid + 1, end));
    at = end + 1;
  }
}
