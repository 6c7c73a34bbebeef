import { gunzipSync } from 'node:zlib';
import { PlanFileError } from '../shared/errors.js';

/**
 * A committed JSON-lines file's text (plan.jsonl, result.jsonl), from its plain or its gzip form
 * (named `….gz`: see write-reports.ts jsonlUpTo, which writes it).
 */
export function committedJsonlText(file: string, content: Uint8Array | string): string {
  if (file.endsWith('.gz')) {
    if (typeof content === 'string') throw new PlanFileError(`${file}: expected bytes, not text`);
    try {
      return gunzipSync(content).toString('utf8');
    } catch {
      throw new PlanFileError(`${file}: not a gzip file`);
    }
  }
  return typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
}
