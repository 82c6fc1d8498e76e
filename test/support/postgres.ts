import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestPostgres extends AsyncDisposable {
  readonly url: string;
  drop(): Promise<void>;
}

/** A fresh database on the machine's PostgreSQL (127.0.0.1:5432, trust auth), dropped afterwards. */
export async function createTestPostgres(): Promise<TestPostgres> {
  const admin = process.env.TABLETIME_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `tabletime_test_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const drop = async () => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  };
  return { url: url.toString(), drop, [Symbol.asyncDispose]: drop };
}

/**
 * The SELECT that counts (as `n`) the versions of a PostgreSQL history table whose stored end
 * (`_tt_valid_to`) is not the earliest commit time of their key's later versions. Spelled out
 * here by the plain definition (the next rows by position), not by the store's own window.
 */
export function wrongEndsSql(hist: string): string {
  return `SELECT count(*) AS n FROM (
      SELECT _tt_valid_to, min(_tt_commit_ts) OVER (
               PARTITION BY _tt_key ORDER BY _tt_position ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS vt
        FROM ${hist}) e
     WHERE vt IS DISTINCT FROM _tt_valid_to`;
}
