import { describe, expect, it } from 'vitest';
import { dnWithin, isDnWithin } from '../../src/syntax/dn.js';

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
