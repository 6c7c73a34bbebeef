import type { Signed } from '../lifecycle/signing.js';

/** The daemon's durable memory of its claims and executions (adapters/fs/ledger.ts). */
export interface LedgerPort {
  append(signed: Signed, files?: Record<string, string>): Promise<void>;
  records(): Promise<unknown[]>;
  files(request: string, names: readonly string[]): Promise<Record<string, string>>;
}
