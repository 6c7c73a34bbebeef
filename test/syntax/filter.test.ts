import { BerReader, BerWriter, type EqualityFilter, type Filter, FilterParser, OrFilter } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { escapeFilterValue, FilterSyntaxError, parseFilter, scopeFilter } from '../../src/syntax/filter.js';

/** What the server receives: the filter as BER, decoded again the way a server would. */
function onTheWire(filter: Filter): Filter {
  const writer = new BerWriter();
  filter.write(writer);
  return FilterParser.parse(new BerReader(writer.buffer));
}

function idValues(filter: Filter): string[] {
  const text = filter.toString();
  const parsed = parseFilter(text) as unknown as { filters: Filter[] };
  const match = parsed.filters[1]!;
  const eqs = match instanceof OrFilter ? match.filters : [match];
  return eqs.map((f) => String((f as EqualityFilter).value));
}

describe('scopeFilter', () => {
  it('defaults the scope to (objectClass=*) and requires the match attribute', () => {
    expect(scopeFilter({ matchAttribute: 'employeeID' }).toString()).toBe('(&(objectClass=*)(employeeID=*))');
  });

  it('keeps the template scope filter', () => {
    expect(scopeFilter({ scopeFilter: '(objectClass=user)', matchAttribute: 'employeeID' }).toString()).toBe(
      '(&(objectClass=user)(employeeID=*))',
    );
  });

  it('accepts AD extensible matches in the scope filter', () => {
    const f = scopeFilter({
      scopeFilter: '(!(userAccountControl:1.2.840.113556.1.4.803:=2))',
      matchAttribute: 'employeeID',
    });
    expect(f.toString()).toContain('1.2.840.113556.1.4.803');
  });

  it('one ID is a single equality, several an OR, duplicates once', () => {
    expect(scopeFilter({ matchAttribute: 'uid', ids: ['1001'] }).toString()).toBe(
      '(&(objectClass=*)(uid=1001))',
    );
    expect(scopeFilter({ matchAttribute: 'uid', ids: ['1001', '1002', '1001'] }).toString()).toBe(
      '(&(objectClass=*)(|(uid=1001)(uid=1002)))',
    );
  });

  it('escapes an injection attempt so it is one literal value', () => {
    const f = scopeFilter({
      scopeFilter: '(objectClass=inetOrgPerson)',
      matchAttribute: 'uid',
      ids: ['*)(uid=*'],
    });
    expect(f.toString()).toBe('(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))');
    expect(idValues(f)).toEqual(['*)(uid=*']);
  });

  it('round-trips backslash, NUL, parentheses, star and non-ASCII through filter text and BER', () => {
    const ids = ['a\\b', 'nul\0byte', '(x)', 'st*r', 'Bjørn Ærlig Åsen', '日本', 'emoji 🙂', '\\2a'];
    const f = scopeFilter({ matchAttribute: 'employeeID', ids });
    expect(idValues(f)).toEqual(ids);
    const wire = onTheWire(f) as unknown as { filters: [Filter, OrFilter] };
    // The BER carries the raw UTF-8 bytes: no escaping on the wire at all.
    expect(wire.filters[1].filters.map((e) => String((e as EqualityFilter).value))).toEqual(ids);
  });

  it('an empty ID list matches nothing instead of everything', () => {
    expect(scopeFilter({ matchAttribute: 'uid', ids: [] }).toString()).toBe(
      '(&(objectClass=*)(&(objectClass=*)(!(objectClass=*))))',
    );
  });
});

describe('escapeFilterValue', () => {
  it('escapes exactly the RFC 4515 specials', () => {
    expect(escapeFilterValue('*)(uid=*')).toBe('\\2a\\29\\28uid=\\2a');
    expect(escapeFilterValue('a\\b\0c')).toBe('a\\5cb\\00c');
    expect(escapeFilterValue('Ærlig')).toBe('Ærlig');
  });
});

describe('parseFilter', () => {
  it('reads hex-escaped UTF-8 as the character it encodes (ldapts alone would double-encode it)', () => {
    const escaped = parseFilter('(sn=\\c3\\86rlig)') as EqualityFilter;
    const literal = parseFilter('(sn=Ærlig)') as EqualityFilter;
    expect(escaped.value).toBe('Ærlig');
    expect(literal.value).toBe('Ærlig');
    expect(String((onTheWire(escaped) as EqualityFilter).value)).toBe('Ærlig');
    // The unpatched ldapts parser for comparison, so a fixed ldapts shows up here.
    expect((FilterParser.parseString('(sn=\\c3\\86rlig)') as EqualityFilter).value).toBe('Ã\u0086rlig');
  });

  it('keeps escaped specials escaped', () => {
    expect((parseFilter('(cn=a\\2ab\\28\\29\\5c)') as EqualityFilter).value).toBe('a*b()\\');
  });

  it('explains bad filters', () => {
    expect(() => parseFilter('(objectClass=user')).toThrow(FilterSyntaxError);
    expect(() => parseFilter('')).toThrow(/empty/);
    expect(() => parseFilter('(objectGUID=\\ff\\fe)')).toThrow(/not UTF-8/);
    expect(() => scopeFilter({ scopeFilter: 'objectClass=user)(', matchAttribute: 'uid' })).toThrow(
      /not a valid LDAP filter/,
    );
  });
});
