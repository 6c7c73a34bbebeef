import { toLdif } from './slapd.js';

/** A small municipality, in the form slapd can hold (inetOrgPerson + the test schema's employeeID). */
export const SLAPD_TEMPLATE = `apiVersion: reexport/v1
kind: SyncTemplate
metadata: { name: ldap-employees }
spec:
  target: ldap
  source: { file: data/ansatte.csv, id: employeeId }
  match: { sourceField: employeeId, targetAttribute: employeeID }
  scope: { baseDN: "ou=Ansatte,dc=kommune,dc=test", filter: "(objectClass=inetOrgPerson)" }
  mappings:
    - target: mail
      source: "{{ givenName | ascii | downcase }}.{{ sn | ascii | downcase | replace: ' ', '-' }}@lillevik.kommune.no"
    - target: title
      source: "{{ title | collapse }}"
      onEmpty: skip
    - target: telephoneNumber
      source: "{% if phone != blank %}+47 {{ phone | remove: ' ' }}{% endif %}"
    - target: proxyAddresses
      source: ["smtp:{{ employeeId }}@lillevik.kommune.no"]
      policy: merge
    - target: description
      source: Lillevik kommune
      policy: keep
`;

export const CSV = `employeeId,givenName,sn,title,phone
1001,Åse,Ødegård,Seniorrådgiver,22 33 44 01
1002,Bjørn,Ærø,Driftstekniker,
1003,Kåre,Dæhlie,"Rektor, skole",22 33 44 03
1004,José,Martínez Haugen,,22 33 44 04
1005,Ingen,Oppføring,Konsulent,22 33 44 05
*)(uid=*,Hacker,Test,x,1
`;

export const request = (name: string, spec: string) => `apiVersion: reexport/v1
kind: ReexportRequest
metadata: { name: ${name} }
spec:
  template: ldap-employees
${spec}`;

export function daemonConfig(url: string, bindDN: string, extra = ''): string {
  return `apiVersion: reexport/v1
kind: DaemonConfig
safety: { maxChanges: 500, maxClears: 100 }
targets:
  ldap:
    url: ${url}
    bindDN: "${bindDN}"
    passwordEnv: REEXPORT_TEST_LDAP_PASSWORD
    allowedAttributes: [mail, title, telephoneNumber, proxyAddresses, description]
${extra}`;
}

const SUFFIX = 'dc=kommune,dc=test';
function person(uid: string, attrs: Record<string, string | string[]>) {
  return {
    dn: `uid=${uid},ou=Ansatte,${SUFFIX}`,
    attrs: { objectClass: ['inetOrgPerson', 'reexportPerson'], uid, ...attrs },
  };
}

/** The directory as it is before the re-export: some values right, some edited by hand, one duplicate. */
export function seedLdif(): string {
  return [
    `dn: ou=Ansatte,${SUFFIX}\nobjectClass: organizationalUnit\nou: Ansatte\n`,
    toLdif([
      person('aase', {
        cn: 'Åse Ødegård',
        sn: 'Ødegård',
        employeeID: '1001',
        mail: 'ase.odegard@kommune.no',
        title: 'Seniorrådgiver',
        telephoneNumber: '+47 22334401',
        proxyAddresses: ['SMTP:ase@kommune.no'],
      }),
      person('bjorn', {
        cn: 'Bjørn Ærø',
        sn: 'Ærø',
        employeeID: '1002',
        mail: 'bjorn.aero@lillevik.kommune.no',
        title: 'Sjef for alt',
        telephoneNumber: '+47 99999999',
        description: 'Satt for hånd',
      }),
      person('kaare', {
        cn: 'Kåre Dæhlie',
        sn: 'Dæhlie',
        employeeID: '1003',
        mail: 'Kaare.Daehlie@lillevik.kommune.no',
        title: 'Rektor, skole',
        telephoneNumber: '+47 22334403',
        proxyAddresses: ['smtp:1003@lillevik.kommune.no'],
      }),
      person('jose1', { cn: 'José Martínez Haugen', sn: 'Martínez Haugen', employeeID: '1004' }),
      person('jose2', { cn: 'José Martínez Haugen (kopi)', sn: 'Martínez Haugen', employeeID: '1004' }),
      person('other', { cn: 'Uten ID i HR', sn: 'Person', employeeID: '9999', mail: 'other@kommune.no' }),
    ]),
  ].join('\n');
}
