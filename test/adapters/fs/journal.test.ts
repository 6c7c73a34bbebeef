import { appendFile, readFile } from 'node:fs/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Journal } from '../../../src/adapters/fs/journal.js';
import type { ChangeOutcome } from '../../../src/execute/outcomes.js';
import { makeDir } from '../../harness/files.js';

const applied = (i: number): ChangeOutcome[] => [
  { id: String(i), dn: `uid=u${i},ou=people,dc=test`, attribute: 'mail', outcome: 'applied' },
];

describe('the journal', () => {
  it('has every outcome in the file once its record() resolves, and a restart reads them back', async () => {
    const dir = await makeDir({});
    onTestFinished(() => dir.cleanup());
    const { journal, done } = await Journal.open(dir.dir, 'mail', 'sha256:abcdef0123456789ff');
    expect(done.size).toBe(0);
    // Concurrent workers, as the executor runs them; each checks the file when its record resolves.
    const seen = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i % 7));
        await journal.record(`uid=u${i},ou=people,dc=test`, applied(i));
        return (await readFile(journal.file, 'utf8')).includes(`"uid=u${i},ou=people,dc=test"`);
      }),
    );
    expect(seen.every(Boolean)).toBe(true);
    await journal.close();
    const again = await Journal.open(dir.dir, 'mail', 'sha256:abcdef0123456789ff');
    expect(again.done.size).toBe(200);
    expect(again.done.get('uid=u7,ou=people,dc=test')).toEqual(applied(7));
    await again.journal.close();
  });

  it('ignores a torn last line, as a crash mid-write leaves it', async () => {
    const dir = await makeDir({});
    onTestFinished(() => dir.cleanup());
    const { journal } = await Journal.open(dir.dir, 'mail', 'sha256:0011');
    await journal.record('uid=a,dc=test', applied(1));
    await journal.close();
    await appendFile(journal.file, '{"dn":"uid=b,dc=test","outc');
    const again = await Journal.open(dir.dir, 'mail', 'sha256:0011');
    expect([...again.done.keys()]).toEqual(['uid=a,dc=test']);
    await again.journal.close();
  });
});
