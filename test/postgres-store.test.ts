/**
 * The PostgreSQL store's connection after the server cut it (pg_terminate_backend: what a restart
 * or a failover does to it): the next statement connects again, and a transaction the cut took
 * with it is not carried on, statement by statement, outside any transaction on the new connection.
 * And the COPY text the store loads its staging tables with reads back as the values it was given.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import { copyChunks, PgConnection } from '../src/store/postgres-store.ts';
import { createTestPostgres, type TestPostgres } from './support/postgres.ts';

describe('PostgreSQL store connection', () => {
  let db: TestPostgres;
  let admin: pg.Client;
  before(async () => {
    db = await createTestPostgres();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query('CREATE TABLE t (n int)');
  });
  after(async () => {
    await admin?.end();
    await db?.drop();
  });

  const pid = async (conn: PgConnection) =>
    (await conn.use((c) => c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))).rows[0]!.pid;
  const cut = async (backend: number) => {
    await admin.query('SELECT pg_terminate_backend($1)', [backend]);
    // The server closes the socket right after: give the client the moment to hear it.
    await new Promise((r) => setTimeout(r, 200));
  };
  const rows = async () =>
    (await admin.query<{ n: number }>('SELECT n FROM t ORDER BY n')).rows.map((r) => r.n);

  it('connects again after an idle connection was cut, without an unhandled error', async () => {
    const conn = new PgConnection(db.url);
    try {
      await conn.open();
      const first = await pid(conn);
      await cut(first);
      const second = await pid(conn);
      assert.notEqual(second, first);
      assert.equal(
        (await conn.use((c) => c.query<{ tz: string }>("SELECT current_setting('TimeZone') AS tz"))).rows[0]!
          .tz,
        'UTC',
        'the new connection has the session settings too',
      );
      assert.equal(
        (await conn.use((c) => c.query<{ jit: string }>("SELECT current_setting('jit') AS jit"))).rows[0]!
          .jit,
        'off',
        "the history's scans are not JIT-compiled (docs/performance.md, session 11)",
      );
    } finally {
      await conn.close();
    }
  });

  it('fails the rest of a transaction whose connection was cut, until it is rolled back', async () => {
    const conn = new PgConnection(db.url);
    try {
      await conn.open();
      await conn.begin();
      await conn.use((c) => c.query('INSERT INTO t VALUES (1)'));
      await cut(await pid(conn));
      await assert.rejects(
        conn.use((c) => c.query('INSERT INTO t VALUES (2)')),
        (err: { code?: string; kind?: string }) =>
          err.code === 'STORE_UNREACHABLE' && err.kind === 'transient',
      );
      await assert.rejects(conn.commit(), { code: 'STORE_UNREACHABLE' });
      await conn.rollback();
      assert.deepEqual(await rows(), [], 'neither half of the cut transaction is stored');

      // A statement that meets the cut itself (the server ends the backend while it waits).
      await conn.begin();
      await conn.use((c) => c.query('INSERT INTO t VALUES (3)'));
      const backend = await pid(conn);
      // The expectation is attached first: the statement can fail before the admin's own
      // pg_terminate_backend answers, and a rejection nothing handled yet fails the test.
      const sleeping = assert.rejects(
        conn.use((c) => c.query('SELECT pg_sleep(5)')),
        { code: 'STORE_UNREACHABLE' },
      );
      await new Promise((r) => setTimeout(r, 200));
      await admin.query('SELECT pg_terminate_backend($1)', [backend]);
      await sleeping;
      await assert.rejects(
        conn.use((c) => c.query('INSERT INTO t VALUES (4)')),
        { code: 'STORE_UNREACHABLE' },
      );
      await conn.rollback();

      await conn.begin();
      await conn.use((c) => c.query('INSERT INTO t VALUES (5)'));
      await conn.commit();
      assert.deepEqual(await rows(), [5]);
    } finally {
      await conn.close();
    }
  });
});

describe('PostgreSQL store, two writers', () => {
  let db: TestPostgres;
  before(async () => {
    db = await createTestPostgres();
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query('CREATE TABLE v (id int PRIMARY KEY, n int)');
    await admin.query('INSERT INTO v VALUES (1, 0), (2, 0)');
    await admin.end();
  });
  after(async () => {
    await db?.drop();
  });

  it('a deadlock between two writers is transient: the loser rolls back, applies again, and both land', async () => {
    // What a scale-out run met: one worker's TRUNCATE tombstones and another's batch ending the
    // same versions, in opposite orders. It used to end the worker as an INTERNAL error.
    const a = new PgConnection(db.url);
    const b = new PgConnection(db.url);
    try {
      await a.begin();
      await b.begin();
      await a.use((c) => c.query('UPDATE v SET n = n + 1 WHERE id = 1'));
      await b.use((c) => c.query('UPDATE v SET n = n + 10 WHERE id = 2'));
      const outcomes = await Promise.allSettled([
        a.use((c) => c.query('UPDATE v SET n = n + 1 WHERE id = 2')),
        b.use((c) => c.query('UPDATE v SET n = n + 10 WHERE id = 1')),
      ]);
      const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [{ i, err: o.reason }] : []));
      assert.equal(failed.length, 1, 'PostgreSQL aborts one of the two');
      const { i, err } = failed[0]!;
      assert.equal((err as { code?: string }).code, 'STORE_CONFLICT');
      assert.equal((err as { kind?: string }).kind, 'transient');
      const [winner, loser] = i === 0 ? [b, a] : [a, b];
      await loser.rollback();
      await winner.commit();
      // Applied again, as a worker does with a transient error.
      const step = i === 0 ? 1 : 10;
      await loser.begin();
      await loser.use((c) => c.query('UPDATE v SET n = n + $1 WHERE id IN (1, 2)', [step]));
      await loser.commit();
      const rows = (await a.use((c) => c.query<{ n: number }>('SELECT n FROM v ORDER BY id'))).rows;
      assert.deepEqual(
        rows.map((r) => r.n),
        [11, 11],
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('PostgreSQL store COPY text', () => {
  it('reads back every value as given, across chunks', async () => {
    await using db = await createTestPostgres();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const tricky = [
        '',
        '\\',
        '\\N',
        '\\t',
        'a\tb',
        'a\nb\r\nc',
        '\r',
        'tab\tnew\nline\\back',
        'é 🎉',
        'NULL',
        ' ',
      ];
      const rows: (string | null)[][] = [];
      // Enough rows for several 256 KiB chunks, with every tricky value in every column position.
      for (let i = 0; i < 30_000; i++) {
        rows.push([
          String(i),
          tricky[i % tricky.length]!,
          i % 7 === 0 ? null : `${'x'.repeat(i % 50)}${tricky[(i * 3) % tricky.length]}`,
        ]);
      }
      const chunks = [...copyChunks(rows)];
      assert.ok(chunks.length > 2, `only ${chunks.length} chunk(s)`);
      await client.query('CREATE TABLE c (i text, a text, b text)');
      await pipeline(Readable.from(chunks), client.query(copyFrom('COPY c (i, a, b) FROM STDIN')));
      const back = (
        await client.query<{ i: string; a: string | null; b: string | null }>(
          'SELECT i, a, b FROM c ORDER BY i::int',
        )
      ).rows;
      assert.deepEqual(
        back.map((r) => [r.i, r.a, r.b]),
        rows,
      );
    } finally {
      await client.end();
    }
  });
});
