import { type Diagnostic, formatDiagnostic } from './diagnostics.js';

/** Base of every error the product raises on purpose; anything else is a bug. */
export abstract class ReexportError extends Error {
  abstract readonly kind: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Wrong command-line usage: exit 2. */
export class UsageError extends ReexportError {
  readonly kind = 'usage';
}

/** Config files that failed validation; carries every located problem, not just the first. */
export class ConfigError extends ReexportError {
  readonly kind = 'config';
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
  }
}

/**
 * The directory refused or failed an operation. The LDAP adapter turns every ldapts, TLS and socket
 * error into one of these, so no layer above it sees a library's error.
 */
export class DirectoryError extends ReexportError {
  readonly kind = 'directory';
  /**
   * Worth another try: a lost connection, a timeout, a busy or unavailable server. Not a refusal
   * of a value, a wrong password or certificate, or a setting to fix.
   */
  readonly transient: boolean;
  constructor(
    message: string,
    /** The LDAP result code, when the server answered with one. */
    readonly code?: number,
    options?: ErrorOptions & { transient?: boolean },
  ) {
    super(message, options);
    this.transient = options?.transient ?? false;
  }
}

/**
 * Text that is not what its syntax requires: an LDAP filter, a DN. The parsers in src/syntax
 * throw subclasses; callers that know where the text came from add the file and line.
 */
export class InputSyntaxError extends ReexportError {
  readonly kind = 'syntax';
}

/** A plan file (reports/<request>/plan.jsonl) that is not a plan this daemon wrote. */
export class PlanFileError extends ReexportError {
  readonly kind = 'plan';
}

/** A source of truth could not be read. */
export class SourceError extends ReexportError {
  readonly kind = 'source';
}

/**
 * A source file whose bytes are no longer the ones validated in this pass (an operator's file
 * rewritten, a checkout moved by a push): not planned from now, checked again next pass.
 */
export class SourceChangedError extends SourceError {}

/** A git operation failed. */
export class RepoError extends ReexportError {
  readonly kind = 'repo';
}

/** The branch was deleted on the remote while the daemon worked on it (a merged pull request's branch): nothing to do. */
export class BranchGoneError extends RepoError {}

/** A plan was refused by a safety rule; nothing was written. */
export class SafetyRefusal extends ReexportError {
  readonly kind = 'safety';
}

export type LogLevel = 'warn' | 'error' | 'fatal';

export interface ErrorReport {
  level: LogLevel;
  /** What a user reads: never a stack trace, never a secret. */
  message: string;
  exitCode: number;
}

/** The one place where errors become log levels, user messages and exit codes. */
export function describeError(err: unknown): ErrorReport {
  if (err instanceof UsageError) return { level: 'error', message: `usage: ${err.message}`, exitCode: 2 };
  if (err instanceof ConfigError) return { level: 'error', message: err.message, exitCode: 1 };
  if (err instanceof SafetyRefusal) return { level: 'warn', message: `refused: ${err.message}`, exitCode: 1 };
  if (err instanceof DirectoryError)
    return { level: 'error', message: `directory: ${err.message}`, exitCode: 1 };
  if (err instanceof SourceError) return { level: 'error', message: `source: ${err.message}`, exitCode: 1 };
  if (err instanceof BranchGoneError) return { level: 'warn', message: `git: ${err.message}`, exitCode: 1 };
  if (err instanceof RepoError) return { level: 'error', message: `git: ${err.message}`, exitCode: 1 };
  if (err instanceof InputSyntaxError) return { level: 'error', message: err.message, exitCode: 1 };
  if (err instanceof PlanFileError) return { level: 'error', message: `plan: ${err.message}`, exitCode: 1 };
  // The machine's part: a folder that cannot be written, a full disk. Not a bug, and the
  // operator can fix it from the message (which names the path).
  if (isSystemError(err)) return { level: 'error', message: `file system: ${err.message}`, exitCode: 1 };
  // Every other product error is the user's to fix.
  if (err instanceof ReexportError) return { level: 'error', message: err.message, exitCode: 1 };
  const message = err instanceof Error ? err.message : String(err);
  return { level: 'fatal', message: `internal error: ${message}`, exitCode: 70 };
}

/** Node's errors from the operating system carry an errno code such as EACCES and the failed syscall. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException | undefined;
  return err instanceof Error && typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code) && !!e.syscall;
}
