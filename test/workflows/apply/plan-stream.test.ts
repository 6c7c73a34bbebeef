import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { readReportPlanLines } from '../../../src/adapters/fs/report-plan.js';
import { planDigest } from '../../../src/plan/build-plan.js';
import type { PlanChange } from '../../../src/plan/plan-types.js';
import { planChangeLine } from '../../../src/report/plan-jsonl.js';
import { PlanFileError } from '../../../src/shared/errors.js';
import { CHUNK_CHANGES, scanPlanFile } from '../../../src/workflows/apply/plan-stream.js';

const header = JSON.stringify({
  format: 'reexport-plan/v1',
  request: 'r',
  template: 't',
  digests: { request: 'a', template: 'b', source: 'c', plan: 'd' },
});

/** Users with two changes each (one entry's changes must never be split across chunks). */
function changes(users: number): PlanChange[] {
  return Array.from({ length: users }, (_, i) => [
    { id: String(i), dn: `uid=u${i},ou=people,dc=x`, attribute: 'mail', before: ['a'], after: ['b'] },
    { id: String(i), dn: `uid=u${i},ou=people,dc=x`, attribute: 'title', before: [], after: ['c'] },
  ]).flat();
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function planDir(list: PlanChange[], gz = false): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'reexport-plan-stream-'));
  dirs.push(dir);
  const text = `${[header, ...list.map(planChangeLine)].join('\n')}\n`;
  await writeFile(path.join(dir, gz ? 'plan.jsonl.gz' : 'plan.jsonl'), gz ? gzipSync(text) : text);
  return dir;
}

async function collect(chunks: AsyncIterable<PlanChange[]>): Promise<PlanChange[][]> {
  const out: PlanChange[][] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

describe('a plan file streamed in two readings', () => {
  it('counts the whole plan on the first reading and hands out every change once, in order, by entry', async () => {
    const list = changes(CHUNK_CHANGES + 7);
    const dir = await planDir(list, true);
    const seen: string[] = [];
    const { scan, source } = await scanPlanFile(
      () => readReportPlanLines(dir),
      (c) => seen.push(c.id),
    );
    expect(scan.digest).toBe(planDigest(list));
    expect(scan.changes).toBe(list.length);
    expect(seen).toHaveLength(list.length);
    expect(source.entries).toBe(CHUNK_CHANGES + 7);
    expect(source.attributes).toEqual(['mail', 'title']);
    expect(source.safety({ maxChanges: 10, maxClears: 0 }, undefined).ok).toBe(false);
    const chunks = await collect(source.chunks());
    expect(chunks.length).toBe(3);
    expect(chunks.flat()).toEqual(list);
    for (const [a, b] of chunks.slice(1).map((c, i) => [chunks[i]!, c] as const))
      expect(a.at(-1)!.dn).not.toBe(b[0]!.dn);
  });

  it('stops when the file changed between the readings, before handing out the changed chunk', async () => {
    const list = changes(CHUNK_CHANGES + 7);
    const dir = await planDir(list);
    const { source } = await scanPlanFile(
      () => readReportPlanLines(dir),
      () => undefined,
    );
    const edited = list.map((c, i) => (i === list.length - 1 ? { ...c, after: ['evil'] } : c));
    await writeFile(path.join(dir, 'plan.jsonl'), `${[header, ...edited.map(planChangeLine)].join('\n')}\n`);
    const handed: PlanChange[][] = [];
    await expect(
      (async () => {
        for await (const c of source.chunks()) handed.push(c);
      })(),
    ).rejects.toThrow(PlanFileError);
    // The chunks before the edit were the reviewed ones; the edited one was never handed out.
    expect(handed.flat().some((c) => c.after[0] === 'evil')).toBe(false);
    expect(handed.length).toBeGreaterThan(0);
  });

  it('stops when lines were appended after the first reading', async () => {
    const list = changes(3);
    const dir = await planDir(list);
    const { source } = await scanPlanFile(
      () => readReportPlanLines(dir),
      () => undefined,
    );
    await writeFile(
      path.join(dir, 'plan.jsonl'),
      `${[header, ...[...list, ...changes(CHUNK_CHANGES + 1).slice(-2)].map(planChangeLine)].join('\n')}\n`,
    );
    await expect(collect(source.chunks())).rejects.toThrow(PlanFileError);
  });

  it('fails a broken gzip stream instead of ending the lines early', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'reexport-plan-stream-'));
    dirs.push(dir);
    const gz = gzipSync(`${[header, ...changes(2000).map(planChangeLine)].join('\n')}\n`);
    await writeFile(path.join(dir, 'plan.jsonl.gz'), gz.subarray(0, gz.length >> 1));
    await expect(
      scanPlanFile(
        () => readReportPlanLines(dir),
        () => undefined,
      ),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^Z_/) as unknown });
  });
});
