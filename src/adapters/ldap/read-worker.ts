/**
 * The directory read of a preview, in its own thread: the paged search runs beside the planning,
 * and hands on each page as the server's raw bytes (bulk-search.ts), which the main thread decodes
 * once (raw-entries.ts). Started by threaded-read.ts; sends pages, log lines and at most one error
 * or end.
 */
import { closeSync, openSync, rmSync, writevSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { writeSearchEntry } from './ber.js';
import { BulkConnection } from './bulk-search.js';
import { openDirectory } from './connection.js';
import type { Directory } from './directory.js';
import { entryWithRanges } from './raw-entries.js';
import { encodeError, type FromWorker, keptPage, type ReadJob, scopeSearch, TAKEN } from './read-protocol.js';

const job = workerData as ReadJob;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);

let allowance = job.pagesAhead;
let more: (() => void) | undefined;
port.on('message', (m) => {
  if (m !== TAKEN) return;
  allowance++;
  more?.();
  more = undefined;
});

const log = {
  info: (obj: Record<string, unknown>, msg: string) =>
    send({ t: 'log', level: 'info', obj: { ...job.labels, ...obj }, msg }),
  warn: (obj: Record<string, unknown>, msg: string) =>
    send({ t: 'log', level: 'warn', obj: { ...job.labels, ...obj }, msg }),
};

try {
  // A Buffer arrives as a plain Uint8Array; TLS wants the CA as a Buffer or string.
  const { caPem } = job.settings;
  const settings = { ...job.settings, ...(caPem ? { caPem: Buffer.from(caPem) } : {}) };
  const search = scopeSearch(job.query);
  const connection = await BulkConnection.open(settings, log);
  // Entries with an attribute in an incomplete range (Active Directory's MaxValRange) are read to
  // their end through the ldapts Directory, opened only when one comes, and passed on re-encoded.
  let ranges: Promise<Directory> | undefined;
  const complete = async (dn: string): Promise<Buffer | undefined> => {
    const entry = await (await (ranges ??= openDirectory(settings, log))).readEntry(dn, job.query.attributes);
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
  // The copy for the pass's other previews is written here, off the main thread, from the bytes
  // the page crosses threads as anyway.
  // The copy is a saving, not part of the read: when it cannot be written (a full disk), it is
  // removed and the read goes on; the pass's other previews then read the directory themselves.
  let kept: number | undefined;
  const forget = (err: unknown) => {
    if (kept !== undefined) closeSync(kept);
    kept = undefined;
    rmSync(job.keepIn!, { force: true });
    log.warn({ err: (err as Error).message }, 'could not keep a copy of the read for the pass');
  };
  if (job.keepIn !== undefined) {
    try {
      kept = openSync(job.keepIn, 'w');
    } catch (err) {
      forget(err);
    }
  }
  try {
    for await (const entries of connection.pages(search)) {
      let size = 0;
      for (let i = 0; i < entries.length; i++) {
        const dn = entryWithRanges(entries[i]!);
        // An entry gone meanwhile is left out, as readEntry finds nothing.
        if (dn !== undefined) entries[i] = (await complete(dn)) ?? Buffer.alloc(0);
        size += entries[i]!.length;
      }
      while (allowance === 0) await new Promise<void>((resolve) => (more = resolve));
      allowance--;
      // One buffer of its own per page, so that it can be transferred rather than copied.
      const data = Buffer.allocUnsafeSlow(size);
      let at = 0;
      for (const e of entries) at += e.copy(data, at);
      if (kept !== undefined) {
        try {
          const framed = keptPage(data);
          // A short write (a disk nearly full) would leave a copy that ends early: give it up.
          if (writevSync(kept, framed) !== framed[0]!.length + framed[1]!.length)
            throw new Error('short write');
        } catch (err) {
          forget(err);
        }
      }
      port.postMessage({ t: 'page', data: data.buffer } satisfies FromWorker, [data.buffer]);
    }
  } finally {
    if (kept !== undefined) closeSync(kept);
    await connection.close();
    await (await ranges?.catch(() => undefined))?.close();
  }
  send({ t: 'end' });
} catch (err) {
  send({ t: 'error', error: encodeError(err) });
}
// Nothing more to say: let the thread end once the messages are out.
port.unref();
