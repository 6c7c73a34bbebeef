import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { ChangeOutcome } from './outcomes.js';

/**
 * An append-only record of outcomes on local disk, one file per request and plan digest. Each
 * outcome is flushed (fdatasync) before the worker that produced it moves on, so after kill -9
 * a restart knows exactly which entries are finished. Concurrent workers share one flush.
 */
export class Journal {
  private pending: string[] = [];
  private flushing: Promise<void> | undefined;
  private waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];

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

  /** Resolves once the entry's outcomes are on disk. */
  record(dn: string, outcomes: ChangeOutcome[]): Promise<void> {
    this.pending.push(`${JSON.stringify({ dn, outcomes, at: new Date().toISOString() })}\n`);
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    while (this.pending.length) {
      const lines = this.pending.splice(0);
      const waiters = this.waiters.splice(0);
      this.flushing = (async () => {
        await this.handle.appendFile(lines.join(''));
        await this.handle.datasync();
      })();
      try {
        await this.flushing;
        for (const w of waiters) w.resolve();
      } catch (err) {
        // A journal that cannot be written must stop the execution: nothing may happen unrecorded.
        for (const w of waiters) w.reject(err);
      } finally {
        this.flushing = undefined;
      }
    }
  }

  async close(): Promise<void> {
    await this.flushing?.catch(() => undefined);
    await this.handle.close();
  }
}
