import { writeSync } from 'node:fs';
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { ChangeOutcome } from '../../execute/outcomes.js';

/**
 * How long an outcome may sit in the operating system's cache before it is forced to the device.
 * A written outcome survives the process being killed (kill -9, OOM) at once; only a crash of the
 * whole machine can lose this window, and compare-and-swap makes that harmless: an entry written
 * but not journaled is found at its new values on resume and is not written again.
 */
const SYNC_INTERVAL_MS = 200;

/**
 * An append-only record of outcomes on local disk, one file per request and plan digest. Each
 * outcome is written to the file before the worker that produced it moves on, so after kill -9 a
 * restart knows exactly which entries are finished. The records of one event-loop turn (the
 * entries whose writes were answered together) go to the file in one plain synchronous append,
 * and each record() resolves only after it: a line to the page cache takes microseconds, but one
 * system call per entry was a tenth of an execution's CPU, beside a directory that needs the
 * other core. The device flush (fdatasync) runs every SYNC_INTERVAL_MS and on close rather than
 * per entry.
 */
export class Journal {
  private lastSync = Date.now();
  private syncing: Promise<void> | undefined;
  private failure: unknown;
  /** Records of this turn, written together (one `at` for them all) when it ends. */
  private queued: Array<{ dn: string; outcomes: ChangeOutcome[] }> = [];
  private written: Promise<void> | undefined;

  private constructor(
    private readonly handle: FileHandle,
    readonly file: string,
  ) {}

  static async open(
    dir: string,
    request: string,
    planDigest: string,
  ): Promise<{ journal: Journal; done: Map<string, ChangeOutcome[]> }> {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `${request}.${planDigest.replace(/^sha256:/, '').slice(0, 16)}.jsonl`);
    const done = new Map<string, ChangeOutcome[]>();
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      // A torn last line from a crash mid-write is simply not finished.
      if (!line.trim()) continue;
      let rec: { dn: string; outcomes: ChangeOutcome[] };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        continue;
      }
      // A DN can have several lines: a later run finishes changes an earlier one left pending.
      const prior = done.get(rec.dn) ?? [];
      const later = new Set(rec.outcomes.map((o) => o.attribute.toLowerCase()));
      done.set(rec.dn, [...prior.filter((o) => !later.has(o.attribute.toLowerCase())), ...rec.outcomes]);
    }
    return { journal: new Journal(await open(file, 'a'), file), done };
  }

  /** Resolves once the entry's outcomes are written to the journal file (with this turn's others). */
  record(dn: string, outcomes: ChangeOutcome[]): Promise<void> {
    // A journal that cannot be written must stop the execution: nothing may happen unrecorded.
    if (this.failure) return Promise.reject(asError(this.failure));
    this.queued.push({ dn, outcomes });
    this.written ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        this.written = undefined;
        try {
          this.flush();
          resolve();
        } catch (err) {
          reject(asError(err));
        }
      });
    });
    return this.written;
  }

  private flush(): void {
    const records = this.queued;
    this.queued = [];
    if (this.failure) throw asError(this.failure);
    if (!records.length) return;
    const at = new Date().toISOString();
    let text = '';
    for (const { dn, outcomes } of records) text += `${JSON.stringify({ dn, outcomes, at })}\n`;
    try {
      writeSync(this.handle.fd, text);
    } catch (err) {
      this.failure = err;
      throw err;
    }
    // The device flush runs beside the writes; its failure stops the next record.
    if (!this.syncing && Date.now() - this.lastSync >= SYNC_INTERVAL_MS) {
      this.syncing = this.sync()
        .catch(() => undefined)
        .finally(() => {
          this.syncing = undefined;
        });
    }
  }

  private async sync(): Promise<void> {
    this.lastSync = Date.now();
    try {
      await this.handle.datasync();
    } catch (err) {
      this.failure ??= err;
      throw err;
    }
  }

  /** Forces what was written to the device and closes the file. */
  async close(): Promise<void> {
    try {
      await this.written?.catch(() => undefined);
      await this.syncing;
      if (!this.failure) await this.sync();
    } finally {
      await this.handle.close();
    }
  }
}

const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));
