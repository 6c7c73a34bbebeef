import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../../src/config/daemon-config.js';
import { formatDiagnostic } from '../../../src/shared/diagnostics.js';
import { ldapSourceReader, openTargetReader } from '../../../src/adapters/ldap/readers.js';
import { previewRequest } from '../../../src/workflows/preview.js';
import { makeDir } from '../../harness/files.js';
import { describeWithSlapd } from '../../harness/require.js';
import { type Slapd, startSlapd, toLdif } from '../../harness/slapd.js';

/** Two directories: an identity system as the source of truth, and the target. */
describeWithSlapd('an LDAP source of truth', () => {
  let idm: Slapd;
  let target: Slapd;
  let work: Awaited<ReturnType<typeof makeDir>>;

  beforeAll(async () => {
    const people = (ou: string, extra: (i: number) => Record<string, string>) =>
      `dn: ou=${ou},dc=kommune,dc=test\nobjectClass: organizationalUnit\nou: ${ou}\n\n` +
      toLdif(
        Array.from({ length: 30 }, (_, i) => ({
          dn: `uid=u${i},ou=${ou},dc=kommune,dc=test`,
          attrs: {
            objectClass: ['inetOrgPerson', 'reexportPerson'],
            uid: `u${i}`,
            cn: `U${i}`,
            sn: 'U',
            ...extra(i),
          },
        })),
      );
    idm = await startSlapd({
      ldif: people('idm', (i) => ({
        employeeNumber: String(5000 + i),
        givenName: i === 0 ? 'Åse' : `Ola${i}`,
        sn: i === 0 ? 'Ødegård' : 'Nordmann',
      })),
    });
    target = await startSlapd({
      ldif: people('Ansatte', (i) => ({
        employeeID: String(5000 + i),
        mail: i < 10 ? `old${i}@kommune.no` : `ola${i}.nordmann@kommune.no`,
      })),
    });
    work = await makeDir({
      'templates/t.yaml': `apiVersion: reexport/v1
kind: SyncTemplate
metadata: { name: t }
spec:
  target: ad
  source: idm
  match: { sourceField: employeeNumber, targetAttribute: employeeID }
  scope: { baseDN: "ou=Ansatte,dc=kommune,dc=test" }
  mappings:
    - target: mail
      source: "{{ givenName | ascii | downcase }}.{{ sn | ascii | downcase }}@kommune.no"
`,
      'requests/r.yaml':
        'apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: r }\nspec: { template: t, mappings: all, users: all }\n',
      'daemon.yaml': `apiVersion: reexport/v1
kind: DaemonConfig
targets:
  ad: { url: "${target.url}", bindDN: "${target.bindDN}", passwordEnv: TARGET_PW, allowedAttributes: [mail] }
sources:
  idm: { type: ldap, url: "${idm.url}", bindDN: "${idm.bindDN}", passwordEnv: IDM_PW, baseDN: "ou=idm,dc=kommune,dc=test", filter: "(objectClass=inetOrgPerson)", id: employeeNumber, attributes: [employeeNumber, givenName, sn], pageSize: 7 }
`,
    });
    process.env.TARGET_PW = target.password;
    process.env.IDM_PW = idm.password;
  });
  afterAll(async () => {
    await work?.cleanup();
    await idm?.stop();
    await target?.stop();
  });

  it('reads records with a paged search and plans from them', async () => {
    const daemon = await loadDaemonConfig(`${work.dir}/daemon.yaml`);
    const result = await previewRequest(work.dir, 'r', daemon, {
      openTarget: (t) => openTargetReader(daemon, t),
      readLdapSource: ldapSourceReader(daemon),
    });
    if ('invalid' in result) throw new Error(result.invalid.map(formatDiagnostic).join('\n'));
    expect(result.plan.summary).toMatchObject({ recordsInSource: 30, matched: 30, usersToChange: 10 });
    expect([...result.plan.changes][0]).toMatchObject({
      id: '5000',
      before: ['old0@kommune.no'],
      after: ['aase.odegaard@kommune.no'],
    });
    expect(result.plan.header.digests.source).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
