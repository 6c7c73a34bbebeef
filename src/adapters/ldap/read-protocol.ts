/**
 * What the main thread and the directory-read worker (read-worker.ts) say to each other, and the
 * one place that turns a target query into a paged search (both threads use it).
 */
import { open } from 'node:fs/promises';
import type { EntryQuery } from '../../ports/directory.js';
import { DirectoryError, ReexportError } from '../../shared/errors.js';
import { DnSyntaxError } from '../../syntax/dn.js';
import { FilterSyntaxError, scopeFilter } from '../../syntax/filter.js';
import type { ConnectionSettings } from './connection.js';
import type { DirectoryEntry, SearchPagesOptions } from './directory.js';
import { decodeEntries } from './raw-entries.js';

/** The paged search that reads a query's entries. */
export function scopeSearch(query: EntryQuery): SearchPagesOptions {
  return {
    baseDN: query.baseDN,
    scope: query.scope,
    filter: scopeFilter({
      scopeFilter: query.scopeFilter,
      matchAttribute: query.matchAttribute,
      ids: query.ids,
    }),
    attributes: query.attributes,
  };
}

/** The worker's job, as workerData. */
export interface ReadJob {
  settings: ConnectionSettings;
  /** Fields every log line of the connection carries (the target's name). */
  labels: Record<string, string>;
  query: EntryQuery;
  /** Pages the worker may send before the main thread has taken them: bounds the memory ahead. */
  pagesAhead: number;
  /** Also write each page to this file (keptPage's framing), for replayPages. */
  keepIn?: string;
}

export type FromWorker =
  | { t: 'log'; level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string }
  /**
   * A page as its entries' raw SearchResultEntry messages (bulk-search.ts), transferred, not
   * copied; the main thread decodes them (raw-entries.ts). Pages waiting to be taken cost their bytes.
   */
  | { t: 'page'; data: ArrayBuffer }
  | { t: 'end' }
  | { t: 'error'; error: WorkerError };

/** The main thread's only message: it took a page, so one more may come. */
export const TAKEN = 'taken';

/** A page as kept in a file: its length (4 bytes, big-endian), then its raw bytes. */
export function keptPage(page: Uint8Array): Uint8Array[] {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(page.length);
  return [head, page];
}

/** The pages a read kept in `file` (keptPage's framing), read back and decoded one at a time. */
export async function* replayPages(file: string): AsyncGenerator<DirectoryEntry[]> {
  const input = await open(file, 'r');
  // A copy that does not hold what its framing says (cut short by a full disk, or edited) fails
  // the preview as a directory read would, never a page short and never with a huge allocation.
  const damaged = () => new DirectoryError(`the pass's copy of the read, ${file}, is damaged`);
  try {
    const { size } = await input.stat();
    const head = Buffer.alloc(4);
    for (let at = 0; at < size;) {
      const { bytesRead } = await input.read(head, 0, 4, at);
      if (bytesRead !== 4) throw damaged();
      const length = head.readUInt32BE(0);
      if (length > size - at - 4) throw damaged();
      const body = Buffer.alloc(length);
      if ((await input.read(body, 0, length, at + 4)).bytesRead !== length) throw damaged();
      at += 4 + length;
      yield decodeEntries(body);
    }
  } finally {
    await input.close();
  }
}

/** An error as it crosses threads: class instances arrive as plain errors, so the kind travels. */
export interface WorkerError {
  kind?: string;
  name: string;
  message: string;
  code?: number;
  transient?: boolean;
}

export function encodeError(err: unknown): WorkerError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  return {
    name: err.name,
    message: err.message,
    ...(err instanceof ReexportError ? { kind: err.kind } : {}),
    ...(err instanceof DirectoryError ? { code: err.code, transient: err.transient } : {}),
  };
}

/** The error the worker met, as the class the rest of the product maps to a message and exit code. */
export function decodeError(e: WorkerError): Error {
  if (e.kind === 'directory') return new DirectoryError(e.message, e.code, { transient: e.transient });
  if (e.name === FilterSyntaxError.name) return new FilterSyntaxError(e.message);
  if (e.name === DnSyntaxError.name) return new DnSyntaxError(e.message);
  // Anything else in the worker is a bug, as it would be in the main thread.
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}
