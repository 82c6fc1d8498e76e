/**
 * A PostgreSQL history's own column order, and the order users see. The table holds the as-of
 * filter's columns first (PostgreSQL reads a row's columns up to the last one a filter needs);
 * the versions view and the as-of function show the source's columns, then the metadata, then
 * the end, whatever the table's order and whenever a column was added.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { columnFromSqlType, isoFromMicros, type TableSchema } from '../src/core/index.ts';
import { PostgresStore } from '../src/store/index.ts';
import { META_TYPES } from '../src/store/sql-history-store.ts';
import { binlogEvent } from './support/events.ts';
import { createTestPostgres, type TestPostgres } from './support/postgres.ts';

const T: TableSchema = {
  database: 'l',
  table: 't',
  primaryKeys: ['id'],
  columns: [columnFromSqlType('id', 'int'), columnFromSqlType('note', 'varchar(20)')],
};
const WIDER: TableSchema = { ...T, columns: [...T.columns, columnFromSqlType('extra', 'int')] };
const BASE = Date.UTC(2026, 0, 1) * 1000;
const META = META_TYPES.map(([n]) => n);

describe('PostgreSQL: the history’s column order', () => {
  let db: TestPostgres;
  let admin: pg.Client;
  let store: PostgresStore;
  before(async () => {
    db = await createTestPostgres();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    store = await PostgresStore.open(db.url);
  });
  after(async () => {
    await store?.close();
    await admin?.end();
    await db?.drop();
  });

  const names = async (sql: string) => (await admin.query(sql)).fields.map((f) => f.name);
  const at = (second: number) => `CAST('${isoFromMicros(BASE + second * 1e6)}' AS timestamptz)`;
  const event = (schema: TableSchema, row: Record<string, unknown>, second: number, first = false) =>
    binlogEvent(schema, row as never, {
      changeType: first ? 'INSERT' : 'UPDATE-INSERT',
      logPosition: 100 * second,
      rowIndex: Number(row.id),
      commitUs: BASE + second * 1e6,
    });

  it('a new history holds the as-of filter’s columns first; its view and function show the source’s first', async () => {
    await store.applyFile('l-1.jsonl', [
      { event: event(T, { id: 1, note: 'one' }, 1, true), schema: T },
      { event: event(T, { id: 2, note: 'two' }, 1, true), schema: T },
    ]);
    await store.applyFile('l-2.jsonl', [{ event: event(T, { id: 1, note: 'one again' }, 2), schema: T }]);
    const own = await admin.query<{ attname: string }>(
      `SELECT attname FROM pg_attribute WHERE attrelid = 'l.t__history'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    );
    assert.deepEqual(
      own.rows.slice(0, 3).map((r) => r.attname),
      ['_tt_commit_ts', '_tt_valid_to', '_tt_deleted'],
    );
    assert.deepEqual(await names('SELECT * FROM l.t__versions LIMIT 0'), [
      'id',
      'note',
      ...META,
      '_tt_valid_to',
      '_tt_valid_from',
    ]);
    assert.deepEqual(await names(`SELECT * FROM l.t__as_of(${at(1)})`), [
      'id',
      'note',
      ...META,
      '_tt_valid_to',
    ]);
    const rows = async (second: number) =>
      (await admin.query(`SELECT id, note FROM l.t__as_of(${at(second)}) ORDER BY id`)).rows;
    assert.deepEqual(await rows(1), [
      { id: 1, note: 'one' },
      { id: 2, note: 'two' },
    ]);
    assert.deepEqual(await rows(2), [
      { id: 1, note: 'one again' },
      { id: 2, note: 'two' },
    ]);
  });

  it('a column added later is shown among the source’s, in the view and in the function’s answer', async () => {
    await store.applyFile('l-3.jsonl', [
      { event: event(WIDER, { id: 2, note: 'two', extra: 5 }, 3), schema: WIDER },
    ]);
    const shown = ['id', 'note', 'extra', ...META, '_tt_valid_to'];
    assert.deepEqual(await names('SELECT * FROM l.t__versions LIMIT 0'), [...shown, '_tt_valid_from']);
    assert.deepEqual(await names(`SELECT * FROM l.t__as_of(${at(3)})`), shown);
    assert.deepEqual((await admin.query(`SELECT id, extra FROM l.t__as_of(${at(3)}) ORDER BY id`)).rows, [
      { id: 1, extra: null },
      { id: 2, extra: 5 },
    ]);
  });

  it('the function takes each column’s type from the table, not from what this version would create', async () => {
    // A history an older tabletime made with another type for a column (here bigint for an INT):
    // the views are made again at open, and the function returns the table's type.
    await store.close();
    await admin.query('DROP VIEW l.t__versions; DROP VIEW l.t; DROP FUNCTION l.t__as_of');
    await admin.query('ALTER TABLE l.t__history ALTER COLUMN extra TYPE bigint');
    await admin.query(`UPDATE _tabletime.store SET value = '1' WHERE name = 'views'`);
    store = await PostgresStore.open(db.url);
    const { rows } = await admin.query(
      `SELECT pg_typeof(extra)::text AS type, extra FROM l.t__as_of(${at(3)}) WHERE id = 2`,
    );
    assert.deepEqual(rows, [{ type: 'bigint', extra: '5' }]);
  });
});
