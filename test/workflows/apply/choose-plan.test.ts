import { describe, expect, it } from 'vitest';
import type { SyncTemplate } from '../../../src/config/types.generated.js';
import type { PlanChange } from '../../../src/plan/plan-types.js';
import { outsideRequestCheck } from '../../../src/workflows/apply/choose-plan.js';
import { request, template } from '../../plan/helpers.js';

const mappings: SyncTemplate['spec']['mappings'] = [
  { target: 'mail', source: '{{ employeeId }}@x' },
  { target: 'title', source: 'T' },
];

const change = (id: string, dn: string, attribute: string): PlanChange => ({
  id,
  dn,
  attribute,
  before: ['a'],
  after: ['b'],
});

function check(changes: PlanChange[]): string | undefined {
  const outside = outsideRequestCheck(request(), template(mappings));
  for (const c of changes) outside.add(c);
  return outside.result();
}

describe('outsideRequestCheck: a plan changes only what its request re-exports, in its scope', () => {
  it('accepts users with several changes each, all in scope', () => {
    expect(
      check([
        change('1', 'uid=u1,OU=Ansatte,DC=kommune,DC=test', 'mail'),
        change('1', 'uid=u1,OU=Ansatte,DC=kommune,DC=test', 'title'),
        change('2', 'UID=u2, ou=ansatte,dc=kommune,dc=test', 'mail'),
      ]),
    ).toBeUndefined();
  });

  it('refuses a change to an entry outside the template’s baseDN, after users inside it', () => {
    expect(
      check([
        change('1', 'uid=u1,OU=Ansatte,DC=kommune,DC=test', 'mail'),
        change('1', 'uid=u1,OU=Ansatte,DC=kommune,DC=test', 'title'),
        change('2', 'CN=admin,OU=Service,DC=kommune,DC=test', 'mail'),
        change('2', 'CN=admin,OU=Service,DC=kommune,DC=test', 'title'),
      ]),
    ).toBe("changes CN=admin,OU=Service,DC=kommune,DC=test, outside the template's baseDN");
  });

  it('refuses an attribute the request does not re-export, and a change given twice', () => {
    expect(check([change('1', 'uid=u1,OU=Ansatte,DC=kommune,DC=test', 'telephoneNumber')])).toBe(
      'changes `telephoneNumber`, which the request does not re-export',
    );
    expect(
      check([
        change('1', 'uid=u1,OU=Ansatte,DC=kommune,DC=test', 'mail'),
        change('1', 'uid=u1,OU=Ansatte,DC=kommune,DC=test', 'MAIL'),
      ]),
    ).toBe('changes `MAIL` of 1 twice');
  });
});
