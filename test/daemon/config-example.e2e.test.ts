import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureDemoRepository } from '../../src/demo/setup.js';
import { parseSourceText } from '../../src/source/parse-file.js';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn } from '../harness/git.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, LDAPSEARCH, ldapToolEnv, runLdapTool, startSlapd, toLdif } from '../harness/slapd.js';

/** config-example's employees as an AD-shaped OpenLDAP tree, before the re-export. */
async function seed(): Promise<string> {
  const rows = parseSourceText(
    await readFile('config-example/data/ansatte.csv', 'utf8'),
    'ansatte.csv',
    'csv',
  );
  const users = rows.map(({ fields }) => {
    const f = fields as Record<string, string>;
    return {
      dn: `cn=${f.givenName} ${f.sn},OU=Ansatte,DC=kommune,DC=test`,
      attrs: {
        objectClass: ['inetOrgPerson', 'user'],
        cn: `${f.givenName} ${f.sn}`,
        sn: f.sn!,
        givenName: f.givenName!,
        employeeID: f.employeeId!,
        mail: `${f.employeeId}@kommune.no`,
        title: f.employeeId === '1002' ? 'Sjef for alt' : f.title || undefined,
      },
    };
  });
  return `dn: OU=Ansatte,DC=kommune,DC=test\nobjectClass: organizationalUnit\nou: Ansatte\n\n${toLdif(users)}`;
}

describeWithSlapd('reexport once against config-example and slapd', () => {
  let slapd: Slapd;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let bare: string;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  const once = () =>
    runCli(['once', '--config', `${work.dir}/daemon.yaml`], { env: { AD_PASSWORD: slapd.password } });

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: await seed() });
    work = await makeDir({});
    bare = await ensureDemoRepository(work.dir);
    human = await cloneRepo(bare);
    // The example daemon config, pointed at this slapd: the only lines an operator changes.
    const example = await readFile('config-example/daemon-config.example.yaml', 'utf8');
    await writeFile(
      `${work.dir}/daemon.yaml`,
      example
        .replace(/url: git@\S+/, `url: "${bare}"`)
        .replace('url: ldaps://dc01.kommune.test:636', `url: ${slapd.url}`)
        .replace('bindDN: CN=svc-reexport,OU=Service,DC=kommune,DC=test', `bindDN: "${slapd.bindDN}"`)
        .replace('port: 9464', 'port: 0')
        .replace(/\n {2}hr: .*\n/, '\n  hr: { type: csv, path: ./hr.csv, id: employeeId }\n'),
    );
  });
  afterAll(async () => {
    await human?.cleanup();
    await work?.cleanup();
    await slapd?.stop();
  });

  it('previews the example requests on main, previews a pull request, and executes it once merged', async () => {
    expect((await once()).code).toBe(0);
    const main = await gitIn(bare, 'show', 'main:reports/2026-11-25-new-mail-domain/preview.md');
    expect(main).toContain('| **To change** | **12 users, 24 attribute changes** |');
    expect(main).toContain('+mail: aase.odegaard@lillevik.kommune.no');
    expect(await gitIn(bare, 'show', 'main:reports/2026-11-20-it-titles/preview.md')).toContain(
      '-title: Sjef for alt\n+title: Driftstekniker',
    );

    await gitIn(human.dir, 'checkout', '-b', 'company');
    await commitAndPush(
      human.dir,
      {
        'requests/2026-11-26-company.yaml':
          'apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: 2026-11-26-company }\nspec:\n  template: ad-employees\n  mappings: [company, department]\n  users: all\n  execute: true\n',
      },
      'Push company and department to everyone',
    );
    await gitIn(human.dir, 'push', '-u', 'origin', 'company');
    expect((await once()).code).toBe(0);
    expect(await gitIn(bare, 'show', 'company:reports/2026-11-26-company/preview.md')).toContain(
      '+company: Lillevik kommune',
    );
    const search = async () =>
      runLdapTool(
        LDAPSEARCH,
        [
          '-x',
          '-LLL',
          '-H',
          slapd.url,
          '-D',
          slapd.bindDN,
          '-w',
          slapd.password,
          '-b',
          'OU=Ansatte,DC=kommune,DC=test',
          '(employeeID=1001)',
          'company',
          'department',
        ],
        await ldapToolEnv(slapd.dir),
      );
    expect(await search()).not.toContain('company:');

    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'pull', '-q', 'origin', 'main');
    // The pull request as the forge merges it: with the daemon's signed preview on the branch
    // (the example keeps requireReviewedPreview on; a merge without it is refused).
    await gitIn(human.dir, 'fetch', '-q', 'origin');
    await gitIn(human.dir, 'merge', '--no-ff', '-m', 'Merge company', 'origin/company');
    await gitIn(human.dir, 'push', 'origin', 'main');
    expect((await once()).code).toBe(0);
    expect(await gitIn(bare, 'show', 'main:reports/2026-11-26-company/result.md')).toMatch(
      /\| applied \| 24 \|/,
    );
    expect(await search()).toContain('company: Lillevik kommune');
    // The next pass refreshes the previews the execution made stale; after that, passes commit nothing.
    expect((await once()).code).toBe(0);
    const head = await gitIn(bare, 'rev-parse', 'main');
    expect((await once()).code).toBe(0);
    expect(await gitIn(bare, 'rev-parse', 'main')).toBe(head);
  });
});
