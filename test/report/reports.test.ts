import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readReportPlan, readReportPlanLines } from '../../src/adapters/fs/report-plan.js';
import { Planner, planDigest } from '../../src/plan/build-plan.js';
import { renderLdif } from '../../src/report/ldif.js';
import {
  parsePlanChange,
  parsePlanHeader,
  parsePlanJsonl,
  planText,
  renderPlanJsonl,
} from '../../src/report/plan-jsonl.js';
import { renderCommittedPreviewFiles, renderPreviewFiles } from '../../src/report/write-reports.js';
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
    expect(md).toContain(
      '| Safety threshold | ✅ within limits (3 of 500 entries, 0 of 100 values removed) |',
    );
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
    expect(parsed.changes).toEqual([...plan.changes]);
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

describe('committed reports of a large plan', () => {
  const limits = { planJsonlBytes: 2000, ldifBytes: 2000 };

  it('a small plan is committed as plan.jsonl and changes.ldif, exactly as rendered in full', async () => {
    const plan = samplePlan(3);
    const full = renderPreviewFiles(plan, 10);
    const committed = await renderCommittedPreviewFiles(plan, 10, undefined, limits);
    expect(committed).toEqual({ ...full, 'plan.jsonl.gz': null });
    expect(committed['preview.md']).not.toContain('## Files');
  });

  it('a large plan gives plan.jsonl.gz and no changes.ldif; preview.md says so; the plan reads back identical', async () => {
    const plan = samplePlan(60);
    const committed = await renderCommittedPreviewFiles(plan, 5, undefined, limits);
    expect(committed['plan.jsonl']).toBeNull();
    expect(committed['changes.ldif']).toBeNull();
    const gz = committed['plan.jsonl.gz'];
    expect(gz).toBeInstanceOf(Uint8Array);
    // Deterministic: the same plan gives the same bytes (no time stamp in the gzip header).
    expect(
      Buffer.compare(
        gz as Uint8Array,
        (await renderCommittedPreviewFiles(plan, 5, undefined, limits))['plan.jsonl.gz'] as Uint8Array,
      ),
    ).toBe(0);
    const md = committed['preview.md'] as string;
    expect(md).toContain('The other 55 are in `plan.jsonl.gz` next to this file.');
    expect(md).toContain('## Files');
    expect(md).toContain('reexport preview new-mail --config DAEMON.yaml --format ldif');
    expect(planText('plan.jsonl.gz', gz as Uint8Array)).toBe(renderPlanJsonl(plan));

    const dir = await mkdtemp(path.join(tmpdir(), 'reexport-report-'));
    try {
      await writeFile(path.join(dir, 'plan.jsonl.gz'), gz as Uint8Array);
      const read = await readReportPlan(dir);
      expect(read?.file).toBe('plan.jsonl.gz');
      const parsed = parsePlanJsonl(read!.text);
      expect(parsed.changes).toEqual([...plan.changes]);
      expect(parsed.header.digests.plan).toBe(plan.header.digests.plan);
      expect(planDigest(parsed.changes)).toBe(plan.header.digests.plan);
      // Streamed line by line, the same changes again.
      const lines: string[] = [];
      for await (const batch of readReportPlanLines(dir)) lines.push(...batch);
      expect(lines.slice(1).map((l, i) => parsePlanChange(l, i + 2))).toEqual([...plan.changes]);
      expect(parsePlanHeader(lines[0]!).digests).toEqual(plan.header.digests);
      // Both forms at once: which one was reviewed? Refused.
      await writeFile(path.join(dir, 'plan.jsonl'), renderPlanJsonl(plan));
      await expect(readReportPlan(dir)).rejects.toThrow(/both plan\.jsonl and plan\.jsonl\.gz/);
      await rm(path.join(dir, 'plan.jsonl.gz'));
      expect((await readReportPlan(dir))?.file).toBe('plan.jsonl');
      await rm(path.join(dir, 'plan.jsonl'));
      expect(await readReportPlan(dir)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the thresholds apply separately: a plan over the LDIF limit only keeps plan.jsonl uncompressed', async () => {
    const plan = samplePlan(20);
    const jsonlBytes = Buffer.byteLength(renderPlanJsonl(plan));
    const committed = await renderCommittedPreviewFiles(plan, 5, undefined, {
      planJsonlBytes: jsonlBytes,
      ldifBytes: 100,
    });
    expect(committed['plan.jsonl']).toBe(renderPlanJsonl(plan));
    expect(committed['plan.jsonl.gz']).toBeNull();
    expect(committed['changes.ldif']).toBeNull();
    expect(committed['preview.md']).toContain('The other 15 are in `plan.jsonl` next to this file.');
    expect(committed['preview.md']).not.toContain('committed compressed');
  });
});
