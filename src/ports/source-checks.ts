import type { Diagnostic } from '../shared/diagnostics.js';

/**
 * What checking one source file found, without its records: enough for validation to say again
 * what it said, so that a file whose bytes did not change is not parsed again at every pass
 * (100,000 records are a quarter of a second and some 100 MB of garbage each time).
 */
export interface SourceCheckMark {
  /** The file's own problems, located, as checkSourceBytes gave them. */
  diagnostics: Diagnostic[];
  /** Every field a record has (checkTemplateFields, checkRequestFields). */
  fields: string[];
  /** What the records take in memory (source/memory.ts): a budget smaller than this reads again. */
  memory?: number;
  /**
   * Whether the file has each ID key (idKey) a request asked about: a request naming a key not
   * here is checked by reading the file again. Only keys asked, never the file's 100,000.
   */
  ids: Record<string, boolean>;
}

/**
 * The daemon's memory of source checks (adapters/fs/source-check-memory.ts), by the file's
 * SHA-256 and how it is read. Losing it only costs a parse.
 */
export interface SourceCheckMemory {
  get(key: string): SourceCheckMark | undefined;
  set(key: string, mark: SourceCheckMark): void;
  save(): Promise<void>;
}
