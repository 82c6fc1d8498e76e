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
