import type { Signed } from '../lifecycle/signing.js';

/** The daemon's durable memory of its claims and executions (adapters/fs/ledger.ts). */
export interface LedgerPort {
  /** Keeps the report files with the record (null: a file the request no longer has). */
  append(signed: Signed, files?: Record<string, string | Uint8Array | null>): Promise<void>;
  records(): Promise<unknown[]>;
  /** The report files kept with the request's last final record, as bytes. */
  files(request: string, names: readonly string[]): Promise<Record<string, Uint8Array>>;
}
