import { Attribute, Change } from 'ldapts';
import type { LoadedDaemonConfig } from '../../config/daemon-config.js';
import { DirectoryError, UsageError } from '../../shared/errors.js';
import { connectionSettings, type DirectoryLogger, labelled, openDirectory } from './connection.js';
import type { Directory } from './directory.js';
import { type EntryWriter, type ModifyOp, WriteFailure } from '../../execute/executor.js';

/**
 * The executor's view of a failed write: the directory's answer (code, and whether it may pass,
 * as the connection layer decided). Directory methods only throw DirectoryErrors; anything else
 * is a bug in this adapter, which a retry would not fix.
 */
export function toWriteFailure(err: unknown): WriteFailure {
  if (err instanceof DirectoryError) return new WriteFailure(err.message, err.code, err.transient);
  const message = err instanceof Error ? err.message : String(err);
  return new WriteFailure(message, undefined, false);
}

function writerOver(directory: Directory): EntryWriter {
  return {
    async modify(dn: string, ops: ModifyOp[]) {
      const changes = ops.map(
        (o) =>
          new Change({
            operation: o.op,
            modification: new Attribute({ type: o.attribute, values: o.values }),
          }),
      );
      try {
        await directory.modify(dn, changes);
      } catch (err) {
        throw toWriteFailure(err);
      }
    },
    async read(dn: string, attributes: string[]) {
      try {
        const entry = await directory.readEntry(dn, attributes);
        if (!entry) return undefined;
        return new Map([...entry.attrs].map(([k, v]) => [k, v.values]));
      } catch (err) {
        throw toWriteFailure(err);
      }
    },
  };
}

/**
 * Opens `count` bound connections to a target. The first one connects alone, so a wrong password or
 * certificate fails once, clearly, instead of `count` times at once.
 */
export async function openLdapWriters(
  daemon: LoadedDaemonConfig,
  name: string,
  count: number,
  log?: DirectoryLogger,
): Promise<{ writers: EntryWriter[]; close(): Promise<void> }> {
  const target = daemon.config.targets[name];
  if (!target) throw new UsageError(`target \`${name}\` is not defined in the daemon config`);
  const settings = await connectionSettings(target, `target ${name}`);
  const writeLog = labelled(log, { target: name, purpose: 'write' });
  const first = await openDirectory(settings, writeLog);
  const rest = await Promise.all(
    Array.from({ length: Math.max(0, count - 1) }, () => openDirectory(settings, writeLog)),
  );
  const all = [first, ...rest];
  return {
    writers: all.map(writerOver),
    close: async () => void (await Promise.all(all.map((d) => d.close().catch(() => {})))),
  };
}
