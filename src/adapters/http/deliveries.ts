import type { IncomingMessage } from 'node:http';

/** Headers in which forges name a delivery; a retry or a replay repeats the same ID. */
const DELIVERY_HEADERS = [
  'x-github-delivery',
  'x-gitea-delivery',
  'x-gogs-delivery',
  'x-gitlab-event-uuid',
  'idempotency-key',
];

export function deliveryId(req: Pick<IncomingMessage, 'headers'>): string | undefined {
  for (const name of DELIVERY_HEADERS) {
    const v = req.headers[name];
    const id = Array.isArray(v) ? v[0] : v;
    if (id) return `${name}:${id}`;
  }
  return undefined;
}

/**
 * The delivery IDs seen lately. A signed body can be captured and sent again; remembering its ID
 * makes the copy a no-op. Bounded in count and age, so it cannot grow without limit.
 */
export class DeliveryLog {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly max = 1000,
    private readonly ttlMs = 24 * 60 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** True the first time an ID is offered within the TTL; false for a repeat. */
  firstTime(id: string): boolean {
    const now = this.now();
    for (const [k, at] of this.seen) {
      // Insertion order is age order: stop at the first one still fresh.
      if (now - at < this.ttlMs) break;
      this.seen.delete(k);
    }
    if (this.seen.has(id)) return false;
    this.seen.set(id, now);
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value!);
    return true;
  }
}
