import { createReadStream } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { PLAN_FILE, PLAN_GZ_FILE, planText } from '../../report/plan-jsonl.js';
import { PlanFileError } from '../../shared/errors.js';

type PlanFile = typeof PLAN_FILE | typeof PLAN_GZ_FILE;

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/**
 * Which file holds a report folder's plan: plan.jsonl, or plan.jsonl.gz for a large plan
 * (report/write-reports.ts). Undefined when neither exists; both at once is refused, since the
 * daemon never leaves both and a reader must not have to guess which one was reviewed.
 */
export async function reportPlanFile(reportDir: string): Promise<PlanFile | undefined> {
  const [plain, gz] = await Promise.all([
    exists(path.join(reportDir, PLAN_FILE)),
    exists(path.join(reportDir, PLAN_GZ_FILE)),
  ]);
  if (plain && gz)
    throw new Error(
      `${reportDir} holds both ${PLAN_FILE} and ${PLAN_GZ_FILE}; reports/ is written by the daemon only, let it preview again`,
    );
  return plain ? PLAN_FILE : gz ? PLAN_GZ_FILE : undefined;
}

/** The committed plan's text (decompressed), or undefined when the folder has no plan. */
export async function readReportPlan(
  reportDir: string,
): Promise<{ file: PlanFile; text: string } | undefined> {
  const file = await reportPlanFile(reportDir);
  if (!file) return undefined;
  const content = await readFile(path.join(reportDir, file));
  return { file, text: planText(file, content) };
}

/**
 * The longest plan line read: one change, its values before and after (a group of 100,000 members
 * of 100 characters is 20 MB).
 */
export const MAX_PLAN_LINE = 64 * 1024 * 1024;
/**
 * The most a committed plan is read to: 2 GiB, the plan of some three million users. No ratio to
 * the compressed size: the daemon's plans of one value repeated for many users compress over a
 * hundred times, as deflate allows up to a thousand.
 */
const MAX_PLAN_TEXT = 2 * 1024 * 1024 * 1024;
/**
 * The blank lines a plan may hold: the daemon writes none. 2 MB of gzip is 2 GB of newlines,
 * which would take minutes to split into nothing.
 */
const MAX_BLANK_LINES = 10_000;

/** readline's line breaks: `\r\n`, `\n` or a lone `\r`. */
const LINE_BREAK = /\r\n|\n|\r/;

/**
 * The committed plan's lines, in batches (those of each piece read), read and decompressed as
 * they are consumed: an execution streams a large plan instead of holding it (parsePlanHeader /
 * parsePlanChange parse the lines). Blank lines are left out. Batches, not a line at a time:
 * readline and a promise per line cost a large apply (320,000 lines, read twice) 300 MB of
 * garbage and a few tenths of a second.
 */
export async function* readReportPlanLines(reportDir: string): AsyncGenerator<string[]> {
  const file = await reportPlanFile(reportDir);
  if (!file) throw new Error(`${reportDir} has no ${PLAN_FILE}`);
  const raw = createReadStream(path.join(reportDir, file));
  // A branch may commit any plan file: a line without end, or a small gzip that inflates to
  // gigabytes (2 MB of zeros is 2 GB of newlines), is refused as it is read, never held.
  let inflated = 0;
  const tooLarge = (why: string) => new PlanFileError(`${file}: ${why}; it is not a plan the daemon wrote`);
  let input: Readable = raw;
  if (file === PLAN_GZ_FILE) {
    const gunzip = createGunzip();
    // A file that cannot be read fails the reading of the lines, as a corrupt gzip stream does.
    raw.once('error', (err) => gunzip.destroy(err));
    input = raw.pipe(gunzip);
  }
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let blank = 0;
  const batch = (lines: string[]) => {
    const out = lines.filter((l) => l.trim() !== '');
    blank += lines.length - out.length;
    if (blank > MAX_BLANK_LINES) throw tooLarge(`it holds more than ${MAX_BLANK_LINES} blank lines`);
    return out;
  };
  try {
    for await (const piece of input) {
      // Only the new text is split: splitting carry + text made a line of many pieces cost the
      // square of its length (carry never holds a break, so nothing can join across it).
      const bytes = piece as Buffer;
      inflated += bytes.length;
      if (inflated > MAX_PLAN_TEXT) throw tooLarge('it is longer than 2 GiB');
      const text = decoder.write(bytes);
      const lines = text.split(LINE_BREAK);
      if (lines.length === 1) {
        carry += text;
        if (carry.length > MAX_PLAN_LINE) throw tooLarge(`a line is longer than ${MAX_PLAN_LINE} characters`);
        continue;
      }
      lines[0] = carry + lines[0]!;
      // The text after the last break may be the start of a line the next piece ends. (A piece
      // ending in the `\r` of a `\r\n` gives an empty line, left out like any blank line.)
      carry = lines.pop()!;
      const out = batch(lines);
      if (out.length) yield out;
    }
    const last = batch((carry + decoder.end()).split(LINE_BREAK));
    if (last.length) yield last;
  } finally {
    raw.destroy();
    input.destroy();
  }
}
