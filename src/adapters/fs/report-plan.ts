import { createReadStream } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { PLAN_FILE, PLAN_GZ_FILE, planText } from '../../report/plan-jsonl.js';

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
 * The committed plan line by line, read and decompressed as it is consumed: an execution can
 * stream a large plan instead of holding it (parsePlanHeader / parsePlanChange parse the lines).
 */
export async function* readReportPlanLines(reportDir: string): AsyncGenerator<string> {
  const file = await reportPlanFile(reportDir);
  if (!file) throw new Error(`${reportDir} has no ${PLAN_FILE}`);
  const raw = createReadStream(path.join(reportDir, file));
  const input = file === PLAN_GZ_FILE ? raw.pipe(createGunzip()) : raw;
  const lines = createInterface({ input, crlfDelay: Infinity });
  // A corrupt gzip stream fails the gunzip, not the file stream, and readline passes neither on:
  // the lines end there, and the error is thrown after them. (Racing each line against an error
  // promise instead would attach a reaction per line to a promise that never settles.)
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    lines.close();
  };
  input.once('error', fail);
  raw.once('error', fail);
  try {
    for await (const line of lines) {
      if (failure) break;
      if (line.trim() !== '') yield line;
    }
    if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
  } finally {
    lines.close();
    raw.destroy();
  }
}
