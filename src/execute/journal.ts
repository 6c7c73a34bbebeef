import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { ChangeOutcome } from './outcomes.js';

/**
 * How long an outcome may sit in the operating system's cache before it is forced to the device.
 * Written outcomes survive the process being killed (kill -9, OOM) at once; only a crash of the
 * whole machine can lose this window, and compare-and-swap makes that harmless: an entry written
 * but not journaled is found already at its new values on resume and is not written again.
 */
const SYNC_INTERVAL_MS = 200;

/**
 * An append-only record of outcomes on local disk, one file per request and plan digest. Each
 * outcome is written to the file before the worker that produced it moves on, so after kill -9 a
 * restart knows exactly which entries are finished. Concurrent workers share one write, and the
 * device flush (fdatasync) runs every SYNC_INTERVAL_MS and on close rather than per entry: per
 * entry it cost more than the directory writes themselves.
 */
export class Journal {
  private pending: string[] = [];
  private waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  private pumping: Promise<void> | undefined;
  private lastSync = Date.now();
  private failure: unknown;

  private constructor(private readonly handle: FileHandle, readonly file: string) {}

  static async open(dir: string, request: string, planDigest: string): Promise<{ journal: Journal; done: Map<string, ChangeOutcome[]> }> {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `${request}.${planDigest.replace(/^sha256:/, '').slice(0, 16)}.jsonl`);
    const done = new Map<string, ChangeOutcome[]>();
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      // A torn last line from a crash mid-write is simply not finished.
      if (!line.trim()) continue;
      let rec: { dn: string; outcomes: ChangeOutcome[] };
      try {
        rec = JSON.parse(line);
      } catch {
        continue;
      }
      done.set(rec.dn, rec.outcomes);
    }
    return { journal: new Journal(await open(file, 'a'), file), done };
  }

  /** Resolves once the entry's outcomes are written to the journal file. */
  record(dn: string, outcomes: ChangeOutcome[]): Promise<void> {
    // A journal that cannot be written must stop the execution: nothing may happen unrecorded.
    if (this.failure) return Promise.reject(this.failure);
    this.pending.push(`${JSON.stringify({ dn, outcomes, at: new Date().toISOString() })}\n`);
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      try {
        await this.pump();
      } finally {
        this.pumping = undefined;
        // A line may arrive after the pump's last look and before this point.
        if (this.pending.length) this.kick();
      }
    })();
  }

  private async pump(): Promise<void> {
    while (this.pending.length) {
      const lines = this.pending.splice(0);
      const waiters = this.waiters.splice(0);
      try {
        await this.handle.appendFile(lines.join(''));
        if (Date.now() - this.lastSync >= SYNC_INTERVAL_MS) await this.sync();
        for (const w of waiters) w.resolve();
      } catch (err) {
        this.failure ??= err;
        for (const w of [...waiters, ...this.waiters.splice(0)]) w.reject(err);
        this.pending = [];
      }
    }
  }

  private async sync(): Promise<void> {
    this.lastSync = Date.now();
    await this.handle.datasync();
  }

  /** Writes what is pending, forces it to the device, and closes the file. */
  async close(): Promise<void> {
    try {
      await this.pumping;
      if (!this.failure) await this.sync();
    } finally {
      await this.handle.close();
    }
  }
}
