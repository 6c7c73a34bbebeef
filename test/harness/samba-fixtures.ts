/**
 * Config files for tests against Samba AD: the template an AD administrator would write, with the
 * mappings a test needs as a parameter, a request, and a daemon config pointing at the test's
 * Samba. Each test keeps its own users and HR data, which are what it is about.
 */
import type { SambaAd } from './samba.js';

export const AD_SUFFIX = 'DC=kommune,DC=test';
export const AD_STAFF_OU = `OU=Ansatte,${AD_SUFFIX}`;

const MAIL_LOCAL =
  "{{ givenName | ascii | downcase | replace: ' ', '.' }}.{{ sn | ascii | downcase | replace: ' ', '-' }}";

/** The config example's mappings (and a fill-if-empty one), by target attribute: pick what a test needs. */
export const AD_MAPPINGS = {
  mail: `    - target: mail
      source: "${MAIL_LOCAL}@lillevik.kommune.no"
`,
  displayName: `    - target: displayName
      source: "{{ givenName | collapse }} {{ sn | collapse }}"
`,
  department: `    - target: department
      source: "{{ department | collapse }}"
`,
  company: `    - target: company
      source: Lillevik kommune
`,
  title: `    - target: title
      source: "{{ title | collapse }}"
      onEmpty: skip
`,
  telephoneNumber: `    - target: telephoneNumber
      source: "{% if phone != blank %}+47 {{ phone | remove: ' ' }}{% endif %}"
      onEmpty: clear
`,
  proxyAddresses: `    - target: proxyAddresses
      source:
        - "SMTP:${MAIL_LOCAL}@lillevik.kommune.no"
        - "smtp:{{ employeeId }}@lillevik.kommune.no"
      policy: merge
`,
  description: `    - target: description
      source: Ansatt i Lillevik kommune
      policy: keep
`,
} as const;

export type AdMapping = keyof typeof AD_MAPPINGS;

const isAdMapping = (m: string): m is AdMapping => Object.hasOwn(AD_MAPPINGS, m);

/**
 * templates/ad-employees.yaml over data/ansatte.csv for the entries under `baseDN`; `mappings` are
 * names from AD_MAPPINGS (AdMapping) or mapping YAML of the test's own.
 */
export function adTemplate(baseDN: string, mappings: readonly string[]): string {
  const list = mappings.map((m) => (isAdMapping(m) ? AD_MAPPINGS[m] : m)).join('');
  return `apiVersion: reexport/v1
kind: SyncTemplate
metadata: { name: ad-employees }
spec:
  target: ad
  source: { file: data/ansatte.csv, id: employeeId }
  match: { sourceField: employeeId, targetAttribute: employeeID }
  scope: { baseDN: "${baseDN}", filter: "(objectClass=user)" }
  mappings:
${list}`;
}

/** requests/<name>.yaml for the ad-employees template; `spec` is the rest of the spec, indented. */
export const adRequest = (name: string, spec: string, description?: string) => `apiVersion: reexport/v1
kind: ReexportRequest
metadata: { name: ${name}${description ? `, description: ${description}` : ''} }
spec:
  template: ad-employees
${spec}`;

/**
 * The daemon config of target `ad` on the test's Samba over ldaps://, the password from
 * REEXPORT_TEST_AD_PASSWORD; with `repoUrl`, a daemon's config repository (workdir ./var).
 */
export function sambaDaemonConfig(
  samba: SambaAd,
  opts: { allowedAttributes: readonly string[]; maxChanges?: number; concurrency?: number; repoUrl?: string },
): string {
  return `apiVersion: reexport/v1
kind: DaemonConfig
${opts.repoUrl !== undefined ? `repo: { url: "${opts.repoUrl}", workdir: ./var }\n` : ''}${opts.maxChanges !== undefined ? `safety: { maxChanges: ${opts.maxChanges} }\n` : ''}targets:
  ad:
    url: ${samba.ldapsUrl}
    bindDN: "${samba.adminDN}"
    passwordEnv: REEXPORT_TEST_AD_PASSWORD
    tls: { caFile: "${samba.caFile}" }
    allowedAttributes: [${opts.allowedAttributes.join(', ')}]
${opts.concurrency !== undefined ? `    concurrency: ${opts.concurrency}\n` : ''}`;
}
