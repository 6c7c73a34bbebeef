import { afterEach, describe, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { diagnosticsForRequest } from '../../src/config/rules.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';
import { describeError } from '../../src/shared/errors.js';
import { parseFilter } from '../../src/syntax/filter.js';
import { parseDn } from '../../src/syntax/dn.js';
import { SourceCache, validateCheckout } from '../../src/workflows/validate.js';
import { baseRepo, DAEMON, REQUEST, TEMPLATE } from '../config/fixtures.js';
import { makeDir } from '../harness/files.js';
import { writeFile } from 'node:fs/promises';
import { openSourceCheckMemory } from '../../src/adapters/fs/source-check-memory.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function validate(files: Record<string, string | Buffer>, opts: { daemon?: string } = {}) {
  const { dir, cleanup } = await makeDir({
    ...baseRepo(),
    ...files,
    ...(opts.daemon ? { 'daemon.yaml': opts.daemon } : {}),
  });
  cleanups.push(cleanup);
  const daemon = opts.daemon ? await loadDaemonConfig(`${dir}/daemon.yaml`) : undefined;
  const result = await validateCheckout(dir, daemon, { dryRun: true });
  return { dir, ...result, lines: result.diagnostics.map(formatDiagnostic) };
}

const tpl = (from: string, to: string) => ({ 'templates/ad-employees.yaml': replaced(TEMPLATE, from, to) });
const req = (from: string, to: string) => ({ 'requests/new-mail.yaml': replaced(REQUEST, from, to) });
function replaced(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture has no ${from}`);
  return text.replace(from, to);
}

describe('validate: fields, against the source, with no directory', () => {
  it('finds misspelt fields in expressions and in `where`, with a "did you mean", with and without --config', async () => {
    const files = {
      ...tpl('{{ givenName | ascii | downcase }}', '{{ givnName | ascii | downcase }}'),
      ...req('users: all', 'users: { where: { departmnt: IT } }'),
      'data/people.csv': 'employeeId,givenName,sn,department\n1001,Åse,Ødegård,IT\n',
    };
    const expected = [
      'requests/new-mail.yaml:8:21: `departmnt` is not a field of data/people.csv; did you mean `department`?',
      'templates/ad-employees.yaml:15:15: mapping `mail` reads the field `givnName`, which no record of data/people.csv has; did you mean `givenName`?',
    ];
    expect((await validate(files)).lines).toEqual(expected);
    expect((await validate(files, { daemon: DAEMON })).lines).toEqual(expected);
  });

  it('reads a misspelt field in a list of expressions and in match.sourceField', async () => {
    const { lines } = await validate({
      'templates/ad-employees.yaml': TEMPLATE.replace(
        'sourceField: employeeId',
        'sourceField: employeID',
      ).replace('source: Lillevik kommune', 'source: ["{{ sn }}", "{{ titel }}"]'),
    });
    expect(lines).toEqual([
      'templates/ad-employees.yaml:9:18: match.sourceField `employeID` is not a field of data/people.csv; did you mean `employeeId`?',
      'templates/ad-employees.yaml:17:28: mapping `company` reads the field `titel`, which no record of data/people.csv has (fields: employeeId, givenName, sn)',
    ]);
  });

  it('warns about IDs the source does not have, and a warning fails nothing', async () => {
    const { lines, diagnostics, repo } = await validate(
      req('users: all', 'users: { ids: ["1001", "4242"] }'),
    );
    expect(lines).toEqual([
      'requests/new-mail.yaml:8:26: warning: user ID `4242` is not in data/people.csv; the preview will list it as not found',
    ]);
    expect(diagnostics[0]!.severity).toBe('warning');
    expect(diagnosticsForRequest(repo, 'new-mail')).toEqual([]);
  });
});

describe('validate: data files', () => {
  it('reports every broken CSV row, repeated IDs, a repeated column and control characters, each at its line', async () => {
    const { lines, repo } = await validate({
      'data/people.csv':
        'employeeId,givenName,sn,sn\n1001,Åse,Ødegård,x\n1002,Bjørn,Ærø\n' +
        '1003,Cecilie,Berg,x,y\n1001,Åse,Again,x\n1004,Dag\u0000fin,Dahl,x\n',
    });
    expect(lines).toEqual([
      'data/people.csv:1:1: the column `sn` appears twice (columns 3 and 4); keep one',
      'data/people.csv:2:1: record repeats `employeeId` 1001 (data/people.csv:2, data/people.csv:5); these records are left out until the source is fixed',
      expect.stringMatching(/^data\/people\.csv:3:1: not valid CSV: .*got 3/),
      expect.stringMatching(/^data\/people\.csv:4:1: not valid CSV: .*got 5/),
      'data/people.csv:5:1: record repeats `employeeId` 1001 (data/people.csv:2, data/people.csv:5); these records are left out until the source is fixed',
      'data/people.csv:6:1: field `givenName` holds the control character U+0000; remove it from the export (a directory value must not contain it)',
      // The planner's own rule for rendered values, found by the dry run.
      expect.stringMatching(
        /^data\/people\.csv:6:1: mapping `mail` of templates\/ad-employees\.yaml fails for record 1004: .*control character U\+0000/,
      ),
    ]);
    // The template's problems are the request's: the daemon commits them to the pull request as `invalid`.
    expect(diagnosticsForRequest(repo, 'new-mail').map(formatDiagnostic).sort()).toEqual([...lines].sort());
  });

  it('locates non-UTF-8 by line, column and byte offset', async () => {
    const { lines } = await validate({
      'data/people.csv': Buffer.concat([
        Buffer.from('employeeId,givenName,sn\n1001,Åse,Ødegård\n1002,Bj'),
        Buffer.from([0xf8]),
        Buffer.from('rn,Ærø\n'),
      ]),
    });
    expect(lines).toEqual([
      'data/people.csv:3:8: is not valid UTF-8 (byte 0xF8 at offset 51); export it as UTF-8 (Latin-1 or Windows-1252 exports look like this)',
    ]);
  });

  it('reports YAML data files with duplicate keys, syntax errors and alias bombs at their line', async () => {
    const yamlSource = (file: string) => tpl('data/people.csv', file);
    const dup = await validate({
      ...yamlSource('data/people.yaml'),
      'data/people.yaml': '- employeeId: "1001"\n  givenName: Åse\n  givenName: Åsa\n  sn: Ø\n',
    });
    expect(dup.lines).toEqual([
      expect.stringMatching(/^data\/people\.yaml:3:3: not valid YAML: Map keys must be unique/),
    ]);
    const bomb = await validate({
      ...yamlSource('data/people.yaml'),
      'data/people.yaml':
        'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
    });
    expect(bomb.lines).toEqual([
      expect.stringMatching(/^data\/people\.yaml:1:1: cannot be read: .*resource exhaustion/),
    ]);
  });

  it('locates bad JSON records by line', async () => {
    const { lines } = await validate({
      ...tpl('data/people.csv', 'data/people.json'),
      'data/people.json': '[\n  {"employeeId": "1001", "givenName": "Åse", "sn": "Ø"},\n  "oops"\n]\n',
    });
    expect(lines).toEqual(['data/people.json:3:3: record 2 is not an object']);
  });

  it("checks a daemon-config file source read-only: parse errors are errors, its records' problems warnings", async () => {
    const daemon = `${DAEMON.replace('/var/lib/hr.csv', 'hr.csv')}`;
    const { lines, dir } = await validate(
      {
        ...tpl('source: { file: data/people.csv, id: employeeId }', 'source: hr'),
        'hr.csv': 'employeeId,givenName,sn\n1001,Åse,Ødegård\n1001,Åse,Again\n',
      },
      { daemon },
    );
    expect(lines).toEqual([
      `${dir}/hr.csv:2:1: warning: record repeats \`employeeId\` 1001 (${dir}/hr.csv:2, ${dir}/hr.csv:3); these records are left out until the source is fixed`,
      `${dir}/hr.csv:3:1: warning: record repeats \`employeeId\` 1001 (${dir}/hr.csv:2, ${dir}/hr.csv:3); these records are left out until the source is fixed`,
    ]);
    const ldap = await validate(
      {
        ...tpl('source: { file: data/people.csv, id: employeeId }', 'source: hr'),
      },
      {
        daemon: DAEMON.replace(
          'hr: { type: csv, path: /var/lib/hr.csv, id: employeeId }',
          'hr: { type: ldap, url: "ldap://hr.example:389", baseDN: "dc=hr", id: employeeNumber }',
        ),
      },
    );
    expect(ldap.lines).toEqual([]);
    expect(ldap.notes).toEqual([
      'templates/ad-employees.yaml: source `hr` is an LDAP directory; its fields, IDs and values are checked by the preview only',
    ]);
  });
});

describe('validate: expressions dry-run on the records', () => {
  it("names the record's file and line when a mapping fails for it", async () => {
    const { lines } = await validate({
      ...tpl('source: Lillevik kommune', 'source: "{% for i in (1..n) %}x{% endfor %}"'),
      'data/people.csv': 'employeeId,givenName,sn,n\n1001,Åse,Ø,3\n1002,Bjørn,Æ,100000000\n',
    });
    expect(lines).toEqual([
      expect.stringMatching(
        /^data\/people\.csv:3:1: mapping `company` of templates\/ad-employees\.yaml fails for record 1002: .*memory/,
      ),
    ]);
  });
});

describe('validate: one run shows every problem once', () => {
  it('a schema error in a template hides neither its expression and allowlist errors nor its fields', async () => {
    const { lines } = await validate(
      {
        ...tpl(
          'source: Lillevik kommune',
          'source: "{{ sn | colapse }}"\n      polcy: merge\n    - target: pager\n      source: "{{ titel }}"',
        ),
      },
      { daemon: DAEMON },
    );
    expect(lines).toEqual([
      expect.stringMatching(
        /^templates\/ad-employees\.yaml:17:24: unknown filter `colapse`; did you mean `collapse`\?/,
      ),
      'templates/ad-employees.yaml:18:7: spec.mappings[1]: unknown field `polcy`; remove it; did you mean `policy`?',
      'templates/ad-employees.yaml:19:15: attribute `pager` is not in the allowedAttributes of target `ad` (mail, company); remove the mapping or ask the operator to allow it',
      'templates/ad-employees.yaml:20:15: mapping `pager` reads the field `titel`, which no record of data/people.csv has (fields: employeeId, givenName, sn)',
    ]);
    expect(lines.join('\n')).not.toMatch(/template .* has errors/);
  });

  it('reports a missing `users` once, and sorts by file and line', async () => {
    const { lines } = await validate({
      ...req('  users: all\n', ''),
      'requests/a-first.yaml': replaced(REQUEST, 'name: new-mail', 'name: a-first').replace(
        '[mail]',
        '[mial]',
      ),
    });
    expect(lines).toEqual([
      'requests/a-first.yaml:7:14: template `ad-employees` has no mapping for `mial`; did you mean `mail` (it maps mail, company); or use mappings: all',
      'requests/new-mail.yaml:5:1: spec: missing required field `users`; add it',
    ]);
  });

  it('is an error for a folder that is not a config repository', async () => {
    const { dir, cleanup } = await makeDir({ 'index.ts': 'export {};\n' });
    cleanups.push(cleanup);
    const { diagnostics } = await validateCheckout(dir);
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      ".:1:1: is not a config repository: it has neither templates/ nor requests/; give the repository's folder, or create one with `reexport init`",
    ]);
  });
});

describe('validate: filters and DNs with the runtime parsers', () => {
  it('locates a filter the runtime would refuse; the runtime error is a product error, not "internal error"', async () => {
    const filter = '(&(objectClass=user)(cn=\\ff))';
    const { lines } = await validate(
      tpl(
        'baseDN: OU=Ansatte,DC=kommune,DC=test',
        `baseDN: OU=Ansatte,DC=kommune,DC=test\n    filter: ${filter}`,
      ),
    );
    expect(lines).toEqual([
      expect.stringMatching(/^templates\/ad-employees\.yaml:13:13: scope\.filter: .*not UTF-8/),
    ]);
    let thrown: unknown;
    try {
      parseFilter(filter);
    } catch (err) {
      thrown = err;
    }
    expect(describeError(thrown)).toMatchObject({ exitCode: 1, message: expect.stringMatching(/not UTF-8/) });
    try {
      parseDn('OU=a,"b"');
    } catch (err) {
      thrown = err;
    }
    expect(describeError(thrown).message).not.toMatch(/internal error/);
  });

  it('refuses unbalanced parentheses in the runtime parser itself', () => {
    expect(() => parseFilter('(&(objectClass=user)(cn=a)')).toThrow(/parentheses do not pair up/);
  });

  it('keeps a scope inside the target baseDNs', async () => {
    const { lines } = await validate(
      {},
      {
        daemon: DAEMON.replace(
          'allowedAttributes: [mail, company]',
          'allowedAttributes: [mail, company]\n    baseDNs: ["OU=Service,DC=kommune,DC=test"]',
        ),
      },
    );
    expect(lines).toEqual([
      'templates/ad-employees.yaml:12:13: baseDN is outside what target `ad` allows (OU=Service,DC=kommune,DC=test); choose a baseDN at or under one of them',
    ]);
  });
});

describe('validate: the records a plan gets', () => {
  const WIDE =
    'employeeId,givenName,sn,department,salary,personnummer,note\n' +
    '1001,Åse,Ødegård,IT,612000,01017012345,"sick\x07leave"\n' +
    '1002,Per,Berg,HR,580000,02027012345,\n';

  it('keep the columns templates and requests read; a column nothing reads is neither kept nor checked', async () => {
    const { sources, lines } = await validate({
      ...req('users: all', 'users: { where: { department: IT } }'),
      'data/people.csv': WIDE,
    });
    // The BEL in an unread column never reaches the directory: no finding.
    expect(lines).toEqual([]);
    const data = sources.get('ad-employees')!;
    expect(data.records.map((r) => r.fields)).toEqual([
      { employeeId: '1001', givenName: 'Åse', department: 'IT' },
      { employeeId: '1002', givenName: 'Per', department: 'HR' },
    ]);
    // Every column is still known by name (a misspelt field is told its neighbours).
    expect([...data.fields]).toEqual([
      'employeeId',
      'givenName',
      'sn',
      'department',
      'salary',
      'personnummer',
      'note',
    ]);
  });

  it('keep every column when an expression computes the name of the field it reads', async () => {
    const { sources } = await validate({
      ...tpl('source: Lillevik kommune', 'source: "{{ [department] }}"'),
      'data/people.csv': 'employeeId,givenName,department,IT,HR\n1001,Åse,IT,Drift,Lønn\n',
    });
    expect(sources.get('ad-employees')!.records[0]!.fields).toEqual({
      employeeId: '1001',
      givenName: 'Åse',
      department: 'IT',
      IT: 'Drift',
      HR: 'Lønn',
    });
  });

  it('with a cache, reads a data file once for every checkout that has the same bytes, and again when they change', async () => {
    const cache = new SourceCache();
    const checkout = async (csv: string, files: Record<string, string> = {}) => {
      const { dir, cleanup } = await makeDir({ ...baseRepo(), ...files, 'data/people.csv': csv });
      cleanups.push(cleanup);
      return validateCheckout(dir, undefined, { sourceCache: cache });
    };
    const csv = 'employeeId,givenName,sn\n1001,Åse,Ødegård\n';
    const main = await checkout(csv);
    const branch = await checkout(csv);
    expect(branch.sources.get('ad-employees')).toBe(main.sources.get('ad-employees'));
    // A branch that edits the file gets its own reading, and a findings of its own.
    const edited = await checkout(`${csv}1001,Per,Berg\n`);
    expect(edited.sources.get('ad-employees')!.records).toEqual([]);
    expect(edited.diagnostics.map(formatDiagnostic).join('\n')).toMatch(/repeats `employeeId` 1001/);
    // A template that reads another field keeps other fields: another reading.
    const other = await checkout(
      csv,
      tpl('{{ givenName | ascii | downcase }}@', '{{ sn | ascii | downcase }}@'),
    );
    expect(other.sources.get('ad-employees')).not.toBe(main.sources.get('ad-employees'));
    // Three sources in one checkout are each found again (not two kept, the third pushed out).
    const three: Record<string, string> = {};
    for (const n of ['a', 'b', 'c']) {
      three[`templates/t-${n}.yaml`] = TEMPLATE.replace('name: ad-employees', `name: t-${n}`).replace(
        'data/people.csv',
        `data/${n}.csv`,
      );
      three[`data/${n}.csv`] = `${csv}100${n === 'a' ? 2 : n === 'b' ? 3 : 4},Per,Berg\n`;
    }
    const first = await checkout(csv, three);
    const again = await checkout(csv, three);
    for (const n of ['a', 'b', 'c']) expect(again.sources.get(`t-${n}`)).toBe(first.sources.get(`t-${n}`));
  });

  it("with a memory, a later pass's cache remembers the checks of unchanged bytes: the same findings, records read only when asked for", async () => {
    const memoryDir = await makeDir({});
    cleanups.push(memoryDir.cleanup);
    const memory = await openSourceCheckMemory(memoryDir.dir);
    const said: string[] = [];
    // Each pass has a cache of its own; the memory is the daemon's, across passes.
    const pass = () => new SourceCache({ memory, onCheck: (how) => said.push(how) });
    const checkout = async (cache: SourceCache, csv: string, files: Record<string, string> = {}) => {
      const { dir, cleanup } = await makeDir({ ...baseRepo(), ...files, 'data/people.csv': csv });
      cleanups.push(cleanup);
      const v = await validateCheckout(dir, undefined, { sourceCache: cache });
      return { ...v, lines: v.diagnostics.map(formatDiagnostic) };
    };
    const csv = 'employeeId,givenName,sn\n1001,Åse,Ødegård\n1002,Per,Berg\n1002,Per,Again\n';
    const ids = (list: string[]) => req('users: all', `users: { ids: ${JSON.stringify(list)} }`);
    const first = await checkout(pass(), csv, ids(['1001', '4242']));
    expect(said).toEqual(['parsed']);
    expect(first.lines).toEqual([
      expect.stringMatching(/^data\/people\.csv:3:1: record repeats `employeeId` 1002/),
      expect.stringMatching(/^data\/people\.csv:4:1: record repeats `employeeId` 1002/),
      'requests/new-mail.yaml:8:25: warning: user ID `4242` is not in data/people.csv; the preview will list it as not found',
    ]);

    // The next pass: the same bytes, the same request. Nothing is parsed, the same is said.
    const second = await checkout(pass(), csv, ids(['1001', '4242']));
    expect(said).toEqual(['parsed', 'remembered']);
    expect(second.lines).toEqual(first.lines);
    expect(second.sources.size).toBe(0);
    // A plan's records, read when asked for: the same as a reading.
    const later = second.deferred.get('ad-employees')!;
    expect(later.digest).toBe(first.sources.get('ad-employees')!.digest);
    expect((await later.load()).records).toEqual(first.sources.get('ad-employees')!.records);

    // A request naming an ID the memory has no answer for is checked by reading: 1002 is in
    // the file (repeated), 77 is not.
    const third = await checkout(pass(), csv, ids(['1001', '1002', '77']));
    expect(said.at(-1)).toBe('parsed');
    expect(third.lines.filter((l) => l.includes('warning'))).toEqual([
      expect.stringMatching(/user ID `77` is not in data\/people\.csv/),
    ]);
    // Then remembered, with the answers of both requests.
    const fourth = await checkout(pass(), csv, ids(['4242', '77', '1002']));
    expect(said.at(-1)).toBe('remembered');
    expect(fourth.lines.filter((l) => l.includes('warning')).length).toBe(2);

    // Other bytes: parsed, their own findings.
    const fixed = await checkout(pass(), 'employeeId,givenName,sn\n1001,Åse,Ødegård\n', ids(['1001']));
    expect(said.at(-1)).toBe('parsed');
    expect(fixed.lines).toEqual([]);
    // A template that reads other fields: another check (the records keep other fields).
    await checkout(pass(), csv, tpl('{{ givenName | ascii | downcase }}@', '{{ sn | ascii | downcase }}@'));
    expect(said.at(-1)).toBe('parsed');

    // After a restart (the memory read back from its file), still remembered.
    await memory.save();
    const reopened = await openSourceCheckMemory(memoryDir.dir);
    const restarted = await checkout(
      new SourceCache({ memory: reopened, onCheck: (how) => said.push(how) }),
      csv,
      ids(['1001', '4242']),
    );
    expect(said.at(-1)).toBe('remembered');
    expect(restarted.lines).toEqual(first.lines);
  });

  it('a remembered check never stands in for other bytes, nor holds long findings', async () => {
    const memoryDir = await makeDir({});
    cleanups.push(memoryDir.cleanup);
    const memory = await openSourceCheckMemory(memoryDir.dir);
    const said: string[] = [];
    const pass = () => new SourceCache({ memory, onCheck: (how) => said.push(how) });
    // The operator's file (daemon config `sources:`), rewritten between the check and the plan.
    const { dir, cleanup } = await makeDir({
      ...baseRepo(),
      ...tpl('source: { file: data/people.csv, id: employeeId }', 'source: hr'),
      'hr.csv': 'employeeId,givenName,sn\n1001,Åse,Ødegård\n',
      'daemon.yaml': DAEMON.replace('/var/lib/hr.csv', 'hr.csv'),
    });
    cleanups.push(cleanup);
    const daemon = await loadDaemonConfig(`${dir}/daemon.yaml`);
    await validateCheckout(dir, daemon, { sourceCache: pass() });
    const second = await validateCheckout(dir, daemon, { sourceCache: pass() });
    expect(said).toEqual(['parsed', 'remembered']);
    await writeFile(`${dir}/hr.csv`, 'employeeId,givenName,sn\n1001,Åse,Ødegård\n1001,Per,Berg\n');
    await expect(second.deferred.get('ad-employees')!.load()).rejects.toThrow(
      /hr\.csv changed after it was checked in this pass; the next pass checks it again/,
    );

    // Findings that quote a long ID are not remembered: such a file is parsed every pass.
    const long = 'x'.repeat(140_000);
    const repeated = `employeeId,givenName,sn\n${long},A,B\n${long},C,D\n`;
    const checkout = async () => {
      const made = await makeDir({ ...baseRepo(), 'data/people.csv': repeated });
      cleanups.push(made.cleanup);
      return validateCheckout(made.dir, undefined, { sourceCache: pass() });
    };
    const first = await checkout();
    expect(first.diagnostics.map(formatDiagnostic).join('\n')).toMatch(/repeats `employeeId` x{100}/);
    await checkout();
    expect(said.slice(-2)).toEqual(['parsed', 'parsed']);
    // Nor long field names (a header of 300 names of 1,000 characters, no finding).
    const names = Array.from({ length: 300 }, (_, i) => `${i}${'n'.repeat(1000)}`);
    const wide = `employeeId,givenName,sn,${names.join(',')}\n1001,Åse,Ødegård${',x'.repeat(300)}\n`;
    for (let i = 0; i < 2; i++) {
      const made = await makeDir({ ...baseRepo(), 'data/people.csv': wide });
      cleanups.push(made.cleanup);
      expect((await validateCheckout(made.dir, undefined, { sourceCache: pass() })).diagnostics).toEqual([]);
    }
    expect(said.slice(-2)).toEqual(['parsed', 'parsed']);
  });
});
