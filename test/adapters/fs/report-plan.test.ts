import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { readReportPlanLines } from '../../../src/adapters/fs/report-plan.js';
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

  it('refuses a gzip made to inflate to gigabytes, before reading it all', async () => {
    const made = await makeDir({});
    cleanup = made.cleanup;
    const read = async () => {
      let n = 0;
      for await (const batch of readReportPlanLines(made.dir)) n += batch.length;
      return n;
    };
    // 1 GB of newlines is 1 MB compressed: refused after 16 MiB, in a fraction of a second.
    // Gzip members one after the other inflate one after the other: 16 of 64 MiB each.
    const member = gzipSync(Buffer.alloc(64 * 1024 * 1024, '\n'), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 16 }, () => member));
    await writeFile(path.join(made.dir, 'plan.jsonl.gz'), bomb);
    const before = process.memoryUsage().rss;
    await expect(read()).rejects.toThrow(
      /plan.jsonl.gz: it inflates to more than 16 MiB, over 100 times its size/,
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    // A real plan compresses far less: read to the end.
    await writeFile(path.join(made.dir, 'plan.jsonl.gz'), gzipSync(Buffer.from(lines.join('\n'))));
    expect(await read()).toBe(lines.length);
  });
});
