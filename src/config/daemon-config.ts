import { access, constants, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, UsageError } from '../shared/errors.js';
import { type Diagnostic, sortDiagnostics } from '../shared/diagnostics.js';
import { DAEMON_CONFIG_SCHEMA, withSchemaDefaults } from './defaults.js';
import { daemonConfigSchema } from './schemas.generated.js';
import { loadYamlFile } from './load-file.js';
import type { DaemonConfig, ResolvedDaemonConfig } from './types.generated.js';
import { locate, type YamlFile } from './yaml-file.js';

export type { ResolvedDaemonConfig };

export interface LoadedDaemonConfig {
  /** Absolute path of the file. */
  path: string;
  /** Every default filled in from the schema, every file path absolute. */
  config: ResolvedDaemonConfig;
  yaml: YamlFile;
}

/**
 * Loads and checks the operator's config and resolves it once: defaults from the schema, paths
 * (the schema's `x-path` fields) against the file's folder. Throws ConfigError with every located
 * problem.
 */
export async function loadDaemonConfig(file: string): Promise<LoadedDaemonConfig> {
  const abs = path.resolve(file);
  const checked = await loadYamlFile<DaemonConfig>(abs, file, 'daemon-config');
  if (!checked.value || !checked.yaml) throw new ConfigError(checked.diagnostics);
  const diagnostics = await daemonConfigRules(abs, checked.value, checked.yaml);
  if (diagnostics.length) throw new ConfigError(sortDiagnostics(diagnostics));
  return { path: abs, config: resolveDaemonConfig(checked.value, abs), yaml: checked.yaml };
}

/** A schema-valid daemon config with its defaults filled in and its paths resolved against `file`'s folder. */
export function resolveDaemonConfig(config: DaemonConfig, file: string): ResolvedDaemonConfig {
  // The generated ResolvedDaemonConfig requires exactly the properties that have a schema default,
  // which are the ones withSchemaDefaults fills (test/config/defaults.test.ts walks the schema).
  return withSchemaDefaults(DAEMON_CONFIG_SCHEMA, config, (p) =>
    resolveFromConfig(file, p),
  ) as ResolvedDaemonConfig;
}

/** The repo section, which the daemon needs (the CLI's preview and apply do not). */
export function repoOf(
  loaded: Pick<LoadedDaemonConfig, 'path' | 'config'>,
): NonNullable<ResolvedDaemonConfig['repo']> {
  if (!loaded.config.repo)
    throw new UsageError(`${loaded.path}: the daemon needs repo.url (the config repository)`);
  return loaded.config.repo;
}

/**
 * The daemon's own folder (clone, journal, state): repo.workdir, or its schema default next to the
 * config file when the config has no repo section (the CLI's preview and apply need none).
 */
export function workdirOf(loaded: Pick<LoadedDaemonConfig, 'path' | 'config'>): string {
  const { repo } = loaded.config;
  if (repo) return repo.workdir;
  return resolveFromConfig(loaded.path, daemonConfigSchema.properties.repo.properties.workdir.default);
}

/** Resolves a path written in the daemon config against the config file's folder. */
function resolveFromConfig(configFile: string, p: string): string {
  return path.resolve(path.dirname(configFile), p);
}

async function daemonConfigRules(file: string, config: DaemonConfig, yaml: YamlFile): Promise<Diagnostic[]> {
  const out: Diagnostic[] = [];
  const at = (p: (string | number)[], message: string) =>
    out.push({ file: yaml.file, ...locate(yaml, p), message });

  if (config.schedule !== undefined) {
    // Loaded only for a config with a schedule: cron and its date library cost every command 10 ms.
    const { validateCronExpression } = await import('cron');
    const check = validateCronExpression(config.schedule);
    if (!check.valid)
      at(['schedule'], `schedule \`${config.schedule}\` is not a valid cron expression (e.g. "*/5 * * * *")`);
  }
  if (config.timeZone !== undefined && !(await isTimeZone(config.timeZone)))
    at(['timeZone'], `timeZone \`${config.timeZone}\` is not a time zone cron knows (e.g. Europe/Oslo)`);
  const connections = connectionsOf(config);
  for (const [p, c] of connections) {
    if (c.passwordFile && c.passwordEnv)
      at([...p, 'passwordFile'], 'give passwordFile or passwordEnv, not both');
    if (c.bindDN && !c.passwordFile && !c.passwordEnv)
      at([...p, 'bindDN'], 'bindDN needs passwordFile or passwordEnv');
    if (c.tls?.caFile) {
      const pem = await readFile(resolveFromConfig(file, c.tls.caFile), 'utf8').catch(() => undefined);
      if (pem === undefined)
        at(
          [...p, 'tls', 'caFile'],
          `caFile ${c.tls.caFile} cannot be read; give the PEM file of the CA that issued the directory's certificate`,
        );
      // A placeholder or a DER file would fail only at the first connection.
      else if (!PEM_CERTIFICATE.test(pem))
        at(
          [...p, 'tls', 'caFile'],
          `caFile ${c.tls.caFile} holds no PEM certificate; give the PEM file of the CA that issued the directory's certificate (openssl x509 -inform der -in ca.cer -out ca.pem converts a DER one)`,
        );
    }
  }
  for (const [name, t] of Object.entries(config.targets)) {
    const seen = new Map<string, number>();
    t.allowedAttributes.forEach((a, i) => {
      if (seen.has(a.toLowerCase()))
        at(['targets', name, 'allowedAttributes', i], `\`${a}\` is listed twice`);
      seen.set(a.toLowerCase(), i);
    });
  }
  return out;
}

/** Whether cron takes the schedule's time zone (IANA names, and luxon's `UTC+1`, `local`, `system`). */
async function isTimeZone(zone: string): Promise<boolean> {
  const { CronTime } = await import('cron');
  try {
    new CronTime('* * * * *', zone);
    return true;
  } catch {
    return false;
  }
}

/** A PEM certificate, as Node's TLS takes it (OpenSSL's trusted form too). */
export const PEM_CERTIFICATE = /-----BEGIN (TRUSTED )?CERTIFICATE-----/;

type Connection = { bindDN?: string; passwordFile?: string; passwordEnv?: string; tls?: { caFile?: string } };

/** The config's directory connections (targets, LDAP sources), each with its path in the file. */
function connectionsOf(config: DaemonConfig): Array<[string[], Connection]> {
  return [
    ...Object.entries(config.targets).map(([n, t]) => [['targets', n], t] as [string[], Connection]),
    ...Object.entries(config.sources ?? {}).flatMap(([n, s]) =>
      s.type === 'ldap' ? [[['sources', n], s] as [string[], Connection]] : [],
    ),
  ];
}

/**
 * The secret and key files a command reads, located where the config names them when one is not
 * a readable file: the webhook secret for `daemon` and `refresh`, the keys and bind passwords for
 * `daemon`, `once` and `apply`; none for `validate` or `preview` on a workstation without the
 * mounted secrets.
 */
export async function daemonFileRules(
  loaded: LoadedDaemonConfig,
  reads: { webhookSecret: boolean; keys: boolean },
): Promise<Diagnostic[]> {
  const { yaml } = loaded;
  const config = yaml.value as DaemonConfig;
  const out: Diagnostic[] = [];
  const webhook: Array<[(string | number)[], string | undefined, string]> = [
    [['http', 'webhookSecretFile'], config.http?.webhookSecretFile, 'the webhook secret'],
  ];
  const keys: Array<[(string | number)[], string | undefined, string]> = [
    [['signing', 'keyFile'], config.signing?.keyFile, "the daemon's Ed25519 private key (PEM)"],
    ...(config.signing?.trustedPublicKeyFiles ?? []).map(
      (f, i) =>
        [['signing', 'trustedPublicKeyFiles', i], f, 'a trusted public key (PEM)'] as [
          (string | number)[],
          string,
          string,
        ],
    ),
    ...connectionsOf(config).map(
      ([p, c]) =>
        [[...p, 'passwordFile'], c.passwordFile, 'the bind password'] as [
          string[],
          string | undefined,
          string,
        ],
    ),
  ];
  const files = [...(reads.webhookSecret ? webhook : []), ...(reads.keys ? keys : [])];
  for (const [p, f, what] of files) {
    if (f === undefined) continue;
    const st = await stat(resolveFromConfig(loaded.path, f)).catch(() => undefined);
    const why = !st
      ? 'cannot be read'
      : st.isDirectory()
        ? 'is a folder; give the file in it'
        : (await readable(resolveFromConfig(loaded.path, f)))
          ? undefined
          : 'cannot be read';
    if (why)
      out.push({
        file: yaml.file,
        ...locate(yaml, p),
        message: `${f} ${why}; it should hold ${what} (a mounted Secret?)`,
      });
  }
  return sortDiagnostics(out);
}

async function readable(p: string): Promise<boolean> {
  try {
    await access(p, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
