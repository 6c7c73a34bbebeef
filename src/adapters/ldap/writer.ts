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
 * Operations in flight on one connection. LDAP lets a client send requests before the earlier
 * ones are answered (RFC 4511 4.1.1: message IDs tell the answers apart), so the writers share
 * connections instead of each binding its own.
 */
export const WRITES_PER_CONNECTION = 8;

/**
 * Writers for `count` modify operations in flight at once (the target's concurrency), carried by
 * one bound connection per WRITES_PER_CONNECTION of them. The first connection opens alone, so a
 * wrong password or certificate fails once, clearly, instead of once per connection.
 *
 * Why more in flight than one per connection: a server kept busy does more per unit of CPU.
 * Applying 82,102 changes to slapd, in alternating rounds on one machine: 17.5-19.4 s with 4 in
 * flight (slapd's CPU 14.4-16.0 s), 15.5-18.4 s with 16, 14.8-15.1 s with 32 (slapd 11.9-12.5 s;
 * one slow round of the machine 18.1 s), alike whether the 32 shared 4 connections or had 32;
 * 64 gained nothing more (15.9 s). docs/operators/sizing.md has the rounds.
 */
export async function openLdapWriters(
  daemon: LoadedDaemonConfig,
  name: string,
  count: number,
  log?: DirectoryLogger,
): Promise<{ writers: EntryWriter[]; connections: number; close(): Promise<void> }> {
  const target = daemon.config.targets[name];
  if (!target) throw new UsageError(`target \`${name}\` is not defined in the daemon config`);
  const settings = await connectionSettings(target, `target ${name}`);
  const writeLog = labelled(log, { target: name, purpose: 'write' });
  const lanes = Math.max(1, count);
  const first = await openDirectory(settings, writeLog);
  const rest = await Promise.all(
    Array.from({ length: Math.ceil(lanes / WRITES_PER_CONNECTION) - 1 }, () =>
      openDirectory(settings, writeLog),
    ),
  );
  const all = [first, ...rest];
  // Round-robin: writer i on connection i mod n, so the connections carry equal shares.
  const writers = Array.from({ length: lanes }, (_, i) => writerOver(all[i % all.length]!));
  return {
    writers,
    connections: all.length,
    close: async () => void (await Promise.all(all.map((d) => d.close().catch(() => {})))),
  };
}
