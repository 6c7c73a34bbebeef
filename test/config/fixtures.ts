/** Small, valid config files that tests vary one line at a time. */
export const TEMPLATE = `apiVersion: reexport/v1
kind: SyncTemplate
metadata:
  name: ad-employees
spec:
  target: ad
  source: { file: data/people.csv, id: employeeId }
  match:
    sourceField: employeeId
    targetAttribute: employeeID
  scope:
    baseDN: OU=Ansatte,DC=kommune,DC=test
  mappings:
    - target: mail
      source: "{{ givenName | ascii | downcase }}@kommune.no"
    - target: company
      source: Lillevik kommune
`;

export const REQUEST = `apiVersion: reexport/v1
kind: ReexportRequest
metadata:
  name: new-mail
spec:
  template: ad-employees
  mappings: [mail]
  users: all
  execute: false
`;

export const PEOPLE_CSV = 'employeeId,givenName,sn\n1001,Åse,Ødegård\n';

export const DAEMON = `apiVersion: reexport/v1
kind: DaemonConfig
targets:
  ad:
    url: ldaps://dc01.kommune.test:636
    allowedAttributes: [mail, company]
sources:
  hr: { type: csv, path: /var/lib/hr.csv, id: employeeId }
`;

export function baseRepo(): Record<string, string | Buffer> {
  return {
    'templates/ad-employees.yaml': TEMPLATE,
    'requests/new-mail.yaml': REQUEST,
    'data/people.csv': PEOPLE_CSV,
  };
}
