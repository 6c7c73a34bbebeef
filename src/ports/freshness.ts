import type { Watermark } from '../lifecycle/freshness.js';

/** When a preview's directory read happened and where the directory stood, per branch and request. */
export interface ReadMark {
  /** The plan digest the read produced: a mark belongs to that preview only. */
  plan: string;
  readAt: string;
  watermark?: Watermark;
  /** SHA-256 of the committed plan text last found to hold the signed plan (it is parsed once). */
  planText?: string;
}

/**
 * The daemon's memory of its directory reads (adapters/fs/freshness-memory.ts): a re-read that
 * found the same plan commits nothing, yet the next pass must know the preview is fresh again.
 */
export interface FreshnessMemory {
  get(key: string): ReadMark | undefined;
  set(key: string, mark: ReadMark): void;
  save(): Promise<void>;
}
