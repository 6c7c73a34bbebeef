import { readFileSync } from 'node:fs';
import { ascii } from '../expr/ascii.js';
import { parseSourceText } from '../source/parse-file.js';
import type { DemoEntry } from './demo-directory.js';
import { CONFIG_EXAMPLE, DEMO_BIND_DN } from './setup.js';

/**
 * The municipality's Active Directory "today", before the re-export: the old mail domain for
 * everyone, a title edited by hand, a missing phone number, and an account HR does not know.
 */
export function demoEntries(suffix: string): DemoEntry[] {
  const rows = parseSourceText(
    readFileSync(`${CONFIG_EXAMPLE}data/ansatte.csv`, 'utf8'),
    'ansatte.csv',
    'csv',
  );
  const ou = `OU=Ansatte,${suffix}`;
  const users: DemoEntry[] = rows.map(({ fields }) => {
    const f = fields as Record<string, string>;
    const local = `${ascii(f.givenName).toLowerCase().replace(/ /g, '.')}.${ascii(f.sn).toLowerCase().replace(/ /g, '-')}`;
    const account = `${ascii(f.givenName).toLowerCase().slice(0, 3)}${ascii(f.sn)
      .toLowerCase()
      .replace(/[^a-z]/g, '')
      .slice(0, 3)}`;
    const attributes: Record<string, string[]> = {
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      cn: [`${f.givenName} ${f.sn}`],
      sAMAccountName: [account],
      employeeID: [f.employeeId!],
      givenName: [f.givenName!],
      sn: [f.sn!],
      displayName: [`${f.givenName} ${f.sn}`],
      mail: [`${local}@kommune.no`],
      proxyAddresses: [`SMTP:${local}@kommune.no`],
      company: ['Lillevik kommune'],
      department: [f.department!],
    };
    if (f.title) attributes.title = [f.employeeId === '1002' ? 'Sjef for alt' : f.title];
    if (f.phone && f.employeeId !== '1004') attributes.telephoneNumber = [`+47 ${f.phone.replace(/ /g, '')}`];
    return { dn: `CN=${f.givenName} ${f.sn},${ou}`, attributes };
  });
  return [
    {
      dn: suffix,
      attributes: { objectClass: ['top', 'domain'], dc: [suffix.split(',')[0]!.split('=')[1]!] },
    },
    { dn: ou, attributes: { objectClass: ['top', 'organizationalUnit'], ou: ['Ansatte'] } },
    { dn: DEMO_BIND_DN, attributes: { objectClass: ['top', 'person', 'user'], cn: ['svc-reexport'] } },
    ...users,
    {
      dn: `CN=Vikar Uten HR,${ou}`,
      attributes: {
        objectClass: ['top', 'person', 'organizationalPerson', 'user'],
        cn: ['Vikar Uten HR'],
        employeeID: ['9001'],
        mail: ['vikar@kommune.no'],
      },
    },
  ];
}
