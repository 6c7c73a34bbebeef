import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { requestDigest } from '../../src/config/digests.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';
import { validateCheckout } from '../../src/workflows/validate.js';
import { baseRepo, REQUEST } from '../config/fixtures.js';
import { makeDir } from '../harness/files.js';

const req = (from: string, to: string) => ({ 'requests/new-mail.yaml': REQUEST.replace(from, to) });
const cleanups: Array<() => Promise<void>> = [];
afterAll(() => Promise.all(cleanups.map((c) => c())));

async function validate(files: Record<string, string>) {
  const { dir, cleanup } = await makeDir({ ...baseRepo(), ...files });
  cleanups.push(cleanup);
  const { diagnostics } = await validateCheckout(dir);
  return diagnostics.filter((d) => d.severity !== 'warning').map(formatDiagnostic);
}

describe('validate on executed requests (offline: what status.yaml says)', () => {
  it('reports an edit of a request that reports/ says was executed', async () => {
    const status = `request: new-mail\nstate: executed\nexecutedAt: 2026-11-25T10:00:00Z\ndigests:\n  request: ${requestDigest(parse(REQUEST) as never)}\n`;
    expect(await validate({ 'reports/new-mail/status.yaml': status })).toEqual([]);
    expect(
      await validate({ 'reports/new-mail/status.yaml': status, ...req('[mail]', '[mail, company]') }),
    ).toEqual([
      'requests/new-mail.yaml:1:1: this request was already executed and must not change; revert the edit and create a new request',
    ]);
  });
});
