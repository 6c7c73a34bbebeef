import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FreshnessMemory, ReadMark } from '../../ports/freshness.js';

/** FreshnessMemory as one JSON file in the workdir; a lost or torn file only costs a re-read. */
export async function openFreshnessMemory(workdir: string): Promise<FreshnessMemory> {
  const file = path.join(workdir, 'freshness.json');
  let marks: Record<string, ReadMark> = {};
  try {
    marks = JSON.parse(await readFile(file, 'utf8')) as Record<string, ReadMark>;
  } catch {
    marks = {};
  }
  let dirty = false;
  return {
    get: (key) => (Object.hasOwn(marks, key) ? marks[key] : undefined),
    set: (key, mark) => {
      marks[key] = mark;
      dirty = true;
    },
    async save() {
      if (!dirty) return;
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(marks));
      await rename(tmp, file);
      dirty = false;
    },
  };
}
