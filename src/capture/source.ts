/** Small questions capture asks the source server. */
import { createConnection, type Connection } from 'mysql2/promise';
import { ConfigError } from '../core/index.ts';
import { classifyMysqlError } from './mysql-errors.ts';

/**
 * A connection to the source. An unreachable server is a setup error (exit 2) unless the caller
 * retries it (`retryUnreachable`: a capture that has been streaming waits for its server to return).
 */
export async function connectSource(
  url: string,
  options: { retryUnreachable?: boolean } = {},
): Promise<Connection> {
  try {
    return await createConnection({
      uri: url,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      jsonStrings: true,
      charset: 'utf8mb4',
      timezone: 'Z',
    });
  } catch (err) {
    // mysql2's messages name the user, never the password.
    const classified = classifyMysqlError(err, `connecting to ${redactUrl(url)}`);
    if (classified.code === 'SOURCE_UNREACHABLE' && !options.retryUnreachable)
      throw new ConfigError(classified.code, classified.message);
    throw classified;
  }
}

/** The end of the server's binlog: where capture starts when it has no checkpoint and no snapshot. */
export async function currentBinlogPosition(
  conn: Connection,
): Promise<{ logFile: string; logPosition: number }> {
  let rows: Record<string, unknown>[];
  try {
    [rows] = (await conn.query('SHOW MASTER STATUS')) as unknown as [Record<string, unknown>[]];
  } catch {
    [rows] = (await conn.query('SHOW BINARY LOG STATUS')) as unknown as [Record<string, unknown>[]]; // MySQL 8.4
  }
  const row = rows[0];
  if (!row)
    throw new ConfigError(
      'BINLOG_OFF',
      'the source has no binary log: start it with log_bin on (see `tabletime check`)',
    );
  return { logFile: String(row.File), logPosition: Number(row.Position) };
}

/**
 * Identifies the source server, so that a data dir is never used with another one: MySQL's
 * server_uuid; MariaDB has none, so its server_id and data directory (stable across restarts,
 * different for two servers on one host).
 */
export async function serverIdentity(conn: Connection): Promise<string> {
  try {
    const [rows] = (await conn.query('SELECT @@server_uuid AS uuid')) as unknown as [{ uuid: string }[]];
    if (rows[0]?.uuid) return `server_uuid=${rows[0].uuid}`;
  } catch {
    // MariaDB: no server_uuid.
  }
  const [rows] = (await conn.query('SELECT @@server_id AS id, @@datadir AS dir')) as unknown as [
    { id: string | number; dir: string }[],
  ];
  return `server_id=${rows[0]!.id} datadir=${rows[0]!.dir}`;
}

/** Removes the password from a URL for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable source URL)';
  }
}
