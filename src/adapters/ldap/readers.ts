import { changeDetector } from './change-detection.js';
import type { LoadedDaemonConfig } from '../../config/daemon-config.js';
import type { ResolvedSource } from '../../config/types.generated.js';
import { SourceError, UsageError } from '../../shared/errors.js';
import { connectionSettings, type DirectoryLogger, labelled, openDirectory } from './connection.js';
import { scopeFilter } from '../../syntax/filter.js';
import { canonicalJson } from '../../shared/canonical.js';
import { collectRecords, sha256, type SourceData } from '../../source/records.js';
import type { PreviewTarget } from '../../ports/directory.js';

/** Opens a target from the daemon config for reading; the only place preview meets ldapts. */
export async function openTargetReader(
  daemon: LoadedDaemonConfig,
  name: string,
  log?: DirectoryLogger,
): Promise<PreviewTarget> {
  const target = daemon.config.targets[name];
  if (!target) throw new UsageError(`target \`${name}\` is not defined in the daemon config`);
  const directory = await openDirectory(
    await connectionSettings(target, `target ${name}`),
    labelled(log, { target: name }),
  );
  return {
    readEntries: (query) =>
      directory.searchPages({
        baseDN: query.baseDN,
        scope: query.scope,
        filter: scopeFilter({
          scopeFilter: query.scopeFilter,
          matchAttribute: query.matchAttribute,
          ids: query.ids,
        }),
        attributes: query.attributes,
      }),
    readSchema: () => directory.readSchema(),
    changes: changeDetector(directory),
    close: () => directory.close(),
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
