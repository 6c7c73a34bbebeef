import { toLdif } from './slapd.js';

/**
 * The bulk fixture of the execution tests (crash, resume, outage, two daemons, idle passes): N
 * people under ou=people with an old mail, a CSV of their IDs, and a template that gives each a
 * new mail. One place, so every "written exactly once" test speaks of the same data.
 */
export const PEOPLE_TEMPLATE = `apiVersion: reexport/v1
kind: SyncTemplate
metadata: { name: t }
spec:
  target: ldap
  source: { file: data/people.csv, id: id }
  match: { sourceField: id, targetAttribute: employeeID }
  scope: { baseDN: "ou=people,dc=kommune,dc=test" }
  mappings:
    - target: mail
      source: "{{ id }}@lillevik.kommune.no"
`;

/** PEOPLE_TEMPLATE with a second mapping, for requests that select some of a template's mappings. */
export const PEOPLE_TEMPLATE_WITH_DESCRIPTION = `${PEOPLE_TEMPLATE}    - target: description
      source: "Ansatt {{ id }}"
`;

/** Seed LDIF for slapd: ou=people and `count` people u0… with employeeID i and mail old<i>@kommune.no. */
export function peopleLdif(count: number): string {
  const people = Array.from({ length: count }, (_, i) => ({
    dn: `uid=u${i},ou=people,dc=kommune,dc=test`,
    attrs: {
      objectClass: ['inetOrgPerson', 'reexportPerson'],
      uid: `u${i}`,
      cn: `U ${i}`,
      sn: 'U',
      employeeID: String(i),
      mail: `old${i}@kommune.no`,
    },
  }));
  return `dn: ou=people,dc=kommune,dc=test\nobjectClass: organizationalUnit\nou: people\n\n${toLdif(people)}`;
}

/** data/people.csv for the same people. */
export const peopleCsv = (count: number) => `id\n${Array.from({ length: count }, (_, i) => i).join('\n')}\n`;
