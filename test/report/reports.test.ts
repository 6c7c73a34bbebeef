import { describe, expect, it } from 'vitest';
import { Planner } from '../../src/plan/build-plan.js';
import { renderLdif } from '../../src/report/ldif.js';
import { parsePlanJsonl, renderPlanJsonl } from '../../src/report/plan-jsonl.js';
import { renderPreviewMd } from '../../src/report/preview-md.js';
import { entry, request, source, template } from '../plan/helpers.js';

function samplePlan(users = 3) {
  const rows = Array.from({ length: users }, (_, i) => ({
    employeeId: String(1001 + i),
    givenName: i === 0 ? 'Åse' : `Ola${i}`,
  }));
  const p = new Planner({
    requestName: 'new-mail',
    request: request(),
    templateName: 'ad-employees',
    template: template([
      { target: 'mail', source: '{{ givenName | ascii | downcase }}@kommune.no' },
      { target: 'description', source: ' leading space' },
    ]),
    source: source(rows),
    safety: { maxChanges: 500, maxClears: 100 },
  });
  p.addEntries(
    rows.map((r) =>
      entry(`CN=${r.givenName},OU=Ansatte,DC=kommune,DC=test`, {
        employeeID: r.employeeId,
        mail: `${r.givenName}@old.no`,
      }),
    ),
  );
  return p.finish('2026-11-25T10:00:00.000Z');
}

describe('reports', () => {
  it('preview.md has the summary, the digest and one diff per user sorted by ID', () => {
    const md = renderPreviewMd(samplePlan(), { maxUsers: 10 });
    expect(md).toContain('| **To change** | **3 users, 6 attribute changes** |');
    expect(md).toContain('| Plan digest | `sha256:');
    expect(md).toContain('| Safety threshold | ✅ within limits (3 of 500 entries, 0 of 100 clears) |');
    expect(md).toContain(
      [
        '### 1001',
        '',
        '`CN=Åse,OU=Ansatte,DC=kommune,DC=test`',
        '',
        '```diff',
        '-mail: Åse@old.no',
        '+mail: aase@kommune.no',
        '+description:  leading space',
        '# description had no value',
        '```',
      ].join('\n'),
    );
    expect(md.indexOf('### 1001')).toBeLessThan(md.indexOf('### 1002'));
  });

  it('preview.md is cut after the stated number of users with a pointer to the full data', () => {
    const md = renderPreviewMd(samplePlan(5), { maxUsers: 2 });
    expect(md.match(/^### /gm)).toHaveLength(2);
    expect(md).toContain('*Cut after 2 of 5 users.* The other 3 are in `plan.jsonl` and `changes.ldif`');
  });

  it('plan.jsonl round-trips with a header of digests', () => {
    const plan = samplePlan();
    const parsed = parsePlanJsonl(renderPlanJsonl(plan));
    expect(parsed.header.digests).toEqual(plan.header.digests);
    expect(parsed.changes).toEqual(plan.changes);
    expect(() => parsePlanJsonl(`${renderPlanJsonl(plan)}{"id": 1}\n`)).toThrow(/plan\.jsonl:8: expected/);
  });

  it('changes.ldif deletes old values by value, adds new ones and base64-encodes what LDIF requires', () => {
    const ldif = renderLdif(samplePlan(1).changes);
    expect(ldif).toBe(
      [
        'version: 1',
        '',
        '# 1001',
        '# dn: CN=Åse,OU=Ansatte,DC=kommune,DC=test',
        `dn:: ${Buffer.from('CN=Åse,OU=Ansatte,DC=kommune,DC=test').toString('base64')}`,
        'changetype: modify',
        'delete: mail',
        `mail:: ${Buffer.from('Åse@old.no').toString('base64')}`,
        '-',
        'add: mail',
        'mail: aase@kommune.no',
        '-',
        'add: description',
        'description:: IGxlYWRpbmcgc3BhY2U=',
        '-',
        '',
      ].join('\n'),
    );
  });
});
