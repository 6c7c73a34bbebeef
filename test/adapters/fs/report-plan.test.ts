import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { readReportPlanLines } from '../../../src/adapters/fs/report-plan.js';
import { Planner } from '../../../src/plan/build-plan.js';
import { renderCommittedPreviewFiles } from '../../../src/report/write-reports.js';
import { entry, request, source, template } from '../../plan/helpers.js';
import { makeDir } from '../../harness/files.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function linesOf(file: 'plan.jsonl' | 'plan.jsonl.gz', content: string): Promise<string[]> {
  const made = await makeDir({});
  cleanup = made.cleanup;
  const bytes = Buffer.from(content);
  await writeFile(path.join(made.dir, file), file.endsWith('.gz') ? gzipSync(bytes) : bytes);
  const lines: string[] = [];
  for await (const batch of readReportPlanLines(made.dir)) lines.push(...batch);
  return lines;
}

describe('a committed plan read line by line', () => {
  // Lines of every length up to some 3 KB with multi-byte letters, so that breaks and letters fall
  // on the boundaries of the pieces the file is read in (64 KB).
  // One line of a large group's members spans many pieces.
  const lines = Array.from({ length: 600 }, (_, i) =>
    i === 300
      ? `{"members":"${'uid=ø,'.repeat(100_000)}"}`
      : `{"id":"${i}","dn":"${'Ødegård,'.repeat(i % 400)}"}`,
  );

  it('gives every line, whatever its line breaks, and leaves out blank lines', async () => {
    for (const file of ['plan.jsonl', 'plan.jsonl.gz'] as const) {
      expect(await linesOf(file, `${lines.join('\n')}\n`)).toEqual(lines);
      expect(await linesOf(file, lines.join('\r\n'))).toEqual(lines);
      expect(await linesOf(file, `\n\n${lines.join('\r\r\n \n')}\r`)).toEqual(lines);
    }
  });

  it('fails on a broken gzip stream instead of ending short', async () => {
    const made = await makeDir({});
    cleanup = made.cleanup;
    const gz = gzipSync(Buffer.from(lines.join('\n')));
    await writeFile(path.join(made.dir, 'plan.jsonl.gz'), gz.subarray(0, gz.length >> 1));
    const read = async () => {
      for await (const batch of readReportPlanLines(made.dir)) void batch;
    };
    await expect(read()).rejects.toThrow();
  });

  it('refuses a gzip made to inflate to gigabytes of newlines at once', async () => {
    const made = await makeDir({});
    cleanup = made.cleanup;
    // Gzip members one after the other inflate one after the other: 16 of 64 MiB each.
    const member = gzipSync(Buffer.alloc(64 * 1024 * 1024, '\n'), { level: 9 });
    await writeFile(
      path.join(made.dir, 'plan.jsonl.gz'),
      Buffer.concat(Array.from({ length: 16 }, () => member)),
    );
    const started = performance.now();
    const read = async () => {
      for await (const batch of readReportPlanLines(made.dir)) void batch;
    };
    await expect(read()).rejects.toThrow(/plan.jsonl.gz: it holds more than 10000 blank lines/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('reads to the end a plan the daemon wrote of one long value for many users (gzip 100× and more)', async () => {
    const made = await makeDir({});
    cleanup = made.cleanup;
    const users = 20_000;
    const value = (word: string) => `${word} `.repeat(3000 / (word.length + 1)).trim();
    const p = new Planner({
      requestName: 'notes',
      request: request({ maxChanges: users }),
      templateName: 'ad-employees',
      template: template([{ target: 'info', source: value('ny') }]),
      source: source(Array.from({ length: users }, (_, i) => ({ employeeId: String(100000 + i) }))),
      safety: { maxChanges: 500, maxClears: 100 },
    });
    p.addEntries(
      Array.from({ length: users }, (_, i) =>
        entry(`CN=User ${i},OU=Ansatte,DC=kommune,DC=test`, {
          employeeID: String(100000 + i),
          info: value('gammel'),
        }),
      ),
    );
    const files = await renderCommittedPreviewFiles(p.finish('2026-11-30T10:00:00.000Z'), 200);
    const gz = files['plan.jsonl.gz'] as Uint8Array;
    await writeFile(path.join(made.dir, 'plan.jsonl.gz'), gz);
    let n = 0;
    let text = 0;
    for await (const batch of readReportPlanLines(made.dir)) {
      n += batch.length;
      for (const l of batch) text += l.length;
    }
    expect(n).toBe(users + 1);
    expect(text / gz.length).toBeGreaterThan(100);
  });
});
