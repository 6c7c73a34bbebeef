import { isUtf8 } from 'node:buffer';
import type { Diagnostic, Severity } from '../shared/diagnostics.js';
import { parseSourceBytes, type SourceFormat } from './parse-file.js';
import { collectRecords, type IdKeys, originText, sha256, type SourceData } from './records.js';

export interface CheckedSource {
  /** Absent when the file cannot be read as records at all (encoding, syntax). */
  data?: SourceData;
  /** Every ID key the file has, those left out for repeating included. */
  ids?: IdKeys;
  diagnostics: Diagnostic[];
  /** What the records take in memory, about (source/memory.ts), when the reader counted it. */
  memory?: number;
}

/** C0 controls other than tab, line feed and carriage return, and DEL: never meant in a directory value. */
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/**
 * Whether any byte is one of CONTROL's: looked for in the bytes themselves, not in a Latin-1 copy
 * of them (a second string the size of the file: 28 MB for a 30-column export of 100,000 users).
 */
function hasControlByte(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x20 ? b !== 0x09 && b !== 0x0a && b !== 0x0d : b === 0x7f) return true;
  }
  return false;
}

/** A file with thousands of bad rows needs a pointer, not thousands of lines. */
const MAX_PER_KIND = 20;

/**
 * Everything that can be known about a source file without a directory: encoding, syntax, header,
 * records, IDs and values, each located by line. `recordSeverity` is for problems of single records
 * (missing or repeated IDs, control characters): errors for a file in the repository, which the pull
 * request can fix; warnings for the operator's files, which the runtime reads leaving those records out.
 */
export function checkSourceBytes(
  bytes: Buffer,
  opts: {
    name: string;
    format: SourceFormat;
    id: string;
    delimiter?: string;
    recordSeverity?: Severity;
    /** sha256 of `bytes` (hex), when the caller has it already. */
    digest?: string;
    /** The fields to keep of each record (plan/used-fields.ts); all without it. */
    keep?: ReadonlySet<string>;
    /** Bytes of memory the records may take: a file that needs more is refused (parse-file.ts). */
    budget?: number;
  },
): CheckedSource {
  const { name } = opts;
  // The native check is a hundred times faster; the scan finds where, when there is something to find.
  const bad = isUtf8(bytes) ? -1 : firstInvalidUtf8(bytes);
  if (bad >= 0) {
    let line = 1;
    for (let i = 0; i < bad; i++) if (bytes[i] === 0x0a) line++;
    const col = new TextDecoder('utf-8').decode(bytes.subarray(lastLineStart(bytes, bad), bad)).length + 1;
    return {
      diagnostics: [
        {
          file: name,
          line,
          col,
          message: `is not valid UTF-8 (byte 0x${bytes[bad]!.toString(16).toUpperCase().padStart(2, '0')} at offset ${bad}); export it as UTF-8 (Latin-1 or Windows-1252 exports look like this)`,
        },
      ],
    };
  }
  const parsed = parseSourceBytes(bytes, name, opts.format, opts.delimiter, opts.keep, opts.budget);
  const diagnostics: Diagnostic[] = [...parsed.problems];
  if (parsed.rows.length === 0 && parsed.problems.length) return { diagnostics };
  const { keys: ids, ...data } = collectRecords(name, parsed.rows, opts.id, opts.digest ?? sha256(bytes), {
    columns: parsed.columns,
    withKeys: true,
  });
  const severity = opts.recordSeverity ?? 'error';
  const located = (origin: string, message: string, kind: Map<string, number>, key: string) => {
    const n = (kind.get(key) ?? 0) + 1;
    kind.set(key, n);
    if (n > MAX_PER_KIND) return;
    const m = /^(.*):(\d+)$/.exec(origin);
    diagnostics.push({
      file: m ? m[1]! : name,
      line: m ? Number(m[2]) : 1,
      col: 1,
      message,
      ...(severity === 'warning' ? { severity } : {}),
    });
  };
  const counts = new Map<string, number>();
  for (const issue of data.issues) located(issue.origin, `record ${issue.message}`, counts, 'issue');
  // A CSV value is a piece of the text (a CSV reader unescapes nothing else than quotes): when the
  // bytes hold no control character, no value does, and 500,000 values need no look. (No byte of a
  // multi-byte UTF-8 character is one, so the bytes can be searched as Latin-1 text.) Only the
  // fields kept are looked at: a column nothing reads never reaches the directory.
  const controlsPossible = opts.format !== 'csv' || hasControlByte(bytes);
  for (const row of controlsPossible ? parsed.rows : []) {
    for (const [field, value] of Object.entries(row.fields)) {
      const found = typeof value === 'string' ? CONTROL.exec(value) : null;
      if (!found) continue;
      const code = `U+${found[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
      located(
        originText(name, row.origin),
        `field \`${field}\` holds the control character ${code}; remove it from the export (a directory value must not contain it)`,
        counts,
        'control',
      );
    }
  }
  for (const [kind, n] of counts) {
    if (n <= MAX_PER_KIND) continue;
    diagnostics.push({
      file: name,
      line: 1,
      col: 1,
      message: `${n - MAX_PER_KIND} more record${n - MAX_PER_KIND === 1 ? '' : 's'} with ${kind === 'control' ? 'control characters' : 'missing or repeated IDs'} not listed`,
      ...(severity === 'warning' ? { severity } : {}),
    });
  }
  return { data, ids, diagnostics, ...(parsed.memory !== undefined ? { memory: parsed.memory } : {}) };
}

function lastLineStart(bytes: Uint8Array, offset: number): number {
  for (let i = offset - 1; i >= 0; i--) if (bytes[i] === 0x0a) return i + 1;
  return 0;
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > bytes.length) return i;
    for (let k = 1; k < len; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    // Overlong forms, surrogates and code points past U+10FFFF.
    const b1 = bytes[i + 1]!;
    if ((b === 0xe0 && b1 < 0xa0) || (b === 0xed && b1 > 0x9f)) return i;
    if ((b === 0xf0 && b1 < 0x90) || (b === 0xf4 && b1 > 0x8f)) return i;
    i += len;
  }
  return -1;
}
