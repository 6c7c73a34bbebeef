import { describe, expect, it } from 'vitest';
import { Attribute, Change, EqualityFilter, ModifyRequest, SearchRequest } from 'ldapts';
// The adapter that opens connections; importing it is what shortens ldapts' request logging.
import '../../../src/adapters/ldap/connection.js';

describe('ldapts requests as its debug log serialises them', () => {
  it('names the request, its message ID and entry, never the values written', () => {
    const modify = new ModifyRequest({
      messageId: 7,
      dn: 'cn=Kari Nordmann,ou=people,dc=kommune,dc=test',
      changes: [
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'mail', values: ['kari.nordmann@ny.kommune.no'] }),
        }),
      ],
    });
    // ldapts logs `Sending message: ${JSON.stringify(message)}` for every request it sends.
    const logged = JSON.stringify(modify);
    expect(JSON.parse(logged)).toEqual({
      type: 'ModifyRequest',
      messageId: 7,
      dn: 'cn=Kari Nordmann,ou=people,dc=kommune,dc=test',
    });
    expect(logged).not.toContain('ny.kommune.no');
    // The request itself is untouched: it still encodes its changes.
    expect(modify.write().toString('latin1')).toContain('kari.nordmann@ny.kommune.no');
  });

  it('names a search by its base', () => {
    const search = new SearchRequest({
      messageId: 8,
      baseDN: 'ou=people,dc=kommune,dc=test',
      filter: new EqualityFilter({ attribute: 'employeeID', value: '1' }),
    });
    expect(JSON.parse(JSON.stringify(search))).toEqual({
      type: 'SearchRequest',
      messageId: 8,
      dn: 'ou=people,dc=kommune,dc=test',
    });
  });
});
