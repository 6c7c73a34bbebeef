/**
 * The directory read of a preview, in its own thread: decoding a large directory's answers (BER,
 * UTF-8, the entries' objects and their garbage) takes as long as planning them, so the two run on
 * two cores. Started by threaded-read.ts; sends pages, log lines and at most one error or end.
 */
import { closeSync, openSync, rmSync, writevSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { openDirectory } from './connection.js';
import {
  encodeError,
  type FromWorker,
  keptPage,
  packPage,
  type ReadJob,
  scopeSearch,
  TAKEN,
} from './read-protocol.js';

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
  const directory = await openDirectory(
    { ...job.settings, ...(caPem ? { caPem: Buffer.from(caPem) } : {}) },
    log,
  );
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
    for await (const page of directory.searchPages(scopeSearch(job.query))) {
      while (allowance === 0) await new Promise<void>((resolve) => (more = resolve));
      allowance--;
      const data = packPage(page);
      if (kept !== undefined) {
        try {
          writevSync(kept, keptPage(data));
        } catch (err) {
          forget(err);
        }
      }
      send({ t: 'page', data });
    }
  } finally {
    if (kept !== undefined) closeSync(kept);
    await directory.close();
  }
  send({ t: 'end' });
} catch (err) {
  send({ t: 'error', error: encodeError(err) });
}
// Nothing more to say: let the thread end once the messages are out.
port.unref();
