import { afterEach, describe, expect, it } from 'vitest';
import { daemonFileRules, loadDaemonConfig } from '../../src/config/daemon-config.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';
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

  it('reports a time zone cron does not know, and accepts the ones it does', async () => {
    expect((await load(`${DAEMON}timeZone: Europe/Osloo\n`)).errors).toEqual([
      'daemon.yaml:9:11: timeZone `Europe/Osloo` is not a time zone cron knows (e.g. Europe/Oslo)',
    ]);
    for (const zone of ['Europe/Oslo', 'UTC+1', 'local'])
      expect((await load(`${DAEMON}timeZone: ${zone}\n`)).errors).toEqual([]);
  });

  it('says which secret and key files a running daemon could not read, for the commands that read them', async () => {
    const text = `${DAEMON.replace('    allowedAttributes', '    bindDN: CN=svc\n    passwordFile: ./pw\n    allowedAttributes')}http: { webhookSecretFile: secrets }\nsigning: { keyFile: ./no-key.pem, trustedPublicKeyFiles: [./gone.pem] }\n`;
    const { dir, cleanup } = await makeDir({ 'daemon.yaml': text, 'secrets/hook': 'x\n' });
    cleanups.push(cleanup);
    // validate and preview on a workstation load it: the mounted secrets need not be there.
    const loaded = await loadDaemonConfig(`${dir}/daemon.yaml`);
    const problems = (await daemonFileRules(loaded, { webhookSecret: true, keys: true })).map((d) =>
      formatDiagnostic(d).replace(`${dir}/`, ''),
    );
    expect(problems).toEqual([
      'daemon.yaml:7:19: ./pw cannot be read; it should hold the bind password (a mounted Secret?)',
      'daemon.yaml:11:28: secrets is a folder; give the file in it; it should hold the webhook secret (a mounted Secret?)',
      "daemon.yaml:12:21: ./no-key.pem cannot be read; it should hold the daemon's Ed25519 private key (PEM) (a mounted Secret?)",
      'daemon.yaml:12:59: ./gone.pem cannot be read; it should hold a trusted public key (PEM) (a mounted Secret?)',
    ]);
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
