/**
 * How long this daemon has seen each request's execution records without a newer one
 * (adapters/fs/claim-watch.ts): a claim's age is measured by this daemon, from when it first saw
 * the newest record, never from the time the claim's signer wrote into it.
 */
export interface ClaimWatch {
  /**
   * Milliseconds since this daemon first saw `newest` (newestRecordTime) as the newest time among
   * the request's records; 0 when just now. The count starts again only when a record with a
   * later time appears: a copy of an old record, or one gone from main, changes nothing.
   */
  unchangedFor(request: string, newest: string, now: Date): number;
  /**
   * The newest record time this daemon has ever seen on main for the request (kept across
   * restarts), or undefined. When main no longer holds a record that new, its history was
   * rewritten: decideOnMain refuses to execute rather than run the request a second time.
   */
  newestSeen(request: string): string | undefined;
  save(): Promise<void>;
}
