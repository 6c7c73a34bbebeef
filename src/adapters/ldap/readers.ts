import { changeDetector } from './change-detection.js';
import type { LoadedDaemonConfig } from '../../config/daemon-config.js';
import type { ResolvedSource } from '../../config/types.generated.js';
import { SourceError, UsageError } from '../../shared/errors.js';
import { connectionSettings, type DirectoryLogger, labelled, openDirectory } from './connection.js';
import type { Directory } from './directory.js';
import { readScope, replayPages, scopeSearch } from './scope-read.js';
import { canonicalJson } from '../../shared/canonical.js';
import { collectRecords, sha256, type SourceData } from '../../source/records.js';
import type { PreviewTarget, ScopeQuery } from '../../ports/directory.js';

/**
 * A target from the daemon config, for reading; the only place preview meets ldapts. Nothing is
 * connected until something is asked: a whole scope is read over its own connection, so a
 * preview that only reads its scope (and is stopped, say, because its source turned out broken)
 * never waits for another one.
 */
export async function openTargetReader(
  daemon: LoadedDaemonConfig,
  name: string,
  log?: DirectoryLogger,
): Promise<PreviewTarget> {
  const target = daemon.config.targets[name];
  if (!target) throw new UsageError(`target \`${name}\` is not defined in the daemon config`);
  const settings = await connectionSettings(target, `target ${name}`);
  const labels = { target: name };
  let directory: Promise<Directory> | undefined;
  const open = () => (directory ??= openDirectory(settings, labelled(log, labels)));
  // A whole scope's few attributes (the modifyTimestamp mark on a server without another) are
  // read as the scope itself is, not through ldapts.
  const scanScope = (scope: ScopeQuery, attributes: string[]) =>
    readScope(settings, { ...scope, target: name, attributes }, { log: labelled(log, labels) });
  return {
    // A whole scope is read over a connection of its own with the bulk client (scope-read.ts);
    // a few IDs (a targeted read, the fresh read before writing) through ldapts.
    readEntries: (query, opts) =>
      query.ids
        ? (async function* () {
            if (opts?.keepIn !== undefined) throw new Error('only a whole scope is kept for replay');
            yield* (await open()).searchPages(scopeSearch(query));
          })()
        : readScope(settings, query, {
            log: labelled(log, labels),
            signal: opts?.signal,
            keepIn: opts?.keepIn,
          }),
    replay: (file) => replayPages(file),
    readSchema: async () => (await open()).readSchema(),
    changes: {
      readWatermark: async (scope, previous) =>
        changeDetector(await open(), scanScope).readWatermark(scope, previous),
      changedSince: async (scope, watermark) => changeDetector(await open()).changedSince(scope, watermark),
    },
    close: async () => {
      const opened = await directory?.catch(() => undefined);
      await opened?.close();
    },
  };
}

/** Reads an LDAP source of truth: each entry becomes a record whose fields are its attributes. */
export function ldapSourceReader(daemon: LoadedDaemonConfig, log?: DirectoryLogger) {
  return async (def: Extract<ResolvedSource, { type: 'ldap' }>, name: string): Promise<SourceData> => {
    const directory = await openDirectory(
      await connectionSettings(def, `source ${name}`),
      labelled(log, { source: name }),
    );
    try {
      const rows: Array<{ fields: Record<string, unknown>; origin: string }> = [];
      for await (const page of directory.searchPages({
        baseDN: def.baseDN,
        scope: 'sub',
        filter: def.filter,
        attributes: def.attributes,
      })) {
        for (const e of page) {
          const fields: Record<string, unknown> = {};
          for (const a of e.attrs.values())
            if (!a.binary) fields[a.name] = a.values.length === 1 ? a.values[0] : a.values;
          // Attribute names are case-insensitive: the template's spelling of the ID must find it.
          const id = [...e.attrs.values()].find((a) => a.name.toLowerCase() === def.id.toLowerCase());
          if (id && !Object.hasOwn(fields, def.id))
            fields[def.id] = id.values.length === 1 ? id.values[0] : id.values;
          rows.push({ fields, origin: e.dn });
        }
      }
      return collectRecords(`source ${name}`, rows, def.id, sha256(canonicalJson(rows)));
    } catch (err) {
      throw err instanceof SourceError ? err : new SourceError(`source ${name}: ${(err as Error).message}`);
    } finally {
      await directory.close();
    }
  };
}
