import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PLAN_FILE, PLAN_GZ_FILE } from '../../report/plan-jsonl.js';
import { formatBytes } from '../../config/yaml-file.js';
import { RepoError } from '../../shared/errors.js';
import { readReportPlan, readReportPlanLines, reportPlanFile } from './report-plan.js';

/**
 * A file the daemon wrote under reports/<request>/, read from a checkout; undefined when absent.
 * A symbolic link anywhere on the way is refused: reports/ is repository data, and a link would
 * make the daemon read (and copy into a status it commits) a file from elsewhere.
 */
export async function readReportFile(
  root: string,
  request: string,
  file: string,
): Promise<string | undefined> {
  if (!(await exists(root, request, file, maxBytesOf(file)))) return undefined;
  return readFile(path.join(root, 'reports', request, file), 'utf8');
}

/** As readReportFile, as bytes (a compressed report file). */
export async function readReportBytes(
  root: string,
  request: string,
  file: string,
): Promise<Uint8Array | undefined> {
  if (!(await exists(root, request, file, maxBytesOf(file)))) return undefined;
  return readFile(path.join(root, 'reports', request, file));
}

/** Whether reports/<request>/<file> is there, without reading it (links refused as above). */
export function reportFileExists(root: string, request: string, file: string): Promise<boolean> {
  return exists(root, request, file, Number.POSITIVE_INFINITY);
}

/**
 * The largest report file read whole. Any branch may hold reports/ files of any size (a 50 MB
 * status.yaml is 456 KB in git), and reading one into memory, YAML-parsed on every pass, ran the
 * daemon out of heap: a file over these sizes is refused, located, before it is read. The daemon
 * writes status.yaml of a few KB, and preview.md of at most `preview.maxUsers` diffs.
 */
const MAX_STATUS_BYTES = 1024 * 1024;
const MAX_REPORT_BYTES = 32 * 1024 * 1024;
/** plan.jsonl.gz of a million users is about 100 MB; plan.jsonl is plain up to 1 MiB only. */
const MAX_PLAN_GZ_BYTES = 1024 * 1024 * 1024;
const maxBytesOf = (file: string) =>
  file === 'status.yaml' ? MAX_STATUS_BYTES : file === PLAN_GZ_FILE ? MAX_PLAN_GZ_BYTES : MAX_REPORT_BYTES;

/**
 * The committed plan's text, from plan.jsonl or (a large plan) plan.jsonl.gz, decompressed;
 * undefined when there is none. Links are refused as for every report file; both files at once
 * is refused (the daemon never leaves both, and no reader should guess which was reviewed).
 */
export async function readReportPlanText(root: string, request: string): Promise<string | undefined> {
  for (const f of [PLAN_FILE, PLAN_GZ_FILE]) await exists(root, request, f, maxBytesOf(f));
  try {
    return (await readReportPlan(path.join(root, 'reports', request)))?.text;
  } catch (err) {
    throw new RepoError((err as Error).message);
  }
}

/**
 * The committed plan's lines in batches (plan.jsonl or plan.jsonl.gz), each call reading the file from
 * its start: an execution streams a large plan instead of holding it. Undefined when there is
 * none; links and both files at once are refused as by readReportPlanText.
 */
export async function reportPlanLines(
  root: string,
  request: string,
): Promise<(() => AsyncIterable<string[]>) | undefined> {
  for (const f of [PLAN_FILE, PLAN_GZ_FILE]) await exists(root, request, f, maxBytesOf(f));
  const dir = path.join(root, 'reports', request);
  try {
    if (!(await reportPlanFile(dir))) return undefined;
  } catch (err) {
    throw new RepoError((err as Error).message);
  }
  return () => readReportPlanLines(dir);
}

/**
 * sha256 of the committed plan file's bytes (plan.jsonl or plan.jsonl.gz), read as a stream:
 * what the freshness memory keeps to know the plan was checked, so an idle pass reads 2 MB
 * instead of parsing 300,000 changes. Undefined when there is none.
 */
export async function reportPlanHash(root: string, request: string): Promise<string | undefined> {
  for (const f of [PLAN_FILE, PLAN_GZ_FILE]) await exists(root, request, f, maxBytesOf(f));
  const dir = path.join(root, 'reports', request);
  let file;
  try {
    file = await reportPlanFile(dir);
  } catch (err) {
    throw new RepoError((err as Error).message);
  }
  if (!file) return undefined;
  const hash = createHash('sha256').update(`${file}\0`);
  for await (const piece of createReadStream(path.join(dir, file))) hash.update(piece as Buffer);
  return hash.digest('hex');
}

/** reportPlanHash of a plan file as the daemon writes it, from its content. */
export function planContentHash(file: string, content: string | Uint8Array): string {
  return createHash('sha256').update(`${file}\0`).update(content).digest('hex');
}

/**
 * Whether the file exists; throws when any part of its path under the checkout is a link, or
 * the file is larger than `maxBytes`.
 */
async function exists(root: string, request: string, file: string, maxBytes: number): Promise<boolean> {
  const parts = ['reports', request, file];
  for (let i = 1; i <= parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    const st = await lstat(path.join(root, rel)).catch(() => undefined);
    if (!st) return false;
    if (st.isSymbolicLink()) {
      throw new RepoError(
        `${rel} is a symbolic link; reports/ is written by the daemon only: remove the link and let it write the reports again`,
      );
    }
    if (i === parts.length && st.size > maxBytes) {
      throw new RepoError(
        `${rel} is ${formatBytes(st.size)}, larger than the daemon ever writes it (${formatBytes(maxBytes)}); reports/ is written by the daemon only: remove it and let the daemon write the reports again`,
      );
    }
  }
  return true;
}
