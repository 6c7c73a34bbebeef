/**
 * A real Samba AD DC for tests, reachable over LDAPS on loopback.
 *
 * Ports: Samba's LDAP server has NO port setting - ldap_server.c hard-codes 389/636 (and
 * 3268/3269 for the global catalog). What Samba does honour is `interfaces` + `bind interfaces
 * only`: given `127.a.b.c/8` it binds exactly that address, and Linux routes all of 127/8 to
 * lo. So every instance gets its own random 127.a.b.c and the standard ports on it; parallel
 * instances and a slapd on 127.0.0.1 never collide. Binding 389/636 needs root (or a lowered
 * net.ipv4.ip_unprivileged_port_start); require.ts skips Samba tests otherwise.
 *
 * Provisioning costs ~6 s of CPU, so it runs once into a template folder in os.tmpdir() (keyed
 * by a hash of everything that shapes it, guarded by a lock for parallel vitest workers), and
 * each start copies it. Only smb.conf holds absolute paths, and each copy gets its own smb.conf.
 */
import { execFile } from 'node:child_process';
import { randomInt, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { AlreadyExistsError, Attribute, Client } from 'ldapts';
import { canListen, spawnDaemon, tcpConnects, waitUntil, type Daemon } from './ports.js';
import { LDAPSEARCH, ldapToolEnv, makeCertificates, runLdapTool } from './slapd.js';

const execFileP = promisify(execFile);

export const SAMBA = '/usr/sbin/samba';
export const SAMBA_TOOL = '/usr/bin/samba-tool';

const REALM = 'KOMMUNE.TEST';
const DOMAIN = 'KOMMUNE';
const HOST = 'DC1';
const DNS_DOMAIN = REALM.toLowerCase();
const BASE_DN = 'DC=kommune,DC=test';
// Meets AD's default complexity rules (upper, lower, digit, symbol, length).
const ADMIN_PASSWORD = 'Kommune-Test-Adm1n!';
// Bump when the provisioning command changes so stale templates are not reused.
const TEMPLATE_FORMAT = 1;
const COMPLETE_MARKER = '.reexport-template-complete';

export interface SambaOptions {
  startTimeoutMs?: number;
  /** samba --debuglevel; default 0 (errors only). */
  debugLevel?: number;
}

export interface AdUser {
  cn: string;
  sAMAccountName: string;
  employeeID?: string;
  givenName?: string;
  sn?: string;
  mail?: string;
  displayName?: string;
  userPrincipalName?: string;
  proxyAddresses?: string[];
  /** Sets unicodePwd (over LDAPS) and enables the account; must meet AD complexity rules. */
  password?: string;
  /** Any other AD attribute. */
  [attribute: string]: string | string[] | undefined;
}

export interface SambaAd {
  /** ldaps://127.a.b.c:636 - the certificate has this IP in its SANs, so plain CA verification works. */
  ldapsUrl: string;
  /** ldap://127.a.b.c:389 - simple binds are refused here (strong auth required), like real AD. */
  ldapUrl: string;
  caFile: string;
  /** The DC's DNS name, also in the certificate: use as tlsOptions.servername to verify by name. */
  servername: string;
  address: string;
  baseDN: string;
  adminDN: string;
  adminPassword: string;
  dir: string;
  pid: number;
  output(): string;
  stop(): Promise<void>;
  /** Create the OU (default OU=Ansatte, nested "OU=a,OU=b" allowed) and the users in it; resolves to their DNs. */
  addUsers(users: AdUser[], ou?: string): Promise<string[]>;
  /** An ldapts client over LDAPS, bound as Administrator. Caller unbinds. */
  client(): Promise<Client>;
}

async function templateDir(): Promise<string> {
  const { stdout: version } = await execFileP(SAMBA, ['-V']);
  const key = createHash('sha256')
    .update(JSON.stringify({ TEMPLATE_FORMAT, version: version.trim(), REALM, DOMAIN, HOST, ADMIN_PASSWORD }))
    .digest('hex')
    .slice(0, 16);
  return path.join(tmpdir(), `reexport-samba-template-${key}`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The provisioned template, made once per machine (until tmp is cleaned). A mkdir lock keeps
 * parallel workers from provisioning twice; a crashed owner's lock is broken by pid check.
 */
export async function sambaTemplate(): Promise<string> {
  const final = await templateDir();
  const lock = `${final}.lock`;
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    if (existsSync(path.join(final, COMPLETE_MARKER))) return final;
    try {
      await mkdir(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(path.join(lock, 'pid'), 'utf8').catch(() => ''));
      const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if ((owner > 0 && !pidAlive(owner)) || age > 5 * 60_000) {
        // Rename first so two workers breaking the same stale lock cannot remove a fresh one.
        const stale = `${lock}.stale-${process.pid}-${randomInt(1e9)}`;
        if (
          await rename(lock, stale).then(
            () => true,
            () => false,
          )
        )
          await rm(stale, { recursive: true, force: true });
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for the Samba template lock ${lock}`, { cause: err });
      }
      await sleep(250);
      continue;
    }
    try {
      await writeFile(path.join(lock, 'pid'), String(process.pid));
      if (existsSync(path.join(final, COMPLETE_MARKER))) return final;
      const work = `${final}.tmp-${process.pid}-${randomInt(1e9)}`;
      await mkdir(work);
      try {
        await execFileP(
          SAMBA_TOOL,
          [
            'domain',
            'provision',
            `--targetdir=${work}`,
            `--realm=${REALM}`,
            `--domain=${DOMAIN}`,
            `--host-name=${HOST.toLowerCase()}`,
            '--server-role=dc',
            '--dns-backend=NONE',
            `--adminpass=${ADMIN_PASSWORD}`,
            '--use-rfc2307',
            '--option=interfaces = lo',
            '--option=bind interfaces only = yes',
          ],
          { maxBuffer: 16 * 1024 * 1024 },
        );
      } catch (err) {
        await rm(work, { recursive: true, force: true });
        const e = err as Error & { stdout?: string; stderr?: string };
        throw new Error(
          `samba-tool domain provision failed: ${e.message}\n${(e.stderr ?? '').slice(-4000)}`,
          {
            cause: err,
          },
        );
      }
      await writeFile(path.join(work, COMPLETE_MARKER), new Date().toISOString());
      await rm(final, { recursive: true, force: true });
      await rename(work, final);
      return final;
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }
}

/** A random loopback address whose LDAP ports are all free right now. Avoids 127.0.x and 127.1.x (common host aliases). */
async function pickAddress(): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const addr = `127.${randomInt(64, 255)}.${randomInt(1, 255)}.${randomInt(1, 255)}`;
    const free = await Promise.all([389, 636, 3268, 3269].map((p) => canListen(addr, p)));
    if (free.every(Boolean)) return addr;
  }
  throw new Error(
    'no loopback address with free ports 389/636/3268/3269 (is this process allowed to bind ports < 1024?)',
  );
}

function smbConf(dir: string, addr: string): string {
  // Only the ldap service: no smbd, winbindd, kdc, dns, nbt, ntp_signd, kcc or drepl noise.
  return `[global]
	netbios name = ${HOST}
	workgroup = ${DOMAIN}
	realm = ${REALM}
	server role = active directory domain controller
	server services = ldap
	interfaces = ${addr}/8
	bind interfaces only = yes
	disable netbios = yes
	private dir = ${dir}/private
	lock directory = ${dir}
	state directory = ${dir}/state
	cache directory = ${dir}/cache
	binddns dir = ${dir}/bind-dns
	pid directory = ${dir}/run
	ncalrpc dir = ${dir}/run/ncalrpc
	winbindd socket directory = ${dir}/run/winbindd
	ntp signd socket directory = ${dir}/run/ntp_signd
	log file = ${dir}/log.%m
	idmap_ldb:use rfc2307 = yes
	tls enabled = yes
	tls keyfile = ${dir}/tls/key.pem
	tls certfile = ${dir}/tls/cert.pem
	tls cafile = ${dir}/tls/ca.pem
`;
}

export async function startSambaAd(opts: SambaOptions = {}): Promise<SambaAd> {
  const template = await sambaTemplate();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(template, opts);
    } catch (err) {
      lastError = err;
      // Lost the race for the address between pickAddress and Samba's bind: try another.
      if (!(err instanceof Error && /failed to bind|Address already in use/i.test(err.message))) throw err;
    }
  }
  throw lastError;
}

async function startOnce(template: string, opts: SambaOptions): Promise<SambaAd> {
  const dir = await mkdtemp(path.join(tmpdir(), 'reexport-samba-'));
  let daemon: Daemon | undefined;
  try {
    await execFileP('cp', ['-a', `${template}/.`, dir]);
    for (const sub of ['cache', 'run']) await mkdir(path.join(dir, sub), { recursive: true });
    const addr = await pickAddress();
    const servername = `${HOST}.${DNS_DOMAIN}`.toLowerCase();
    // Our own certificate instead of Samba's autogenerated one: that one has no SANs (CN only)
    // and costs an RSA keygen per start.
    const certs = await makeCertificates(path.join(dir, 'tls'), {
      commonName: servername,
      dnsNames: [DNS_DOMAIN, 'localhost'],
      ips: [addr],
    });
    const conf = path.join(dir, 'etc', 'smb.conf');
    await writeFile(conf, smbConf(dir, addr));

    daemon = spawnDaemon(
      SAMBA,
      ['-i', '-M', 'single', `--debuglevel=${opts.debugLevel ?? 0}`, '-s', conf],
      // -i exits when stdin hits EOF, which doubles as a lifeline to this process.
      {
        dir,
        cwd: dir,
        stdinPipe: true,
        env: { ...process.env, KRB5_CONFIG: path.join(dir, 'private', 'krb5.conf') },
      },
    );
    const d = daemon;
    const ldapsUrl = `ldaps://${addr}:636`;
    const timeoutMs = opts.startTimeoutMs ?? 60_000;
    const abort = () => {
      const s = d.exitStatus();
      if (s) return `samba ${s}. Output:\n${d.output()}`;
      if (/failed to bind/i.test(d.output())) return `samba could not bind. Output:\n${d.output()}`;
      return undefined;
    };
    const env = await ldapToolEnv(dir, certs.caFile);
    await waitUntil(`samba on ${ldapsUrl}`, () => tcpConnects(addr, 636), {
      timeoutMs,
      abort,
      intervalMs: 100,
    });
    await waitUntil(
      `samba rootDSE on ${ldapsUrl}`,
      () =>
        runLdapTool(
          LDAPSEARCH,
          ['-x', '-H', ldapsUrl, '-b', '', '-s', 'base', '-LLL', 'defaultNamingContext'],
          env,
        ).then(
          (o) => o.toLowerCase().includes(BASE_DN.toLowerCase()),
          () => false,
        ),
      { timeoutMs, abort },
    );

    const ca = await readFile(certs.caFile);
    const adminDN = `CN=Administrator,CN=Users,${BASE_DN}`;
    const client = async () => {
      const c = new Client({ url: ldapsUrl, tlsOptions: { ca, servername }, connectTimeout: 10_000 });
      await c.bind(adminDN, ADMIN_PASSWORD);
      return c;
    };
    return {
      ldapsUrl,
      ldapUrl: `ldap://${addr}:389`,
      caFile: certs.caFile,
      servername,
      address: addr,
      baseDN: BASE_DN,
      adminDN,
      adminPassword: ADMIN_PASSWORD,
      dir,
      pid: d.pid,
      output: () => d.output(),
      stop: () => d.stop(),
      client,
      addUsers: async (users, ou = 'OU=Ansatte') => {
        const c = await client();
        try {
          const ouDN = await ensureOu(c, ou);
          const dns: string[] = [];
          for (const u of users) dns.push(await addUser(c, ouDN, u));
          return dns;
        } finally {
          await c.unbind();
        }
      },
    };
  } catch (err) {
    if (daemon) await daemon.stop();
    else await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Create each level of `ou` (relative to the base DN, outermost last) unless it exists. */
async function ensureOu(c: Client, ou: string): Promise<string> {
  const rdns = ou
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  let dn = BASE_DN;
  for (const rdn of rdns.reverse()) {
    const [attr, value] = rdn.split('=');
    if (attr?.toLowerCase() !== 'ou' || !value) throw new Error(`addUsers: ${rdn} is not an OU=… RDN`);
    dn = `${rdn},${dn}`;
    try {
      await c.add(dn, { objectClass: ['top', 'organizationalUnit'], ou: value });
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
  }
  return dn;
}

async function addUser(c: Client, ouDN: string, user: AdUser): Promise<string> {
  const { password, ...attrs } = user;
  const dn = `CN=${escapeRdnValue(user.cn)},${ouDN}`;
  const list: Attribute[] = [
    new Attribute({ type: 'objectClass', values: ['top', 'person', 'organizationalPerson', 'user'] }),
  ];
  for (const [type, v] of Object.entries(attrs)) {
    if (v === undefined || type.toLowerCase() === 'objectclass') continue;
    list.push(new Attribute({ type, values: Array.isArray(v) ? v : [v] }));
  }
  if (password !== undefined) {
    // AD wants the password quoted and UTF-16LE encoded, and only accepts it over an encrypted connection.
    list.push(new Attribute({ type: 'unicodePwd', values: [Buffer.from(`"${password}"`, 'utf16le')] }));
    if (!('userAccountControl' in attrs))
      list.push(new Attribute({ type: 'userAccountControl', values: ['512'] }));
  }
  await c.add(dn, list);
  return dn;
}

function escapeRdnValue(v: string): string {
  return v
    .replace(/[,+"\\<>;=]/g, (ch) => `\\${ch}`)
    .replace(/^([ #])/, '\\$1')
    .replace(/ $/, '\\ ');
}
