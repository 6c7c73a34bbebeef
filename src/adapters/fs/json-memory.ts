import { readFile, rename, writeFile } from 'node:fs/promises';

/** A map the daemon keeps in one JSON file of its workdir, written whole when it changed. */
export interface JsonMemory<T> {
  get(key: string): T | undefined;
  set(key: string, value: T): void;
  save(): Promise<void>;
}

/**
 * Opens `file`; a missing or torn file is an empty map (each caller says what forgetting costs).
 * Written to a temporary file and renamed, so a kill leaves the old map or the new one.
 */
export async function openJsonMemory<T>(file: string): Promise<JsonMemory<T>> {
  // No prototype: a key is any branch or request name, "__proto__" included.
  const values = Object.create(null) as Record<string, T>;
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) Object.assign(values, parsed);
  } catch {
    // Missing or torn: start empty.
  }
  let dirty = false;
  return {
    get: (key) => (Object.hasOwn(values, key) ? values[key] : undefined),
    set: (key, value) => {
      values[key] = value;
      dirty = true;
    },
    async save() {
      if (!dirty) return;
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(values));
      await rename(tmp, file);
      dirty = false;
    },
  };
}
