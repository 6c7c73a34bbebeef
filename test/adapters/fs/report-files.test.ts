import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readReportFile } from '../../../src/adapters/fs/report-files.js';
import { makeDir } from '../../harness/files.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(() => Promise.all(cleanups.map((c) => c())));

describe('readReportFile', () => {
  it('reads a report, says undefined for none, and refuses a symlink anywhere on the way', async () => {
    const { dir, cleanup } = await makeDir({ 'reports/a/status.yaml': 'request: a\n', 'secret.txt': 'x' });
    cleanups.push(cleanup);
    expect(await readReportFile(dir, 'a', 'status.yaml')).toBe('request: a\n');
    expect(await readReportFile(dir, 'a', 'plan.jsonl')).toBeUndefined();
    await symlink(path.join(dir, 'secret.txt'), path.join(dir, 'reports/a/plan.jsonl'));
    await expect(readReportFile(dir, 'a', 'plan.jsonl')).rejects.toThrow(
      /reports\/a\/plan.jsonl is a symbolic link/,
    );
    await mkdir(path.join(dir, 'elsewhere'));
    await writeFile(path.join(dir, 'elsewhere/status.yaml'), 'request: b\n');
    await symlink(path.join(dir, 'elsewhere'), path.join(dir, 'reports/b'));
    await expect(readReportFile(dir, 'b', 'status.yaml')).rejects.toThrow(/reports\/b is a symbolic link/);
  });

  it('refuses a report larger than the daemon ever writes, before reading it', async () => {
    const { dir, cleanup } = await makeDir({
      'reports/a/status.yaml': `message: "${'a'.repeat(2 * 1024 * 1024)}"\n`,
      'reports/a/preview.md': '# Preview: a\n',
    });
    cleanups.push(cleanup);
    await expect(readReportFile(dir, 'a', 'status.yaml')).rejects.toThrow(
      /reports\/a\/status.yaml is 2.0 MiB, larger than the daemon ever writes it \(1.0 MiB\).*let the daemon write the reports again/,
    );
    expect(await readReportFile(dir, 'a', 'preview.md')).toBe('# Preview: a\n');
  });
});
