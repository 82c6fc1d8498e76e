/**
 * The test context for the development MariaDB: `await using db = await startTestMariadb()` in a
 * test, or start it in `before` and stop it in `after` to share one server per test file.
 */
import { createConnection, type Connection } from 'mysql2/promise';
import { type DevMariadb, startDevMariadb } from '../../src/devdb/index.ts';

export interface TestMariadb extends DevMariadb {
  /** A new connection (caller closes it); `dateStrings` so that no Date object shifts a value. */
  connect(database?: string): Promise<Connection>;
  /** Runs one statement on a short-lived connection and returns its rows. */
  query<T = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]>;
}

export async function startTestMariadb(options: { serverArgs?: string[] } = {}): Promise<TestMariadb> {
  const db = await startDevMariadb(options);
  const connect = (database?: string) =>
    createConnection({
      uri: db.url,
      database,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      jsonStrings: true,
      charset: 'utf8mb4',
    });
  const query = async <T>(sql: string, values?: unknown[]) => {
    const conn = await connect();
    try {
      const [rows] = await conn.query(sql, values);
      return rows as T[];
    } finally {
      await conn.end();
    }
  };
  const context: TestMariadb = Object.assign(db, { connect, query });
  return context;
}
