import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PLAN_FILE, PLAN_GZ_FILE } from '../../report/plan-jsonl.js';
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
  if (!(await exists(root, request, file))) return undefined;
  return readFile(path.join(root, 'reports', request, file), 'utf8');
}

/** As readReportFile, as bytes (a compressed report file). */
export async function readReportBytes(
  root: string,
  request: string,
  file: string,
): Promise<Uint8Array | undefined> {
  if (!(await exists(root, request, file))) return undefined;
  return readFile(path.join(root, 'reports', request, file));
}

/**
 * The committed plan's text, from plan.jsonl or (a large plan) plan.jsonl.gz, decompressed;
 * undefined when there is none. Links are refused as for every report file; both files at once
 * is refused (the daemon never leaves both, and no reader should guess which was reviewed).
 */
export async function readReportPlanText(root: string, request: string): Promise<string | undefined> {
  for (const f of [PLAN_FILE, PLAN_GZ_FILE]) await exists(root, request, f);
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
  for (const f of [PLAN_FILE, PLAN_GZ_FILE]) await exists(root, request, f);
  const dir = path.join(root, 'reports', request);
  try {
    if (!(await reportPlanFile(dir))) return undefined;
  } catch (err) {
    throw new RepoError((err as Error).message);
  }
  return () => readReportPlanLines(dir);
}

/** Whether the file exists; throws when any part of its path under the checkout is a link. */
async function exists(root: string, request: string, file: string): Promise<boolean> {
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
  }
  return true;
}
