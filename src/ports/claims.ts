/**
 * How long this daemon has seen each request's execution records unchanged
 * (adapters/fs/claim-watch.ts): a claim's age is measured by this daemon, from when it first saw
 * the records as they are, never from the time the claim's signer wrote into it.
 */
export interface ClaimWatch {
  /** Milliseconds since the request's records were first seen in `state` (recordsState); 0 if just now. */
  unchangedFor(request: string, state: string, now: Date): number;
  save(): Promise<void>;
}
