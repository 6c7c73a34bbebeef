import { createHash } from 'node:crypto';
import { planDigester } from '../../plan/build-plan.js';
import type { PlanChange, PlanHeader, SafetyVerdict } from '../../plan/plan-types.js';
import { type SafetyLimits, safetyTally, safetyVerdict } from '../../plan/safety.js';
import { parsePlanChange, parsePlanHeader } from '../../report/plan-jsonl.js';
import { PlanFileError } from '../../shared/errors.js';

/**
 * Changes per round of fresh read and writes: what an execution holds of the plan at once (this
 * chunk, and the next one being read). Small enough that V8's heap, sized by what survives its
 * collections, stays small (measured at 100,000 users: 5,000 gave 420–560 MB peak RSS, 1,000
 * about 230); large enough that a round's fixed cost (a few searches) is noise.
 */
export const CHUNK_CHANGES = 1000;

/**
 * A plan file's lines in batches, without blank lines, readable more than once (each call reads
 * the file from its start).
 */
export type PlanLines = () => AsyncIterable<readonly string[]>;

/**
 * A plan as an execution uses it, without holding its changes: what the checks need of the
 * whole plan (counted on a first reading), and the changes again chunk by chunk for writing.
 */
export interface PlanSource {
  header: PlanHeader;
  /** The distinct attribute names the plan changes, as spelled in it. */
  attributes: string[];
  /** The distinct entries (DNs) the plan changes. */
  entries: number;
  safety(limits: SafetyLimits, confirmed?: number): SafetyVerdict;
  /**
   * The changes in plan order, in chunks of about CHUNK_CHANGES that never split an entry (its
   * changes are written together).
   */
  chunks(): AsyncIterable<PlanChange[]>;
}

/**
 * Whether a change starts a new chunk: once a chunk holds `size` changes, at the next entry.
 * Both readings of a plan file cut it with this, so their chunks correspond one to one.
 */
function chunkCutter(size: number): (dn: string) => boolean {
  let n = 0;
  let last: string | undefined;
  return (dn) => {
    const cut = n >= size && dn !== last;
    if (cut) n = 0;
    n++;
    last = dn;
    return cut;
  };
}

/** What a first reading of plan.jsonl found, besides the counts a PlanSource gives. */
export interface PlanScan {
  header: PlanHeader;
  /** planDigest of the changes, as read. */
  digest: string;
  /** How many changes the file holds. */
  changes: number;
}

/**
 * Reads a plan file once, change by change: its digest, the counts safety needs, and a hash per
 * chunk, so the second reading (the chunks executed) is verified to be exactly this reading even
 * if the file changed in between. `each` sees every change (the checks beside the signature).
 * Throws PlanFileError when a line is not a plan's.
 */
export async function scanPlanFile(
  lines: PlanLines,
  each: (change: PlanChange) => void,
): Promise<{ scan: PlanScan; source: PlanSource }> {
  let header: PlanHeader | undefined;
  const digest = planDigester();
  const safety = safetyTally();
  const attributes = new Set<string>();
  const cut = chunkCutter(CHUNK_CHANGES);
  const chunkHashes: string[] = [];
  let hash = createHash('sha256');
  let n = 0;
  for await (const batch of lines()) {
    for (const line of batch) {
      n++;
      if (!header) {
        header = parsePlanHeader(line);
        continue;
      }
      const c = parsePlanChange(line, n);
      if (cut(c.dn)) {
        chunkHashes.push(hash.digest('hex'));
        hash = createHash('sha256');
      }
      hash.update(`${line}\n`);
      digest.add(c);
      safety.add(c);
      attributes.add(c.attribute);
      each(c);
    }
  }
  if (!header) throw new PlanFileError('plan.jsonl:1: not a reexport plan (the file is empty)');
  if (n > 1) chunkHashes.push(hash.digest('hex'));
  const changes = n - 1;
  // The counts only: the DNs seen to count the entries are not kept through the execution.
  const counts = safety.counts();
  return {
    scan: { header, digest: digest.digest(), changes },
    source: {
      header,
      attributes: [...attributes],
      entries: counts.entries,
      safety: (limits, confirmed) => safetyVerdict(counts, limits, confirmed),
      chunks: () => verifiedChunks(lines, chunkHashes),
    },
  };
}

/** The second reading: each chunk is compared with the first reading's hash before it is handed out. */
async function* verifiedChunks(lines: PlanLines, hashes: readonly string[]): AsyncGenerator<PlanChange[]> {
  const cut = chunkCutter(CHUNK_CHANGES);
  let chunk: PlanChange[] = [];
  let hash = createHash('sha256');
  let index = 0;
  const verified = () => {
    if (hashes[index++] !== hash.digest('hex')) {
      throw new PlanFileError(
        'plan.jsonl changed while it was being executed; the execution stops (the part written is journaled)',
      );
    }
    const out = chunk;
    chunk = [];
    hash = createHash('sha256');
    return out;
  };
  let n = 0;
  for await (const batch of lines()) {
    for (const line of batch) {
      if (n++ === 0) continue;
      const c = parsePlanChange(line, n);
      if (cut(c.dn)) yield verified();
      hash.update(`${line}\n`);
      chunk.push(c);
    }
  }
  if (chunk.length) yield verified();
  if (index !== hashes.length) throw new PlanFileError('plan.jsonl changed while it was being executed');
}

/** A plan held in memory (a fresh plan, for operators who turned the review requirement off). */
export function planSourceOf(plan: { header: PlanHeader; changes: readonly PlanChange[] }): PlanSource {
  const safety = safetyTally();
  for (const c of plan.changes) safety.add(c);
  const counts = safety.counts();
  return {
    header: plan.header,
    attributes: [...new Set(plan.changes.map((c) => c.attribute))],
    entries: counts.entries,
    safety: (limits, confirmed) => safetyVerdict(counts, limits, confirmed),
    async *chunks() {
      const cut = chunkCutter(CHUNK_CHANGES);
      let chunk: PlanChange[] = [];
      for (const c of plan.changes) {
        if (cut(c.dn)) {
          yield chunk;
          chunk = [];
        }
        chunk.push(c);
      }
      if (chunk.length) yield chunk;
    },
  };
}
