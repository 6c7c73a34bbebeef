/**
 * What the main thread and the directory-read worker (read-worker.ts) say to each other, and the
 * one place that turns a target query into a paged search (both threads use it).
 */
import { open } from 'node:fs/promises';
import { deserialize, serialize } from 'node:v8';
import type { EntryQuery } from '../../ports/directory.js';
import { DirectoryError, ReexportError } from '../../shared/errors.js';
import { DnSyntaxError } from '../../syntax/dn.js';
import { FilterSyntaxError, scopeFilter } from '../../syntax/filter.js';
import type { ConnectionSettings } from './connection.js';
import type { DirectoryEntry, SearchPagesOptions } from './directory.js';

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
  /** A page as serialised bytes (packPage): pages waiting to be taken cost their bytes, not objects. */
  | { t: 'page'; data: Uint8Array }
  | { t: 'end' }
  | { t: 'error'; error: WorkerError };

/** The main thread's only message: it took a page, so one more may come. */
export const TAKEN = 'taken';

/**
 * A page as one flat array: per entry its DN and attribute count, then per attribute its key,
 * name, binary flag and value count, then the values. Copying one array of strings between threads
 * costs a fraction of copying the Maps and objects an entry is made of.
 */
export type PageData = Array<string | number>;

export function encodePage(entries: readonly DirectoryEntry[]): PageData {
  const out: PageData = [];
  for (const e of entries) {
    out.push(e.dn, e.attrs.size);
    for (const [key, a] of e.attrs) {
      out.push(key, a.name, a.binary ? 1 : 0, a.values.length);
      // One push per value: spreading a group's 100,000 members would overflow the stack.
      for (const v of a.values) out.push(v);
    }
  }
  return out;
}

/** A page as the bytes it crosses threads as: V8's serialisation of its flat array. */
export const packPage = (entries: readonly DirectoryEntry[]): Uint8Array => serialize(encodePage(entries));
export const unpackPage = (bytes: Uint8Array): DirectoryEntry[] => decodePage(deserialize(bytes) as PageData);

/** A packed page as kept in a file: its length (4 bytes, big-endian), then its bytes. */
export function keptPage(packed: Uint8Array): Uint8Array[] {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(packed.length);
  return [head, packed];
}

/** The pages a read kept in `file` (keptPage's framing), read back one at a time. */
export async function* replayPages(file: string): AsyncGenerator<DirectoryEntry[]> {
  const input = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    for (let at = 0; ;) {
      const { bytesRead } = await input.read(head, 0, 4, at);
      if (bytesRead === 0) return;
      const length = bytesRead === 4 ? head.readUInt32BE(0) : -1;
      const body = Buffer.alloc(Math.max(0, length));
      const read = length < 0 ? { bytesRead: -1 } : await input.read(body, 0, length, at + 4);
      if (read.bytesRead !== length) throw new Error(`${file} is cut short`);
      at += 4 + length;
      yield unpackPage(body);
    }
  } finally {
    await input.close();
  }
}

export function decodePage(data: PageData): DirectoryEntry[] {
  const entries: DirectoryEntry[] = [];
  let i = 0;
  while (i < data.length) {
    const dn = data[i++] as string;
    const count = data[i++] as number;
    const attrs: DirectoryEntry['attrs'] = new Map();
    for (let a = 0; a < count; a++) {
      const key = data[i++] as string;
      const name = data[i++] as string;
      const binary = data[i++] === 1;
      const n = data[i++] as number;
      const values = data.slice(i, i + n) as string[];
      i += n;
      attrs.set(key, binary ? { name, values, binary: true } : { name, values });
    }
    entries.push({ dn, attrs });
  }
  return entries;
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
