/**
 * An in-process LDAP directory for `npm start` and `reexport demo` only: the product's real paths
 * never import this module. It speaks enough LDAP for the real client (ldapts) to preview and
 * execute against it exactly as against a real server: simple bind, the root DSE, paged searches
 * with filters, and modify with value-exact delete (the compare-and-swap the executor relies on).
 * ldapjs is decommissioned but runs on Node 20 and 24; confining it here keeps that risk small.
 */
import { createRequire } from 'node:module';
import { normalizeDn, isDnWithin } from '../syntax/dn.js';

const require = createRequire(import.meta.url);

const ldap = require('ldapjs');

const { PagedResultsControl } = require('@ldapjs/controls');

const PAGED = '1.2.840.113556.1.4.319';

export interface DemoEntry {
  dn: string;
  attributes: Record<string, string[]>;
}

export interface DemoDirectory {
  url: string;
  entries(): DemoEntry[];
  stop(): Promise<void>;
}

export async function startDemoDirectory(opts: {
  port?: number;
  host?: string;
  suffix: string;
  bindDN: string;
  password: string;
  entries: DemoEntry[];
}): Promise<DemoDirectory> {
  const store = new Map<string, DemoEntry>(
    opts.entries.map((e) => [normalizeDn(e.dn), { dn: e.dn, attributes: { ...e.attributes } }]),
  );
  const bound = new WeakSet<object>();
  const server = ldap.createServer();

  server.bind('', (req: any, res: any, next: any) => {
    const dn = String(req.dn ?? '');
    if (dn === '' && !req.credentials) return (res.end(), next());
    if (normalizeDn(dn) !== normalizeDn(opts.bindDN) || req.credentials !== opts.password)
      return next(new ldap.InvalidCredentialsError());
    bound.add(req.connection);
    res.end();
    return next();
  });

  server.search('', (req: any, res: any, next: any) => {
    const base = String(req.dn ?? '');
    // ldapjs 3 names the scopes base, single and subtree.
    const scope =
      ({ base: 'base', single: 'one', subtree: 'sub' } as Record<string, string>)[req.scopeName] ?? 'sub';
    if (base === '' && scope === 'base') {
      res.send({
        dn: '',
        attributes: {
          namingContexts: [opts.suffix],
          supportedControl: [PAGED],
          supportedLDAPVersion: ['3'],
          vendorName: ['reexport demo directory'],
        },
      });
      res.end();
      return next();
    }
    // Like slapd with ACLs: anonymous users see nothing.
    if (!bound.has(req.connection)) return (res.end(), next());
    const baseKey = normalizeDn(base);
    if (!store.has(baseKey) && baseKey !== normalizeDn(opts.suffix))
      return next(new ldap.NoSuchObjectError(base));
    const wanted: string[] = (req.attributes ?? []).map((a: string) => a.toLowerCase());
    const matched = [...store.values()].filter(
      (e) => inScope(e.dn, base, scope) && req.filter.matches(e.attributes, false),
    );
    const paged = (req.controls ?? []).find((c: any) => c.type === PAGED);
    let from = 0;
    let to = matched.length;
    if (paged) {
      const cookie: Buffer | undefined = paged.value?.cookie;
      from = cookie && cookie.length ? Number(cookie.toString()) : 0;
      to = Math.min(matched.length, from + (paged.value?.size || matched.length));
    }
    res.attributes = ['*'];
    for (const e of matched.slice(from, to))
      res.send({ dn: e.dn, attributes: select(e.attributes, wanted) }, true);
    if (paged) {
      res.addControl(
        new PagedResultsControl({
          value: {
            size: matched.length,
            cookie: to < matched.length ? Buffer.from(String(to)) : Buffer.alloc(0),
          },
        }),
      );
    }
    res.end();
    return next();
  });

  server.modify('', (req: any, res: any, next: any) => {
    if (!bound.has(req.connection)) return next(new ldap.InsufficientAccessRightsError());
    const key = normalizeDn(String(req.dn));
    const entry = store.get(key);
    if (!entry) return next(new ldap.NoSuchObjectError(String(req.dn)));
    // All operations of one modify apply together or not at all, as in a real directory.
    const next_ = structuredClone(entry.attributes);
    for (const change of req.changes) {
      const type: string = change.modification.type;
      const values: string[] = (change.modification.values ?? []).map(String);
      const name = Object.keys(next_).find((k) => k.toLowerCase() === type.toLowerCase()) ?? type;
      const current = next_[name] ?? [];
      const has = (v: string) => current.some((c) => c.toLowerCase() === v.toLowerCase());
      if (change.operation === 'add') {
        if (values.some(has)) return next(new ldap.AttributeOrValueExistsError(type));
        next_[name] = [...current, ...values];
      } else if (change.operation === 'delete') {
        if (values.length === 0) {
          if (current.length === 0) return next(new ldap.NoSuchAttributeError(type));
          delete next_[name];
          continue;
        }
        if (!values.every(has)) return next(new ldap.NoSuchAttributeError(type));
        const left = current.filter((c) => !values.some((v) => v.toLowerCase() === c.toLowerCase()));
        if (left.length) next_[name] = left;
        else delete next_[name];
      } else {
        if (values.length) next_[name] = values;
        else delete next_[name];
      }
    }
    entry.attributes = next_;
    res.end();
    return next();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.server.address() as { port: number };
  return {
    url: `ldap://${opts.host ?? '127.0.0.1'}:${address.port}`,
    entries: () => [...store.values()].map((e) => structuredClone(e)),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function inScope(dn: string, base: string, scope: string): boolean {
  if (scope === 'base') return normalizeDn(dn) === normalizeDn(base);
  if (!isDnWithin(dn, base)) return false;
  if (scope === 'one')
    return (
      normalizeDn(dn).split(',').length === normalizeDn(base).split(',').length + 1 &&
      normalizeDn(dn) !== normalizeDn(base)
    );
  return true;
}

function select(attributes: Record<string, string[]>, wanted: string[]): Record<string, string[]> {
  if (wanted.includes('1.1')) return {};
  if (wanted.length === 0 || wanted.includes('*')) return attributes;
  return Object.fromEntries(Object.entries(attributes).filter(([k]) => wanted.includes(k.toLowerCase())));
}
