import { isUtf8 } from 'node:buffer';
import { readFile, stat } from 'node:fs/promises';
import { getHeapStatistics } from 'node:v8';
import type { ConfigRepo } from '../config/config-repo.js';
import type { LoadedDaemonConfig } from '../config/daemon-config.js';
import { resolveRepoPath } from '../config/repo-path.js';
import type { FileSource, SyncTemplate } from '../config/types.generated.js';
import { SourceError } from '../shared/errors.js';
import { formatBytes } from '../config/yaml-file.js';
import { formatOf, parseSourceBytes, type SourceFormat, withoutProblems } from '../source/parse-file.js';
import { collectRecords, sha256, type SourceData } from '../source/records.js';
import { usedFields } from '../plan/used-fields.js';

/** Large enough for an HR export of a big municipality many times over; small enough to stay in memory. */
export const MAX_SOURCE_BYTES = 512 * 1024 * 1024;

/**
 * The memory the sources of a checkout may take together: this share of V8's heap limit less its
 * young generation (48 MB at most). Node sizes the heap from the memory the process may use: in
 * the deployment's 512 MiB, with the launcher's flags, 280 MB, so 139 MB for sources. The rest is
 * for the plan, the directory's pages and the daemon itself. A file that would take more is refused, located,
 * before or while it is read (source/memory.ts): read, it would stop the daemon.
 */
const SOURCE_HEAP_SHARE = 0.6;
const YOUNG_GENERATION_MAX = 48 * 1024 * 1024;

export function sourceMemoryBudget(): number {
  return Math.floor((getHeapStatistics().heap_size_limit - YOUNG_GENERATION_MAX) * SOURCE_HEAP_SHARE);
}

/**
 * Why a source file of `size` bytes is not read, if it is not: over MAX_SOURCE_BYTES, or over the
 * sources' memory budget. The file's bytes are held (outside V8's heap, so its limit does not
 * stop them) while they are parsed: a 450 MB file of one record, of which a column nothing reads
 * took all but a few bytes, was read whole and took a 512 MiB container over its limit.
 */
export function sourceFileTooLarge(size: number): string | undefined {
  if (size > MAX_SOURCE_BYTES)
    return `is ${formatBytes(size)}, over the limit of ${formatBytes(MAX_SOURCE_BYTES)}`;
  const budget = sourceMemoryBudget();
  if (size > budget)
    return `is ${formatBytes(size)}, more than the ${formatBytes(budget)} this daemon has for source files (its memory); give the daemon more memory, or export only the columns the templates read`;
  return undefined;
}

export interface LdapSourceReader {
  (
    source: Extract<NonNullable<LoadedDaemonConfig['config']['sources']>[string], { type: 'ldap' }>,
    name: string,
  ): Promise<SourceData>;
}

/**
 * Reads the records a template's source names: an in-repo file, or a file or directory from the
 * daemon config. A file's records keep the fields the checkout's templates and requests read
 * (plan/used-fields.ts), as validation reads them.
 */
export async function loadTemplateSource(
  template: SyncTemplate,
  repo: Pick<ConfigRepo, 'root' | 'templates' | 'requests'>,
  daemon: LoadedDaemonConfig | undefined,
  readLdap?: LdapSourceReader,
): Promise<SourceData> {
  const source = template.spec.source;
  if (typeof source !== 'string') return loadRepoFile(repo.root, source, usedFields(repo, source, source.id));
  const def = daemon?.config.sources?.[source];
  if (!def) throw new SourceError(`source \`${source}\` is not defined in the daemon config`);
  if (def.type === 'ldap') {
    if (!readLdap)
      throw new SourceError(
        `source \`${source}\` is an LDAP source, which needs a directory connection here`,
      );
    return readLdap(def, source);
  }
  return loadFile(
    def.path,
    `source ${source} (${def.path})`,
    def.type,
    def.id,
    def.delimiter,
    usedFields(repo, source, def.id),
  );
}

async function loadRepoFile(
  root: string,
  source: FileSource,
  keep: ReadonlySet<string> | undefined,
): Promise<SourceData> {
  const resolved = await resolveRepoPath(root, source.file);
  if (resolved.abs === undefined) throw new SourceError(`source file ${resolved.error}`);
  return loadFile(
    resolved.abs,
    source.file,
    formatOf(source.file, source.format),
    source.id,
    source.delimiter,
    keep,
  );
}

async function loadFile(
  abs: string,
  name: string,
  format: SourceFormat,
  id: string,
  delimiter?: string,
  keep?: ReadonlySet<string>,
): Promise<SourceData> {
  const st = await stat(abs).catch(() => undefined);
  if (!st?.isFile()) throw new SourceError(`${name}: cannot be read (no such file)`);
  const tooLarge = sourceFileTooLarge(st.size);
  if (tooLarge) throw new SourceError(`${name}: ${tooLarge}`);
  const bytes = await readFile(abs);
  if (!isUtf8(bytes)) throw new SourceError(`${name}: is not valid UTF-8; export it as UTF-8`);
  const { rows, columns } = withoutProblems(
    parseSourceBytes(bytes, name, format, delimiter, keep, sourceMemoryBudget()),
  );
  return collectRecords(name, rows, id, sha256(bytes), { columns });
}
