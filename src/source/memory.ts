import { formatBytes } from '../config/yaml-file.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { formatCount } from '../shared/text.js';

/**
 * What reading a source takes in memory, so that a file larger than the daemon can hold is refused
 * where it is instead of stopping the process (any pull request may add a data file). Measured with
 * 100,000 records of five fields, with margins for files of tiny values.
 */

/**
 * What one record takes besides its values (its row, its fields object, and a message when it is
 * left out for a missing or repeated ID), and one value besides its characters.
 */
export const RECORD_BYTES = 240;
export const VALUE_BYTES = 32;

/** Per byte of the file: YAML, read in pieces, keeps its records' values and one piece's document. */
export const YAML_MEMORY_PER_BYTE = 16;

/**
 * What csv-parse makes of a CSV file (every field of every record, and for each record its text
 * and an object of where it is): the text twice, a value per delimiter, a record per line end.
 * 1,100,000 rows of `1,a` (4.3 MB) are some 500 MB.
 */
export function csvParseMemory(bytes: Uint8Array, delimiter: number): number {
  let delimiters = 0;
  let lines = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === delimiter) delimiters++;
    else if (c === 0x0a) lines++;
  }
  return bytes.length * 2 + delimiters * (VALUE_BYTES + 16) + (lines + 1) * (RECORD_BYTES + 160);
}

/**
 * What JSON.parse of these bytes makes, about: the text, an object or array per `{` or `[`, a value
 * per `,`, and each field name the first time it appears (later ones share its string; an object
 * with many names is kept in a slower, larger form, so each name in it counts too). 100,000 records
 * of five fields, 12.7 MB: 66–80 MB estimated (as the text is Latin-1 or not), 47 MB measured; `[{},{},…]` of 17 MB: 1 GB, which is
 * why it is counted, not guessed from the size.
 */
export function jsonMemory(bytes: Uint8Array): number {
  let containers = 0;
  let commas = 0;
  let names = 0;
  let newNames = 0;
  let wide = false;
  const seen = new Set<number>();
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      const from = i + 1;
      let hash = 0x811c9dc5;
      for (i++; i < bytes.length && bytes[i] !== QUOTE; i++) {
        if (bytes[i] === BACKSLASH) i++;
        else if (bytes[i]! >= 0x80) wide = true;
        hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
      }
      // A field name: a string followed by a colon.
      let j = i + 1;
      while (
        j < bytes.length &&
        (bytes[j] === 0x20 || bytes[j] === 0x0a || bytes[j] === 0x0d || bytes[j] === 0x09)
      )
        j++;
      if (bytes[j] !== COLON) continue;
      names++;
      // Counted by hash (a rare collision only undercounts one name); past a million, every one.
      if (seen.size >= 1_000_000 || !seen.has(hash)) {
        if (seen.size < 1_000_000) seen.add(hash);
        newNames += i - from + NAME_BYTES;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) containers++;
    else if (c === COMMA) commas++;
  }
  // The text is one byte a character while it is Latin-1, two once it holds anything else.
  return (
    bytes.length * (wide ? 2 : 1) +
    containers * RECORD_BYTES +
    (commas + containers) * VALUE_BYTES +
    names * 16 +
    newNames
  );
}

/** A field name's string, besides its characters, and its place in the names V8 keeps. */
const NAME_BYTES = 96;
const COLON = 0x3a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const COMMA = 0x2c;

/**
 * A file's problems with records, the first LISTED of them: a file of a million broken records
 * must not hold a million messages (nor can a reviewer read them).
 */
export class ListedProblems {
  static readonly LISTED = 100;
  readonly listed: Diagnostic[] = [];
  private unlisted = 0;

  push(problem: Diagnostic): void {
    if (this.listed.length < ListedProblems.LISTED) this.listed.push(problem);
    else this.unlisted++;
  }

  /** The listed problems, and a last one counting the rest. */
  all(): Diagnostic[] {
    if (this.unlisted === 0) return this.listed;
    const last = this.listed[this.listed.length - 1]!;
    return [
      ...this.listed,
      { ...last, message: `${formatCount(this.unlisted)} more problems like these are not listed` },
    ];
  }
}

export const MORE_MEMORY = 'give the daemon more memory (docs/operators/sizing.md)';
export const AS_CSV = `export it as CSV (only the columns the mappings read are kept), or ${MORE_MEMORY}`;

/**
 * The message of a source refused for its size: `subject` ends in its verb ("…, which takes"), then
 * what it needs, what the daemon has, and what to do.
 */
export function memoryRefusal(subject: string, need: number, budget: number, advice: string): string {
  return (
    `${subject} about ${formatBytes(need)} of memory, more than the ${formatBytes(budget)} this daemon ` +
    `has for a source; ${advice}`
  );
}
