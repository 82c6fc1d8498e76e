/**
 * PostgreSQL keeps each version's end (`_tt_valid_to`: the earliest commit time of the later
 * versions of its key). Here: two apply workers storing versions of the same key at once, and a
 * TRUNCATE's tombstones. Every end must be what the whole history says.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { columnFromSqlType, isoFromMicros, positionKey, type TableSchema } from '../src/core/index.ts';
import { PostgresStore } from '../src/store/index.ts';
import { binlogEvent } from './support/events.ts';
import { createTestPostgres, type TestPostgres, wrongEndsSql } from './support/postgres.ts';

const T: TableSchema = {
  database: 'e',
  table: 't',
  primaryKeys: ['id'],
  columns: [columnFromSqlType('id', 'int'), columnFromSqlType('v', 'int')],
};
const BASE = Date.UTC(2026, 0, 1) * 1000;

describe('PostgreSQL: each version’s end', () => {
  let db: TestPostgres;
  let admin: pg.Client;
  before(async () => {
    db = await createTestPostgres();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  after(async () => {
    await admin?.end();
    await db?.drop();
  });

  /** Versions whose stored end differs from the earliest commit time of their key's later ones. */
  const wrongEnds = async () =>
    Number((await admin.query<{ n: string }>(wrongEndsSql('e.t__history'))).rows[0]!.n);

  it('a worker that stores a later version while another has not committed its own waits for it', async () => {
    const [v1, v2, v3] = [1, 2, 3].map((i) =>
      binlogEvent(
        T,
        { id: 7, v: i },
        { changeType: i === 1 ? 'INSERT' : 'UPDATE-INSERT', logPosition: 100 * i, commitUs: BASE + i * 1e6 },
      ),
    );
    const one = await PostgresStore.open(db.url);
    const two = await PostgresStore.open(db.url);
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await one.applyFile('w-1.jsonl', [{ event: v1!, schema: T }]);
      // Worker one stores v2 and ends v1, then waits before its commit: its applied-file marker
      // meets the same marker, uncommitted, in another transaction.
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO _tabletime.applied_files VALUES ('w-2.jsonl', 1, now())`);
      const first = one.applyFile('w-2.jsonl', [{ event: v2!, schema: T }]);
      const waiting = async (sql: string) => {
        for (let i = 0; i < 200; i++) {
          const { rows } = await admin.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
            [sql],
          );
          if (Number(rows[0]!.n) > 0) return;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`nothing waits on ${sql}`);
      };
      await waiting('INSERT INTO %applied_files%');
      // Worker two stores v3 meanwhile: it must not end versions from a history without v2.
      const second = two.applyFile('w-3.jsonl', [{ event: v3!, schema: T }]);
      await new Promise((r) => setTimeout(r, 300));
      await holder.query('ROLLBACK');
      await Promise.all([first, second]);
      assert.equal(await wrongEnds(), 0);
      const at = (s: number) => one.asOf('e', 't', BASE + s * 1e6);
      assert.deepEqual(await at(2), [{ id: 7, v: 2 }]);
      assert.deepEqual(await at(3), [{ id: 7, v: 3 }]);
    } finally {
      await holder.end();
      await one.close();
      await two.close();
    }
  });

  it('a version staged twice in one batch (a file written again under another name) does not end itself', async () => {
    const store = await PostgresStore.open(db.url);
    try {
      const [v1, v2] = [1, 2].map((i) =>
        binlogEvent(
          T,
          { id: 9, v: i },
          {
            changeType: i === 1 ? 'INSERT' : 'UPDATE-INSERT',
            logPosition: 5000 + i,
            commitUs: BASE + (10 + i) * 1e6,
          },
        ),
      );
      await store.applyFile('d-1.jsonl', [{ event: v1!, schema: T }]);
      await store.applyFiles(
        ['d-2a.jsonl', 'd-2b.jsonl'].map((file) => ({ file, events: [{ event: v2!, schema: T }] })),
      );
      assert.equal(await wrongEnds(), 0);
      assert.deepEqual(
        (await store.asOf('e', 't', null)).filter((r) => r.id === 9),
        [{ id: 9, v: 2 }],
      );
    } finally {
      await store.close();
    }
  });

  it("a TRUNCATE's tombstones end the versions before them", async () => {
    const store = await PostgresStore.open(db.url);
    try {
      const at = BASE + 10_000 * 1e6;
      const position = {
        snapshot: false,
        logFile: 'mariadb-bin.000001',
        logPosition: 999_999,
        rowIndex: 0,
        gtid: null,
      };
      const added = await store.applyTruncate('e', 't', {
        positionKey: positionKey(position, 'DELETE'),
        logFile: position.logFile,
        logPosition: position.logPosition,
        gtid: null,
        commitTimestamp: isoFromMicros(at),
        file: 'truncate-1.json',
      });
      assert.ok(added > 0);
      assert.equal(await wrongEnds(), 0);
      assert.deepEqual(await store.asOf('e', 't', at), []);
      assert.deepEqual(await store.asOf('e', 't', null), []);
      assert.ok((await store.asOf('e', 't', at - 1)).length > 0, 'just before, the rows are there');
    } finally {
      await store.close();
    }
  });
});
