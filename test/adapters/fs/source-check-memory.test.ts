import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSourceCheckMemory } from '../../../src/adapters/fs/source-check-memory.js';
import type { SourceCheckMark } from '../../../src/ports/source-checks.js';
import { makeDir } from '../../harness/files.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function workdir(): Promise<string> {
  const { dir, cleanup } = await makeDir({});
  cleanups.push(cleanup);
  return dir;
}

const mark = (n: number): SourceCheckMark => ({
  diagnostics: [{ file: 'data/people.csv', line: n, col: 1, message: `problem ${n}`, severity: 'warning' }],
  fields: ['id', 'mail'],
  memory: 1000 + n,
  ids: { [`k${n}`]: true, __proto__: false } as Record<string, boolean>,
});

describe('the source-check memory (source-checks.json in the workdir)', () => {
  it('keeps marks across a restart, an own "__proto__" ID key included', async () => {
    const dir = await workdir();
    const memory = await openSourceCheckMemory(dir);
    const ids = Object.create(null) as Record<string, boolean>;
    ids.__proto__ = false;
    ids.k1 = true;
    memory.set('a', { ...mark(1), ids });
    await memory.save();
    const again = await openSourceCheckMemory(dir);
    expect(again.get('a')).toEqual({ ...mark(1), ids });
    expect(Object.hasOwn(again.get('a')!.ids, '__proto__')).toBe(true);
    expect(again.get('b')).toBeUndefined();
  });

  it('forgets a torn or edited file, and marks of another version', async () => {
    const dir = await workdir();
    const file = path.join(dir, 'source-checks.json');
    const memory = await openSourceCheckMemory(dir);
    memory.set('a', mark(1));
    await memory.save();
    const saved = JSON.parse(await readFile(file, 'utf8')) as {
      version: string;
      marks: Record<string, unknown>;
    };

    await writeFile(file, JSON.stringify({ ...saved, version: '0.0.0/1' }));
    expect((await openSourceCheckMemory(dir)).get('a')).toBeUndefined();

    await writeFile(file, '{"version":');
    expect((await openSourceCheckMemory(dir)).get('a')).toBeUndefined();

    // An edited mark (a finding without a line, an ID answer that is not yes or no) is not used.
    const edited = {
      ...saved,
      marks: {
        bad: { usedAt: 1, mark: { ...mark(2), diagnostics: [{ file: 'x', message: 'm' }] } },
        worse: { usedAt: 1, mark: { ...mark(3), ids: { k: 'yes' } } },
        good: { usedAt: 1, mark: mark(4) },
      },
    };
    await writeFile(file, JSON.stringify(edited));
    const read = await openSourceCheckMemory(dir);
    expect(read.get('bad')).toBeUndefined();
    expect(read.get('worse')).toBeUndefined();
    expect(read.get('good')).toEqual(JSON.parse(JSON.stringify(mark(4))));
  });

  it('keeps the 64 marks used last', async () => {
    const dir = await workdir();
    const memory = await openSourceCheckMemory(dir);
    for (let n = 0; n < 70; n++) {
      memory.set(`m${n}`, mark(n));
      // Distinct use times, in order.
      await new Promise((r) => setTimeout(r, 2));
    }
    await memory.save();
    const again = await openSourceCheckMemory(dir);
    expect(again.get('m5')).toBeUndefined();
    expect(again.get('m6')).toBeDefined();
    expect(again.get('m69')).toBeDefined();
  });
});
