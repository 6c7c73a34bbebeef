/**
 * A real OpenLDAP slapd per test file, in a throw-away folder on a free loopback port.
 *
 * The configuration is generated as cn=config LDIF and loaded with `slapadd -n0` (exactly how
 * Debian's own postinst builds slapd.d), and seed data goes in with `slapadd -n1` before the
 * server starts, which is far faster than ldapadd for large fixtures (100k entries).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, spawnDaemon, tcpConnects, waitUntil, type Daemon } from './ports.js';

const execFileP = promisify(execFile);

export const SLAPD = '/usr/sbin/slapd';
export const SLAPADD = '/usr/sbin/slapadd';
export const LDAPSEARCH = '/usr/bin/ldapsearch';
export const LDAPMODIFY = '/usr/bin/ldapmodify';
export const SCHEMA_DIR = '/etc/ldap/schema';
export const DEFAULT_SUFFIX = 'dc=kommune,dc=test';
export const DEFAULT_SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis'];

/**
 * Lets inetOrgPerson entries carry AD's employeeID (and proxyAddresses), so the same templates
 * can be tested against OpenLDAP and AD. OIDs live under an unassigned private-enterprise arc.
 */
export const REEXPORT_SCHEMA_LDIF = `dn: cn=reexport,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: reexport
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.1 NAME 'employeeID'
  DESC 'Active Directory style employee ID (test schema)'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} SINGLE-VALUE )
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.2 NAME 'proxyAddresses'
  DESC 'Active Directory style proxy addresses (test schema)'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{1123} )
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.3 NAME 'company'
  DESC 'Active Directory style company (test schema)'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{64} SINGLE-VALUE )
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.4 NAME 'department'
  DESC 'Active Directory style department (test schema)'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{64} SINGLE-VALUE )
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.5 NAME 'reexportNote'
  DESC 'Text with no equality rule, so values cannot be deleted by value (test schema)'
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} )
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.6 NAME 'reexportSponsor'
  DESC 'A site-specific DN-valued attribute, DN by its supertype (test schema)'
  SUP distinguishedName )
olcObjectClasses: ( 1.3.6.1.4.1.99999.1.2.1 NAME 'reexportPerson'
  DESC 'Auxiliary class giving entries AD-style attributes (test schema)'
  SUP top AUXILIARY MAY ( employeeID $ proxyAddresses $ company $ department $ reexportNote $ reexportSponsor ) )
olcObjectClasses: ( 1.3.6.1.4.1.99999.1.2.2 NAME 'user'
  DESC 'Auxiliary stand-in for AD user objects, so (objectClass=user) templates run on OpenLDAP (test schema)'
  SUP top AUXILIARY MAY ( employeeID $ proxyAddresses $ company $ department ) )
`;

export interface SlapdOptions {
  /** Database suffix; default dc=kommune,dc=test. */
  suffix?: string;
  /** Seed data, loaded with slapadd before start. The suffix entry is added unless the LDIF has it. */
  ldif?: string;
  /**
   * Extra schemas after core/cosine/inetorgperson/nis and the reexport schema: a name from
   * /etc/ldap/schema (e.g. 'ppolicy'), an absolute path to a .ldif, or inline cn=config schema LDIF.
   */
  schemas?: string[];
  /** Also serve ldaps:// on a second port and StartTLS on the ldap:// port. */
  tls?: boolean;
  /** Load the syncprov overlay on the database: then the suffix entry carries contextCSN. */
  syncprov?: boolean;
  /**
   * Size limit for unpaged searches by everyone but the rootdn (default 500, slapd's default).
   * Paged searches may return any total, as with AD's MaxPageSize.
   */
  sizeLimit?: number | 'unlimited';
  /** slapd -d level; default 'none' (only messages slapd always logs, e.g. bind failures). 'stats' logs every operation. */
  debugLevel?: string | number;
  /** Characters of slapd output kept for output(); raise it to audit every operation of a long test. */
  outputLimit?: number;
  startTimeoutMs?: number;
}

export interface Slapd {
  url: string;
  ldapsUrl?: string;
  caFile?: string;
  suffix: string;
  bindDN: string;
  password: string;
  dir: string;
  pid: number;
  /** Combined slapd output so far (useful in assertion messages). */
  output(): string;
  /**
   * Every change slapd committed, as its auditlog overlay wrote it (one LDIF record per operation):
   * the ground truth for "written once", whether or not the client lived to see the answer.
   */
  audit(): Promise<string>;
  stop(): Promise<void>;
  /** Add entries via ldapmodify -a as the rootdn; resolves to ldapmodify's stdout. */
  ldapadd(ldif: string): Promise<string>;
  /** Apply an LDIF change set via ldapmodify as the rootdn. */
  ldapmodify(ldif: string): Promise<string>;
  /** ldapsearch -LLL as the rootdn under the suffix; resolves to its LDIF output. */
  search(filter: string, ...attributes: string[]): Promise<string>;
}

export interface TestCertificates {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * A throw-away CA and a server certificate signed by it. EC P-256 keys, because RSA key
 * generation dominates start-up time otherwise. SANs cover every name tests connect with, so
 * verification can stay strict (rejectUnauthorized) without servername tricks.
 */
export async function makeCertificates(
  dir: string,
  opts: { commonName: string; dnsNames?: string[]; ips?: string[] },
): Promise<TestCertificates> {
  await mkdir(dir, { recursive: true });
  const f = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await execFileP('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '3650',
    '-subj',
    '/O=reexport tests/CN=reexport test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await execFileP('openssl', [
    'req',
    '-new',
    ...ec,
    '-keyout',
    f('key.pem'),
    '-out',
    f('server.csr'),
    '-subj',
    `/O=reexport tests/CN=${opts.commonName}`,
  ]);
  const san = [
    ...new Set([opts.commonName, ...(opts.dnsNames ?? [])].map((n) => `DNS:${n}`)),
    ...(opts.ips ?? []).map((ip) => `IP:${ip}`),
  ].join(',');
  await writeFile(
    f('server.ext'),
    `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  await execFileP('openssl', [
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-set_serial',
    `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
    '-days',
    '825',
    '-out',
    f('cert.pem'),
    '-extfile',
    f('server.ext'),
  ]);
  // Samba refuses private keys readable by others; slapd does not care.
  await chmod(f('key.pem'), 0o600);
  await chmod(f('ca.key'), 0o600);
  return { caFile: f('ca.pem'), certFile: f('cert.pem'), keyFile: f('key.pem') };
}

/**
 * Environment for the OpenLDAP client tools that ignores the machine's ldap.conf and ~/.ldaprc
 * (they could point at another server or demand other TLS settings).
 */
export async function ldapToolEnv(dir: string, caFile?: string): Promise<NodeJS.ProcessEnv> {
  const conf = path.join(dir, 'ldap-client.conf');
  await writeFile(conf, caFile ? `TLS_CACERT ${caFile}\nTLS_REQCERT demand\n` : '');
  return { ...process.env, LDAPCONF: conf, LDAPRC: '.reexport-no-ldaprc', LDAPTLS_CACERT: caFile ?? '' };
}

/** Run an OpenLDAP client tool, feeding `input` on stdin; rejects with its stderr. */
export function runLdapTool(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(
            new Error(
              `${path.basename(cmd)} ${args.filter((a) => a !== '-w').join(' ')} failed (${code}): ${err.trim() || out.trim()}`,
            ),
          ),
    );
    // EPIPE when the tool exits early is reported through 'close' with its stderr.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** LDIF for entries; values that are not LDIF SAFE-STRINGs (e.g. æøå) are base64-encoded. */
export function toLdif(
  entries: Array<{ dn: string; attrs: Record<string, string | string[] | undefined> }>,
): string {
  const line = (name: string, value: string) =>
    /^[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*$/.test(value) &&
    !value.endsWith(' ')
      ? `${name}: ${value}`
      : value === ''
        ? `${name}:`
        : `${name}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
  return entries
    .map(({ dn, attrs }) => {
      const lines = [line('dn', dn)];
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined) continue;
        for (const one of Array.isArray(v) ? v : [v]) lines.push(line(k, one));
      }
      return `${lines.join('\n')}\n`;
    })
    .join('\n');
}

function schemaInclude(spec: string): string {
  if (spec.trimStart().startsWith('dn:')) return `${spec.trim()}\n`;
  const file = path.isAbsolute(spec) ? spec : path.join(SCHEMA_DIR, `${spec}.ldif`);
  return `include: file://${file}\n`;
}

function suffixEntry(suffix: string): string {
  const first = suffix.split(',')[0] ?? '';
  const [attr, value] = first.split('=').map((s) => s.trim());
  switch (attr?.toLowerCase()) {
    case 'dc':
      return `dn: ${suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: ${value}\no: ${value}\n`;
    case 'o':
      return `dn: ${suffix}\nobjectClass: organization\no: ${value}\n`;
    case 'ou':
      return `dn: ${suffix}\nobjectClass: organizationalUnit\nou: ${value}\n`;
    default:
      throw new Error(`startSlapd: cannot invent an entry for suffix ${suffix}; include it in the ldif`);
  }
}

function hasEntry(ldif: string, dn: string): boolean {
  const norm = (s: string) =>
    s
      .toLowerCase()
      .replace(/\s*([,=])\s*/g, '$1')
      .trim();
  return ldif.split(/\r?\n/).some((l) => /^dn:\s/i.test(l) && norm(l.slice(3)) === norm(dn));
}

function configLdif(o: {
  dir: string;
  suffix: string;
  bindDN: string;
  password: string;
  schemas: string[];
  certs?: TestCertificates;
  sizeLimit: number | 'unlimited';
  syncprov: boolean;
}): string {
  const tls = o.certs
    ? `olcTLSCACertificateFile: ${o.certs.caFile}\nolcTLSCertificateFile: ${o.certs.certFile}\nolcTLSCertificateKeyFile: ${o.certs.keyFile}\n`
    : '';
  return `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: ${o.dir}/slapd.pid
olcArgsFile: ${o.dir}/slapd.args
olcLogLevel: none
olcToolThreads: 1
${tls}
dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: auditlog
${o.syncprov ? 'olcModuleLoad: syncprov\n' : ''}
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

${o.schemas.map(schemaInclude).join('\n')}
dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: size.soft=${o.sizeLimit} size.hard=${o.sizeLimit} size.prtotal=unlimited
olcAccess: {0}to dn.exact="" by * read
olcAccess: {1}to dn.base="cn=Subschema" by * read

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: ${o.dir}/db
olcSuffix: ${o.suffix}
olcRootDN: ${o.bindDN}
olcRootPW: ${o.password}
olcLastMod: TRUE
olcDbMaxSize: 4294967296
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: employeeNumber eq
olcDbIndex: employeeID eq
olcDbIndex: cn eq
olcDbIndex: mail eq
olcDbIndex: entryUUID eq
olcLimits: {0}dn.exact="${o.bindDN}" size=unlimited time=unlimited
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by users read by * none

dn: olcOverlay=auditlog,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcAuditLogConfig
olcOverlay: auditlog
olcAuditlogFile: ${o.dir}/audit.ldif
${
  o.syncprov
    ? `
dn: olcOverlay=syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: syncprov
`
    : ''
}`;
}

const PASSWORD = 'reexport-slapd-secret';

/** Start slapd; retries on a lost port race (another process took the port between pick and bind). */
export async function startSlapd(opts: SlapdOptions = {}): Promise<Slapd> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error && /Address already in use|bind\(/i.test(err.message))) throw err;
    }
  }
  throw lastError;
}

async function startOnce(opts: SlapdOptions): Promise<Slapd> {
  const suffix = opts.suffix ?? DEFAULT_SUFFIX;
  const bindDN = `cn=admin,${suffix}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'reexport-slapd-'));
  let daemon: Daemon | undefined;
  try {
    await mkdir(path.join(dir, 'slapd.d'));
    await mkdir(path.join(dir, 'db'));
    const certs = opts.tls
      ? await makeCertificates(path.join(dir, 'tls'), { commonName: 'localhost', ips: ['127.0.0.1'] })
      : undefined;
    const schemas = [...DEFAULT_SCHEMAS, REEXPORT_SCHEMA_LDIF, ...(opts.schemas ?? [])];
    const cfgFile = path.join(dir, 'config.ldif');
    await writeFile(
      cfgFile,
      configLdif({
        dir,
        suffix,
        bindDN,
        password: PASSWORD,
        schemas,
        certs,
        sizeLimit: opts.sizeLimit ?? 500,
        syncprov: opts.syncprov ?? false,
      }),
    );
    await execFileP(SLAPADD, ['-n0', '-F', path.join(dir, 'slapd.d'), '-l', cfgFile]).catch(
      (e: Error & { stderr?: string }) => {
        throw new Error(`slapadd of generated cn=config failed: ${e.stderr ?? e.message}`);
      },
    );

    const seed = opts.ldif ?? '';
    const data = hasEntry(seed, suffix) ? seed : `${suffixEntry(suffix)}\n${seed}`;
    const dataFile = path.join(dir, 'seed.ldif');
    await writeFile(dataFile, data);
    // -q: 4x faster for 100k entries; it still rejects schema violations, missing parents and duplicates.
    await execFileP(SLAPADD, ['-q', '-n1', '-F', path.join(dir, 'slapd.d'), '-l', dataFile], {
      maxBuffer: 64 * 1024 * 1024,
    }).catch((e: Error & { stderr?: string }) => {
      throw new Error(`slapadd of seed LDIF failed: ${e.stderr ?? e.message}`);
    });
    await rm(dataFile, { force: true });

    const port = await freePort();
    const ldapsPort = opts.tls ? await freePort() : undefined;
    const url = `ldap://127.0.0.1:${port}`;
    const ldapsUrl = ldapsPort ? `ldaps://127.0.0.1:${ldapsPort}` : undefined;
    // -d keeps slapd in the foreground (so we own its pid and see its errors on stderr); -d 0 would
    // silence even fatal start-up errors, 'none' keeps exactly those.
    daemon = spawnDaemon(
      SLAPD,
      [
        '-d',
        String(opts.debugLevel ?? 'none'),
        '-F',
        path.join(dir, 'slapd.d'),
        '-h',
        [url, ldapsUrl]
          .filter(Boolean)
          .map((u) => `${u}/`)
          .join(' '),
      ],
      { dir, cwd: dir, outputLimit: opts.outputLimit },
    );
    const d = daemon;
    const env = await ldapToolEnv(dir, certs?.caFile);
    const timeoutMs = opts.startTimeoutMs ?? 30_000;
    const abort = () => {
      const s = d.exitStatus();
      return s ? `slapd ${s}. Output:\n${d.output()}` : undefined;
    };
    const rootDse = (u: string) => () =>
      runLdapTool(LDAPSEARCH, ['-x', '-H', u, '-b', '', '-s', 'base', '-LLL', 'namingContexts'], env).then(
        (o) => o.includes(suffix),
        () => false,
      );
    await waitUntil(`slapd on ${url}`, () => tcpConnects('127.0.0.1', port), {
      timeoutMs,
      abort,
      intervalMs: 50,
    });
    await waitUntil(`slapd rootDSE on ${url}`, rootDse(url), { timeoutMs, abort });
    if (ldapsUrl) await waitUntil(`slapd rootDSE on ${ldapsUrl}`, rootDse(ldapsUrl), { timeoutMs, abort });

    const modify = (extra: string[]) => (ldif: string) =>
      runLdapTool(LDAPMODIFY, [...extra, '-x', '-D', bindDN, '-w', PASSWORD, '-H', url], env, ldif);
    return {
      url,
      ldapsUrl,
      caFile: certs?.caFile,
      suffix,
      bindDN,
      password: PASSWORD,
      dir,
      pid: d.pid,
      output: () => d.output(),
      audit: () => readFile(path.join(dir, 'audit.ldif'), 'utf8').catch(() => ''),
      stop: () => d.stop(),
      ldapadd: modify(['-a']),
      ldapmodify: modify([]),
      search: (filter, ...attributes) =>
        runLdapTool(
          LDAPSEARCH,
          ['-x', '-LLL', '-H', url, '-D', bindDN, '-w', PASSWORD, '-b', suffix, filter, ...attributes],
          env,
        ),
    };
  } catch (err) {
    if (daemon) await daemon.stop();
    else await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
