import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Signed } from '../../lifecycle/signing.js';
import { PlanFileError } from '../../shared/errors.js';

/**
 * The daemon's own memory of executions, in its workdir: every signed claim and execution
 * statement it made, and the report files of each final one, so it can restore them when
 * someone deletes or edits reports/ (and push them again when a results push failed).
 */
export class Ledger {
  constructor(private readonly dir: string) {}

  static async open(workdir: string): Promise<Ledger> {
    const dir = path.join(workdir, 'ledger');
    await mkdir(dir, { recursive: true });
    return new Ledger(dir);
  }

  async append(signed: Signed, files?: Record<string, string | Uint8Array | null>): Promise<void> {
    if (files) {
      const request = (JSON.parse(signed.statement) as { request: string }).request;
      // A request name is a file name here; never a path out of the ledger.
      if (!/^[a-z0-9][a-z0-9-]*$/.test(request))
        throw new PlanFileError(`not a request name: ${JSON.stringify(request)}`);
      await mkdir(path.join(this.dir, request), { recursive: true });
      for (const [name, content] of Object.entries(files)) {
        const file = path.join(this.dir, request, name);
        // A file of the other form (result.jsonl after a partial run, result.jsonl.gz now) goes.
        if (content === null) await rm(file, { force: true });
        else await writeFile(file, content);
      }
    }
    await appendFile(path.join(this.dir, 'records.jsonl'), `${JSON.stringify(signed)}\n`, { flush: true });
  }

  async records(): Promise<unknown[]> {
    const text = await readFile(path.join(this.dir, 'records.jsonl'), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l.trim())
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as unknown];
        } catch {
          return [];
        }
      });
  }

  /** The report files kept with the request's last final record. */
  async files(request: string, names: readonly string[]): Promise<Record<string, Uint8Array>> {
    const out: Record<string, Uint8Array> = {};
    for (const n of names) {
      const bytes = await readFile(path.join(this.dir, request, n)).catch(() => undefined);
      if (bytes !== undefined) out[n] = bytes;
    }
    return out;
  }
}
