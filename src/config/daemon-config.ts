import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { validateCronExpression } from 'cron';
import { ConfigError } from '../shared/errors.js';
import { type Diagnostic, sortDiagnostics } from '../shared/diagnostics.js';
import { loadYamlFile } from './load-file.js';
import type { DaemonConfig } from './types.generated.js';
import { locate, type YamlFile } from './yaml-file.js';

export interface LoadedDaemonConfig {
  /** Absolute path of the file; relative paths inside it resolve against its folder. */
  path: string;
  config: DaemonConfig;
  yaml: YamlFile;
}

/** Loads and checks the operator's config; throws ConfigError with every located problem. */
export async function loadDaemonConfig(file: string): Promise<LoadedDaemonConfig> {
  const abs = path.resolve(file);
  const checked = await loadYamlFile<DaemonConfig>(abs, file, 'daemon-config');
  if (!checked.value || !checked.yaml) throw new ConfigError(checked.diagnostics);
  const loaded = { path: abs, config: checked.value, yaml: checked.yaml };
  const diagnostics = await daemonConfigRules(loaded);
  if (diagnostics.length) throw new ConfigError(sortDiagnostics(diagnostics));
  return loaded;
}

/** Resolves a path written in the daemon config against the config file's folder. */
export function resolveFromConfig(loaded: Pick<LoadedDaemonConfig, 'path'>, p: string): string {
  return path.resolve(path.dirname(loaded.path), p);
}

async function daemonConfigRules(loaded: LoadedDaemonConfig): Promise<Diagnostic[]> {
  const { config, yaml } = loaded;
  const out: Diagnostic[] = [];
  const at = (p: (string | number)[], message: string) =>
    out.push({ file: yaml.file, ...locate(yaml, p), message });

  if (config.schedule !== undefined) {
    const check = validateCronExpression(config.schedule);
    if (!check.valid)
      at(['schedule'], `schedule \`${config.schedule}\` is not a valid cron expression (e.g. "*/5 * * * *")`);
  }
  const connections: Array<
    [string[], { bindDN?: string; passwordFile?: string; passwordEnv?: string; tls?: { caFile?: string } }]
  > = [
    ...Object.entries(config.targets).map(([n, t]) => [['targets', n], t] as [string[], typeof t]),
    ...Object.entries(config.sources ?? {}).flatMap(([n, s]) =>
      s.type === 'ldap' ? [[['sources', n], s] as [string[], typeof s]] : [],
    ),
  ];
  for (const [p, c] of connections) {
    if (c.passwordFile && c.passwordEnv)
      at([...p, 'passwordFile'], 'give passwordFile or passwordEnv, not both');
    if (c.bindDN && !c.passwordFile && !c.passwordEnv)
      at([...p, 'bindDN'], 'bindDN needs passwordFile or passwordEnv');
    if (c.tls?.caFile && !(await readable(resolveFromConfig(loaded, c.tls.caFile)))) {
      at(
        [...p, 'tls', 'caFile'],
        `caFile ${c.tls.caFile} cannot be read; give the PEM file of the CA that issued the directory's certificate`,
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

async function readable(p: string): Promise<boolean> {
  try {
    await access(p, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
