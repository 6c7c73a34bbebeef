import { describe, expect, it } from 'vitest';
import { DnSyntaxError, dnWithin, isDnWithin, normalizeDn, parseDn } from '../../src/syntax/dn.js';

describe('dnWithin', () => {
  const base = 'OU=People, dc=Kommune,DC=test';
  const inside = dnWithin(base);

  it('compares normalised DNs: case and spaces around separators do not matter', () => {
    expect(inside('uid=u1,ou=people,dc=kommune,dc=test')).toBe(true);
    expect(inside('UID=u1 , OU=PEOPLE,DC=KOMMUNE,DC=TEST')).toBe(true);
    expect(inside('ou=people,dc=kommune,dc=test')).toBe(true);
    expect(inside('uid=u1,ou=staff,dc=kommune,dc=test')).toBe(false);
  });

  it('does not take an escaped comma for a separator', () => {
    // The first RDN's value is "u1,ou=people": the entry is directly under dc=kommune.
    expect(inside('uid=u1\\,ou\\=people,dc=kommune,dc=test')).toBe(false);
    expect(inside('uid=u1\\2Cou\\3Dpeople,dc=kommune,dc=test')).toBe(false);
  });

  it('is isDnWithin with the base parsed once; an empty base holds everything', () => {
    for (const dn of [
      'uid=a,ou=people,dc=kommune,dc=test',
      'uid=a,dc=other',
      'cn=x\\,ou\\=people,dc=kommune,dc=test',
    ])
      expect(inside(dn)).toBe(isDnWithin(dn, base));
    expect(dnWithin('')('uid=a,dc=other')).toBe(true);
  });
});

describe('parseDn', () => {
  const values = (dn: string) => parseDn(dn).map((rdn) => rdn.map((a) => `${a.type}=${a.value}`).join('+'));

  it('drops the spaces around separators and keeps those inside a value', () => {
    expect(values('  cn = Kari  Nordmann ,  ou=people ,dc=test  ')).toEqual([
      'cn=Kari  Nordmann',
      'ou=people',
      'dc=test',
    ]);
    expect(values('cn=a+sn= b c ,dc=x')).toEqual(['cn=a+sn=b c', 'dc=x']);
    expect(values('cn=,dc=x')).toEqual(['cn=', 'dc=x']);
  });

  it('keeps escaped spaces and separators, wherever they are', () => {
    expect(values('cn=\\ a\\ ,dc=x')).toEqual(['cn= a ', 'dc=x']);
    expect(values('cn=a \\  ,dc=x')).toEqual(['cn=a  ', 'dc=x']);
    expect(values('cn=Nordmann\\, Kari\\+1\\;\\=\\\\,dc=x')).toEqual(['cn=Nordmann, Kari+1;=\\', 'dc=x']);
  });

  it('reads runs of hex escapes as UTF-8, next to plain text', () => {
    expect(values('cn=\\c3\\85se B\\c3\\b8,dc=x')).toEqual(['cn=Åse Bø', 'dc=x']);
    expect(values('cn=a\\2Cb,dc=x')).toEqual(['cn=a,b', 'dc=x']);
    expect(values('cn=Ødegård,dc=x')).toEqual(['cn=Ødegård', 'dc=x']);
  });

  it('refuses what must be escaped, and a lone backslash', () => {
    for (const dn of ['cn=a"b,dc=x', 'cn=a<b', 'cn=a>b', 'cn=a=b', 'cn=a\\', 'cn', '=a'])
      expect(() => parseDn(dn), dn).toThrow(DnSyntaxError);
  });

  it('normalises for comparison: case, spaces and multi-valued RDN order', () => {
    expect(normalizeDn('SN=B+CN=a , OU=People,DC=Test')).toBe('cn=a+sn=b,ou=people,dc=test');
    expect(normalizeDn('')).toBe('');
  });
});
