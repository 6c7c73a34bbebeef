import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signStatement, type Statement, verifySigned } from '../../src/lifecycle/signing.js';

const key = generateKeyPairSync('ed25519');
const statement: Statement = {
  v: 1,
  kind: 'preview',
  request: 'mail-all',
  branch: 'feature',
  commit: 'a'.repeat(40),
  digests: { request: 'sha256:1', template: 'sha256:2', source: 'sha256:3', plan: 'sha256:4' },
  state: 'previewed',
  at: '2026-11-30T10:00:00.000Z',
};

describe('verifySigned', () => {
  it('believes the signature as the daemon wrote it, and nothing written beside it', () => {
    const signed = signStatement(statement, key.privateKey);
    expect(verifySigned(signed, key.publicKey)).toMatchObject({ ok: true, statement });
    // Node's base64 decoder stops at what it cannot read: "…== APPROVED" decodes as the signature.
    for (const signature of [
      `${signed.signature} APPROVED`,
      `${signed.signature}\n`,
      signed.signature.slice(0, -2),
    ])
      expect(verifySigned({ ...signed, signature }, key.publicKey)).toMatchObject({ ok: false });
    expect(
      verifySigned({ ...signed, statement: signed.statement.replace('feature', 'main') }, key.publicKey),
    ).toEqual({
      ok: false,
      reason: 'the signature does not match the statement',
    });
  });
});
