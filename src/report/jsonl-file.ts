import { gunzipSync } from 'node:zlib';
import { PlanFileError } from '../shared/errors.js';

/** The largest JSON-lines text read whole (the CLI's verify; the daemon streams its plans). */
export const MAX_JSONL_TEXT = 512 * 1024 * 1024;

/**
 * A committed JSON-lines file's text (plan.jsonl, result.jsonl), from its plain or its gzip form
 * (named `….gz`: see write-reports.ts jsonlUpTo, which writes it).
 */
export function committedJsonlText(file: string, content: Uint8Array | string): string {
  if (file.endsWith('.gz')) {
    if (typeof content === 'string') throw new PlanFileError(`${file}: expected bytes, not text`);
    let text: Buffer;
    try {
      // Bounded: a small file made to inflate to gigabytes must not take the memory with it.
      text = gunzipSync(content, { maxOutputLength: MAX_JSONL_TEXT });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
        throw new PlanFileError(`${file}: inflates to more than ${MAX_JSONL_TEXT / 1024 / 1024} MB`);
      throw new PlanFileError(`${file}: not a gzip file`);
    }
    return text.toString('utf8');
  }
  return typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
}
