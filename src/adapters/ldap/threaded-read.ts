import type { EntryQuery } from '../../ports/directory.js';
import { DirectoryError } from '../../shared/errors.js';
import { siblingModule, startWorker } from '../worker.js';
import type { ConnectionSettings, DirectoryLogger } from './connection.js';
import type { DirectoryEntry } from './directory.js';
import { decodeError, type FromWorker, type ReadJob, scopeSearch, TAKEN } from './read-protocol.js';
import { decodeEntries } from './raw-entries.js';

/**
 * Pages read ahead of the planner: enough that the read goes on while the main thread checks the
 * source (a few hundred milliseconds for 100,000 records), few enough to bound memory whatever the
 * directory's size (a page of 1,000 users is some 200 KB here).
 */
const PAGES_AHEAD = 32;

/**
 * The entries of a query, read by a worker thread over its own connection (read-worker.ts), page
 * by page as directory.searchPages gives them. The read starts at the first `next()`; stopping
 * early ends the thread and its connection.
 */
export async function* readInWorker(
  settings: ConnectionSettings,
  query: EntryQuery,
  opts: {
    labels: Record<string, string>;
    log?: DirectoryLogger;
    pagesAhead?: number;
    /** Ends the read at once, even while a page is awaited (which then rejects with the reason). */
    signal?: AbortSignal;
    /** Also keep the pages in this file (replayPages reads them back). */
    keepIn?: string;
  },
): AsyncGenerator<DirectoryEntry[]> {
  // A filter error is the template's; say it here, before any thread or connection is made.
  scopeSearch(query);
  const job: ReadJob = {
    settings,
    query,
    labels: opts.labels,
    pagesAhead: opts.pagesAhead ?? PAGES_AHEAD,
    ...(opts.keepIn !== undefined ? { keepIn: opts.keepIn } : {}),
  };
  const worker = startWorker(siblingModule('read-worker', import.meta.url), { workerData: job });
  const inbox: Array<Exclude<FromWorker, { t: 'log' }>> = [];
  let failure: Error | undefined;
  let exited = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  worker.on('message', (m: FromWorker) => {
    if (m.t === 'log') opts.log?.[m.level](m.obj, m.msg);
    else {
      inbox.push(m);
      notify();
    }
  });
  worker.on('error', (err) => {
    // What the thread could not handle itself (out of memory for a huge page, a socket error no
    // code path caught) ends the read like any directory failure, with what happened.
    failure ??= new DirectoryError(
      `the read of ${query.baseDN} failed in its thread: ${err.message}`,
      undefined,
      {
        cause: err,
      },
    );
    notify();
  });
  worker.on('exit', () => {
    exited = true;
    notify();
  });
  const stop = () => void worker.terminate();
  opts.signal?.addEventListener('abort', stop, { once: true });
  try {
    for (;;) {
      // A stopped read is not a short scope: whoever still asks for pages gets the reason.
      opts.signal?.throwIfAborted();
      // At most pagesAhead pages and an end wait here: shift's cost is nothing.
      const m = inbox.shift();
      if (!m) {
        if (failure) throw failure;
        if (exited) throw new DirectoryError(`the read of ${query.baseDN} stopped before its end`);
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (m.t === 'end') return;
      if (m.t === 'error') throw decodeError(m.error);
      worker.postMessage(TAKEN);
      yield decodeEntries(new Uint8Array(m.data));
    }
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    await worker.terminate();
  }
}
