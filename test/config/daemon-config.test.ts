import { afterEach, describe, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { ConfigError } from '../../src/shared/errors.js';
import { makeDir } from '../harness/files.js';
import { DAEMON } from './fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function load(text: string) {
  const { dir, cleanup } = await makeDir({ 'daemon.yaml': text });
  cleanups.push(cleanup);
  try {
    return { config: await loadDaemonConfig(`${dir}/daemon.yaml`), errors: [] as string[] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { errors: err.message.split('\n').map((l) => l.replace(`${dir}/`, '')) };
  }
}

describe('loadDaemonConfig', () => {
  it('loads a minimal config', async () => {
    const { config, errors } = await load(DAEMON);
    expect(errors).toEqual([]);
    expect(config?.config.targets.ad?.allowedAttributes).toEqual(['mail', 'company']);
  });

  it('loads the example daemon config of config-example/', async () => {
    const loaded = await loadDaemonConfig('config-example/daemon-config.example.yaml');
    expect(Object.keys(loaded.config.targets)).toEqual(['ad']);
  });

  it('reports a bad cron schedule, a password given twice and a missing CA file, each located', async () => {
    const { errors } = await load(
      `${DAEMON}schedule: "every minute please"\n`.replace(
        '    allowedAttributes',
        '    bindDN: CN=svc,DC=kommune,DC=test\n    passwordFile: /run/secrets/pw\n    passwordEnv: PW\n    tls: { caFile: ./missing-ca.pem }\n    allowedAttributes',
      ),
    );
    expect(errors).toEqual([
      'daemon.yaml:7:19: give passwordFile or passwordEnv, not both',
      "daemon.yaml:9:20: caFile ./missing-ca.pem cannot be read; give the PEM file of the CA that issued the directory's certificate",
      'daemon.yaml:13:11: schedule `every minute please` is not a valid cron expression (e.g. "*/5 * * * *")',
    ]);
  });

  it('refuses a plain-text connection URL scheme it does not know', async () => {
    const { errors } = await load(DAEMON.replace('ldaps://', 'http://'));
    expect(errors).toEqual([
      expect.stringMatching(
        /daemon\.yaml:5:10: targets\.ad\.url `http:\/\/dc01\.kommune\.test:636` is not valid/,
      ),
    ]);
  });

  it('refuses a target without an attribute allowlist', async () => {
    const { errors } = await load(DAEMON.replace('    allowedAttributes: [mail, company]\n', ''));
    expect(errors).toEqual([
      expect.stringMatching(
        /daemon\.yaml:4:3: targets\.ad: missing required field `allowedAttributes`; add it/,
      ),
    ]);
  });
});
