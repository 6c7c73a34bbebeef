/**
 * Reading a directory: paged searches that hold one page in memory, attribute values decoded
 * byte-exactly, and Active Directory's range retrieval of large multi-valued attributes.
 */
import {
  type Change,
  type Client,
  type Entry,
  type Filter,
  NoSuchObjectError,
  SizeLimitExceededError,
} from 'ldapts';
import { DirectoryError } from '../../shared/errors.js';
import { readableDn } from '../../syntax/dn.js';
import { parseFilter } from '../../syntax/filter.js';
import { type DirectorySchema, schemaFrom } from '../../syntax/ldap-schema.js';

export interface AttrValues {
  /** The attribute name as the server spells it (range option removed). */
  name: string;
  values: string[];
  /** Some value was not valid UTF-8: then every value is base64 of the raw bytes. */
  binary?: true;
}

export interface DirectoryEntry {
  /** As the server returned it; compare with normalizeDn from dn.ts. */
  dn: string;
  /** Keyed by the lower-cased attribute name, since LDAP attribute names are case-insensitive. */
  attrs: Map<string, AttrValues>;
}

export interface SearchPagesOptions {
  baseDN: string;
  scope: 'sub' | 'one' | 'base';
  filter: string | Filter;
  /** Only these attributes are requested; an empty list requests none (DNs only). */
  attributes: string[];
  sizeLimit?: number;
  /**
   * Active Directory only: ask for every attribute in ranges of this many values
   * (`name;range=0-<step-1>`, then the next range, …). AD sends ranges by itself once an
   * attribute exceeds MaxValRange (1500); Samba only when asked, so tests use this.
   */
  rangeStep?: number;
}

export interface Directory {
  readonly url: string;
  readonly isActiveDirectory: boolean;
  /** Yields the matching entries one server page at a time; empty pages are skipped. */
  searchPages(opts: SearchPagesOptions): AsyncIterable<DirectoryEntry[]>;
  /** The attribute types of the subschema entry, or undefined when the server does not let us read them. */
  readSchema(): Promise<DirectorySchema | undefined>;
  /** One entry by DN; undefined when it does not exist. */
  readEntry(
    dn: string,
    attributes: string[],
    opts?: { rangeStep?: number },
  ): Promise<DirectoryEntry | undefined>;
  /**
   * An unpaged search for at most `sizeLimit` entries (of the attributes asked for): `truncated`
   * when more matched. For small answers, such as "did anything change?".
   */
  searchSome(opts: {
    baseDN: string;
    scope: 'sub' | 'one' | 'base';
    filter: string | Filter;
    attributes: string[];
    sizeLimit: number;
  }): Promise<{ entries: DirectoryEntry[]; truncated: boolean }>;
  /**
   * One LDAP modify of one entry (all changes apply or none). Failures are DirectoryErrors with
   * the LDAP result code; lost connections and timeouts have none.
   */
  modify(dn: string, changes: Change[]): Promise<void>;
  /**
   * The bound client, replaced when the server dropped the connection. Prefer the methods above:
   * after a drop ldapts reconnects this client by itself, anonymously and without StartTLS.
   */
  readonly client: Client;
  close(): Promise<void>;
}

/** What a Directory needs from the connection layer (connection.ts provides it). */
export interface DirectorySession {
  /** What the operator calls the connection (`target ad`), for logs. */
  name: string;
  url: string;
  isActiveDirectory: boolean;
  /** The root DSE's subschemaSubentry: where the attribute types are published. */
  subschemaSubentry?: string;
  pageSize: number;
  /** Bound with credentials: then an unbound client means the connection was lost. */
  authenticated: boolean;
  client: Client;
  /** Whether a client's connection is known to be closed although ldapts says it is up. */
  lost?(client: Client): boolean;
  /** A fresh connected (TLS, bound) client with the same settings. */
  reopen(): Promise<Client>;
  /** Turns an ldapts or socket error into a DirectoryError that says what to check. */
  fail(err: unknown, action: string): DirectoryError;
  log?: { warn(obj: Record<string, unknown>, msg: string): void };
}

export function directoryOver(session: DirectorySession): Directory {
  return new LdapDirectory(session);
}

type RawValue = Buffer | string;

interface RawAttr {
  name: string;
  values: RawValue[];
}

/** An attribute whose remaining values must be fetched with further range requests. */
interface PendingRange {
  key: string;
  name: string;
  next: number;
}

const RANGE = /^(.+);range=(\d+)-(\d+|\*)$/i;
const SPECIAL_ATTRIBUTES = new Set(['*', '+', '1.1']);
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * ldapts decodes values itself unless the attribute type is in explicitBufferAttributes, compared
 * case-sensitively with the server's spelling (employeeid ≠ employeeID), and its decoder drops a
 * leading byte-order mark. It asks the list with `.includes(type)`, so a list that says yes to every
 * type hands us the raw bytes of every attribute. The names stay in the list so that, should a
 * later ldapts copy it into a Set, the requested spellings still get buffers; decodeValues copes
 * with strings either way.
 */
function everyAttributeAsBuffer(requested: string[]): string[] {
  const list = [...requested];
  Object.defineProperty(list, 'includes', { value: () => true, enumerable: false });
  return list;
}

function rangeOf(attribute: string, from: number, step: number | undefined): string {
  return `${attribute};range=${from}-${step ? from + step - 1 : '*'}`;
}

/** The attributes a search asks for: `1.1` (none) for an empty list, ranges when stepping. */
export function requestedAttributes(attributes: string[], rangeStep: number | undefined): string[] {
  if (attributes.length === 0) return ['1.1'];
  if (!rangeStep) return attributes;
  return attributes.map((a) => (SPECIAL_ATTRIBUTES.has(a) ? a : rangeOf(a, 0, rangeStep)));
}

function asList(value: Entry[string]): RawValue[] {
  return Array.isArray(value) ? value : [value];
}

/** Collects an entry's attributes, merging range parts, and notes which ranges are incomplete. */
function collect(raw: Entry): { attrs: Map<string, RawAttr>; pending: PendingRange[] } {
  const attrs = new Map<string, RawAttr>();
  const pending: PendingRange[] = [];
  for (const [type, value] of Object.entries(raw)) {
    if (type === 'dn') continue;
    const values = asList(value);
    // ldapts adds an empty array for every requested attribute the entry lacks.
    if (values.length === 0) continue;
    const range = RANGE.exec(type);
    const name = range ? range[1]! : type;
    const key = name.toLowerCase();
    const acc = attrs.get(key) ?? { name, values: [] };
    for (const v of values) acc.values.push(v);
    attrs.set(key, acc);
    if (range && range[3] !== '*') pending.push({ key, name, next: Number(range[3]) + 1 });
  }
  return { attrs, pending };
}

function decodeValues(raw: RawAttr): AttrValues {
  const texts: string[] = [];
  for (const v of raw.values) {
    if (typeof v === 'string') {
      texts.push(v);
      continue;
    }
    try {
      texts.push(UTF8.decode(v));
    } catch {
      const base64 = raw.values.map((x) =>
        (typeof x === 'string' ? Buffer.from(x, 'utf8') : x).toString('base64'),
      );
      return { name: raw.name, values: base64, binary: true };
    }
  }
  return { name: raw.name, values: texts };
}

/** The entry decoded directly when no attribute comes in ranges or twice; undefined otherwise. */
function decodeWhole(raw: Entry): DirectoryEntry | undefined {
  const attrs = new Map<string, AttrValues>();
  for (const type in raw) {
    if (type === 'dn') continue;
    const value = raw[type]!;
    const values = Array.isArray(value) ? value : [value];
    if (values.length === 0) continue;
    if (type.includes(';')) return undefined;
    const key = type.toLowerCase();
    if (attrs.has(key)) return undefined;
    attrs.set(key, decodeValues({ name: type, values }));
  }
  return { dn: readableDn(raw.dn), attrs };
}

function toEntry(dn: string, attrs: Map<string, RawAttr>): DirectoryEntry {
  const out = new Map<string, AttrValues>();
  for (const [key, raw] of attrs) out.set(key, decodeValues(raw));
  return { dn: readableDn(dn), attrs: out };
}

class LdapDirectory implements Directory {
  readonly url: string;
  readonly isActiveDirectory: boolean;
  private current: Client;
  private reopening?: Promise<Client>;
  private closed = false;

  constructor(private readonly session: DirectorySession) {
    this.url = session.url;
    this.isActiveDirectory = session.isActiveDirectory;
    this.current = session.client;
  }

  get client(): Client {
    return this.current;
  }

  /**
   * ldapts reconnects by itself after the server dropped the connection, but anonymously and,
   * for StartTLS, in clear text; an anonymous search then quietly returns nothing. So every
   * operation starts from a client that is still the one we secured and bound.
   */
  private async ready(): Promise<Client> {
    if (this.closed) throw new DirectoryError(`connection to ${this.url} is closed`);
    const c = this.current;
    const up = this.session.authenticated ? c.isBound : c.isConnected;
    if (up && !this.session.lost?.(c)) return c;
    this.reopening ??= this.session
      .reopen()
      .then((fresh) => {
        void this.letGo(c);
        this.current = fresh;
        return fresh;
      })
      .finally(() => {
        this.reopening = undefined;
      });
    return this.reopening;
  }

  /** Other servers ignore `name;range=…` requests for unknown options and return nothing: refuse instead. */
  private requested(attributes: string[], rangeStep: number | undefined): string[] {
    if (rangeStep !== undefined && !this.isActiveDirectory) {
      throw new DirectoryError(`rangeStep is for Active Directory; ${this.url} is not one`);
    }
    if (rangeStep !== undefined && !(Number.isInteger(rangeStep) && rangeStep > 0)) {
      throw new DirectoryError(`rangeStep must be a positive integer, not ${rangeStep}`);
    }
    return requestedAttributes(attributes, rangeStep);
  }

  async *searchPages(opts: SearchPagesOptions): AsyncIterable<DirectoryEntry[]> {
    const attributes = this.requested(opts.attributes, opts.rangeStep);
    const client = await this.ready();
    const action = `search under ${opts.baseDN}`;
    try {
      const pages = client.searchPaginated(opts.baseDN, {
        scope: opts.scope,
        filter: typeof opts.filter === 'string' ? parseFilter(opts.filter) : opts.filter,
        attributes,
        explicitBufferAttributes: everyAttributeAsBuffer(attributes),
        paged: { pageSize: this.session.pageSize },
        sizeLimit: opts.sizeLimit ?? 0,
        // The client's per-operation timeout guards each page; ldapts' default of 10 s for the
        // whole search would end reads of large directories.
        timeLimit: 0,
      });
      // Read-ahead: the next page is asked for before this one is handed on, so the server
      // works while the caller plans (one extra page in memory; a third of a large read's time).
      // The catch marks a failure of the page in flight as handled until it is awaited, which
      // rethrows it; otherwise Node would end the process on an unhandled rejection meanwhile.
      const ask = () => {
        const next = pages.next();
        next.catch(() => {});
        return next;
      };
      let ahead = ask();
      try {
        for (;;) {
          const step = await ahead;
          if (step.done) break;
          ahead = ask();
          const entries: DirectoryEntry[] = [];
          for (const raw of step.value.searchEntries) {
            // Most entries come whole: decoded in one pass, without the bookkeeping ranges need.
            const whole = opts.rangeStep === undefined ? decodeWhole(raw) : undefined;
            if (whole) {
              entries.push(whole);
              continue;
            }
            const { attrs, pending } = collect(raw);
            entries.push(
              pending.length
                ? await this.completeRanges(client, raw.dn, attrs, pending, opts.rangeStep)
                : toEntry(raw.dn, attrs),
            );
          }
          if (entries.length > 0) yield entries;
        }
      } finally {
        // A caller that stops early leaves a page request in flight; its outcome no longer matters.
        void pages.return(undefined).catch(() => {});
      }
    } catch (err) {
      throw this.session.fail(err, action);
    }
  }

  async readEntry(
    dn: string,
    attributes: string[],
    opts: { rangeStep?: number } = {},
  ): Promise<DirectoryEntry | undefined> {
    const requested = this.requested(attributes, opts.rangeStep);
    const client = await this.ready();
    try {
      const { searchEntries } = await client.search(dn, {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: requested,
        explicitBufferAttributes: everyAttributeAsBuffer(requested),
        timeLimit: 0,
      });
      const raw = searchEntries[0];
      return raw ? await this.complete(client, raw, opts.rangeStep) : undefined;
    } catch (err) {
      if (err instanceof NoSuchObjectError) return undefined;
      throw this.session.fail(err, `read ${dn}`);
    }
  }

  async searchSome(opts: {
    baseDN: string;
    scope: 'sub' | 'one' | 'base';
    filter: string | Filter;
    attributes: string[];
    sizeLimit: number;
  }): Promise<{ entries: DirectoryEntry[]; truncated: boolean }> {
    const attributes = requestedAttributes(opts.attributes, undefined);
    const client = await this.ready();
    try {
      const { searchEntries } = await client.search(opts.baseDN, {
        scope: opts.scope,
        filter: typeof opts.filter === 'string' ? parseFilter(opts.filter) : opts.filter,
        attributes,
        explicitBufferAttributes: everyAttributeAsBuffer(attributes),
        sizeLimit: opts.sizeLimit,
        timeLimit: 0,
      });
      return { entries: searchEntries.map((raw) => toEntry(raw.dn, collect(raw).attrs)), truncated: false };
    } catch (err) {
      // ldapts drops the entries it got when the server says there were more: all we learn is "more".
      if (err instanceof SizeLimitExceededError) return { entries: [], truncated: true };
      if (err instanceof NoSuchObjectError) return { entries: [], truncated: false };
      throw this.session.fail(err, `search under ${opts.baseDN}`);
    }
  }

  /**
   * Reading the schema refines comparisons (which attributes hold DNs or one value); it is never a
   * reason to fail a preview. But the fallback changes what the plan assumes, so it is logged, and
   * the plan header records which answer it used (SchemaAnswer in plan/values.ts).
   */
  async readSchema(): Promise<DirectorySchema | undefined> {
    const { name, url, log } = this.session;
    const fallback = 'the plan assumes the well-known DN-valued attributes and no single-valued ones';
    const dn = this.session.subschemaSubentry;
    if (!dn) {
      log?.warn({ connection: name, url }, `the root DSE names no subschema entry; ${fallback}`);
      return undefined;
    }
    try {
      // readEntry follows range retrieval, should a server hand out its many types in ranges.
      const list = (await this.readEntry(dn, ['attributeTypes']))?.attrs.get('attributetypes')?.values ?? [];
      if (list.length) return schemaFrom(list);
      log?.warn({ connection: name, url, subschema: dn }, `the schema lists no attribute types; ${fallback}`);
    } catch (err) {
      log?.warn(
        { connection: name, url, subschema: dn, err: (err as Error).message },
        `cannot read the directory schema; ${fallback}`,
      );
    }
    return undefined;
  }

  async modify(dn: string, changes: Change[]): Promise<void> {
    const client = await this.ready();
    try {
      await client.modify(dn, changes);
    } catch (err) {
      throw this.session.fail(err, `modify ${dn}`);
    }
  }

  private async complete(client: Client, raw: Entry, rangeStep: number | undefined): Promise<DirectoryEntry> {
    const { attrs, pending } = collect(raw);
    return this.completeRanges(client, raw.dn, attrs, pending, rangeStep);
  }

  private async completeRanges(
    client: Client,
    dn: string,
    attrs: Map<string, RawAttr>,
    pending: PendingRange[],
    rangeStep: number | undefined,
  ): Promise<DirectoryEntry> {
    for (const p of pending) {
      const rest = await this.fetchRemainingRange(client, dn, p, rangeStep);
      const into = attrs.get(p.key)!.values;
      // Not push(...rest): a group of 200,000 members overflows the stack as arguments.
      for (const v of rest) into.push(v);
    }
    return toEntry(dn, attrs);
  }

  /** Asks for `name;range=<next>-…` until the server answers with a range ending in `*`. */
  private async fetchRemainingRange(
    client: Client,
    dn: string,
    p: PendingRange,
    step: number | undefined,
  ): Promise<RawValue[]> {
    const out: RawValue[] = [];
    let next = p.next;
    for (;;) {
      const attribute = rangeOf(p.name, next, step);
      const { searchEntries } = await client.search(dn, {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: [attribute],
        explicitBufferAttributes: everyAttributeAsBuffer([attribute]),
        timeLimit: 0,
      });
      const part = searchEntries[0] ? this.rangePart(searchEntries[0], p.key) : undefined;
      if (!part) return out;
      for (const v of part.values) out.push(v);
      if (part.end === '*') return out;
      const end = Number(part.end);
      if (end < next)
        throw new DirectoryError(
          `range retrieval of ${p.name} on ${dn} went backwards (asked from ${next}, got up to ${end})`,
        );
      next = end + 1;
    }
  }

  private rangePart(raw: Entry, key: string): { values: RawValue[]; end: string } | undefined {
    for (const [type, value] of Object.entries(raw)) {
      if (type === 'dn') continue;
      const range = RANGE.exec(type);
      const values = asList(value);
      // Past the last value Samba answers `name;range=30-*` with no values, and ldapts adds an
      // empty `name;range=30-39` for the range we asked for: only the first one ends the loop.
      if (range && range[1]!.toLowerCase() === key && (values.length > 0 || range[3] === '*'))
        return { values, end: range[3]! };
      // A server that has nothing left to range over may answer with the plain attribute.
      if (!range && type.toLowerCase() === key && values.length > 0) return { values, end: '*' };
    }
    return undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.reopening?.catch(() => {});
    await this.letGo(this.current);
  }

  /**
   * Unbinds a client, unless its connection is known lost: ldapts would send the unbind on the
   * closed socket and wait timeoutMs for an answer that cannot come, keeping the process alive.
   */
  private async letGo(client: Client): Promise<void> {
    if (this.session.lost?.(client)) return;
    await client.unbind().catch(() => {});
  }
}
