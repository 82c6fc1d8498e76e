/**
 * DuckDB's `_tt_order`: `_tt_position` as a number in the same order (positionOrder), what its as-of
 * plan aggregates. The encoding against the text's own order, a tie between two snapshots of one
 * key, and a history an older tabletime made (no such column) being filled in when it opens.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  type ChangeEvent,
  type ChangeType,
  columnFromSqlType,
  positionKey,
  type SourcePosition,
  type TableSchema,
} from '../core/index.ts';
import { binlogEvent } from '../../test/support/events.ts';
import { seededRandom, testSeed } from '../../test/support/random.ts';
import { DuckdbStore, positionOrder } from './duckdb-store.ts';

const T: TableSchema = {
  database: 'o',
  table: 't',
  primaryKeys: ['id'],
  columns: [columnFromSqlType('id', 'int'), columnFromSqlType('v', 'varchar(20)')],
};

async function scratch(): Promise<{ dir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tabletime-order-'));
  return { dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

async function rawRows(path: string, sql: string): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(path);
  try {
    const conn = await instance.connect();
    const rows = (await conn.runAndReadAll(sql)).getRows();
    conn.closeSync();
    return rows;
  } finally {
    instance.closeSync();
  }
}

function snapshotRow(id: number, v: string, rowIndex: number, snapshotId: string): ChangeEvent {
  const e = binlogEvent(T, { id, v });
  return {
    ...e,
    position: { snapshot: true, logFile: '', logPosition: 0, rowIndex, gtid: null },
    snapshotId,
  };
}

describe("DuckDB: each version's order as a number (_tt_order)", () => {
  it("orders every position as its text does, at each field's widest value too", async () => {
    const random = seededRandom(testSeed('duckdb-order'));
    const pick = (max: number) => Math.floor(random() * max);
    // Each field at 0, at its widest value (what its digits hold), and random in between; files,
    // positions and row indexes shared often enough that the later fields decide.
    const widest = { seq: 9_999_999_999, pos: 999_999_999_999_999, row: 999_999_999, snap: 999_999_999_999 };
    const from = (n: number, max: number) => [0, 1, max, max - 1, pick(n), pick(max)][pick(6)]!;
    const texts: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const snapshot = pick(5) === 0;
      const pos: SourcePosition = {
        snapshot,
        logFile: snapshot ? '' : `mariadb-bin.${String(from(30, widest.seq)).padStart(6, '0')}`,
        logPosition: snapshot ? 0 : from(5000, widest.pos),
        rowIndex: snapshot ? from(5000, widest.snap) : from(20, widest.row),
        gtid: null,
      };
      const type: ChangeType = (['INSERT', 'UPDATE-DELETE', 'UPDATE-INSERT', 'DELETE'] as const)[pick(4)]!;
      texts.push(positionKey(pos, type));
    }
    const instance = await DuckDBInstance.create(':memory:');
    try {
      const conn = await instance.connect();
      await conn.run('CREATE TABLE p (p VARCHAR)');
      const appender = await conn.createAppender('p');
      for (const t of texts) {
        appender.appendVarchar(t);
        appender.endRow();
      }
      appender.closeSync();
      const byText = (await conn.runAndReadAll('SELECT DISTINCT p FROM p ORDER BY p')).getRows().flat();
      const byNumber = (
        await conn.runAndReadAll(
          `SELECT p FROM (SELECT DISTINCT p, ${positionOrder('p')} AS o FROM p) ORDER BY o`,
        )
      )
        .getRows()
        .flat();
      // Same order, and no two texts with one number.
      assert.ok(byText.length > 1500, `only ${byText.length} distinct positions`);
      assert.deepEqual(byNumber, byText);
      const [[numbers]] = (
        await conn.runAndReadAll(`SELECT count(DISTINCT ${positionOrder('p')}) FROM p`)
      ).getRows() as [[bigint]];
      assert.equal(Number(numbers), byText.length);
      conn.closeSync();
    } finally {
      instance.closeSync();
    }
  });

  it('two snapshots of one key at the same place: the row applied later is the record', async () => {
    await using s = await scratch();
    const store = await DuckdbStore.open(join(s.dir, 'h.duckdb'));
    try {
      const apply = (name: string, events: ChangeEvent[]) =>
        store.applyFile(
          name,
          events.map((event) => ({ event, schema: T })),
        );
      await apply('snap-1', [snapshotRow(1, 'first', 0, 's1'), snapshotRow(2, 'two', 1, 's1')]);
      await apply('snap-2', [snapshotRow(1, 'second', 0, 's2')]);
      await apply('snap-3', [snapshotRow(1, 'third', 0, 's3')]);
      const v = async () =>
        (await store.asOf('o', 't', null)).map((r) => `${String(r.id)}:${String(r.v)}`).sort();
      assert.deepEqual(await v(), ['1:third', '2:two']);
      // A binlog change comes after every snapshot row, whatever was applied last.
      await apply('binlog-1', [binlogEvent(T, { id: 1, v: 'changed' }, { changeType: 'UPDATE-INSERT' })]);
      await apply('snap-4', [snapshotRow(1, 'fourth', 0, 's4')]);
      assert.deepEqual(await v(), ['1:changed', '2:two']);
    } finally {
      await store.close();
    }
  });

  it('a history an older tabletime made, without the column, gets it filled in when the store opens, announced, and answers as before', async () => {
    await using s = await scratch();
    const path = join(s.dir, 'h.duckdb');
    let store = await DuckdbStore.open(path);
    // Versions over two binlog files, the later file at smaller positions; and a delete.
    const events = [
      snapshotRow(1, 'snap', 0, 's1'),
      snapshotRow(2, 'snap', 1, 's1'),
      binlogEvent(
        T,
        { id: 1, v: 'a' },
        { changeType: 'UPDATE-INSERT', logFile: 'mariadb-bin.000009', logPosition: 4_000_000_000 },
      ),
      binlogEvent(
        T,
        { id: 1, v: 'b' },
        { changeType: 'UPDATE-INSERT', logFile: 'mariadb-bin.000010', logPosition: 4 },
      ),
      binlogEvent(
        T,
        { id: 2, v: 'gone' },
        { changeType: 'DELETE', logFile: 'mariadb-bin.000010', logPosition: 400 },
      ),
      binlogEvent(T, { id: 3, v: 'c' }, { logFile: 'mariadb-bin.000010', logPosition: 500, rowIndex: 12 }),
      binlogEvent(
        T,
        { id: 3, v: 'd' },
        { changeType: 'UPDATE-INSERT', logFile: 'mariadb-bin.000010', logPosition: 500, rowIndex: 13 },
      ),
    ];
    for (const [i, event] of events.entries()) await store.applyFile(`f${i}`, [{ event, schema: T }]);
    const state = async () =>
      (await store.asOf('o', 't', null)).map((r) => `${String(r.id)}:${String(r.v)}`).sort();
    const expected = ['1:b', '3:d'];
    assert.deepEqual(await state(), expected);
    await store.close();

    // As an older tabletime left it: no _tt_order, its views made by views version 6.
    await rawRows(path, 'ALTER TABLE o.t__history DROP COLUMN _tt_order');
    await rawRows(path, `UPDATE _tabletime.store SET value = '6' WHERE name = 'views'`);
    const notices: string[] = [];
    store = await DuckdbStore.open(path, { notice: (m) => notices.push(m) });
    try {
      assert.equal(notices.length, 2, notices.join('\n'));
      assert.match(
        notices[0]!,
        /^upgrading o\.t: filling in each version's order \(_tt_order\) for 7 versions, once/,
      );
      assert.match(notices[1]!, /^upgraded o\.t in \d+\.\d s$/);
      assert.deepEqual(await state(), expected);
    } finally {
      await store.close();
    }
    assert.deepEqual(await rawRows(path, 'SELECT count(*) FROM o.t__history WHERE _tt_order IS NULL'), [
      [0n],
    ]);
    // Opened again, nothing is left to do.
    const again: string[] = [];
    await (await DuckdbStore.open(path, { notice: (m) => again.push(m) })).close();
    assert.deepEqual(again, []);
  });
});
