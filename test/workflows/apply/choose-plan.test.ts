import { describe, expect, it } from 'vitest';
import type { ReexportRequest, SyncTemplate } from '../../../src/config/types.generated.js';
import type { PlanChange } from '../../../src/plan/plan-types.js';
import { outsideRequestCheck } from '../../../src/workflows/apply/choose-plan.js';

const template = {
  apiVersion: 'reexport/v1',
  kind: 'SyncTemplate',
  metadata: { name: 't' },
  spec: {
    target: 'ldap',
    source: { file: 'data/people.csv', id: 'id' },
    match: { sourceField: 'id', targetAttribute: 'employeeID' },
    scope: { baseDN: 'ou=people,dc=x' },
    mappings: [
      { target: 'mail', source: '{{ id }}@x' },
      { target: 'title', source: 'T' },
    ],
  },
} as unknown as SyncTemplate;
const request = {
  apiVersion: 'reexport/v1',
  kind: 'ReexportRequest',
  metadata: { name: 'r' },
  spec: { template: 't', mappings: 'all', users: 'all', execute: true },
} as unknown as ReexportRequest;

const change = (id: string, dn: string, attribute: string): PlanChange => ({
  id,
  dn,
  attribute,
  before: ['a'],
  after: ['b'],
});

function check(changes: PlanChange[]): string | undefined {
  const outside = outsideRequestCheck(request, template);
  for (const c of changes) outside.add(c);
  return outside.result();
}

describe('outsideRequestCheck: a plan changes only what its request re-exports, in its scope', () => {
  it('accepts users with several changes each, all in scope', () => {
    expect(
      check([
        change('1', 'uid=u1,ou=people,dc=x', 'mail'),
        change('1', 'uid=u1,ou=people,dc=x', 'title'),
        change('2', 'UID=u2, OU=People,DC=x', 'mail'),
      ]),
    ).toBeUndefined();
  });

  it('refuses a change to an entry outside the template’s baseDN, after users inside it', () => {
    expect(
      check([
        change('1', 'uid=u1,ou=people,dc=x', 'mail'),
        change('1', 'uid=u1,ou=people,dc=x', 'title'),
        change('2', 'uid=admin,ou=service,dc=x', 'mail'),
        change('2', 'uid=admin,ou=service,dc=x', 'title'),
      ]),
    ).toBe("changes uid=admin,ou=service,dc=x, outside the template's baseDN");
  });

  it('refuses an attribute the request does not re-export, and a change given twice', () => {
    expect(check([change('1', 'uid=u1,ou=people,dc=x', 'telephoneNumber')])).toBe(
      'changes `telephoneNumber`, which the request does not re-export',
    );
    expect(
      check([change('1', 'uid=u1,ou=people,dc=x', 'mail'), change('1', 'uid=u1,ou=people,dc=x', 'MAIL')]),
    ).toBe('changes `MAIL` of 1 twice');
  });
});
