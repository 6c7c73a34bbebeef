import path from 'node:path';
import type { FreshnessMemory, ReadMark } from '../../ports/freshness.js';
import { openJsonMemory } from './json-memory.js';

/** FreshnessMemory as one JSON file in the workdir; a lost or torn file only costs a re-read. */
export function openFreshnessMemory(workdir: string): Promise<FreshnessMemory> {
  return openJsonMemory<ReadMark>(path.join(workdir, 'freshness.json'));
}
