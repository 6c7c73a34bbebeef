import { describe, expect, it } from 'vitest';
import type { ReexportRequest, SyncTemplate } from '../../src/config/types.generated.js';
import { usedFields } from '../../src/plan/used-fields.js';
import { request, template } from './helpers.js';

const MAIL = { target: 'mail', source: '{{ givenName | ascii | downcase }}.{{ sn | downcase }}@kommune.no' };

function repo(templates: Record<string, SyncTemplate | undefined>, requests: ReexportRequest[] = []) {
  return {
    templates: new Map(Object.entries(templates).map(([name, value]) => [name, { value }])),
    requests: new Map(requests.map((r, i) => [`r${i}`, { value: r }])),
  } as unknown as Parameters<typeof usedFields>[0];
}

const people = template([MAIL, { target: 'company', source: 'Lillevik kommune' }]);
const source = people.spec.source;

describe('usedFields', () => {
  it('is the ID, the match field, what the mappings read and what requests select users by', () => {
    const where = request({ template: 'ad-employees', users: { where: { department: 'IT' } } });
    const other = request({ template: 'elsewhere', users: { where: { office: 'Oslo' } } });
    expect(usedFields(repo({ 'ad-employees': people }, [where, other]), source, 'employeeId')).toEqual(
      new Set(['employeeId', 'givenName', 'sn', 'department']),
    );
  });

  it('is the union over every template reading the same source, and none of another source', () => {
    const titles = template([{ target: 'title', source: '{{ title | fallback: "Medarbeider" }}' }]);
    const elsewhere = {
      ...template([{ target: 'telephoneNumber', source: '{{ phone }}' }]),
    };
    elsewhere.spec = { ...elsewhere.spec, source: { file: 'data/other.csv', id: 'employeeId' } };
    expect(usedFields(repo({ a: people, b: titles, c: elsewhere }), source, 'employeeId')).toEqual(
      new Set(['employeeId', 'givenName', 'sn', 'title']),
    );
  });

  it('reads the fields of expressions Liquid runs in full from Liquid', () => {
    const conditional = template([
      {
        target: 'title',
        source: '{% if title != blank %}{{ title | capitalize }}{% else %}{{ role }}{% endif %}',
      },
      {
        target: 'manager',
        source: '{% assign m = boss | strip %}{% case m %}{% when "" %}{% else %}CN={{ m }}{% endcase %}',
      },
    ]);
    expect(usedFields(repo({ a: conditional }), source, 'employeeId')).toEqual(
      new Set(['employeeId', 'title', 'role', 'boss', 'm']),
    );
    // A name assigned, captured or looped over where that code may not run is the record's field.
    const shadowed = template([
      { target: 'office', source: "{% if dept == 'IT' %}{% assign office = 'HQ' %}{% endif %}{{ office }}" },
      { target: 'mail', source: '{% capture mail %}{{ mail | downcase }}{% endcapture %}{{ mail }}' },
      { target: 'sn', source: '{% for sn in (1..0) %}{% else %}{{ sn }}{% endfor %}' },
    ]);
    expect(usedFields(repo({ a: shadowed }), source, 'employeeId')).toEqual(
      new Set(['employeeId', 'dept', 'office', 'mail', 'sn']),
    );
  });

  it('keeps every field when an expression can compute which field it reads, or a template is broken', () => {
    const computed = template([{ target: 'title', source: '{{ [titleField] }}' }]);
    expect(usedFields(repo({ a: people, b: computed }), source, 'employeeId')).toBeUndefined();
    const assigned = template([{ target: 'title', source: '{% assign f = "title" %}{{ x[f] }}' }]);
    expect(usedFields(repo({ a: assigned }), source, 'employeeId')).toBeUndefined();
    expect(usedFields(repo({ a: people, b: undefined }), source, 'employeeId')).toBeUndefined();
  });
});
