import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes each file atomically (temp file, then rename), so a crash never leaves half a report. */
export async function writeFiles(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const target = path.join(dir, name);
    const tmp = `${target}.${process.pid}.tmp`;
    await writeFile(tmp, content);
    await rename(tmp, target);
  }
}
