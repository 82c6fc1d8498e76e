import { ConfigError, TabletimeError, TransientError } from '../core/index.ts';

const ACCESS = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
]);

/** The server cannot be reached at all (wrong host or port, server down, network). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EAI_AGAIN',
]);

/**
 * Classifies an error from the MySQL driver by its code (never by its text): access problems and a
 * position the server no longer has are for the user to fix; everything else about the connection
 * is transient and retried from the checkpoint.
 */
export function classifyMysqlError(err: unknown, context: string): TabletimeError {
  if (err instanceof TabletimeError) return err;
  const e = err as { code?: string; errno?: number; message?: string };
  const message = `${context}: ${e.message ?? String(err)}`;
  if (e.code && ACCESS.has(e.code)) {
    return new ConfigError(
      'SOURCE_ACCESS',
      `${message} (grant the capture user REPLICATION SLAVE, REPLICATION CLIENT and SELECT; see \`tabletime check\`)`,
    );
  }
  if (e.code === 'ER_BAD_DB_ERROR') {
    return new ConfigError(
      'SOURCE_DATABASE',
      `${message}: leave the database out of --source (mysql://user@host:3306/) or name one that exists`,
    );
  }
  if (e.code && UNREACHABLE.has(e.code)) {
    return new TransientError(
      'SOURCE_UNREACHABLE',
      `${message}: check the host and port in --source and that the server is running and reachable from here`,
      { cause: err },
    );
  }
  if (e.errno === 1236) {
    // ER_MASTER_FATAL_ERROR_READING_BINLOG: usually the binlog file was purged.
    return new ConfigError(
      'BINLOG_POSITION_GONE',
      `${message}. The server no longer has the binlog at the checkpoint (purged?): keep binlogs longer (binlog_expire_logs_seconds) and start capture over with a new --data-dir`,
    );
  }
  if (typeof e.code === 'string' || typeof e.errno === 'number') {
    return new TransientError('SOURCE_CONNECTION', message, { cause: err });
  }
  // Not a driver or network error: a bug, which must crash loudly rather than be retried.
  throw err;
}
