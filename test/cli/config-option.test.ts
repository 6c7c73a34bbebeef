import { describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';

describe('the daemon config option', () => {
  it('comes from REEXPORT_CONFIG when -c is not given, and an empty one is no config', async () => {
    const none = await runCli(['once'], { env: { REEXPORT_CONFIG: '' } });
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('usage: REEXPORT_CONFIG is empty; give the daemon config with -c FILE\n');
    const missing = await runCli(['once'], { env: { REEXPORT_CONFIG: '/nonexistent/reexport.yaml' } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^\/nonexistent\/reexport\.yaml:1:1: cannot be read/);
    const unset = await runCli(['once'], { env: { REEXPORT_CONFIG: undefined } });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/required option '-c, --config <file>' not specified/);
  });

  it('refuses an empty -c, and `refresh` says, located, that its webhook secret file is missing', async () => {
    const empty = await runCli(['once', '-c', '']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe('usage: -c is empty; give the daemon config file\n');
    const { dir, cleanup } = await makeDir({
      'daemon.yaml':
        'apiVersion: reexport/v1\nkind: DaemonConfig\ntargets:\n  ad: { url: "ldaps://dc01:636", allowedAttributes: [mail] }\nhttp: { webhookSecretFile: ./missing-secret }\n',
    });
    try {
      const refresh = await runCli(['refresh', '-c', `${dir}/daemon.yaml`]);
      expect(refresh.code).toBe(1);
      expect(refresh.stderr).toBe(
        `${dir}/daemon.yaml:5:28: ./missing-secret cannot be read; it should hold the webhook secret (a mounted Secret?)\n`,
      );
    } finally {
      await cleanup();
    }
  });
});
