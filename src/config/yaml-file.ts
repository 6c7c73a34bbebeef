import { readFile, stat } from 'node:fs/promises';
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node,
} from 'yaml';
import type { Diagnostic } from '../shared/diagnostics.js';

export type PathSegment = string | number;

/** A parsed YAML file that remembers where every value came from. */
export interface YamlFile {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  value: unknown;
}

export interface Position {
  line: number;
  col: number;
}

/** Templates and requests are small; a larger file is a mistake (or an attack) worth a clear word. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

type ReadResult = { text: string; diagnostics: [] } | { text?: undefined; diagnostics: Diagnostic[] };

/** Reads a text file for the loader: size-capped, UTF-8 checked, BOM dropped; never throws for bad content. */
export async function readConfigText(
  absPath: string,
  file: string,
  maxBytes = MAX_CONFIG_FILE_BYTES,
): Promise<ReadResult> {
  const at = (message: string, pos: Position = { line: 1, col: 1 }): ReadResult => ({
    diagnostics: [{ file, ...pos, message }],
  });
  let size: number;
  try {
    const st = await stat(absPath);
    if (!st.isFile()) return at('is not a regular file; put YAML files directly in this folder');
    size = st.size;
  } catch (err) {
    return at(`cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (size > maxBytes) {
    return at(
      `is ${formatBytes(size)}, over the limit of ${formatBytes(maxBytes)}; keep templates and requests small and put data in data/ or a source in the daemon config`,
    );
  }
  const bytes = await readFile(absPath);
  const nul = bytes.indexOf(0);
  if (nul >= 0)
    return at('is binary (it contains a NUL byte); it must be UTF-8 YAML text', positionOfByte(bytes, nul));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const loose = new TextDecoder('utf-8').decode(bytes);
    const bad = loose.indexOf('\uFFFD');
    return at(
      'is not valid UTF-8; save it as UTF-8 (Latin-1 files from older tools often show up like this)',
      positionOfOffset(loose, Math.max(bad, 0)),
    );
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return { text, diagnostics: [] };
}

/** Parses one YAML document with positions. Syntax errors, duplicate keys, tabs and extra documents are diagnostics. */
export function parseYaml(text: string, file: string): { yaml?: YamlFile; diagnostics: Diagnostic[] } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: true, strict: true });
  if (!Array.isArray(docs)) {
    return {
      diagnostics: [
        { file, line: 1, col: 1, message: 'is empty; it needs apiVersion, kind, metadata and spec' },
      ],
    };
  }
  const diagnostics: Diagnostic[] = [];
  const [doc, second] = docs;
  if (!doc || doc.contents === null) {
    return {
      diagnostics: [
        { file, line: 1, col: 1, message: 'is empty; it needs apiVersion, kind, metadata and spec' },
      ],
    };
  }
  // Later syntax errors are nearly always echoes of the first; one precise message helps more.
  for (const err of doc.errors.slice(0, 1)) {
    const pos = err.linePos?.[0] ?? lineCounter.linePos(err.pos[0]);
    diagnostics.push({ file, line: pos.line, col: pos.col, message: cleanYamlMessage(err.message) });
  }
  if (second) {
    const pos = lineCounter.linePos(second.range[0]);
    diagnostics.push({
      file,
      ...pos,
      message: 'holds a second YAML document; put one document in each file',
    });
  }
  if (diagnostics.length) return { diagnostics };
  let value: unknown;
  try {
    // The alias limit stops "billion laughs" documents from blowing up memory.
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return { diagnostics: [{ file, line: 1, col: 1, message: `cannot be read: ${(err as Error).message}` }] };
  }
  return { yaml: { file, doc, lineCounter, value }, diagnostics: [] };
}

/** yaml's pretty messages end with a code excerpt and repeat the position; keep the sentence. */
function cleanYamlMessage(message: string): string {
  const sentence = message.split(/ at line \d+, column \d+/)[0]!.trim();
  return `YAML syntax: ${sentence.replace(/\.$/, '')}`;
}

/**
 * Where a value (or, with `key`, its key) is in the file. Falls back to the closest existing ancestor,
 * so a missing field points at the mapping that should hold it.
 */
export function locate(
  yaml: YamlFile,
  path: readonly PathSegment[],
  which: 'value' | 'key' = 'value',
): Position {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = findNode(yaml.doc.contents, path.slice(0, depth), which === 'key' && depth === path.length);
    if (node?.range) return yaml.lineCounter.linePos(node.range[0]);
  }
  return { line: 1, col: 1 };
}

function findNode(root: Node | null, path: readonly PathSegment[], wantKey: boolean): Node | null {
  let node: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
      );
      if (!pair) return null;
      if (wantKey && i === path.length - 1) return pair.key as Node;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else {
      return null;
    }
  }
  return (node as Node | null) ?? null;
}

function positionOfOffset(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, col: offset - before.lastIndexOf('\n') };
}

function positionOfByte(bytes: Buffer, offset: number): Position {
  const prefix = new TextDecoder('utf-8').decode(bytes.subarray(0, offset));
  return positionOfOffset(prefix, prefix.length);
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
