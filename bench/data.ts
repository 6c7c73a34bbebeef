/**
 * Deterministic fixtures for the benchmarks: people with Norwegian names in a directory (LDIF for
 * slapadd) and in an HR export (CSV), plus the config repository that re-exports their mail.
 */
import { ascii } from '../src/expr/ascii.js';
import { seededRandom } from '../test/harness/random.js';
import { toLdif } from '../test/harness/slapd.js';

export const SUFFIX = 'dc=kommune,dc=test';
export const PEOPLE_DN = `ou=people,${SUFFIX}`;
export const TEMPLATE_NAME = 'people';
export const MAIL_DOMAIN = 'kommune.no';

const GIVEN = [
  'Åse',
  'Bjørn',
  'Kåre',
  'Jørgen',
  'Sølvi',
  'Ørjan',
  'Håkon',
  'Tørris',
  'Ragnhild',
  'Øystein',
  'Åsmund',
  'Pål',
  'Frøydis',
  'Gøril',
  'Bård',
  'Torbjørn',
  'Ståle',
  'Jens',
  'Anne',
  'Ingrid',
  'Kari',
  'Ola',
  'Per',
  'Nils',
  'Lars',
  'Marit',
  'Siri',
  'Eirik',
  'Sindre',
  'Maren',
  'Hege',
  'Tove',
  'Liv',
  'Ellinor',
  'Trond',
  'Geir',
  'Sigrid',
  'Astrid',
  'Solveig',
  'Bodil',
  'Dagfinn',
  'Hallvard',
  'Ivar',
  'Jostein',
  'Knut',
  'Leif',
  'Magne',
  'Njål',
  'Odd',
  'Rune',
  'Svein',
  'Terje',
  'Ulf',
  'Vegard',
  'Yngve',
  'Åshild',
  'Øyvind',
  'José',
  'André',
  'Renée',
  'Zoë',
  'Chloé',
  'Noël',
  'Mikaël',
  'Hélène',
  'Þóra',
  'Anne-Lise',
  'Kjærsti',
  'Mads',
  'Ida',
  'Emma',
  'Nora',
  'Sofie',
  'Jakob',
  'Emil',
  'Noah',
  'Oskar',
  'Aksel',
  'Filip',
  'Mathias',
  'Sebastian',
  'Tiril',
  'Vilde',
  'Thea',
  'Ingeborg',
  'Sunniva',
];
const SURNAMES = [
  'Ødegård',
  'Ærø',
  'Dæhlie',
  'Bråten',
  'Sæther',
  'Løken',
  'Håland',
  'Kjærnes',
  'Strømmen',
  'Grønli',
  'Sørensen',
  'Mæland',
  'Bjørnstad',
  'Øverland',
  'Åsheim',
  'Følstad',
  'Hansen',
  'Johansen',
  'Olsen',
  'Larsen',
  'Andersen',
  'Pedersen',
  'Nilsen',
  'Kristiansen',
  'Jensen',
  'Karlsen',
  'Johnsen',
  'Pettersen',
  'Eriksen',
  'Berg',
  'Haugen',
  'Hagen',
  'Johannessen',
  'Andreassen',
  'Jacobsen',
  'Dahl',
  'Jørgensen',
  'Halvorsen',
  'Henriksen',
  'Lund',
  'Sørlie',
  'Moen',
  'Gundersen',
  'Iversen',
  'Strand',
  'Solberg',
  'Svendsen',
  'Eide',
  'Knutsen',
  'Martinsen',
  'Paulsen',
  'Bakken',
  'Kristoffersen',
  'Mathisen',
  'Lie',
  'Amundsen',
  'Nguyen',
  'Rasmussen',
  'Ali',
  'Lunde',
  'Solheim',
  'Berge',
  'Moe',
  'Nygård',
  'Bakke',
  'Kristensen',
  'Fredriksen',
  'Holm',
  'Lien',
  'Hauge',
  'Christensen',
  'Andresen',
  'Nielsen',
  'Knudsen',
  'Evensen',
  'Aas',
  'Myhre',
  'Hanssen',
  'Ahmed',
  'Haugland',
  'Thomassen',
  'Sivertsen',
  'Simonsen',
  'Danielsen',
  'Berntsen',
  'Sandvik',
  'Rønning',
  'Arnesen',
  'Antonsen',
  'Næss',
  'Vik',
  'Haug',
  'Ellingsen',
  'Thorsen',
  'Edvardsen',
  'Birkeland',
  'Isaksen',
  'Gulbrandsen',
  'Ruud',
  'Aasen',
  'Strøm',
  'Myklebust',
  'Tangen',
  'Ødegaard',
  'Martínez',
  'Müller',
  'Østby',
  'Kvålsvoll',
  'Sæbø',
  'Grøtting',
  'Vågen',
  'Bøe',
];

export interface Person {
  uid: string;
  employeeId: string;
  givenName: string;
  sn: string;
  /** HR's job title and phone number (source fields of the other mappings). */
  title: string;
  phone: string;
  /** The mail the directory holds before the re-export. */
  mail: string;
  /** The mail the template's mapping produces. */
  expectedMail: string;
  /** What the directory holds for the other three mappings, and what they produce. */
  displayName: string;
  expectedDisplayName: string;
  dirTitle: string;
  expectedTitle: string;
  telephoneNumber: string;
  expectedTelephoneNumber: string;
}

/** The attribute changes the template's four mappings make for a person. */
export function changesOf(p: Person): number {
  return (
    Number(p.mail !== p.expectedMail) +
    Number(p.displayName !== p.expectedDisplayName) +
    Number(p.dirTitle !== p.expectedTitle) +
    Number(p.telephoneNumber !== p.expectedTelephoneNumber)
  );
}

const TITLES = ['Rådgiver', 'Konsulent', 'Lærer', 'Sykepleier', 'Saksbehandler', 'Leder', ''];

/** What `{{ givenName | ascii | downcase }}.{{ sn | ascii | downcase }}@kommune.no` gives (liquid's downcase is toLowerCase). */
export function mappedMail(givenName: string, sn: string): string {
  return `${ascii(givenName).toLowerCase()}.${ascii(sn).toLowerCase()}@${MAIL_DOMAIN}`;
}

/**
 * `count` people; a person's directory mail differs from the mapping's output when `differs(i)`
 * (the old mail domain, as after a municipal merger, or a hand-typed spelling).
 */
export function people(count: number, differs: (i: number) => boolean, seed = 2026): Person[] {
  const rnd = seededRandom(seed);
  const pick = <T>(list: T[]) => list[Math.floor(rnd() * list.length)]!;
  const out: Person[] = [];
  for (let i = 0; i < count; i++) {
    const givenName = pick(GIVEN);
    const sn = pick(SURNAMES);
    const expectedMail = mappedMail(givenName, sn);
    // mail is an IA5 (ASCII) attribute: a hand-typed variant differs in letter case, the rest in domain.
    const mail = !differs(i)
      ? expectedMail
      : i % 20 === 0
        ? `${ascii(givenName)}.${ascii(sn)}@${MAIL_DOMAIN}`
        : expectedMail.replace(`@${MAIL_DOMAIN}`, `@old.${MAIL_DOMAIN}`);
    const title = pick(TITLES);
    const phone = `${String(90000000 + Math.floor(rnd() * 9999999))}`;
    const expectedDisplayName = `${givenName} ${sn}`;
    const expectedTitle = title === '' ? 'Medarbeider' : title;
    const expectedTelephoneNumber = `+47 ${phone.slice(0, 3)} ${phone.slice(3, 5)} ${phone.slice(5)}`;
    // The other mappings change few users (a hand edit here and there), as in a mail-domain change.
    out.push({
      uid: `u${String(i + 1).padStart(7, '0')}`,
      employeeId: String(100000 + i),
      givenName,
      sn,
      title,
      phone,
      mail,
      expectedMail,
      displayName: i % 101 === 7 ? `${givenName.toUpperCase()} ${sn}` : expectedDisplayName,
      expectedDisplayName,
      dirTitle: i % 211 === 5 ? 'Vikar' : expectedTitle,
      expectedTitle,
      telephoneNumber: i % 157 === 3 ? phone : expectedTelephoneNumber,
      expectedTelephoneNumber,
    });
  }
  return out;
}

/**
 * The same people with the directory stale in every mapped attribute, not only mail, for those
 * `differs` picks: four changes per such user (a directory nobody kept up), so a plan four times
 * the size from the same source.
 */
export function staleEverywhere(persons: Person[], differs: (i: number) => boolean): Person[] {
  return persons.map((p, i) =>
    differs(i)
      ? {
          ...p,
          displayName: `${p.givenName.toUpperCase()} ${p.sn}`,
          dirTitle: 'Vikar',
          telephoneNumber: p.phone,
        }
      : p,
  );
}

export function dnOf(p: Person): string {
  return `uid=${p.uid},${PEOPLE_DN}`;
}

/** Seed LDIF for slapadd: the people OU and one inetOrgPerson + reexportPerson entry per person. */
export function directoryLdif(persons: Person[]): string {
  const ou = `dn: ${PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n`;
  const entries = persons.map((p) => ({
    dn: dnOf(p),
    attrs: {
      objectClass: ['inetOrgPerson', 'reexportPerson'],
      uid: p.uid,
      cn: `${p.givenName} ${p.sn}`,
      givenName: p.givenName,
      sn: p.sn,
      employeeID: p.employeeId,
      mail: p.mail,
      displayName: p.displayName,
      title: p.dirTitle,
      telephoneNumber: p.telephoneNumber,
    },
  }));
  return `${ou}\n${toLdif(entries)}`;
}

/** The HR export, in a shuffled order (an export is rarely sorted by ID). */
/**
 * Columns an HR export carries beside the mapped ones, none of which a mapping reads: what
 * `sourceCsv(…, wide)` appends, values of about ten characters each.
 */
const UNREAD_COLUMNS = [
  'department',
  'office',
  'costCenter',
  'manager',
  'startDate',
  'endDate',
  'employmentType',
  'positionCode',
  'positionTitle',
  'orgUnit',
  'orgUnitName',
  'location',
  'building',
  'room',
  'mobile',
  'privateEmail',
  'birthDate',
  'nationality',
  'union',
  'salaryGrade',
  'workPercent',
  'supervisorId',
  'hrContact',
  'notes',
  'lastChanged',
];

/** The source CSV: the five columns the mappings read, and with `wide` 25 more nobody reads (30 in all). */
export function sourceCsv(persons: Person[], seed = 7, wide = false): string {
  const rnd = seededRandom(seed);
  const unread = (id: string) =>
    wide
      ? `,${UNREAD_COLUMNS.map((c, k) => `${c.slice(0, 4)}-${(Number(id) * (k + 7)) % 100_000}`).join(',')}`
      : '';
  const rows = persons.map(
    (p) => `${p.employeeId},${p.givenName},${p.sn},${p.title},${p.phone}${unread(p.employeeId)}`,
  );
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  const header = `employeeId,givenName,sn,title,phone${wide ? `,${UNREAD_COLUMNS.join(',')}` : ''}`;
  return `${header}\n${rows.join('\n')}\n`;
}

/**
 * The same users as a JSON export (an HR system's API): employeeId a number, the rest text, in
 * the CSV's order.
 */
export function sourceJson(persons: Person[], seed = 7): string {
  const rows = sourceCsv(persons, seed).trimEnd().split('\n').slice(1);
  const records = rows.map((row) => {
    const [employeeId, givenName, sn, title, phone] = row.split(',');
    return { employeeId: Number(employeeId), givenName, sn, title, phone };
  });
  return `[\n${records.map((r) => `  ${JSON.stringify(r)}`).join(',\n')}\n]\n`;
}

/**
 * The template. `shapes`: the same values written as other templates write them (`{% if %}`,
 * `default`, `strip`) and read from the JSON export (sourceJson), so the same plan.
 */
export function templateYaml(shapes = false): string {
  const displayName = shapes
    ? '{% if givenName != blank %}{{ givenName | strip }} {% endif %}{{ sn | strip }}'
    : '{{ givenName }} {{ sn }}';
  const title = shapes
    ? "{% if title == blank %}Medarbeider{% else %}{{ title | default: 'Medarbeider' }}{% endif %}"
    : "{{ title | fallback: 'Medarbeider' }}";
  return `apiVersion: reexport/v1
kind: SyncTemplate
metadata: { name: ${TEMPLATE_NAME}, description: Benchmark people }
spec:
  target: ldap
  source: { file: data/people.${shapes ? 'json' : 'csv'}, id: employeeId }
  match: { sourceField: employeeId, targetAttribute: employeeID }
  scope: { baseDN: "${PEOPLE_DN}" }
  mappings:
    - target: mail
      source: "{{ givenName | ascii | downcase }}.{{ sn | ascii | downcase }}@${MAIL_DOMAIN}"
    - target: displayName
      source: "${displayName}"
    - target: title
      source: "${title}"
    - target: telephoneNumber
      source: "+47 {{ phone | slice: 0, 3 }} {{ phone | slice: 3, 2 }} {{ phone | slice: 5, 3 }}"
`;
}

export function requestYaml(name: string, execute = true): string {
  return `apiVersion: reexport/v1
kind: ReexportRequest
metadata: { name: ${name}, description: Benchmark re-export of every mail }
spec:
  template: ${TEMPLATE_NAME}
  mappings: all
  users: all
  execute: ${execute}
  maxChanges: 10000000
`;
}

/** What the preview asks the directory for: the match attribute and the four mapped attributes. */
export const PREVIEW_ATTRIBUTES = ['employeeID', 'mail', 'displayName', 'title', 'telephoneNumber'];

/** The share of users whose mail differs from the mapping (a mail-domain change): 80%. */
export const differs80 = (i: number) => i % 10 < 8;

export const PASSWORD_ENV = 'REEXPORT_BENCH_LDAP_PASSWORD';

/** The daemon config; with `repo`, the config repository the daemon (and `reexport apply`) works on. */
export function daemonYaml(url: string, bindDN: string, repo?: { url: string; workdir: string }): string {
  return `apiVersion: reexport/v1
kind: DaemonConfig
${repo ? `repo: { url: "${repo.url}", branch: main, workdir: "${repo.workdir}" }\n` : ''}safety: { maxChanges: 500, maxClears: 100 }
targets:
  ldap:
    url: ${url}
    bindDN: "${bindDN}"
    passwordEnv: ${PASSWORD_ENV}
    allowedAttributes: [mail, displayName, title, telephoneNumber]
`;
}
