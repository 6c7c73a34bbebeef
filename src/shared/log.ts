import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Logs on stderr (stdout carries command output): readable lines on a terminal, JSON lines for
 * machines (a pipe, a file, a container runtime). REEXPORT_LOG_FORMAT=json|pretty overrides.
 * Secrets are redacted by key wherever they appear, as a second line of defence behind never
 * logging them at all.
 */
export function createLogger(level: string, stream: NodeJS.WriteStream = process.stderr): Logger {
  return pino(
    {
      level,
      base: { app: 'reexport' },
      redact: {
        paths: [
          'password',
          '*.password',
          'secret',
          '*.secret',
          'token',
          '*.token',
          'authorization',
          '*.authorization',
        ],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Fields of the work in progress (the request a pass handles), also for loggers that were
      // made before it began, such as a directory adapter's.
      mixin: (_obj, _level, logger) => {
        const fields = logFields.getStore();
        if (!fields) return {};
        const bound = logger.bindings();
        return Object.fromEntries(Object.entries(fields).filter(([k]) => !(k in bound)));
      },
    },
    destination(stream),
  );
}

const logFields = new AsyncLocalStorage<Record<string, string>>();

/** Runs `fn` with `fields` (e.g. `{ request }`) added to every log line written during it. */
export function withLogFields<T>(fields: Record<string, string>, fn: () => T): T {
  return logFields.run({ ...logFields.getStore(), ...fields }, fn);
}

export function logFormat(stream: { isTTY?: boolean }): 'json' | 'pretty' {
  const asked = process.env.REEXPORT_LOG_FORMAT;
  if (asked === 'json' || asked === 'pretty') return asked;
  return stream.isTTY ? 'pretty' : 'json';
}

let beforeLogLine: (() => void) | undefined;

/**
 * A terminal's progress line registers here to be cleared before each log line, so a log line
 * never lands in the middle of it; the progress line is drawn again on its next update.
 */
export function onLogLine(hook: (() => void) | undefined): void {
  beforeLogLine = hook;
}

function destination(stream: NodeJS.WriteStream): DestinationStream {
  const inner: Flushable = innerDestination(stream);
  if (!stream.isTTY) return inner;
  const wrapped: Flushable = {
    write(line: string) {
      beforeLogLine?.();
      return inner.write(line);
    },
    flush: (cb) => (inner.flush ? inner.flush(cb) : cb?.()),
  };
  return wrapped;
}

function innerDestination(stream: NodeJS.WriteStream): DestinationStream {
  // process.stderr and process.stdout have a descriptor; 2 is stderr.
  const fd = (stream as { fd?: number }).fd ?? 2;
  if (logFormat(stream) === 'pretty') {
    const pretty = loadPretty();
    if (pretty)
      return pretty({
        destination: fd,
        sync: true,
        colorize: Boolean(stream.isTTY),
        translateTime: 'SYS:HH:MM:ss',
        ignore: 'pid,hostname,app',
        singleLine: true,
      });
  }
  // Synchronous: a daemon logs a few lines per pass, and no line may be lost when the process exits.
  return pino.destination({ dest: fd, sync: true });
}

type Flushable = DestinationStream & { flush?: (cb?: (err?: Error) => void) => void };

type PrettyFactory = (opts: Record<string, unknown>) => DestinationStream;

/** Loaded only for a terminal: machines never pay for it, and an install without it still logs. */
function loadPretty(): PrettyFactory | undefined {
  try {
    const mod = createRequire(import.meta.url)('pino-pretty') as PrettyFactory | { default: PrettyFactory };
    return typeof mod === 'function' ? mod : mod.default;
  } catch {
    return undefined;
  }
}

export type { Logger };
