/**
 * Has anything in a template's scope changed since a preview read it? Answered from the root DSE
 * and at most a few entries, so an idle pass costs next to nothing on the directory:
 *
 * - Active Directory / Samba: highestCommittedUSN on the root DSE is the watermark; an entry in
 *   scope with uSNChanged above it has changed. USNs are local to a domain controller: another DC
 *   (dsServiceName) behind the same name counts as a change.
 * - OpenLDAP with syncprov: the suffix entry's contextCSN; when it moved, an entry in scope with a
 *   newer entryCSN has changed (a change elsewhere under the suffix is not one).
 * - Any other LDAPv3 server: the highest modifyTimestamp in scope, found from the previous one
 *   with `(modifyTimestamp>=T)`; the first time, by reading that one attribute of the scope.
 *
 * Deleted and moved entries are not seen (LDAP keeps no trace of them in the scope); the
 * preview's refresh interval catches those, and execution reads every entry fresh anyway.
 */
import { AndFilter, type Filter, GreaterThanEqualsFilter, NotFilter, EqualityFilter } from 'ldapts';
import { scopeFilter } from '../../syntax/filter.js';
import type { ChangeDetector, ScopeQuery, Watermark } from '../../ports/directory.js';
import type { Directory, DirectoryEntry } from './directory.js';

/** A modifyTimestamp mark shared by at most this many entries is checked for same-second edits. */
const SAME_SECOND_COUNT_MAX = 10;

/** Entries read at most to move a modifyTimestamp watermark forward; more means a full scan of the one attribute. */
const TIMESTAMP_WINDOW = 1000;

/**
 * The scope's entries with the attributes asked for, page by page: how the modifyTimestamp mark
 * reads a whole scope when it must. Without it, the Directory's paged search (ldapts); the
 * daemon passes the bulk client's read (scope-read.ts), which decodes 100,000 timestamps in a
 * tenth of ldapts' time.
 */
export type ScopeScan = (scope: ScopeQuery, attributes: string[]) => AsyncIterable<DirectoryEntry[]>;

export function changeDetector(directory: Directory, scan?: ScopeScan): ChangeDetector {
  return {
    readWatermark: (scope, previous) => readWatermark(directory, scope, previous, scan),
    changedSince: (scope, watermark) => changedSince(directory, scope, watermark),
  };
}

function inScope(scope: ScopeQuery, ...more: Filter[]): Filter {
  const base = scopeFilter({ scopeFilter: scope.scopeFilter, matchAttribute: scope.matchAttribute });
  return more.length ? new AndFilter({ filters: [base, ...more] }) : base;
}

/** `attribute > value`, which LDAP spells `(&(attribute>=value)(!(attribute=value)))`. */
function greaterThan(attribute: string, value: string): Filter {
  return new AndFilter({
    filters: [
      new GreaterThanEqualsFilter({ attribute, value }),
      new NotFilter({ filter: new EqualityFilter({ attribute, value }) }),
    ],
  });
}

async function rootDse(directory: Directory, attributes: string[]) {
  const entry = await directory.readEntry('', attributes);
  const first = (name: string) => entry?.attrs.get(name.toLowerCase())?.values[0];
  const all = (name: string) => entry?.attrs.get(name.toLowerCase())?.values ?? [];
  return { first, all };
}

/** The naming context (suffix) that holds the base DN: the longest one it ends with. */
function suffixOf(baseDN: string, contexts: string[]): string | undefined {
  const norm = (dn: string) => dn.toLowerCase().replace(/\s*([,=])\s*/g, '$1');
  const base = norm(baseDN);
  return contexts
    .filter((c) => c !== '' && (base === norm(c) || base.endsWith(`,${norm(c)}`)))
    .sort((a, b) => b.length - a.length)[0];
}

async function contextCsn(directory: Directory, suffix: string): Promise<string[]> {
  const entry = await directory.readEntry(suffix, ['contextCSN']);
  return [...(entry?.attrs.get('contextcsn')?.values ?? [])].sort();
}

async function readWatermark(
  directory: Directory,
  scope: ScopeQuery,
  previous?: Watermark,
  scan?: ScopeScan,
): Promise<Watermark | undefined> {
  if (directory.isActiveDirectory) {
    const dse = await rootDse(directory, ['highestCommittedUSN', 'dsServiceName']);
    const usn = dse.first('highestCommittedUSN');
    return usn ? { kind: 'usn', usn, server: dse.first('dsServiceName') ?? '' } : undefined;
  }
  const dse = await rootDse(directory, ['namingContexts']);
  const suffix = suffixOf(scope.baseDN, dse.all('namingContexts'));
  if (suffix) {
    const csn = await contextCsn(directory, suffix);
    if (csn.length) return { kind: 'csn', suffix, csn };
  }
  return highestModifyTimestamp(
    directory,
    scope,
    previous?.kind === 'modifyTimestamp' ? previous : undefined,
    scan,
  );
}

async function highestModifyTimestamp(
  directory: Directory,
  scope: ScopeQuery,
  previous?: Extract<Watermark, { kind: 'modifyTimestamp' }>,
  scan?: ScopeScan,
): Promise<Watermark | undefined> {
  let times: string[] | undefined;
  if (previous) {
    const recent = await directory.searchSome({
      baseDN: scope.baseDN,
      scope: scope.scope,
      filter: inScope(
        scope,
        new GreaterThanEqualsFilter({ attribute: 'modifyTimestamp', value: previous.time }),
      ),
      attributes: ['modifyTimestamp'],
      sizeLimit: TIMESTAMP_WINDOW,
    });
    // Nothing at or after the old mark: nothing in scope changed, the mark stands.
    if (!recent.truncated && recent.entries.length === 0) return previous;
    if (!recent.truncated) times = recent.entries.map(timestampOf);
  }
  if (!times) {
    times = [];
    const pages = scan
      ? scan(scope, ['modifyTimestamp'])
      : directory.searchPages({
          baseDN: scope.baseDN,
          scope: scope.scope,
          filter: inScope(scope),
          attributes: ['modifyTimestamp'],
        });
    for await (const page of pages) for (const e of page) times.push(timestampOf(e));
  }
  const known = times.filter((t) => t !== '');
  if (known.length === 0) return undefined;
  const time = known.reduce((a, b) => (compareTimes(a, b) >= 0 ? a : b));
  return { kind: 'modifyTimestamp', time, atTime: known.filter((t) => t === time).length };
}

function timestampOf(e: { attrs: Map<string, { values: string[] }> }): string {
  return e.attrs.get('modifytimestamp')?.values[0] ?? '';
}

/** GeneralizedTime values as servers write them (YYYYMMDDHHMMSS[.f]Z) order as text once the fraction is aligned. */
function compareTimes(a: string, b: string): number {
  const key = (t: string) => t.replace(/Z$/, '').padEnd(21, '0');
  const x = key(a);
  const y = key(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

async function changedSince(directory: Directory, scope: ScopeQuery, watermark: Watermark): Promise<boolean> {
  const anyInScope = (filter: Filter, sizeLimit = 1) =>
    directory.searchSome({
      baseDN: scope.baseDN,
      scope: scope.scope,
      filter: inScope(scope, filter),
      attributes: [],
      sizeLimit,
    });
  switch (watermark.kind) {
    case 'usn': {
      const dse = await rootDse(directory, ['highestCommittedUSN', 'dsServiceName']);
      // Another domain controller answers: its USNs count differently, so assume a change.
      if ((dse.first('dsServiceName') ?? '') !== watermark.server) return true;
      if (dse.first('highestCommittedUSN') === watermark.usn) return false;
      const next = (BigInt(watermark.usn) + 1n).toString();
      const r = await anyInScope(new GreaterThanEqualsFilter({ attribute: 'uSNChanged', value: next }));
      return r.truncated || r.entries.length > 0;
    }
    case 'csn': {
      const now = await contextCsn(directory, watermark.suffix);
      if (now.join('\n') === watermark.csn.join('\n')) return false;
      if (now.length === 0) return true;
      // With several providers each has its own CSN; newer than the oldest of them misses nothing.
      const r = await anyInScope(greaterThan('entryCSN', watermark.csn[0]!));
      return r.truncated || r.entries.length > 0;
    }
    case 'modifyTimestamp': {
      const later = await anyInScope(greaterThan('modifyTimestamp', watermark.time));
      if (later.truncated || later.entries.length > 0) return true;
      // The attribute counts whole seconds: an edit in the very second of the mark shows as one
      // more entry at that time. Counted when few entries share it (not after a bulk load, where
      // the refresh interval is the fallback), so the check stays a read of a handful of entries.
      if (watermark.atTime > SAME_SECOND_COUNT_MAX) return false;
      const same = await anyInScope(
        new EqualityFilter({ attribute: 'modifyTimestamp', value: watermark.time }),
        watermark.atTime + 1,
      );
      return same.truncated || same.entries.length > watermark.atTime;
    }
  }
}
