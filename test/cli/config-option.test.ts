import { describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';

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
});
