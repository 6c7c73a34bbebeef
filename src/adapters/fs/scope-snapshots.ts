import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { PlanEntry } from '../../plan/build-plan.js';
import type { ScopeRecording, ScopeSnapshots, SnapshotMeta } from '../../ports/directory.js';

/**
 * A pass's scope reads on disk, in `dir` (under the workdir): page after page, each as a length
 * and V8's serialisation of the page (which keeps the attribute Maps). On disk rather than in
 * memory, because a scope of 1,000,000 entries would not fit beside the plan; the files are the
 * daemon's own and live for one pass.
 */
export async function openScopeSnapshots(dir: string): Promise<ScopeSnapshots> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const kept = new Map<string, SnapshotMeta & { file: string }>();
  let files = 0;
  return {
    find(key) {
      const s = kept.get(key);
      if (!s) return undefined;
      const { file, ...meta } = s;
      return { ...meta, pages: () => replay(file) };
    },
    async record(key): Promise<ScopeRecording> {
      const file = path.join(dir, `${++files}.pages`);
      const out = await open(file, 'w');
      let state: 'open' | 'kept' | 'dropped' = 'open';
      return {
        async add(page) {
          const body = serialize(page);
          const head = Buffer.alloc(4);
          head.writeUInt32BE(body.length);
          await out.writev([head, body]);
        },
        async keep(meta) {
          if (state !== 'open') return;
          state = 'kept';
          await out.close();
          kept.set(key, { ...meta, file });
        },
        async drop() {
          if (state !== 'open') return;
          state = 'dropped';
          await out.close();
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

async function* replay(file: string): AsyncGenerator<PlanEntry[]> {
  const input = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    for (let at = 0; ;) {
      const { bytesRead } = await input.read(head, 0, 4, at);
      if (bytesRead === 0) return;
      const length = head.readUInt32BE(0);
      const body = Buffer.alloc(length);
      const read = await input.read(body, 0, length, at + 4);
      if (bytesRead < 4 || read.bytesRead < length) throw new Error(`${file} is cut short`);
      at += 4 + length;
      yield deserialize(body) as PlanEntry[];
    }
  } finally {
    await input.close();
  }
}
