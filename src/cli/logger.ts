import { pino, type Logger } from 'pino';

/** Structured logs (JSON lines) on stderr, so stdout stays for command output. `TABLETIME_LOG_LEVEL` sets the level. */
export function createLogger(): Logger {
  return pino(
    {
      level: process.env.TABLETIME_LOG_LEVEL ?? 'info',
      base: { app: 'tabletime' },
      redact: ['source', 'url', 'password'],
    },
    pino.destination(2),
  );
}
