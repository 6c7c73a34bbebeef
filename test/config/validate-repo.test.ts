import { readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';
import { validateRepo } from '../../src/config/validate-repo.js';
import { makeDir } from '../harness/files.js';
import { baseRepo, DAEMON, REQUEST, TEMPLATE } from './fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function validate(
  files: Record<string, string | Buffer>,
  opts: { daemon?: string; remove?: string[] } = {},
) {
  const { dir, cleanup } = await makeDir({
    ...baseRepo(),
    ...files,
    ...(opts.daemon ? { 'daemon.yaml': opts.daemon } : {}),
  });
  cleanups.push(cleanup);
  for (const rel of opts.remove ?? []) await rm(`${dir}/${rel}`);
  const daemon = opts.daemon ? await loadDaemonConfig(`${dir}/daemon.yaml`) : undefined;
  const { diagnostics } = await validateRepo(dir, daemon);
  return { dir, lines: diagnostics.map(formatDiagnostic) };
}

const req = (from: string, to: string) => ({ 'requests/new-mail.yaml': REQUEST.replace(from, to) });
const tpl = (from: string, to: string) => ({ 'templates/ad-employees.yaml': TEMPLATE.replace(from, to) });

describe('validateRepo', () => {
  it('accepts a valid repository, with and without the daemon config', async () => {
    expect((await validate({})).lines).toEqual([]);
    expect((await validate({}, { daemon: DAEMON })).lines).toEqual([]);
  });

  // Each bad input must be answered with the right file, line and column, and a message that says what to change.
  const bad: Array<
    [string, Record<string, string | Buffer>, string, RegExp, { daemon?: string; remove?: string[] }?]
  > = [
    [
      'malformed YAML',
      req('mappings: [mail]', 'mappings: [mail'),
      'requests/new-mail.yaml:8:3',
      /YAML syntax: .*end with a \]/,
    ],
    [
      'duplicate key',
      req('  users: all', '  users: all\n  users: all'),
      'requests/new-mail.yaml:9:3',
      /Map keys must be unique/,
    ],
    [
      'tab indentation',
      req('  users: all', '\tusers: all'),
      'requests/new-mail.yaml:8:1',
      /Tabs are not allowed/,
    ],
    [
      'wrong type',
      req('execute: false', 'execute: "yes"'),
      'requests/new-mail.yaml:9:12',
      /spec\.execute must be true or false, not the text "yes"/,
    ],
    [
      'numeric user ID',
      req('users: all', 'users: { ids: [1001, "1002"] }'),
      'requests/new-mail.yaml:8:18',
      /ids\[0\] must be a string.*quotes/,
    ],
    [
      'a line break in a user ID (it would reach preview.md)',
      req('users: all', 'users: { ids: ["1001", "x\\n## Changes"] }'),
      'requests/new-mail.yaml:8:26',
      /ids\[1\].*no line break, tab or other control character/,
    ],
    [
      'unknown users form',
      req('users: all', 'users: everyone'),
      'requests/new-mail.yaml:8:10',
      /users must be all, \{ ids: .* or \{ where:/,
    ],
    [
      'unknown kind',
      req('kind: ReexportRequest', 'kind: ReexportRequst'),
      'requests/new-mail.yaml:2:7',
      /kind must be `ReexportRequest`/,
    ],
    [
      'template in requests/',
      { 'requests/new-mail.yaml': TEMPLATE.replace('name: ad-employees', 'name: new-mail') },
      'requests/new-mail.yaml:2:7',
      /move it to templates\//,
    ],
    [
      'unknown field',
      req('  execute: false', '  excute: false'),
      'requests/new-mail.yaml:9:3',
      /unknown field `excute`.*did you mean `execute`/,
    ],
    [
      'name differs from file',
      req('name: new-mail', 'name: new-mails'),
      'requests/new-mail.yaml:4:9',
      /rename the file to new-mails\.yaml or set the name to `new-mail`/,
    ],
    [
      'invalid name',
      { 'requests/New_Mail.yaml': REQUEST.replace('name: new-mail', 'name: New_Mail') },
      'requests/New_Mail.yaml:4:9',
      /lower-case letters, digits and '-'/,
      { remove: ['requests/new-mail.yaml'] },
    ],
    [
      'missing template',
      req('template: ad-employees', 'template: ad-employee'),
      'requests/new-mail.yaml:6:13',
      /template `ad-employee` does not exist.*did you mean `ad-employees`/,
    ],
    [
      'unknown mapping',
      req('[mail]', '[mail, pager]'),
      'requests/new-mail.yaml:7:20',
      /no mapping for `pager` \(it maps mail, company\)/,
    ],
    [
      'path traversal',
      tpl('data/people.csv', '../../etc/passwd'),
      'templates/ad-employees.yaml:7:19',
      /leaves the repository/,
    ],
    [
      'absolute path',
      tpl('data/people.csv', '/etc/passwd'),
      'templates/ad-employees.yaml:7:19',
      /is absolute/,
    ],
    [
      'missing source file',
      tpl('data/people.csv', 'data/nope.csv'),
      'templates/ad-employees.yaml:7:19',
      /does not exist in the repository/,
    ],
    [
      'source under .git',
      tpl('data/people.csv', '.git/config'),
      'templates/ad-employees.yaml:7:19',
      /under \.git\//,
    ],
    [
      'huge file',
      { 'requests/new-mail.yaml': `${REQUEST}# ${'x'.repeat(2 * 1024 * 1024)}\n` },
      'requests/new-mail.yaml:1:1',
      /2\.0 MiB, over the limit/,
    ],
    [
      'binary garbage',
      { 'requests/new-mail.yaml': Buffer.from([0x61, 0x3a, 0x0a, 0x00, 0xff, 0xfe]) },
      'requests/new-mail.yaml:2:1',
      /is binary/,
    ],
    [
      'Latin-1 text',
      {
        'requests/new-mail.yaml': Buffer.concat([
          Buffer.from(REQUEST.split('users: all')[0]! + 'users: { where: { department: '),
          Buffer.from([0xd8]),
          Buffer.from(`konomi } }${REQUEST.split('users: all')[1]}`),
        ]),
      },
      'requests/new-mail.yaml:8:33',
      /not valid UTF-8/,
    ],
    [
      'empty file',
      { 'requests/new-mail.yaml': '' },
      'requests/new-mail.yaml:1:1',
      /is empty; it needs apiVersion, kind, metadata and spec/,
    ],
    [
      'only comments',
      { 'requests/new-mail.yaml': '# nothing here\n' },
      'requests/new-mail.yaml:1:1',
      /is empty/,
    ],
    [
      'a scalar, not a mapping',
      { 'requests/new-mail.yaml': 'just text\n' },
      'requests/new-mail.yaml:1:1',
      /must be a mapping/,
    ],
    [
      'two YAML documents',
      { 'requests/new-mail.yaml': `${REQUEST}---\n${REQUEST}` },
      'requests/new-mail.yaml:10:1',
      /second YAML document/,
    ],
    [
      'missing spec',
      { 'requests/new-mail.yaml': REQUEST.split('spec:')[0]! },
      'requests/new-mail.yaml:1:1',
      /missing required field `spec`/,
    ],
    [
      'alias bomb',
      {
        'requests/new-mail.yaml':
          'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
      },
      'requests/new-mail.yaml:1:1',
      /resource exhaustion/,
    ],
    [
      'unknown filter',
      tpl('| downcase', '| lowercase'),
      'templates/ad-employees.yaml:15:39',
      /unknown filter `lowercase`/,
    ],
    ['unclosed expression', tpl('}}@kommune', '@kommune'), 'templates/ad-employees.yaml:15:16', /not closed/],
    [
      'file-reading tag',
      tpl('source: Lillevik kommune', `source: "{% include '/etc/passwd' %}"`),
      'templates/ad-employees.yaml:17:16',
      /tag `include` is not available/,
    ],
    [
      'attribute mapped twice',
      tpl('target: company', 'target: Mail'),
      'templates/ad-employees.yaml:16:15',
      /already mapped by mapping 1/,
    ],
    [
      'misspelt policy',
      tpl('source: Lillevik kommune', 'source: Lillevik kommune\n      policy: replce'),
      'templates/ad-employees.yaml:18:15',
      /one of replace, merge, keep.*did you mean `replace`/,
    ],
    [
      'rewriting the match attribute',
      tpl('target: company', 'target: employeeID'),
      'templates/ad-employees.yaml:16:15',
      /is the match attribute/,
    ],
    [
      'filter without parentheses',
      tpl(
        'baseDN: OU=Ansatte,DC=kommune,DC=test',
        'baseDN: OU=Ansatte,DC=kommune,DC=test\n    filter: "*)(uid=*"',
      ),
      'templates/ad-employees.yaml:13:13',
      /scope\.filter: .*is not a valid LDAP filter/,
    ],
    [
      'unbalanced filter',
      tpl(
        'baseDN: OU=Ansatte,DC=kommune,DC=test',
        'baseDN: OU=Ansatte,DC=kommune,DC=test\n    filter: "(&(objectClass=user)"',
      ),
      'templates/ad-employees.yaml:13:13',
      /not a valid LDAP filter/,
    ],
    [
      'broken baseDN',
      tpl('baseDN: OU=Ansatte,DC=kommune,DC=test', 'baseDN: OU=Ansatte,DCkommune'),
      'templates/ad-employees.yaml:12:13',
      /is not a DN/,
    ],
    [
      'disallowed attribute',
      tpl('target: company', 'target: pager'),
      'templates/ad-employees.yaml:16:15',
      /`pager` is not in the allowedAttributes of target `ad` \(mail, company\)/,
      { daemon: DAEMON },
    ],
    [
      'unknown target',
      tpl('target: ad\n', 'target: ad2\n'),
      'templates/ad-employees.yaml:6:11',
      /target `ad2` is not defined in the daemon config/,
      { daemon: DAEMON },
    ],
    [
      'unknown source',
      tpl('{ file: data/people.csv, id: employeeId }', 'hrr'),
      'templates/ad-employees.yaml:7:11',
      /source `hrr` is not defined.*did you mean `hr`/,
      { daemon: DAEMON },
    ],
    [
      'baseDN outside the allowed subtrees',
      {},
      'templates/ad-employees.yaml:12:13',
      /outside what target `ad` allows/,
      {
        daemon: DAEMON.replace(
          'allowedAttributes',
          'baseDNs: ["OU=Elever,DC=kommune,DC=test"]\n    allowedAttributes',
        ),
      },
    ],
  ];

  it.each(bad)('%s: located error', async (_name, files, where, message, opts) => {
    const { lines } = await validate(files, opts);
    const hit = lines.find((l) => l.startsWith(`${where}: `));
    expect(hit, `expected an error at ${where}, got:\n${lines.join('\n')}`).toBeDefined();
    expect(hit).toMatch(message);
  });

  it('refuses a source file that is a symbolic link leading out of the repository', async () => {
    const { dir, cleanup } = await makeDir({ ...baseRepo(), ...tpl('data/people.csv', 'data/link.csv') });
    cleanups.push(cleanup);
    await symlink('/etc/passwd', `${dir}/data/link.csv`);
    const { diagnostics } = await validateRepo(dir);
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      'templates/ad-employees.yaml:7:19: source file `data/link.csv` goes through a symbolic link (data/link.csv); source files must be regular files in the repository',
    ]);
  });

  it('refuses a request file that is a symbolic link leading out of the repository', async () => {
    const outside = await makeDir({ 'r.yaml': REQUEST });
    cleanups.push(outside.cleanup);
    const { dir, cleanup } = await makeDir(baseRepo());
    cleanups.push(cleanup);
    await rm(`${dir}/requests/new-mail.yaml`);
    await symlink(`${outside.dir}/r.yaml`, `${dir}/requests/new-mail.yaml`);
    const { diagnostics } = await validateRepo(dir);
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      'requests/new-mail.yaml:1:1: is a symbolic link; replace it with a regular file',
    ]);
  });

  it('refuses any symbolic link in a data path: one inside the repository, into .git/, or a linked folder', async () => {
    const { dir, cleanup } = await makeDir({
      ...baseRepo(),
      ...tpl('data/people.csv', 'data/current.csv'),
      '.git/config': '[core]\n\trepositoryformatversion = 0\n',
    });
    cleanups.push(cleanup);
    await symlink('people.csv', `${dir}/data/current.csv`);
    expect((await validateRepo(dir)).diagnostics.map(formatDiagnostic)).toEqual([
      'templates/ad-employees.yaml:7:19: source file `data/current.csv` goes through a symbolic link (data/current.csv); source files must be regular files in the repository',
    ]);
    await rm(`${dir}/data/current.csv`);
    await symlink('../.git/config', `${dir}/data/current.csv`);
    expect((await validateRepo(dir)).diagnostics.map(formatDiagnostic)).toEqual([
      'templates/ad-employees.yaml:7:19: source file `data/current.csv` goes through a symbolic link (data/current.csv); source files must be regular files in the repository',
    ]);
    await rm(`${dir}/data/current.csv`);
    await symlink('data', `${dir}/linked`);
    await writeFile(
      `${dir}/templates/ad-employees.yaml`,
      TEMPLATE.replace('data/people.csv', 'linked/people.csv'),
    );
    expect((await validateRepo(dir)).diagnostics.map(formatDiagnostic)).toEqual([
      'templates/ad-employees.yaml:7:19: source file `linked/people.csv` goes through a symbolic link (linked); source files must be regular files in the repository',
    ]);
  });

  it('reports two files with one name', async () => {
    const { lines } = await validate({ 'requests/new-mail.yml': REQUEST });
    expect(lines).toEqual([
      'requests/new-mail.yml:1:1: has the same name as requests/new-mail.yaml; keep one of them',
    ]);
  });

  it('collects every error of every file, not just the first', async () => {
    const { lines } = await validate(
      {
        ...req('execute: false', 'execute: maybe\n  extra: 1'),
        ...tpl('target: company', 'target: pager'),
        'requests/other.yaml': REQUEST.replace('name: new-mail', 'name: other').replace(
          'template: ad-employees',
          'template: nope',
        ),
      },
      { daemon: DAEMON },
    );
    expect(lines).toEqual([
      'requests/new-mail.yaml:9:12: spec.execute must be true or false, not the text "maybe"',
      'requests/new-mail.yaml:10:3: spec: unknown field `extra`; remove it (allowed: template, mappings, users, execute, maxChanges)',
      'requests/other.yaml:6:13: template `nope` does not exist (no templates/nope.yaml)',
      'templates/ad-employees.yaml:16:15: attribute `pager` is not in the allowedAttributes of target `ad` (mail, company); remove the mapping or ask the operator to allow it',
    ]);
  });

  it('accepts each users form and both mappings forms', async () => {
    for (const [users, mappings] of [
      ['all', 'all'],
      ['{ ids: ["1001", "007"] }', '[mail, company]'],
      ['{ where: { department: [IT, Økonomi], title: Rektor } }', '[MAIL]'],
    ]) {
      const { lines } = await validate(
        req('users: all', `users: ${users}`)['requests/new-mail.yaml']
          ? {
              'requests/new-mail.yaml': REQUEST.replace('users: all', `users: ${users}`).replace(
                '[mail]',
                mappings!,
              ),
            }
          : {},
      );
      expect(lines, `${users} / ${mappings}`).toEqual([]);
    }
  });

  it('keeps the Norway problem away: `no` and `NO` stay text, not false', async () => {
    const { lines } = await validate(req('users: all', 'users: { where: { country: NO } }'));
    expect(lines).toEqual([]);
  });

  it('refuses a source path with backslashes', async () => {
    expect((await validate(tpl('data/people.csv', 'data\\\\people.csv'))).lines[0]).toMatch(/backslash/);
  });

  it('writes nothing into the repository', async () => {
    const { dir } = await validate(req('execute: false', 'execute: nope'));
    expect((await readdir(dir)).sort()).toEqual(['data', 'requests', 'templates']);
  });
});
