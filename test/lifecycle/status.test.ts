import { describe, expect, it } from 'vitest';
import {
  renderStatus,
  type RequestStatus,
  statusForInvalid,
  unsignedStatusText,
} from '../../src/lifecycle/status.js';

const signature = { keyId: 'ed25519:0123456789abcdef', statement: '{"v":1}', signature: 'c2ln' };

/** A preview's status with the values that are hardest to write back exactly as YAML. */
const status: RequestStatus = {
  request: 'mail-all',
  state: 'previewed',
  digests: { request: 'sha256:1', template: 'sha256:2', source: 'sha256:3', plan: 'sha256:4' },
  counts: { entriesInScope: 100_000, usersToChange: 80_000, attributeChanges: 0, clears: 0 },
  safety: { ok: false, message: 'refused: "80 000" changes: over the limit of 500; add `maxChanges: 80000`' },
  branch: 'feature/ø-#1',
  previewedAt: '2026-11-30T10:00:00.000Z',
  directoryReadAt: '2026-11-30T10:00:00.000Z',
  watermark: { kind: 'csn', suffix: 'dc=kommune,dc=test', csn: ['20261130100000.000000Z#000000#000#000000'] },
};

describe('unsignedStatusText', () => {
  it('gives the text the daemon signed from the file it committed', () => {
    const { directoryReadAt, watermark, ...rest } = status;
    const signed = renderStatus({ ...rest, signature, directoryReadAt, watermark });
    expect(unsignedStatusText(signed)).toBe(renderStatus(status));
  });

  it('gives nothing for a file that is not exactly what the daemon writes', () => {
    const signed = renderStatus({ ...status, signature });
    expect(unsignedStatusText(`${signed}# reviewed: fine\n`)).toBeUndefined();
    expect(
      unsignedStatusText(signed.replace('usersToChange: 80000', 'usersToChange:  80000')),
    ).toBeUndefined();
    expect(unsignedStatusText(signed.replace('# Written by reexport. Do not edit.\n', ''))).toBeUndefined();
    expect(unsignedStatusText('request: [')).toBeUndefined();
    // Inside the signature no digest reaches: only its three fields, as the daemon writes them.
    const noted = renderStatus({ ...status, signature: { ...signature, note: 'approved' } as never });
    expect(unsignedStatusText(noted)).toBeUndefined();
    expect(unsignedStatusText(renderStatus(status))).toBeUndefined();
    expect(unsignedStatusText(undefined)).toBeUndefined();
  });

  it('changes with any value, so a changed count does not match the signed digest', () => {
    const edited = { ...status, counts: { ...status.counts, usersToChange: 1 } };
    expect(unsignedStatusText(renderStatus({ ...edited, signature }))).not.toBe(renderStatus(status));
  });
});

describe('statusForInvalid', () => {
  it('lists the first 100 problems, and says where the rest are: status.yaml stays small', () => {
    const problems = Array.from({ length: 15_000 }, (_, i) => ({
      file: 'templates/t.yaml',
      line: i + 1,
      col: 5,
      message: 'unknown filter `lowercase`; did you mean `downcase`?',
    }));
    const s = statusForInvalid('r', problems);
    expect(s.errors).toHaveLength(101);
    expect(s.errors?.[0]).toBe('templates/t.yaml:1:5: unknown filter `lowercase`; did you mean `downcase`?');
    expect(s.errors?.at(-1)).toBe('… and 14900 more in preview.md');
    expect(renderStatus(s).length).toBeLessThan(16 * 1024);
  });
});
