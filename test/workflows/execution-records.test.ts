import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { recordTrailer } from '../../src/lifecycle/executions.js';
import { signStatement, type Statement } from '../../src/lifecycle/signing.js';
import { type ExecutionContext, readRecords } from '../../src/workflows/execution.js';

const key = generateKeyPairSync('ed25519');
const statement = (over: Partial<Statement>): Statement => ({
  v: 1,
  kind: 'claim',
  request: 'req',
  branch: 'main',
  commit: 'c0',
  digests: { request: 'r', template: 't', source: 's', plan: 'p' },
  state: 'executing',
  at: '2026-11-30T00:00:00.000Z',
  by: 'host-a/1',
  ...over,
});

/** readRecords over main's commit messages (a RepoPort's answer) and an empty ledger. */
const recordsFrom = (messages: string[]) =>
  readRecords({
    main: 'main',
    keys: { privateKey: key.privateKey, trusted: [key.publicKey] },
    repo: {
      messagesWith: () => Promise.resolve(messages.map((message, i) => ({ commit: `c${i}`, message }))),
    },
    ledger: { records: () => Promise.resolve([]) },
  } as unknown as ExecutionContext);

describe('readRecords: the execution records on main', () => {
  it('takes claims and executions the key signed, and no other statement it signed', async () => {
    const claim = signStatement(statement({}), key.privateKey);
    // A preview's signature is public (status.yaml on the branch) and freshly dated: copied into a
    // trailer on main it must not pass for a claim that holds the request, or stops its execution.
    const preview = signStatement(
      statement({ kind: 'preview', state: 'previewed', by: undefined, at: '2026-11-30T01:00:00.000Z' }),
      key.privateKey,
    );
    const records = await recordsFrom([
      `reexport: executing req\n\n${recordTrailer(claim)}\n`,
      `Copied\n\n${recordTrailer(preview)}\n`,
    ]);
    expect(records.get('req')?.map((r) => [r.statement.kind, r.trusted, r.commit])).toEqual([
      ['claim', true, 'c0'],
    ]);
  });

  it('is not stopped by a trailer made to crash it: deeply nested, huge, or with odd fields', async () => {
    const claim = signStatement(statement({}), key.privateKey);
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const records = await recordsFrom([
      `A\n\nReexport-Record: ${b64(deep(12_000))}\n`,
      `B\n\nReexport-Record: ${b64(JSON.stringify({ keyId: 'k', statement: 'x', signature: 's', extra: JSON.parse(deep(2_000)) as unknown }))}\n`,
      `C\n\nReexport-Record: ${b64(JSON.stringify({ keyId: 'k', statement: JSON.stringify({ request: 'req', at: '2026-11-30T00:05:00.000Z', by: 7, digests: JSON.parse(deep(3_000)) as unknown }), signature: 's' }))}\n`,
      `reexport: executing req\n\n${recordTrailer(claim)}\n`,
    ]);
    const list = records.get('req') ?? [];
    expect(list.map((r) => [r.trusted, r.commit])).toEqual([
      [false, 'c2'],
      [true, 'c3'],
    ]);
    expect(list[0]!.statement.by).toBeUndefined();
  });
});
