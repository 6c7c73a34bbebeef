import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, describe, expect, it } from 'vitest';
import { resolvedSchema } from '../../scripts/render-types.js';
import { readSchema } from '../../scripts/render-schemas.js';
import { loadDaemonConfig, workdirOf } from '../../src/config/daemon-config.js';
import { TEMPLATE_DEFAULTS } from '../../src/config/defaults.js';
import { decideChange } from '../../src/plan/values.js';
import { makeDir } from '../harness/files.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function load(files: Record<string, string>) {
  const made = await makeDir(files);
  cleanups.push(made.cleanup);
  return { dir: made.dir, loaded: await loadDaemonConfig(path.join(made.dir, 'etc/daemon.yaml')) };
}

const MINIMAL = `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: /srv/git/iam-config.git }
targets:
  ad: { url: "ldaps://dc01.kommune.test", allowedAttributes: [mail] }
sources:
  hr: { type: csv, path: hr/employees.csv, id: employeeId }
  idm: { type: ldap, url: "ldaps://idm.kommune.test", baseDN: "o=idm", id: uid }
`;

describe('the daemon config resolved once, defaults from the schema', () => {
  it('a minimal config loads with every default filled in and every path absolute', async () => {
    const { dir, loaded } = await load({ 'etc/daemon.yaml': MINIMAL });
    const etc = path.join(dir, 'etc');
    const tls = { startTLS: false, rejectUnauthorized: true };
    const connection = { tls, timeoutMs: 120_000, pageSize: 1000 };
    expect(loaded.config).toEqual({
      apiVersion: 'reexport/v1',
      kind: 'DaemonConfig',
      repo: {
        url: '/srv/git/iam-config.git',
        branch: 'main',
        previewBranches: ['*'],
        workdir: path.join(etc, 'var/reexport'),
        author: { name: 'reexport', email: 'reexport@localhost' },
      },
      schedule: '*/1 * * * *',
      safety: { maxChanges: 500, maxClears: 100, requireReviewedPreview: true },
      signing: { trustedPublicKeyFiles: [] },
      execution: { claimTimeoutSeconds: 900, retry: { attempts: 5, baseDelayMs: 200 } },
      targets: {
        ad: { url: 'ldaps://dc01.kommune.test', allowedAttributes: ['mail'], concurrency: 32, ...connection },
      },
      sources: {
        hr: { type: 'csv', path: path.join(etc, 'hr/employees.csv'), id: 'employeeId' },
        idm: {
          type: 'ldap',
          url: 'ldaps://idm.kommune.test',
          baseDN: 'o=idm',
          id: 'uid',
          filter: '(objectClass=*)',
          attributes: ['*'],
          ...connection,
        },
      },
      http: { port: 9464, host: '0.0.0.0' },
      preview: { maxUsersInMarkdown: 200, refreshIntervalMinutes: 60 },
      log: { level: 'info' },
    });
  });

  it('the resolved config has every property ResolvedDaemonConfig requires (the type and the filling agree)', async () => {
    // The generated type requires exactly what the schema defaults; checking the filled config
    // against that same derived schema proves the cast in resolveDaemonConfig is true.
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(resolvedSchema(await readSchema('daemon-config')));
    const configs = [
      MINIMAL,
      `apiVersion: reexport/v1\nkind: DaemonConfig\ntargets:\n  ad: { url: "ldap://dc", allowedAttributes: [mail], tls: { startTLS: true } }\n`,
    ];
    for (const text of configs) {
      const { loaded } = await load({ 'etc/daemon.yaml': text });
      expect(validate(loaded.config), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('keeps what the operator wrote, and resolves every file path against the config file', async () => {
    const { dir, loaded } = await load({
      'etc/ca.pem': '-----BEGIN CERTIFICATE-----\n',
      // The files the config names must be readable (daemonConfigRules).
      'etc/secrets/hook': 'hook\n',
      'etc/keys/signing.pem': 'key\n',
      'etc/keys/old.pub.pem': 'key\n',
      'etc/secrets/pw': 'pw\n',
      'etc/daemon.yaml': `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: /srv/git/iam-config.git, branch: trunk, workdir: ../state }
safety: { maxChanges: 10, requireReviewedPreview: false }
signing: { keyFile: keys/signing.pem, trustedPublicKeyFiles: [keys/old.pub.pem] }
targets:
  ad:
    url: "ldaps://dc01"
    bindDN: CN=svc
    passwordFile: secrets/pw
    tls: { caFile: ca.pem, rejectUnauthorized: false }
    allowedAttributes: [mail]
    concurrency: 8
http: { port: 0, webhookSecretFile: secrets/hook }
`,
    });
    const etc = path.join(dir, 'etc');
    const { config } = loaded;
    expect(config.repo).toMatchObject({ branch: 'trunk', workdir: path.join(dir, 'state') });
    expect(config.safety).toEqual({ maxChanges: 10, maxClears: 100, requireReviewedPreview: false });
    expect(config.signing).toEqual({
      keyFile: path.join(etc, 'keys/signing.pem'),
      trustedPublicKeyFiles: [path.join(etc, 'keys/old.pub.pem')],
    });
    expect(config.targets.ad).toMatchObject({
      passwordFile: path.join(etc, 'secrets/pw'),
      tls: { caFile: path.join(etc, 'ca.pem'), rejectUnauthorized: false, startTLS: false },
      concurrency: 8,
    });
    expect(config.http).toEqual({
      port: 0,
      host: '0.0.0.0',
      webhookSecretFile: path.join(dir, 'etc/secrets/hook'),
    });
  });

  it('the workdir of a config without a repo section is the schema default next to the config file', async () => {
    const { dir, loaded } = await load({
      'etc/daemon.yaml': `apiVersion: reexport/v1\nkind: DaemonConfig\ntargets:\n  ad: { url: "ldaps://dc", allowedAttributes: [mail] }\n`,
    });
    expect(loaded.config.repo).toBeUndefined();
    expect(workdirOf(loaded)).toBe(path.join(dir, 'etc/var/reexport'));
  });

  it('template defaults come from the template schema', async () => {
    expect(TEMPLATE_DEFAULTS).toEqual({ policy: 'replace', onEmpty: 'clear', searchScope: 'sub' });
    // No policy and no onEmpty: replace, and an empty value clears.
    expect(decideChange(['a', 'b'], ['c'], {})).toEqual({ kind: 'change', after: ['c'] });
    expect(decideChange(['a'], [], {})).toEqual({ kind: 'change', after: [] });
  });
});

/** Every file under src/, except the generated ones (which are the schemas, restated). */
async function sources(dir = path.resolve('src')): Promise<Array<{ file: string; text: string }>> {
  const out: Array<{ file: string; text: string }> = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.generated.ts'))
      out.push({ file: path.relative(process.cwd(), p), text: await readFile(p, 'utf8') });
  }
  return out;
}

describe('no default written outside the schema', () => {
  it('src/ holds none of the known default literals and re-defaults no defaulted setting', async () => {
    const defaulted = new Set<string>();
    const walk = (n: unknown, key?: string): void => {
      if (typeof n !== 'object' || n === null) return;
      const node = n as Record<string, unknown>;
      if (key && node.default !== undefined && typeof node.default !== 'object') defaulted.add(key);
      for (const [k, v] of Object.entries(node)) walk(v, k);
    };
    for (const name of ['daemon-config', 'sync-template', 'reexport-request']) walk(await readSchema(name));
    expect([...defaulted]).toEqual(expect.arrayContaining(['schedule', 'workdir', 'port', 'maxChanges']));
    const patterns: RegExp[] = [
      /\*\/1 \* \* \* \*/,
      /\.\/var\/reexport/,
      /\b9464\b/,
      /\b120_?000\b/,
      /reexport@localhost/,
      /\bDEFAULT_SAFETY\b/,
      /maxChanges: 500|maxClears: 100/,
      /attempts: 5, baseDelayMs: 200/,
      /\?\? '(replace|clear|main|info)'/,
      /\?\? \['\*'\]/,
      // A defaulted setting read from the config and then given a fallback: a second default.
      new RegExp(
        `\\b(config|cfg|target|def|conn|tls|safety|http|preview|repo|log|mapping|scope|spec)\\??\\.` +
          `(${[...defaulted].join('|')})\\s*\\?\\?(?!\\s*(TEMPLATE_DEFAULTS|schema\\.))`,
      ),
    ];
    const found: string[] = [];
    for (const { file, text } of await sources()) {
      if (file === path.join('src', 'config', 'defaults.ts')) continue;
      text.split('\n').forEach((line, i) => {
        for (const re of patterns) if (re.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });
});
