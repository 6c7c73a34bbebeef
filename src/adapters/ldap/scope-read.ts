/**
 * A whole scope's read for a preview: the one paged search with the bulk client (bulk-search.ts),
 * each page decoded once, straight from the server's bytes (raw-entries.ts); optionally kept in a
 * file for the pass's other previews of the same scope (replayPages reads it back).
 *
 * In the thread that plans, not a thread of its own: once decoding moved here, a read thread only
 * moved bytes, and its isolate cost memory. Measured at 100,000 users (compiled CLI, four
 * alternating runs each): 1.95–2.23 s and 214–222 MB peak RSS here, against 2.06–2.40 s and
 * 232–242 MB with the read in a worker thread. While the source is checked, the kernel holds
 * what the server sends; the next page is asked for before a page is handed on, so the server
 * works while the planner does.
 */
import { closeSync, openSync, rmSync, writevSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { EntryQuery } from '../../ports/directory.js';
import { DirectoryError } from '../../shared/errors.js';
import { scopeFilter } from '../../syntax/filter.js';
import { writeSearchEntry } from './ber.js';
import { BulkConnection } from './bulk-search.js';
import { type ConnectionSettings, type DirectoryLogger, openDirectory } from './connection.js';
import type { Directory, DirectoryEntry, SearchPagesOptions } from './directory.js';
import { decodeEntries, entryWithRanges } from './raw-entries.js';

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

/**
 * The entries of a query, page by page as directory.searchPages gives them. `signal` ends the
 * read at once, even while a page is awaited (which then rejects with the reason); `keepIn`
 * also writes each page to that file (keptPage's framing).
 */
export async function* readScope(
  settings: ConnectionSettings,
  query: EntryQuery,
  opts: { log?: DirectoryLogger; signal?: AbortSignal; keepIn?: string } = {},
): AsyncGenerator<DirectoryEntry[]> {
  const { log, signal } = opts;
  // A filter error is the template's; say it here, before any connection is made.
  const search = scopeSearch(query);
  const connection = await opened(BulkConnection.open(settings, log), signal);
  // Ends the connection, so that a page awaited now rejects; the reason is what the caller gets.
  const stop = () => connection.abort();
  signal?.addEventListener('abort', stop, { once: true });
  // Entries with an attribute in an incomplete range (Active Directory's MaxValRange) are read to
  // their end through the ldapts Directory, opened only when one comes, and re-encoded.
  let ranges: Promise<Directory> | undefined;
  const complete = async (dn: string): Promise<Buffer | undefined> => {
    const entry = await (await (ranges ??= openDirectory(settings, log))).readEntry(dn, query.attributes);
    return (
      entry &&
      writeSearchEntry(
        dn,
        [...entry.attrs.values()].map((a) => ({
          type: a.name,
          values: a.values.map((v) => Buffer.from(v, a.binary ? 'base64' : 'utf8')),
        })),
      )
    );
  };
  const kept = keepFile(opts.keepIn, log);
  try {
    signal?.throwIfAborted();
    for await (const entries of connection.pages(search)) {
      for (let i = 0; i < entries.length; i++) {
        const dn = entryWithRanges(entries[i]!);
        // An entry gone meanwhile is left out, as readEntry finds nothing.
        if (dn !== undefined) entries[i] = (await complete(dn)) ?? Buffer.alloc(0);
      }
      const page = Buffer.concat(entries);
      kept?.write(page);
      signal?.throwIfAborted();
      yield decodeEntries(page);
    }
  } catch (err) {
    // A read stopped on purpose ends with why it was stopped, not with the closed connection.
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    signal?.removeEventListener('abort', stop);
    kept?.close();
    await connection.close();
    await (await ranges?.catch(() => undefined))?.close();
  }
}

/**
 * The connection, or the abort's reason as soon as the signal comes: a read nobody wants any more
 * does not wait for a silent directory to connect (timeoutMs). A connection made after that is
 * closed.
 */
function opened(opening: Promise<BulkConnection>, signal: AbortSignal | undefined): Promise<BulkConnection> {
  if (!signal) return opening;
  if (signal.aborted) {
    void opening.then((c) => c.close()).catch(() => {});
    return Promise.reject(signal.reason as Error);
  }
  return new Promise((resolve, reject) => {
    const stop = () => {
      void opening.then((c) => c.close()).catch(() => {});
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', stop, { once: true });
    opening.then(
      (c) => {
        signal.removeEventListener('abort', stop);
        resolve(c);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', stop);
        reject(err as Error);
      },
    );
  });
}

/**
 * The pass's copy of a read. A saving, not part of the read: when it cannot be written (a full
 * disk), it is removed with a warning and the read goes on; the pass's other previews then read
 * the directory themselves.
 */
function keepFile(file: string | undefined, log?: DirectoryLogger) {
  if (file === undefined) return undefined;
  let fd: number | undefined;
  const forget = (err: unknown) => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    rmSync(file, { force: true });
    log?.warn({ err: (err as Error).message }, 'could not keep a copy of the read for the pass');
  };
  try {
    fd = openSync(file, 'w');
  } catch (err) {
    forget(err);
  }
  return {
    write(page: Uint8Array) {
      if (fd === undefined) return;
      try {
        const framed = keptPage(page);
        // A short write (a disk nearly full) would leave a copy that ends early: give it up.
        if (writevSync(fd, framed) !== framed[0]!.length + framed[1]!.length) throw new Error('short write');
      } catch (err) {
        forget(err);
      }
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

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
