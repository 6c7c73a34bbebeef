import { readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SourceCheckMark, SourceCheckMemory } from '../../ports/source-checks.js';

/**
 * Marks come from this version of the checks: another version (an upgrade) may check otherwise,
 * so its marks are dropped. FORMAT counts changes of the file's shape.
 */
const FORMAT = 1;
const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const VERSION = `${version}/${FORMAT}`;

/** Files checked lately: main, a few preview branches, each perhaps with its own copy of a file. */
const MARKS_KEPT = 64;
/** A mark's use is written down at most this often, so that an idle pass writes no file. */
const USED_EVERY_MS = 3_600_000;

interface Kept {
  mark: SourceCheckMark;
  usedAt: number;
}

/**
 * SourceCheckMemory as one JSON file in the workdir (`source-checks.json`), the MARKS_KEPT most
 * recently used. A missing, torn or edited file, or one of another version, is an empty memory:
 * forgetting only costs a parse.
 */
export async function openSourceCheckMemory(workdir: string): Promise<SourceCheckMemory> {
  const file = path.join(workdir, 'source-checks.json');
  const kept = new Map<string, Kept>();
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown; marks?: unknown };
    if (parsed.version === VERSION && parsed.marks && typeof parsed.marks === 'object')
      for (const [key, value] of Object.entries(parsed.marks as Record<string, unknown>)) {
        const k = value as Partial<Kept> | null;
        if (k && typeof k.usedAt === 'number' && isMark(k.mark))
          kept.set(key, { mark: k.mark, usedAt: k.usedAt });
      }
  } catch {
    // Missing or torn: start empty.
  }
  let dirty = false;
  return {
    get(key) {
      const k = kept.get(key);
      if (!k) return undefined;
      const now = Date.now();
      if (now - k.usedAt >= USED_EVERY_MS) {
        k.usedAt = now;
        dirty = true;
      }
      return k.mark;
    },
    set(key, mark) {
      kept.set(key, { mark, usedAt: Date.now() });
      if (kept.size > MARKS_KEPT) {
        const oldest = [...kept].sort((a, b) => a[1].usedAt - b[1].usedAt).slice(0, kept.size - MARKS_KEPT);
        for (const [k] of oldest) kept.delete(k);
      }
      dirty = true;
    },
    async save() {
      if (!dirty) return;
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify({ version: VERSION, marks: Object.fromEntries(kept) }));
      await rename(tmp, file);
      dirty = false;
    },
  };
}

const isString = (v: unknown): v is string => typeof v === 'string';

/** A mark as this version writes it; anything else (an edited file) is not used. */
function isMark(v: unknown): v is SourceCheckMark {
  if (!v || typeof v !== 'object') return false;
  const m = v as Record<string, unknown>;
  return (
    Array.isArray(m.diagnostics) &&
    m.diagnostics.every(
      (d: unknown) =>
        !!d &&
        typeof d === 'object' &&
        isString((d as Record<string, unknown>).file) &&
        isString((d as Record<string, unknown>).message) &&
        Number.isInteger((d as Record<string, unknown>).line) &&
        Number.isInteger((d as Record<string, unknown>).col) &&
        [undefined, 'error', 'warning'].includes((d as Record<string, unknown>).severity as string),
    ) &&
    Array.isArray(m.fields) &&
    m.fields.every(isString) &&
    (m.memory === undefined || typeof m.memory === 'number') &&
    !!m.ids &&
    typeof m.ids === 'object' &&
    !Array.isArray(m.ids) &&
    Object.values(m.ids).every((b) => typeof b === 'boolean')
  );
}
