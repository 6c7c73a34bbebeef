import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ScopeRecording, ScopeSnapshots, SnapshotMeta } from '../../ports/directory.js';

/**
 * The files of a pass's scope reads, in `dir` (under the workdir): the target writes the pages
 * (PreviewTarget.readEntries with keepIn) and reads them back (replay). On disk rather than in
 * memory, because a scope of 1,000,000 entries would not fit beside the plan. The folder is
 * emptied when opened and after every pass.
 */
export async function openScopeSnapshots(dir: string): Promise<ScopeSnapshots> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const kept = new Map<string, SnapshotMeta & { file: string }>();
  let files = 0;
  return {
    find: (key) => kept.get(key),
    record(key): ScopeRecording {
      const file = path.join(dir, `${++files}.pages`);
      let state: 'open' | 'kept' | 'dropped' = 'open';
      return {
        file,
        keep(meta) {
          // A copy the reader could not write (it removes it) is not kept.
          if (state !== 'open' || !existsSync(file)) return;
          state = 'kept';
          kept.set(key, { ...meta, file });
        },
        async drop() {
          if (state !== 'open') return;
          state = 'dropped';
          await rm(file, { force: true });
        },
      };
    },
    async clear() {
      kept.clear();
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
    },
  };
}
