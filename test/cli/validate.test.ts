import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { REQUEST } from '../config/fixtures.js';
import { baseRepo, DAEMON } from '../config/fixtures.js';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('reexport validate', () => {
  it('passes on config-example, with and without its daemon config', async () => {
    const plain = await runCli(['validate', 'config-example']);
    expect(plain).toMatchObject({ code: 0, stderr: '' });
    expect(plain.stdout).toMatch(
      /^ok: 1 template, 3 requests \(targets, sources and allowed attributes not checked: give --config\)\n$/,
    );
    const full = await runCli([
      'validate',
      'config-example',
      '--config',
      'config-example/daemon-config.example.yaml',
    ]);
    expect(full).toMatchObject({ code: 0, stdout: 'ok: 1 template, 3 requests\n' });
  });

  it('exits 1 with file:line:col lines, and changes nothing', async () => {
    const { dir, cleanup } = await makeDir({
      ...baseRepo(),
      'requests/new-mail.yaml': REQUEST.replace('users: all', 'users: everyone').replace(
        '[mail]',
        '[mail, pager]',
      ),
    });
    cleanups.push(cleanup);
    const before = await readdir(dir, { recursive: true });
    const res = await runCli(['validate', dir]);
    expect(res.code).toBe(1);
    expect(res.stdout.split('\n')).toEqual([
      'requests/new-mail.yaml:7:20: template `ad-employees` has no mapping for `pager` (it maps mail, company); or use mappings: all',
      'requests/new-mail.yaml:8:10: spec.users: users must be all, { ids: ["1001", "1002"] } or { where: { department: IT } }',
      '2 errors',
      '',
    ]);
    expect(await readdir(dir, { recursive: true })).toEqual(before);
  });

  it('reports errors in the daemon config with its path', async () => {
    const { dir, cleanup } = await makeDir({
      ...baseRepo(),
      'daemon.yaml': DAEMON.replace('ldaps://', 'ftp://'),
    });
    cleanups.push(cleanup);
    const res = await runCli(['validate', dir, '--config', `${dir}/daemon.yaml`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`^${dir}/daemon.yaml:5:10: targets.ad.url .ftp://`));
  });

  it('exits 2 on usage errors', async () => {
    expect((await runCli(['validate', '/nonexistent/folder'])).code).toBe(2);
    expect((await runCli(['validate', '--bogus'])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
  });
});
