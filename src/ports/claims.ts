/**
 * When this daemon first saw each request's latest execution record (adapters/fs/claim-watch.ts):
 * a claim's age is measured on this daemon's own clock, from then, never from the time the
 * claim's signer wrote into it.
 */
export interface ClaimWatch {
  /** When `record` (its recordKey) was first seen as the request's latest record; `now` if just now. */
  seenSince(request: string, record: string, now: Date): Date;
  save(): Promise<void>;
}
