import { describe, expect, it } from 'vitest';
import type { ChangeOutcome } from '../../src/execute/outcomes.js';
import type { PlanHeader } from '../../src/plan/plan-types.js';
import {
  parseResultJsonl,
  renderResultJsonl,
  renderResultMd,
  RESULT_FILE,
  RESULT_GZ_FILE,
  resultText,
} from '../../src/report/result.js';
import { jsonlUpTo } from '../../src/report/write-reports.js';
import { PlanFileError } from '../../src/shared/errors.js';

const HEADER: PlanHeader = {
  format: 'reexport-plan/v1',
  request: 'new-mail',
  template: 'ad-employees',
  target: 'ad',
  mappings: ['mail', 'title'],
  digests: { request: 'sha256:r', template: 'sha256:t', source: 'sha256:s', plan: 'sha256:p' },
  createdAt: '2026-11-25T10:00:00.000Z',
};
const INFO = {
  header: HEADER,
  startedAt: '2026-11-25T11:00:00.000Z',
  finishedAt: '2026-11-25T11:00:02.000Z',
  reviewed: true,
};
const dn = (cn: string) => `CN=${cn},OU=Ansatte,DC=kommune,DC=test`;
const change = (id: string, attribute: string, outcome: ChangeOutcome['outcome'], extra = {}) => ({
  id,
  dn: dn(`User ${id}`),
  attribute,
  outcome,
  ...extra,
});

describe('result.md', () => {
  it('never says "applied" when nothing was: 0 applied and 1 stale, with what was found', () => {
    const md = renderResultMd(
      [
        change('1001', 'mail', 'stale', {
          reason: 'the directory value changed after the preview; not overwritten',
          found: ['aase@hand.no'],
        }),
      ],
      INFO,
    );
    expect(md).toContain(
      '**Applied 0 of 1 change: 1 was stale (the directory changed after the preview; not overwritten).**',
    );
    expect(md).not.toMatch(/Applied the reviewed plan/);
    expect(md).toContain('Plan: the reviewed plan `sha256:p`, executed from 2026-11-25T11:00:00.000Z');
    expect(md).toContain('## Stale: not overwritten (1 change)');
    expect(md).toContain(
      '- **1001** `mail` of `CN=User 1001,OU=Ansatte,DC=kommune,DC=test`: found `aase@hand.no` (the directory value changed after the preview; not overwritten)',
    );
    expect(md).toContain('| stale | 1 | the directory changed after the preview; not overwritten |');
  });

  it('says "Applied N changes" when all were applied, and lists nothing as not applied', () => {
    const md = renderResultMd([change('1001', 'mail', 'applied'), change('1002', 'mail', 'applied')], INFO);
    expect(md).toContain('**Applied 2 changes.**');
    expect(md).not.toContain('## ');
    expect(renderResultMd([change('1001', 'mail', 'applied')], INFO)).toContain('**Applied 1 change.**');
  });

  it('sums up a mix per outcome and gives each failed change its LDAP code and message', () => {
    const md = renderResultMd(
      [
        change('1003', 'title', 'failed', { code: 19, reason: 'constraintViolation: value too long' }),
        change('1001', 'mail', 'applied'),
        change('1002', 'mail', 'already-applied'),
        change('1004', 'mail', 'stale', { reason: 'the user is no longer in the source' }),
        change('1005', 'mail', 'failed', { code: 50, reason: 'insufficientAccessRights' }),
        change('1006', 'mail', 'skipped', { reason: 'the request was stopped' }),
      ],
      { ...INFO, reviewed: false },
    );
    expect(md).toContain(
      '**Applied 1 of 6 changes: 1 was already applied (the directory already held the reviewed value; nothing written); 1 was stale (the directory changed after the preview; not overwritten); 2 failed (the directory refused the change); 1 was skipped (not attempted).**',
    );
    expect(md).toContain('Plan: a fresh plan, **not reviewed**');
    expect(md).toContain('## Failed: refused by the directory (2 changes)');
    const failed = md.slice(md.indexOf('## Failed'), md.indexOf('## Stale'));
    expect(failed).toContain(
      '- **1003** `title` of `CN=User 1003,OU=Ansatte,DC=kommune,DC=test`: LDAP result code 19: constraintViolation: value too long',
    );
    expect(failed.indexOf('**1003**')).toBeLessThan(failed.indexOf('**1005**'));
    expect(failed).toContain('LDAP result code 50: insufficientAccessRights');
    expect(md).toContain(
      '`mail` of `CN=User 1004,OU=Ansatte,DC=kommune,DC=test`: the user is no longer in the source',
    );
    expect(md).toContain('## Skipped (1 change)');
    expect(md).toContain('| mail | 1 | 1 | 1 | 1 | 1 |');
    expect(md).toContain('| title | 0 | 0 | 0 | 1 | 0 |');
  });

  it('says how far an interrupted execution got', () => {
    const md = renderResultMd([change('1001', 'mail', 'applied')], {
      ...INFO,
      interrupted: 'the daemon was asked to stop',
    });
    expect(md).toContain('**Before the interruption: applied 1 change.**');
    expect(md).toContain('⚠️ **Interrupted**: the daemon was asked to stop.');
  });
});

describe('result.jsonl of a large execution', () => {
  const outcomes = Array.from({ length: 40 }, (_, i) => change(String(1000 + i), 'mail', 'applied'));
  const chunks = [renderResultJsonl(outcomes.slice(0, 20)), renderResultJsonl(outcomes.slice(20))];

  it('is committed compressed above the limit, reads back to the same outcomes, and result.md says where', async () => {
    const small = await jsonlUpTo(chunks, 1024 * 1024);
    expect(small).toEqual({ text: chunks.join('') });
    const large = await jsonlUpTo(chunks, 1000);
    if (!('gz' in large)) throw new Error('expected the compressed form');
    expect(large.gz.length).toBeLessThan(chunks.join('').length / 4);
    expect(parseResultJsonl(resultText(RESULT_GZ_FILE, large.gz))).toEqual(outcomes);
    // The same outcomes give the same bytes (the daemon compares what it would restore).
    expect(await jsonlUpTo(chunks, 1000)).toEqual(large);
    expect(renderResultMd(outcomes, { ...INFO, file: RESULT_GZ_FILE })).toContain(
      "Every change's outcome is in `result.jsonl.gz`",
    );
    expect(renderResultMd(outcomes, { ...INFO, file: RESULT_FILE })).not.toContain('## Files');
  });

  it('refuses a result.jsonl.gz that is not gzip', () => {
    expect(() => resultText(RESULT_GZ_FILE, Buffer.from('{"id":"1"}\n'))).toThrow(PlanFileError);
    expect(resultText(RESULT_FILE, Buffer.from('{"id":"1"}\n'))).toBe('{"id":"1"}\n');
  });
});
