/**
 * Opening a directory connection from the operator's daemon config: secrets and CA read from
 * files or the environment, TLS set up the way ldapts needs it, errors that say what to fix.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import { Client, ModifyRequest, ResultCodeError } from 'ldapts';
import type { ResolvedTarget } from '../../config/types.generated.js';
import { PEM_CERTIFICATE } from '../../config/daemon-config.js';
import { DirectoryError } from '../../shared/errors.js';
import { type Directory, type DirectorySession, directoryOver } from './directory.js';

/**
 * ldapts serialises every request it sends to JSON for a debug line (`NODE_DEBUG=ldapts`),
 * whether or not that line is printed: for an apply of 80,000 modifications of four attributes
 * that was half a second of CPU and 40 MB of garbage. A request says what it is instead (its
 * type, message ID and entry), which is also all a debug line should show of a user's values.
 * Defined on ldapts' base class of messages (requests and responses alike; nothing else turns one
 * into JSON), found through ModifyRequest (the base is not exported); a version that renames it
 * only loses this shortcut. The bind request's password stays redacted: ldapts logs a copy of it.
 */
const requestBase = Object.getPrototypeOf(ModifyRequest.prototype) as object;
if (requestBase !== Object.prototype && !Object.hasOwn(requestBase, 'toJSON')) {
  Object.defineProperty(requestBase, 'toJSON', {
    writable: true,
    configurable: true,
    value(this: { constructor: { name: string }; messageId: number; dn?: unknown; baseDN?: unknown }) {
      const dn =
        typeof this.dn === 'string' ? this.dn : typeof this.baseDN === 'string' ? this.baseDN : undefined;
      return { type: this.constructor.name, messageId: this.messageId, ...(dn !== undefined ? { dn } : {}) };
    },
  });
}

export interface ConnectionSettings {
  /** What the operator calls this connection (`target ad`, `source hr`), for logs. */
  name: string;
  url: string;
  bindDN?: string;
  password?: string;
  caPem?: Buffer;
  servername?: string;
  startTLS: boolean;
  rejectUnauthorized: boolean;
  timeoutMs: number;
  pageSize: number;
  /** Overrides what the root DSE says (a target's directoryType). */
  directoryType?: 'ad' | 'ldap';
}

/**
 * The connection part of a target or an LDAP source in the resolved daemon config (defaults
 * filled in, file paths absolute; the schema is its source of truth).
 */
export type ConnectionConfig = Pick<
  ResolvedTarget,
  'url' | 'bindDN' | 'passwordFile' | 'passwordEnv' | 'tls' | 'timeoutMs' | 'pageSize' | 'directoryType'
>;

/** Structural subset of a pino logger, so callers can pass theirs. */
export interface DirectoryLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** `log` with `fields` on every line, e.g. the target a connection is for. */
export function labelled(
  log: DirectoryLogger | undefined,
  fields: Record<string, string>,
): DirectoryLogger | undefined {
  return (
    log && {
      info: (obj, msg) => log.info({ ...fields, ...obj }, msg),
      warn: (obj, msg) => log.warn({ ...fields, ...obj }, msg),
    }
  );
}

/** OIDs in the root DSE's supportedCapabilities that only Active Directory (and Samba AD) announce. */
const AD_CAPABILITIES = new Set([
  '1.2.840.113556.1.4.800',
  '1.2.840.113556.1.4.1670',
  '1.2.840.113556.1.4.1791',
]);

export async function connectionSettings(
  conn: ConnectionConfig,
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ConnectionSettings> {
  const url = checkUrl(conn.url);
  const { tls } = conn;
  const { startTLS } = tls;
  if (startTLS && url.protocol === 'ldaps:') {
    throw new DirectoryError(
      `${conn.url}: tls.startTLS is for ldap:// URLs; ldaps:// is encrypted from the start, remove startTLS`,
    );
  }
  if (tls.caFile && url.protocol === 'ldap:' && !startTLS) {
    throw new DirectoryError(
      `${conn.url}: tls.caFile is set but the connection would not use TLS; use ldaps:// or set tls.startTLS: true`,
    );
  }
  return {
    name,
    url: conn.url,
    bindDN: conn.bindDN,
    password: conn.bindDN ? await readPassword(conn, env) : undefined,
    caPem: tls.caFile ? await readCa(tls.caFile) : undefined,
    servername: tls.servername,
    startTLS,
    rejectUnauthorized: tls.rejectUnauthorized,
    timeoutMs: conn.timeoutMs,
    pageSize: conn.pageSize,
    ...(conn.directoryType ? { directoryType: conn.directoryType } : {}),
  };
}

function checkUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DirectoryError(`${text} is not a URL; write ldaps://host:636 or ldap://host:389`);
  }
  if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') {
    throw new DirectoryError(`${text}: the scheme must be ldap:// or ldaps://`);
  }
  if (url.pathname.replace(/^\/+/, '') !== '' || url.search !== '') {
    throw new DirectoryError(
      `${text}: give only scheme, host and port; base DNs belong in the template's scope`,
    );
  }
  return url;
}

async function readPassword(conn: ConnectionConfig, env: NodeJS.ProcessEnv): Promise<string> {
  let password: string;
  if (conn.passwordFile) {
    const file = conn.passwordFile;
    try {
      // Secret files from `echo`, editors and Kubernetes often end with a newline that is not part of the password.
      password = (await readFile(file, 'utf8')).replace(/[\r\n]+$/, '');
    } catch (err) {
      throw new DirectoryError(
        `cannot read passwordFile ${file} for ${conn.bindDN}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    if (password === '') throw new DirectoryError(`passwordFile ${file} for ${conn.bindDN} is empty`);
  } else if (conn.passwordEnv) {
    const value = env[conn.passwordEnv];
    if (value === undefined)
      throw new DirectoryError(
        `environment variable ${conn.passwordEnv} (passwordEnv for ${conn.bindDN}) is not set`,
      );
    if (value === '')
      throw new DirectoryError(
        `environment variable ${conn.passwordEnv} (passwordEnv for ${conn.bindDN}) is empty`,
      );
    password = value;
  } else {
    throw new DirectoryError(`bindDN ${conn.bindDN} needs passwordFile or passwordEnv`);
  }
  return password;
}

async function readCa(file: string): Promise<Buffer> {
  let pem: Buffer;
  try {
    pem = await readFile(file);
  } catch (err) {
    throw new DirectoryError(
      `cannot read tls.caFile ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (!PEM_CERTIFICATE.test(pem.toString('latin1'))) {
    throw new DirectoryError(`tls.caFile ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return pem;
}

function urlHost(url: string): string {
  return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
}

/**
 * servername is what the certificate must name (and the SNI). On ldaps:// ldapts passes the URL
 * host to tls.connect separately, and a `host` here would replace it as the address connected to.
 * On StartTLS Node only gets the existing socket, so `host` tells it which name to check when no
 * servername is given. An IP address stays out of servername by default: RFC 6066 forbids IPs in
 * SNI and Node warns; Node then checks the certificate's IP SANs against the host.
 */
export function tlsOptions(settings: ConnectionSettings, forStartTLS: boolean): ConnectionOptions {
  const host = urlHost(settings.url);
  const servername = settings.servername ?? (net.isIP(host) ? undefined : host);
  return {
    ...(forStartTLS ? { host } : {}),
    ...(servername !== undefined ? { servername } : {}),
    ...(settings.caPem ? { ca: settings.caPem } : {}),
    rejectUnauthorized: settings.rejectUnauthorized,
  };
}

export function transport(settings: ConnectionSettings): 'ldaps' | 'startTLS' | 'none' {
  if (settings.url.startsWith('ldaps:')) return 'ldaps';
  return settings.startTLS ? 'startTLS' : 'none';
}

function refuseUnsafeBind(settings: ConnectionSettings): void {
  // A simple bind with a DN and an empty password is an "unauthenticated bind" (RFC 4513 5.1.2):
  // many servers accept it as anonymous, so a lost password would quietly read nothing.
  if (settings.bindDN && !settings.password) {
    throw new DirectoryError(`no password for ${settings.bindDN}; set passwordFile or passwordEnv`);
  }
  if (!settings.bindDN || transport(settings) !== 'none' || isLoopback(urlHost(settings.url))) return;
  throw new DirectoryError(
    `refusing to send the password of ${settings.bindDN} in clear text to ${settings.url}: ` +
      'anyone on the network path could read it; use ldaps:// or set tls.startTLS: true',
  );
}

const CERT_ERROR_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const RESULT_HINTS: Record<number, string> = {
  8: 'the server requires a stronger authentication or TLS; use ldaps:// or tls.startTLS: true',
  10: 'the server referred the request elsewhere: the DN is outside the naming contexts it holds',
  13: 'the server requires TLS for this; use ldaps:// or tls.startTLS: true',
  32: 'check that the DN exists and that the bind account may see it',
  50: 'the bind account lacks the rights for this operation',
  51: 'the server is busy; try again later',
  52: 'the server is unavailable; try again later',
};

/** Busy (51), unavailable (52) and other (80): the server may well answer the same request later. */
const TRANSIENT_RESULT_CODES = new Set([51, 52, 80]);

/** Socket errors of a server that is down or restarting, or of a network path that is not there for now. */
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
]);

/** ldapts messages are the server's diagnostic (often empty) plus ` Code: 0x20`; the class name says more. */
function resultCodeText(err: ResultCodeError, detail: string): string {
  const diagnostic = detail.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim();
  const text = `LDAP result ${err.code} ${err.name.replace(/Error$/, '')}`;
  return diagnostic ? `${text}: ${diagnostic}` : text;
}

function redact(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('***') : text;
}

/**
 * Explains an ldapts, TLS or socket error in terms of the settings an operator can change: the
 * adapter's boundary, so upper layers only ever see DirectoryError, with the LDAP result code when
 * the server sent one and whether another try may succeed.
 */
export function explainError(
  err: unknown,
  settings: Pick<ConnectionSettings, 'url' | 'bindDN' | 'password' | 'timeoutMs'>,
  action: string,
): DirectoryError {
  if (err instanceof DirectoryError) return err;
  const e = err as NodeJS.ErrnoException & { code?: unknown };
  const raw = err instanceof Error ? err.message : String(err);
  const detail = redact(raw.split('\n').join(' ').trim(), settings.password);
  const code = typeof e.code === 'string' ? e.code : undefined;
  const options = { cause: err, transient: code !== undefined && TRANSIENT_SOCKET_CODES.has(code) };
  if (err instanceof ResultCodeError) {
    if (err.code === 49) {
      return new DirectoryError(
        `bind as ${settings.bindDN ?? '(anonymous)'} on ${settings.url} failed: invalid credentials; check passwordFile/passwordEnv`,
        49,
        options,
      );
    }
    const hint = RESULT_HINTS[err.code];
    return new DirectoryError(
      `${action} on ${settings.url} failed: ${resultCodeText(err, detail)}${hint ? `; ${hint}` : ''}`,
      err.code,
      { ...options, transient: TRANSIENT_RESULT_CODES.has(err.code) },
    );
  }
  if (code && (CERT_ERROR_CODES.has(code) || code.startsWith('ERR_TLS_CERT') || /certificate/i.test(raw))) {
    return new DirectoryError(
      `TLS certificate of ${settings.url} not accepted (${detail}); check tls.caFile (the CA that issued the server's certificate) and tls.servername (a name the certificate is issued to)`,
      undefined,
      options,
    );
  }
  if (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'EAI_AGAIN'
  ) {
    return new DirectoryError(
      `cannot reach ${settings.url} (${code}); check the host name, port and firewall`,
      undefined,
      options,
    );
  }
  if (/Operation timed out/.test(raw)) {
    return new DirectoryError(
      `${action} on ${settings.url} got no answer within timeoutMs (${settings.timeoutMs} ms)`,
      undefined,
      { ...options, transient: true },
    );
  }
  if (
    code === 'ECONNRESET' ||
    /Connection timeout|socket hang up|disconnected before secure|Connection closed before message/i.test(raw)
  ) {
    return new DirectoryError(
      `${action} on ${settings.url} failed: ${detail}; check the port and that ldaps:// or ldap:// matches what the server speaks there`,
      undefined,
      { ...options, transient: true },
    );
  }
  // Anything else ldapts or the socket throws without a result code (a closed connection, a
  // message the client could not parse): another try on a fresh connection may well succeed.
  return new DirectoryError(`${action} on ${settings.url} failed: ${detail}`, undefined, {
    ...options,
    transient: true,
  });
}

/** The server answered the StartTLS request with this result code. */
export function refusedStartTLS(
  err: ResultCodeError,
  settings: Pick<ConnectionSettings, 'url'>,
): DirectoryError {
  const why = resultCodeText(err, err.message);
  return new DirectoryError(
    `${settings.url} refused StartTLS (${why}); use ldaps:// or check the server's TLS setup`,
    err.code,
    { cause: err },
  );
}

async function secure(client: Client, settings: ConnectionSettings): Promise<void> {
  if (!settings.startTLS) return;
  try {
    await client.startTLS(tlsOptions(settings, true));
  } catch (err) {
    if (err instanceof ResultCodeError) throw refusedStartTLS(err, settings);
    throw err;
  }
}

/**
 * Said at every connect (reconnects too), so that a setting meant for a test cannot go unnoticed
 * in production: without certificate checks anyone on the network path can pose as the directory
 * and receive the bind password.
 */
function warnUncheckedTls(settings: ConnectionSettings, log: DirectoryLogger | undefined): void {
  if (settings.rejectUnauthorized || transport(settings) === 'none') return;
  log?.warn(
    { connection: settings.name, url: settings.url },
    `TLS certificate checks are off for ${settings.name} (tls.rejectUnauthorized: false): anyone on the network path can pose as the directory and receive the bind password`,
  );
}

/** What every connection checks and says before it connects (bulk-search.ts's too). */
export function beforeConnect(settings: ConnectionSettings, log: DirectoryLogger | undefined): void {
  refuseUnsafeBind(settings);
  warnUncheckedTls(settings, log);
}

/** What the bind of these settings is called in errors. */
export const bindAction = (settings: ConnectionSettings): string =>
  settings.bindDN ? `bind as ${settings.bindDN}` : 'connect';

/**
 * Clients whose StartTLS connection closed. ldapts keeps its own state on the plain socket, but once
 * StartTLS wraps it the TLS socket holds the connection: ldapts fails the operations in flight when
 * the server drops it, yet still says the client is connected and bound, so the next operation was
 * sent on the closed connection and waited out timeoutMs (120 s by default) before it failed, and
 * so did an unbind. A client is noted here when its TLS socket closes (`connectionLost`): the next
 * operation opens a new connection, and the old one is let go without an unbind.
 */
const lostClients = new WeakSet<Client>();

/** Whether a client's StartTLS connection closed, though ldapts may still say it is bound. */
export const connectionLost = (client: Client): boolean => lostClients.has(client);

function watchedStartTLS(client: () => Client): typeof tls.connect {
  return ((options: ConnectionOptions) => {
    const secure = tls.connect(options);
    secure.once('close', () => lostClients.add(client()));
    return secure;
  }) as typeof tls.connect;
}

/** A connected, secured and bound ldapts client; the caller owns it. */
async function openClient(settings: ConnectionSettings, log?: DirectoryLogger): Promise<Client> {
  beforeConnect(settings, log);
  const client: Client = new Client({
    url: settings.url,
    timeout: settings.timeoutMs,
    connectTimeout: settings.timeoutMs,
    // With ldap:// any tlsOptions would make ldapts open TLS directly on the plain port.
    ...(transport(settings) === 'ldaps' ? { tlsOptions: tlsOptions(settings, false) } : {}),
    ...(settings.startTLS ? { createSecureConnection: watchedStartTLS(() => client) } : {}),
  });
  try {
    await secure(client, settings);
    if (settings.bindDN && settings.password) await client.bind(settings.bindDN, settings.password);
    return client;
  } catch (err) {
    await client.unbind().catch(() => {});
    throw explainError(err, settings, bindAction(settings));
  }
}

function asStrings(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
}

/**
 * The root DSE: Active Directory and Samba AD announce AD capabilities and forest levels there,
 * and every server names its subschema entry.
 */
async function readRootDse(
  client: Client,
): Promise<{ isActiveDirectory: boolean; subschemaSubentry?: string }> {
  const { searchEntries } = await client.search('', {
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['supportedCapabilities', 'forestFunctionality', 'subschemaSubentry'],
  });
  const dse = searchEntries[0];
  if (!dse) return { isActiveDirectory: false };
  const field = (name: string) =>
    asStrings(Object.entries(dse).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1]);
  const isActiveDirectory =
    field('supportedCapabilities').some((oid) => AD_CAPABILITIES.has(oid)) ||
    field('forestFunctionality').length > 0;
  return { isActiveDirectory, subschemaSubentry: field('subschemaSubentry')[0] };
}

export async function openDirectory(settings: ConnectionSettings, log?: DirectoryLogger): Promise<Directory> {
  const client = await openClient(settings, log);
  let isActiveDirectory: boolean;
  let subschemaSubentry: string | undefined;
  try {
    // Read even when configured: it proves the connection works before anyone relies on it.
    const dse = await readRootDse(client);
    isActiveDirectory = settings.directoryType ? settings.directoryType === 'ad' : dse.isActiveDirectory;
    subschemaSubentry = dse.subschemaSubentry;
  } catch (err) {
    await client.unbind().catch(() => {});
    throw explainError(err, settings, 'read the root DSE');
  }
  log?.info(
    {
      connection: settings.name,
      url: settings.url,
      bindDN: settings.bindDN,
      tls: transport(settings),
      isActiveDirectory,
    },
    'directory connected',
  );
  const session: DirectorySession = {
    name: settings.name,
    url: settings.url,
    isActiveDirectory,
    subschemaSubentry,
    pageSize: settings.pageSize,
    authenticated: settings.bindDN !== undefined,
    client,
    lost: connectionLost,
    reopen: async () => {
      log?.warn({ connection: settings.name, url: settings.url }, 'directory connection lost; reconnecting');
      return openClient(settings, log);
    },
    fail: (err, action) => explainError(err, settings, action),
    log,
  };
  return directoryOver(session);
}
