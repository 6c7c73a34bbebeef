import { readFile } from 'node:fs/promises';
import {
  BusyError,
  ConstraintViolationError,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchObjectError,
  UnavailableError,
  UnknownStatusCodeError,
} from 'ldapts';
import { describe, expect, it } from 'vitest';
import { explainError } from '../../src/adapters/ldap/connection.js';
import { directoryOver, type DirectorySession } from '../../src/adapters/ldap/directory.js';
import { parsePlanJsonl } from '../../src/report/plan-jsonl.js';
import {
  BranchGoneError,
  ConfigError,
  describeError,
  DirectoryError,
  RepoError,
  SafetyRefusal,
  SourceError,
  UsageError,
} from '../../src/shared/errors.js';
import { parseDn } from '../../src/syntax/dn.js';
import { parseFilter } from '../../src/syntax/filter.js';

const settings = { url: 'ldaps://dc01.kommune.test', bindDN: 'CN=svc', password: 'S3cret', timeoutMs: 5000 };

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

const errno = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('describeError: every error a user can reach is a product error', () => {
  it('never answers "internal error" (exit 70) for the representative errors of each layer', async () => {
    const representative: Array<[string, unknown]> = [
      ['usage', new UsageError('--format must be md, jsonl or ldif')],
      ['config', new ConfigError([{ file: 'daemon.yaml', line: 1, col: 1, message: 'x' }])],
      ['filter', thrown(() => parseFilter('(&(objectClass=user)(cn=\\ff))'))],
      ['unbalanced filter', thrown(() => parseFilter('(objectClass=user'))],
      ['dn', thrown(() => parseDn('not a dn'))],
      ['plan file', thrown(() => parsePlanJsonl('{"format":"something else"}\n'))],
      ['plan json', thrown(() => parsePlanJsonl('not json\n'))],
      ['source', new SourceError('source hr: cannot read /var/lib/hr.csv')],
      ['git', new RepoError('push refused')],
      ['branch gone', new BranchGoneError('branch x was deleted')],
      ['safety', new SafetyRefusal('the plan changes 3 entries')],
      ['file system', await readFile('/nonexistent/reexport/journal').catch((e: unknown) => e)],
      ...[
        new BusyError('busy'),
        new UnavailableError('unavailable'),
        new InvalidCredentialsError('80090308: LdapErr'),
        new InsufficientAccessError('no'),
        new ConstraintViolationError('too long'),
        new NoSuchObjectError('gone'),
        new UnknownStatusCodeError(10, 'referral'),
        new Error('Operation timed out'),
        errno('connect ECONNREFUSED 127.0.0.1:636', 'ECONNREFUSED'),
        errno('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'),
        new Error('Connection closed before message response was received'),
      ].map((raw): [string, unknown] => [`ldapts ${raw.name}`, explainError(raw, settings, 'modify CN=x')]),
    ];
    for (const [what, err] of representative) {
      const report = describeError(err);
      expect(report.exitCode, `${what}: ${report.message}`).not.toBe(70);
      expect(report.message, what).not.toMatch(/internal error/);
      expect(report.message, what).not.toContain('S3cret');
    }
    // The net is real: an error nobody typed is still reported as a bug.
    expect(describeError(new TypeError('x is undefined')).exitCode).toBe(70);
  });

  it('syntax errors say what is wrong and exit 1', () => {
    const report = describeError(thrown(() => parseFilter('(&(objectClass=user)(cn=\\ff))')));
    expect(report).toEqual({
      level: 'error',
      message: expect.stringMatching(/\(&\(objectClass=user\)\(cn=\\ff\)\) escapes bytes that are not UTF-8/),
      exitCode: 1,
    });
  });
});

describe('the LDAP adapter boundary: ldapts errors become DirectoryErrors with code and transient flag', () => {
  const cases: Array<[Error, number | undefined, boolean]> = [
    [new BusyError('busy'), 51, true],
    [new UnavailableError('down'), 52, true],
    [new ConstraintViolationError('too long'), 19, false],
    [new InsufficientAccessError('no'), 50, false],
    [new InvalidCredentialsError('bad'), 49, false],
    [new Error('Operation timed out'), undefined, true],
    [errno('connect ECONNREFUSED 127.0.0.1:636', 'ECONNREFUSED'), undefined, true],
    [errno('read ECONNRESET', 'ECONNRESET'), undefined, true],
    [errno('getaddrinfo ENOTFOUND dc01', 'ENOTFOUND'), undefined, false],
    [errno('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), undefined, false],
  ];
  it.each(cases)('%s → code %s, transient %s', (raw, code, transient) => {
    const err = explainError(raw, settings, 'modify CN=x');
    expect(err).toBeInstanceOf(DirectoryError);
    expect(err.code).toBe(code);
    expect(err.transient).toBe(transient);
    expect(err.cause).toBe(raw);
  });
});

describe('reading the schema', () => {
  it('logs a warning naming the target and the error when the schema cannot be read', async () => {
    const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    const failing = {
      isBound: true,
      search: () => Promise.reject(new InsufficientAccessError('no read access to cn=Subschema')),
    };
    const session = {
      name: 'target ad',
      url: 'ldaps://dc01',
      isActiveDirectory: false,
      subschemaSubentry: 'cn=Subschema',
      pageSize: 100,
      authenticated: true,
      client: failing,
      reopen: () => Promise.reject(new Error('not used')),
      fail: (err: unknown, action: string) => explainError(err, settings, action),
      log: { warn: (obj: Record<string, unknown>, msg: string) => void warnings.push({ obj, msg }) },
    } as unknown as DirectorySession;
    expect(await directoryOver(session).readSchema()).toBeUndefined();
    expect(warnings).toEqual([
      {
        obj: {
          connection: 'target ad',
          url: 'ldaps://dc01',
          subschema: 'cn=Subschema',
          err: expect.stringMatching(/read cn=Subschema on .* LDAP result 50 InsufficientAccess/),
        },
        msg: expect.stringMatching(
          /cannot read the directory schema; the plan assumes the well-known DN-valued/,
        ),
      },
    ]);
  });
});
