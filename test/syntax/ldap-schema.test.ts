import { describe, expect, it } from 'vitest';
import { parseAttributeType, schemaFrom } from '../../src/syntax/ldap-schema.js';

// As OpenLDAP (cn=Subschema) and Active Directory (CN=Aggregate) publish them.
const OPENLDAP = [
  "( 2.5.4.49 NAME 'distinguishedName' DESC 'RFC4519: common supertype of DN attributes' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
  "( 2.5.4.34 NAME 'seeAlso' DESC 'RFC4519: DN of related object' SUP distinguishedName )",
  "( 0.9.2342.19200300.100.1.10 NAME 'manager' DESC 'RFC1274: DN of manager' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
  "( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) DESC 'RFC1274: RFC822 Mailbox (a (b) c)' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )",
  "( 2.16.840.1.113730.3.1.241 NAME 'displayName' DESC 'RFC2798: preferred name to be used when displaying entries' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
  "( 1.3.6.1.4.1.99999.1.1.6 NAME 'reexportSponsor' DESC 'custom' SUP distinguishedName X-ORIGIN 'test' )",
];
const AD = [
  "( 0.9.2342.19200300.100.1.10 NAME 'manager' SYNTAX '1.3.6.1.4.1.1466.115.121.1.12' SINGLE-VALUE )",
  "( 1.2.840.113556.1.2.146 NAME 'company' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
  "( 1.2.840.113556.1.2.210 NAME 'proxyAddresses' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' )",
];

describe('directory schema', () => {
  it('reads names, supertype, equality, syntax without its length, and single-value', () => {
    expect(parseAttributeType(OPENLDAP[3]!)).toEqual({
      oid: '0.9.2342.19200300.100.1.3',
      names: ['mail', 'rfc822Mailbox'],
      equality: 'caseIgnoreIA5Match',
      syntax: '1.3.6.1.4.1.1466.115.121.1.26',
      singleValue: false,
    });
    expect(parseAttributeType(AD[0]!)).toMatchObject({
      names: ['manager'],
      syntax: '1.3.6.1.4.1.1466.115.121.1.12',
      singleValue: true,
    });
    expect(parseAttributeType('not a definition')).toBeUndefined();
  });

  it('knows DN-valued attributes by syntax, equality or supertype, and single-valued ones', () => {
    const s = schemaFrom([...OPENLDAP, 'garbage']);
    expect([...s.dnValued].sort()).toEqual(['distinguishedname', 'manager', 'reexportsponsor', 'seealso']);
    expect([...s.singleValued]).toEqual(['displayname']);
    const ad = schemaFrom(AD);
    expect([...ad.dnValued]).toEqual(['manager']);
    expect([...ad.singleValued].sort()).toEqual(['company', 'manager']);
  });
});
