import { pino, type Logger } from 'pino';

/**
 * Structured JSON logs on stderr (stdout carries command output). Secrets are redacted by key
 * wherever they appear, as a second line of defence behind never logging them at all.
 */
export function createLogger(level = process.env.REEXPORT_LOG_LEVEL ?? 'info'): Logger {
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
    },
    pino.destination(2),
  );
}

export type { Logger };
