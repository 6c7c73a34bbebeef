import { execFile } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { progress } from '../../src/cli/commands/progress.js';
import { createLogger } from '../../src/shared/log.js';

const execFileP = promisify(execFile);
const fixture = path.join(import.meta.dirname, 'fixtures', 'log-lines.ts');

async function logLines(format?: string): Promise<string[]> {
  const env = { ...process.env };
  delete env.REEXPORT_LOG_FORMAT;
  delete env.REEXPORT_LOG_LEVEL;
  if (format) env.REEXPORT_LOG_FORMAT = format;
  const { stderr } = await execFileP(process.execPath, ['--import', 'tsx', fixture], { env });
  return stderr.trimEnd().split('\n');
}

describe('logs', () => {
  it('are JSON lines when stderr is not a terminal, and every line during a request names it', async () => {
    const lines = (await logLines()).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.msg)).toEqual([
      'daemon started',
      'directory connected',
      'preview committed',
      'pass finished',
    ]);
    expect(lines[1]).toMatchObject({
      target: 'ad',
      request: 'new-mail',
      branch: 'main',
      password: '[redacted]',
    });
    expect(lines[2]).toMatchObject({ request: 'new-mail', branch: 'main' });
    expect(lines[0]).not.toHaveProperty('request');
    expect(lines[3]).not.toHaveProperty('request');
  });

  it('are readable lines when asked for (as on a terminal), still naming the request', async () => {
    const lines = await logLines('pretty');
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(() => JSON.parse(l) as unknown).toThrow();
    const connected = lines.find((l) => l.includes('directory connected'))!;
    expect(connected).toMatch(/INFO/);
    expect(connected).toContain('new-mail');
    expect(connected).toContain('"ad"');
    expect(connected).not.toContain('hunter2');
  });

  it('are JSON when asked for, whatever the stream', async () => {
    const lines = await logLines('json');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('directory connected');
  });
});

describe('progress on a terminal', () => {
  it('writes nothing when the stream is not a terminal', () => {
    const writes: string[] = [];
    const stream = { isTTY: false, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream;
    const bar = progress('reading', stream, 0);
    bar.update(5, 10);
    bar.done();
    expect(writes).toEqual([]);
  });

  it('is cleared before a log line, so the two never share a line', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'reexport-log-'));
    const file = path.join(dir, 'log');
    const fd = openSync(file, 'w');
    try {
      const events: string[] = [];
      const terminal = { isTTY: true, write: (s: string) => events.push(s) } as unknown as NodeJS.WriteStream;
      const prior = process.env.REEXPORT_LOG_FORMAT;
      process.env.REEXPORT_LOG_FORMAT = 'json';
      const log = createLogger('info', { isTTY: true, fd } as unknown as NodeJS.WriteStream);
      if (prior === undefined) delete process.env.REEXPORT_LOG_FORMAT;
      else process.env.REEXPORT_LOG_FORMAT = prior;
      const bar = progress('applying entries', terminal, 0);
      bar.update(3, 10);
      expect(events.at(-1)).toMatch(/^\r\x1b\[2Kapplying entries: 3 of 10/);
      log.info('directory connected');
      expect(events.at(-1)).toBe('\r\x1b[2K');
      bar.done();
      log.info('after');
      // Once done, log lines no longer touch the terminal line.
      expect(events.at(-1)).toBe('\n');
      expect(
        readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { msg: string }).msg),
      ).toEqual(['directory connected', 'after']);
    } finally {
      closeSync(fd);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
