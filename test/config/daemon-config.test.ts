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
      'daemon.yaml:7:19: /run/secrets/pw cannot be read; it should hold the bind password (a mounted Secret?)',
      'daemon.yaml:7:19: give passwordFile or passwordEnv, not both',
      "daemon.yaml:9:20: caFile ./missing-ca.pem cannot be read; give the PEM file of the CA that issued the directory's certificate",
      'daemon.yaml:13:11: schedule `every minute please` is not a valid cron expression (e.g. "*/5 * * * *")',
    ]);
  });

  it('reports a time zone cron does not know and secret files that cannot be read, each located', async () => {
    const { errors } = await load(
      `${DAEMON}timeZone: Europe/Osloo\nhttp: { webhookSecretFile: secrets/nope }\nsigning: { keyFile: ./no-key.pem, trustedPublicKeyFiles: [./gone.pem] }\n`,
    );
    expect(errors).toEqual([
      'daemon.yaml:9:11: timeZone `Europe/Osloo` is not an IANA time zone (e.g. Europe/Oslo)',
      'daemon.yaml:10:28: secrets/nope cannot be read; it should hold the webhook secret (a mounted Secret?)',
      "daemon.yaml:11:21: ./no-key.pem cannot be read; it should hold the daemon's Ed25519 private key (PEM) (a mounted Secret?)",
      'daemon.yaml:11:59: ./gone.pem cannot be read; it should hold a trusted public key (PEM) (a mounted Secret?)',
    ]);
    expect((await load(`${DAEMON}timeZone: Europe/Oslo\n`)).errors).toEqual([]);
  });

  it('reports a caFile that holds no PEM certificate (a placeholder, a DER file) before any connection', async () => {
    const { dir, cleanup } = await makeDir({
      'daemon.yaml': DAEMON.replace(
        '    allowedAttributes',
        '    tls: { caFile: ./ca.pem }\n    allowedAttributes',
      ),
      'ca.pem': 'PLACEHOLDER: replace this file with the CA certificate\n',
    });
    cleanups.push(cleanup);
    await expect(loadDaemonConfig(`${dir}/daemon.yaml`)).rejects.toThrow(
      /daemon\.yaml:\d+:\d+: caFile \.\/ca\.pem holds no PEM certificate/,
    );
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
