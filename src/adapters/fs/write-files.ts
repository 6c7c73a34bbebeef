import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';

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

/**
 * Writes a file from pieces as they are produced (a large plan's JSONL or LDIF is never one string
 * in memory), atomically like writeFiles.
 */
export async function writeChunks(file: string, chunks: Iterable<string>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  try {
    for (const chunk of chunks) if (!out.write(chunk)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
  await rename(tmp, file);
}
