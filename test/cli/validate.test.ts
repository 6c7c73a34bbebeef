import { readdir, truncate } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { baseRepo, DAEMON, REQUEST, TEMPLATE } from '../config/fixtures.js';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function repoWith(files: Record<string, string | Buffer>): Promise<string> {
  const { dir, cleanup } = await makeDir({ ...baseRepo(), ...files });
  cleanups.push(cleanup);
  return dir;
}

/** Two errors and a warning; the warning's message holds `%` to check the GitHub escaping. */
const BROKEN = {
  'requests/new-mail.yaml': REQUEST.replace('[mail]', '[mail, pager]').replace(
    'users: all',
    'users: { where: { departmnt: IT } }',
  ),
  'requests/two.yaml': REQUEST.replace('name: new-mail', 'name: two').replace(
    'users: all',
    'users: { ids: ["1001", "42%"] }',
  ),
};

/** GitHub's workflow command syntax: ::error|warning|notice [props]::message, one line, %/CR/LF escaped. */
const GITHUB_LINE =
  /^::(error|warning|notice)( (file=[^,:]+,line=\d+,col=\d+,)?title=[^,:]+)?::([^%\r\n]|%25|%0D|%0A)*$/;

describe('reexport validate', () => {
  it('passes on config-example, with and without its daemon config; data on stdout only', async () => {
    const plain = await runCli(['validate', 'config-example']);
    expect(plain).toMatchObject({ code: 0, stdout: '' });
    expect(plain.stderr).toBe(
      'note: targets, sources and allowed attributes not checked: give --config\nok: 1 template, 3 requests\n',
    );
    const full = await runCli([
      'validate',
      'config-example',
      '--config',
      'config-example/daemon-config.example.yaml',
    ]);
    expect(full).toMatchObject({ code: 0, stdout: '', stderr: 'ok: 1 template, 3 requests\n' });
  });

  it('exits 1 with file:line:col lines on stderr, warnings marked, and changes nothing', async () => {
    const dir = await repoWith(BROKEN);
    const before = await readdir(dir, { recursive: true });
    const res = await runCli(['validate', dir]);
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr.split('\n')).toEqual([
      'requests/new-mail.yaml:7:20: template `ad-employees` has no mapping for `pager` (it maps mail, company); or use mappings: all',
      'requests/new-mail.yaml:8:21: `departmnt` is not a field of data/people.csv (fields: employeeId, givenName, sn)',
      'requests/two.yaml:8:26: warning: user ID `42%` is not in data/people.csv; the preview will list it as not found',
      'note: targets, sources and allowed attributes not checked: give --config',
      '2 errors, 1 warning',
      '',
    ]);
    expect(await readdir(dir, { recursive: true })).toEqual(before);
  });

  it('refuses a source file larger than the memory it has for sources, before reading it', async () => {
    const dir = await repoWith({});
    // A sparse file: 300 MB to stat, no disk. Under a 512 MiB container's heap, that is too much.
    await truncate(path.join(dir, 'data/people.csv'), 300 * 1024 * 1024);
    const res = await runCli(['validate', dir], { env: { NODE_OPTIONS: '--max-old-space-size=200' } });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /templates\/ad-employees.yaml:7:19: source file is 300.0 MiB, more than the \d+\.\d MiB this daemon has for source files \(its memory\); give the daemon more memory/,
    );
  });

  it('exits 0 when there are only warnings', async () => {
    const dir = await repoWith({ 'requests/two.yaml': BROKEN['requests/two.yaml'] });
    const res = await runCli(['validate', dir]);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/\n0 errors, 1 warning\n$/);
  });

  it('--format json: an object with every diagnostic and the counts, on stdout', async () => {
    const dir = await repoWith(BROKEN);
    const res = await runCli(['validate', dir, '--format', 'json']);
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout) as {
      ok: boolean;
      diagnostics: Array<Record<string, unknown>>;
      counts: Record<string, number>;
    };
    expect(out.ok).toBe(false);
    expect(out.counts).toEqual({ errors: 2, warnings: 1, templates: 1, requests: 2 });
    expect(out.diagnostics[2]).toEqual({
      file: 'requests/two.yaml',
      line: 8,
      col: 26,
      severity: 'warning',
      message: 'user ID `42%` is not in data/people.csv; the preview will list it as not found',
    });
    for (const d of out.diagnostics)
      expect(Object.keys(d).sort()).toEqual(['col', 'file', 'line', 'message', 'severity']);
  });

  it('--format github: one workflow command per finding, escaped as GitHub documents', async () => {
    const dir = await repoWith(BROKEN);
    const res = await runCli(['validate', dir, '--format', 'github']);
    expect(res.code).toBe(1);
    const lines = res.stdout.trimEnd().split('\n');
    for (const l of lines) expect(l).toMatch(GITHUB_LINE);
    expect(lines).toEqual([
      expect.stringMatching(
        /^::error file=requests\/new-mail\.yaml,line=7,col=20,title=reexport validate::template/,
      ),
      '::error file=requests/new-mail.yaml,line=8,col=21,title=reexport validate::`departmnt` is not a field of data/people.csv (fields: employeeId, givenName, sn)',
      expect.stringMatching(
        /^::warning file=requests\/two\.yaml,line=8,col=26,title=reexport validate::user ID `42%25` is not in/,
      ),
      '::notice title=reexport validate::targets, sources and allowed attributes not checked: give --config',
    ]);
  });

  it('--format gitlab: a Code Quality report with stable fingerprints', async () => {
    const dir = await repoWith(BROKEN);
    const first = await runCli(['validate', dir, '--format', 'gitlab']);
    const second = await runCli(['validate', dir, '--format', 'gitlab']);
    expect(first.code).toBe(1);
    const report = JSON.parse(first.stdout) as Array<Record<string, unknown>>;
    expect(report).toHaveLength(3);
    expect(report[0]).toEqual({
      description: expect.stringMatching(/no mapping for `pager`/),
      check_name: 'reexport-validate',
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
      severity: 'major',
      location: { path: 'requests/new-mail.yaml', lines: { begin: 7 } },
    });
    expect(report[2]).toMatchObject({ severity: 'minor' });
    expect(new Set(report.map((r) => r.fingerprint)).size).toBe(3);
    expect(first.stdout).toBe(second.stdout);
  });

  it('a folder that is not a config repository is invalid', async () => {
    const res = await runCli(['validate', 'src']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^\.:1:1: is not a config repository: it has neither templates\/ nor requests\//,
    );
  });

  it('reports errors in the daemon config with its path, in the chosen format', async () => {
    const dir = await repoWith({ 'daemon.yaml': DAEMON.replace('ldaps://', 'ftp://') });
    const res = await runCli(['validate', dir, '--config', `${dir}/daemon.yaml`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`^${dir}/daemon.yaml:5:10: targets.ad.url .ftp://`));
    const json = await runCli(['validate', dir, '--config', `${dir}/daemon.yaml`, '--format', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ diagnostics: [{ file: `${dir}/daemon.yaml`, line: 5 }] });
  });

  it('exits 2 on usage errors', async () => {
    expect((await runCli(['validate', '/nonexistent/folder'])).code).toBe(2);
    expect((await runCli(['validate', '--bogus'])).code).toBe(2);
    expect((await runCli(['validate', '.', '--format', 'xml'])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
  });

  it('--version prints the package version', async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});

describe('a data file larger than the daemon can hold', () => {
  // 60,000 records of YAML, 3.5 MB: read in pieces up to some 55 MB of heap, more than a source
  // may take in a process with a 64 MB old generation (read whole, as before, some 280 MB).
  const yaml = Array.from(
    { length: 60_000 },
    (_, i) => `- employeeId: ${1000 + i}\n  givenName: "Kari ${i}"\n  sn: Nordmann\n`,
  ).join('');

  it('is refused where it is, with what to do, instead of stopping the process', async () => {
    const dir = await repoWith({
      'templates/ad-employees.yaml': TEMPLATE.replace('data/people.csv', 'data/people.yaml'),
      'data/people.yaml': yaml,
    });
    const res = await runCli(['validate', dir], { env: { NODE_OPTIONS: '--max-old-space-size=64' } });
    expect(res.stderr).not.toMatch(/heap out of memory/);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^data\/people\.yaml:1:1: is 3\.\d MiB of YAML \(60,000 records\), which takes about \d+\.\d MiB of memory, more than the \d+\.\d MiB this daemon has for a source; export it as CSV/m,
    );
    // With the memory it needs, the same file is read.
    expect((await runCli(['validate', dir])).code).toBe(0);
  });
});

describe('data files that fit the memory alone, but not together', () => {
  const csv = (n: number) =>
    `employeeId,givenName,sn\n${Array.from({ length: n }, (_, i) => `${1000 + i},Kari,Nordmann`).join('\n')}\n`;
  const second = TEMPLATE.replace('name: ad-employees', 'name: ad-others').replace(
    'data/people.csv',
    'data/others.csv',
  );

  it('share the memory sources may take: the checkout is refused, not read until the process stops', async () => {
    const env = { NODE_OPTIONS: '--max-old-space-size=64' };
    const both = await repoWith({
      'data/people.csv': csv(80_000),
      'data/others.csv': csv(80_000),
      'templates/ad-others.yaml': second,
    });
    const res = await runCli(['validate', both], { env });
    expect(res.stderr).not.toMatch(/heap out of memory/);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^data\/(people|others)\.csv:\d+:1: its records up to this line take about \d+\.\d MiB of memory, more than the \d+\.\d MiB this daemon has for a source/m,
    );
    // One of them alone has all of it, and with a small one beside it what the small one leaves.
    const one = await repoWith({ 'data/people.csv': csv(80_000) });
    expect((await runCli(['validate', one], { env })).code).toBe(0);
    const small = await repoWith({
      'data/people.csv': csv(80_000),
      'data/others.csv': csv(1_000),
      'templates/ad-others.yaml': second,
    });
    expect((await runCli(['validate', small], { env })).code).toBe(0);
  });
});

describe('reexport preview', () => {
  it('prints errors on stderr, so `--format ldif > x.ldif` never gets error text', async () => {
    const dir = await repoWith({
      'requests/new-mail.yaml': REQUEST.replace('users: all', 'users: { where: { departmnt: IT } }'),
      'daemon.yaml': DAEMON,
    });
    const res = await runCli([
      'preview',
      'new-mail',
      '--repo',
      dir,
      '--config',
      `${dir}/daemon.yaml`,
      '--format',
      'ldif',
    ]);
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toMatch(
      /^requests\/new-mail\.yaml:8:21: `departmnt` is not a field of data\/people\.csv/,
    );
  });

  it('says that request names are lower case', async () => {
    const dir = await repoWith({ 'daemon.yaml': DAEMON });
    const res = await runCli(['preview', 'bench-A', '--repo', dir, '--config', `${dir}/daemon.yaml`]);
    expect(res).toMatchObject({ code: 2, stdout: '' });
    expect(res.stderr).toBe(
      'usage: request names are lower-case letters, digits and -; did you mean bench-a?\n',
    );
  });
});
