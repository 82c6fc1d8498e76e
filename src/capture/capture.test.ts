/**
 * Capture against the dev MariaDB (binlog ROW/FULL/FULL, server in UTC+13): which events each kind
 * of statement produces, in source order, and every column type read exactly on the binlog path.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { after, before, describe, it } from 'node:test';
import { type ChangeEvent, type Row, type TableSchema, valuesEqual, versionId } from '../core/index.ts';
import { startTestMariadb, type TestMariadb } from '../../test/support/mariadb.ts';
import { startCapture } from '../../test/support/capture.ts';
import { bucketEvents, listChangeFiles } from '../../test/support/bucket.ts';
import type { CompletedFile } from '../changefile/index.ts';
import { prepareExactReads, readTableSchema, rowFromSelect, selectList } from './select-values.ts';
import { type BinlogEvent, readBinlogFile } from './binlog/index.ts';

const summary = (e: ChangeEvent) => [`${e.table}`, e.changeType, e.payload.id, e.payload.v ?? null];

describe('capture', () => {
  let db: TestMariadb;
  before(async () => {
    db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    await db.query('CREATE DATABASE other');
  });
  after(async () => {
    await db?.stop();
  });

  it('a table without a key: an update is its old row gone (UPDATE-DELETE with the old image) and the new one', async () => {
    // With no key there is no record to follow, and the old image is the only trace of what the
    // row held: kept as a tombstone of its own, as for a key change.
    await db.query('CREATE TABLE shop.nokey (a INT, v VARCHAR(20))');
    await using capture = await startCapture(db, 'shop.nokey');
    const conn = await db.connect();
    try {
      await conn.query("INSERT INTO shop.nokey VALUES (1, 'a'), (1, 'a'), (2, 'b')");
      await conn.query("UPDATE shop.nokey SET v = 'c' WHERE a = 2");
      await conn.query("UPDATE shop.nokey SET v = 'z' WHERE a = 1 LIMIT 1");
      await conn.query("DELETE FROM shop.nokey WHERE v = 'c'");
    } finally {
      await conn.end();
    }
    await capture.catchUp();
    const { events, deadLetters } = await bucketEvents(capture.bucketDir);
    assert.equal(deadLetters, 0);
    assert.deepEqual(
      events.map((e) => [e.changeType, e.payload.a, e.payload.v]),
      [
        ['INSERT', 1, 'a'],
        ['INSERT', 1, 'a'],
        ['INSERT', 2, 'b'],
        ['UPDATE-DELETE', 2, 'b'],
        ['UPDATE-INSERT', 2, 'c'],
        ['UPDATE-DELETE', 1, 'a'],
        ['UPDATE-INSERT', 1, 'z'],
        ['DELETE', 2, 'c'],
      ],
    );
    // The two halves of an update share its position and row index, and have ids of their own.
    const [gone, there] = [events[3]!, events[4]!];
    assert.deepEqual(
      [gone.position.logPosition, gone.position.rowIndex],
      [there.position.logPosition, there.position.rowIndex],
    );
    assert.equal(new Set(events.map((e) => versionId(e))).size, events.length);
  });

  it('writes exactly the committed changes, in source order, for every kind of statement', async () => {
    await db.query('CREATE TABLE shop.items (id INT PRIMARY KEY, v VARCHAR(20))');
    await db.query('CREATE TABLE shop.notes (id INT PRIMARY KEY, v VARCHAR(20))');
    await db.query('CREATE TABLE other.ignored (id INT PRIMARY KEY, v VARCHAR(20))');
    await using capture = await startCapture(db, 'shop.items,shop.notes');
    const conn = await db.connect();
    try {
      await conn.query("INSERT INTO shop.items VALUES (1, 'a')");
      await conn.query("UPDATE shop.items SET v = 'b' WHERE id = 1");
      await conn.query('UPDATE shop.items SET id = 2 WHERE id = 1'); // key change
      await conn.query("INSERT INTO shop.items VALUES (3, 'c'), (4, 'd'), (5, 'e')"); // multi-row
      await conn.query('DELETE FROM shop.items WHERE id = 2');
      await conn.query('BEGIN');
      await conn.query("INSERT INTO shop.items VALUES (6, 'f')");
      await conn.query("INSERT INTO shop.notes VALUES (1, 'n')");
      await conn.query("INSERT INTO other.ignored VALUES (1, 'x')");
      await conn.query('COMMIT');
      await conn.query('BEGIN');
      await conn.query("INSERT INTO shop.items VALUES (7, 'rolled back')");
      await conn.query('ROLLBACK');
      await conn.query("INSERT INTO shop.items VALUES (3, 'dup') ON DUPLICATE KEY UPDATE v = 'odku'");
      await conn.query("REPLACE INTO shop.items VALUES (4, 'replaced')");
      await conn.query('UPDATE shop.items SET v = v WHERE id = 5'); // no change: MariaDB logs nothing
    } finally {
      await conn.end();
    }
    await capture.catchUp();
    const { events, deadLetters } = await bucketEvents(capture.bucketDir);
    assert.equal(deadLetters, 0);
    assert.deepEqual(events.map(summary), [
      ['items', 'INSERT', 1, 'a'],
      ['items', 'UPDATE-INSERT', 1, 'b'],
      ['items', 'UPDATE-DELETE', 1, 'b'],
      ['items', 'UPDATE-INSERT', 2, 'b'],
      ['items', 'INSERT', 3, 'c'],
      ['items', 'INSERT', 4, 'd'],
      ['items', 'INSERT', 5, 'e'],
      ['items', 'DELETE', 2, 'b'],
      ['items', 'INSERT', 6, 'f'],
      ['notes', 'INSERT', 1, 'n'],
      ['items', 'UPDATE-INSERT', 3, 'odku'],
      ['items', 'UPDATE-INSERT', 4, 'replaced'],
    ]);
    // One transaction, one commit time; a key change's halves share position and row index.
    const [keyDelete, keyInsert] = [events[2]!, events[3]!];
    assert.deepEqual(
      [keyDelete.position.logPosition, keyDelete.position.rowIndex],
      [keyInsert.position.logPosition, keyInsert.position.rowIndex],
    );
    const multi = events.slice(4, 7);
    assert.deepEqual(
      multi.map((e) => e.position.rowIndex),
      [0, 1, 2],
    );
    assert.equal(new Set(multi.map((e) => e.position.logPosition)).size, 1);
    assert.equal(events[8]!.commitTimestampUs, events[9]!.commitTimestampUs);
    assert.equal(events[8]!.position.gtid, events[9]!.position.gtid);
    for (const e of events) {
      assert.match(e.position.gtid ?? '', /^0-1-\d+$/);
      assert.ok(Math.abs(e.commitTimestampUs! / 1000 - Date.now()) < 60_000, 'commit time is now, in UTC');
      assert.equal(e.commitTimestampUs! % 1_000_000, 0, 'MariaDB gives seconds');
    }
  });

  it('announces every file it publishes, also those a large transaction fills before the flush', async () => {
    await db.query('CREATE TABLE shop.bulk (id INT PRIMARY KEY, v VARCHAR(200))');
    const announced: CompletedFile[] = [];
    await using capture = await startCapture(db, 'shop.bulk', undefined, {
      maxFileBytes: 20_000, // about 50 changes a file: one transaction fills many
      onFiles: (files) => void announced.push(...files),
    });
    await db.query(`INSERT INTO shop.bulk SELECT seq, REPEAT('x', 200) FROM shop.seq_1_to_2000`);
    await db.query('UPDATE shop.bulk SET v = NULL WHERE id <= 300');
    await capture.catchUp();
    const published = await listChangeFiles(capture.bucketDir);
    assert.ok(published.length > 20, `one transaction filled ${published.length} files`);
    assert.deepEqual(announced.map((f) => f.path).sort(), published.sort());
    assert.equal(
      announced.reduce((n, f) => n + f.events, 0),
      2300, // an update is one change line (its before image is not kept)
    );
  });

  it('a large transaction is staged as it is read and published at its commit: the same changes as held whole', async () => {
    await db.query('CREATE TABLE shop.large (id INT PRIMARY KEY, v VARCHAR(60), n INT)');
    const messages: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void messages.push(line) });
    const announced: CompletedFile[] = [];
    await using staged = await startCapture(db, 'shop.large', undefined, {
      largeTransactionRows: 40,
      maxFileBytes: 8_000, // the staged transaction spans several files too
      onFiles: (files) => void announced.push(...files),
      logger,
    });
    await using held = await startCapture(db, 'shop.large');
    const conn = await db.connect();
    try {
      await conn.query("INSERT INTO shop.large VALUES (1, 'before', 0)");
      await conn.query('BEGIN');
      await conn.query(`INSERT INTO shop.large SELECT seq, CONCAT('row ', seq), seq FROM shop.seq_2_to_301`);
      await conn.query("UPDATE shop.large SET v = CONCAT(v, ' updated'), n = n + 1 WHERE id <= 150");
      await conn.query('UPDATE shop.large SET id = id + 1000 WHERE id BETWEEN 10 AND 29'); // key changes
      await conn.query('DELETE FROM shop.large WHERE id BETWEEN 200 AND 239');
      await conn.query('COMMIT');
      await conn.query("INSERT INTO shop.large VALUES (5000, 'after', 0)");
      await conn.query('BEGIN');
      await conn.query('UPDATE shop.large SET n = -1 WHERE id < 100'); // 79 rows, one statement
      await conn.query('COMMIT');
    } finally {
      await conn.end();
    }
    await Promise.all([staged.catchUp(), held.catchUp()]);
    assert.ok(
      messages.filter((m) => m.includes('a large transaction: staged')).length === 2,
      `both large transactions took the staged path:\n${messages.join('')}`,
    );
    const a = await bucketEvents(staged.bucketDir);
    const b = await bucketEvents(held.bucketDir);
    assert.equal(a.raw, a.events.length, 'no change written twice');
    // 1 + 300 inserts + 150 updates + 20 key changes (2 each) + 40 deletes + 1 + 79 updates
    assert.equal(a.events.length, 1 + 300 + 150 + 40 + 40 + 1 + 79);
    const same = (e: ChangeEvent) => [
      versionId(e),
      e.changeType,
      e.commitTimestampUs,
      e.position,
      JSON.stringify(e.payload, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)),
    ];
    assert.deepEqual(a.events.map(same), b.events.map(same));
    // Every file it published was announced, and nothing is left staged.
    assert.deepEqual(announced.map((f) => f.path).sort(), (await listChangeFiles(staged.bucketDir)).sort());
    await assert.rejects(readdir(join(staged.bucketDir, '_tabletime', 'staging-transaction')), /ENOENT/);
  });

  it('a transaction of wide rows is staged by its size in the binlog, long before its row count', async () => {
    await db.query('CREATE TABLE shop.wide_rows (id INT PRIMARY KEY, body MEDIUMTEXT)');
    const messages: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void messages.push(line) });
    // 40 rows of 20 KB: past 100 KB after a handful of rows, far below 20,000 rows.
    await using staged = await startCapture(db, 'shop.wide_rows', undefined, {
      largeTransactionBytes: 100_000,
      logger,
    });
    await using held = await startCapture(db, 'shop.wide_rows');
    const conn = await db.connect();
    try {
      await conn.query('BEGIN');
      for (let i = 1; i <= 40; i++)
        await conn.query('INSERT INTO shop.wide_rows VALUES (?, ?)', [i, `${i}:${'b'.repeat(20_000)}`]);
      await conn.query("UPDATE shop.wide_rows SET body = CONCAT(body, 'u') WHERE id <= 10");
      await conn.query('COMMIT');
    } finally {
      await conn.end();
    }
    await Promise.all([staged.catchUp(), held.catchUp()]);
    assert.equal(
      messages.filter((m) => m.includes('a large transaction: staged')).length,
      1,
      `the transaction took the staged path:\n${messages.join('')}`,
    );
    const a = await bucketEvents(staged.bucketDir);
    const b = await bucketEvents(held.bucketDir);
    assert.equal(a.events.length, 50);
    assert.equal(a.raw, a.events.length, 'no change written twice');
    const same = (e: ChangeEvent) => [versionId(e), e.changeType, e.commitTimestampUs, e.payload.body];
    assert.deepEqual(a.events.map(same), b.events.map(same));
  });

  it('every column type, on the binlog path and the snapshot path, equals what MariaDB returns for the row', async () => {
    // The table's rows as the server returns them, in the snapshot path's exact forms, in key order.
    const serverRows = async () => {
      const reader = await db.connect();
      try {
        await prepareExactReads(reader);
        const schema = (await readTableSchema(reader, 'shop', 'every_type'))!;
        const [rows] = (await reader.query(
          `SELECT ${selectList(schema)} FROM shop.every_type ORDER BY id`,
        )) as unknown as [Record<string, unknown>[]];
        return { schema, rows: rows.map((raw) => rowFromSelect(raw, schema)) };
      } finally {
        await reader.end();
      }
    };
    const assertSameValues = (
      label: string,
      schema: TableSchema,
      fromBinlog: Row,
      fromServer: Row,
      except?: string,
    ) => {
      for (const column of schema.columns) {
        if (column.name === except) continue;
        const a = fromBinlog[column.name] ?? null;
        const b = fromServer[column.name] ?? null;
        assert.ok(
          valuesEqual(a, b),
          `${label} ${column.name} (${column.sqlType}): binlog ${String(a)} vs server ${String(b)}`,
        );
      }
    };
    await db.query(`CREATE TABLE shop.every_type (
      id INT PRIMARY KEY, c_tinyint TINYINT, c_tinyint_u TINYINT UNSIGNED, c_smallint SMALLINT, c_smallint_u SMALLINT UNSIGNED,
      c_mediumint MEDIUMINT, c_mediumint_u MEDIUMINT UNSIGNED, c_int INT, c_int_u INT UNSIGNED, c_bigint BIGINT,
      c_bigint_u BIGINT UNSIGNED, c_float FLOAT, c_double DOUBLE, c_decimal DECIMAL(65,30), c_decimal_small DECIMAL(10,2),
      c_date DATE, c_datetime DATETIME, c_datetime6 DATETIME(6), c_timestamp6 TIMESTAMP(6) NULL, c_time6 TIME(6),
      c_year YEAR, c_bit1 BIT(1), c_bit64 BIT(64), c_enum ENUM('a','b,c','it''s'), c_set SET('x','y','z'), c_json JSON,
      c_varchar VARCHAR(255), c_text TEXT, c_blob BLOB, c_binary BINARY(16), c_varbinary VARBINARY(64),
      c_char CHAR(10), c_latin1 VARCHAR(20) CHARACTER SET latin1
    ) DEFAULT CHARSET=utf8mb4`);
    await using capture = await startCapture(db, 'shop.every_type');
    const conn = await db.connect();
    try {
      await conn.query("SET sql_mode = ''"); // allow zero dates
      await conn.query(`INSERT INTO shop.every_type VALUES
        (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, -3.40282e38, -1.7976931348623157e308,
         '-99999999999999999999999999999999999.999999999999999999999999999999', -0.01, '0000-00-00', '0000-00-00 00:00:00',
         '1000-01-01 00:00:00.000000', '1970-01-01 13:00:01.000000', '-838:59:59.000000', 1901, b'0', b'0', 'a', '', '{}',
         '', '', x'', x'', x'', '', ''),
        (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
         0.1, 5e-324, '99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99, '9999-12-31',
         '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', '2038-01-19 16:14:07.999999', '838:59:59.000000', 2155,
         b'1', b'1111111111111111111111111111111111111111111111111111111111111111', 'it''s', 'x,z',
         '{"big": 12345678901234567890, "s": "é😀"}', '😀 emoji 𝄞 ünïcödé', 'line1\\nline2', ${'0x' + Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('hex')},
         x'010203', x'ff00fe', 'abc', 'café ÿ'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (4, 1, 1, 1, 1, 1, 1, 1, 1, 9007199254740993, 9007199254740993, 1.17549435e-38, 0.1, '0.000000000000000000000000000001',
         0.00, '2024-02-29', '2024-02-29 12:34:56', '2024-02-29 12:34:56.000001', '2024-03-10 15:30:00.500000', '-00:00:00.000001',
         0, b'1', b'101', 'b,c', 'x,y,z', '[1, 2.5, null, true]', 'x', 'y', x'00', x'00', x'00', 'z', 'z')`);
    } finally {
      await conn.end();
    }
    await capture.catchUp();
    const { events } = await bucketEvents(capture.bucketDir);
    assert.equal(events.length, 4);

    {
      const { schema, rows } = await serverRows();
      assert.equal(rows.length, 4);
      rows.forEach((fromServer, i) =>
        assertSameValues(`row ${i + 1}`, schema, events[i]!.payload, fromServer),
      );
    }
    // Spot checks against what was written, independent of both decoders.
    const byId = new Map(events.map((e) => [e.payload.id, e.payload]));
    assert.equal(byId.get(2)!.c_bigint_u, 18446744073709551615n);
    assert.equal(byId.get(2)!.c_bit64, 18446744073709551615n);
    assert.equal(byId.get(2)!.c_timestamp6, '2038-01-19T03:14:07.999999Z', 'written in UTC+13, read in UTC');
    assert.equal(byId.get(2)!.c_float, 0.1);
    assert.equal(byId.get(2)!.c_varchar, '😀 emoji 𝄞 ünïcödé');
    assert.equal(byId.get(2)!.c_latin1, 'café ÿ');
    assert.deepEqual(byId.get(2)!.c_binary, Buffer.concat([Buffer.from([1, 2, 3]), Buffer.alloc(13)]));
    assert.equal((byId.get(2)!.c_blob as Uint8Array).length, 256);
    assert.equal(byId.get(1)!.c_date, '0000-00-00');
    assert.equal(byId.get(1)!.c_time6, '-838:59:59.000000');
    assert.equal(
      byId.get(1)!.c_decimal,
      '-99999999999999999999999999999999999.999999999999999999999999999999',
    );
    assert.equal(byId.get(4)!.c_bigint, 9007199254740993n);
    assert.equal(byId.get(4)!.c_time6, '-00:00:00.000001');
    assert.equal(byId.get(4)!.c_datetime6, '2024-02-29 12:34:56.000001');
    assert.ok(
      Object.values(byId.get(3)!).filter((v) => v === null).length === 32,
      'NULL in every column but the key',
    );

    // Updates: capture decodes only the key of a before image and skips the other values, so the
    // after image is read right only if every type was skipped by exactly its length; a key change
    // decodes the whole before image for its UPDATE-DELETE.
    const updater = await db.connect();
    try {
      await updater.query("SET sql_mode = ''");
      await updater.query("UPDATE shop.every_type SET c_char = 'upd'");
      await updater.query('UPDATE shop.every_type SET id = id + 10 ORDER BY id DESC');
    } finally {
      await updater.end();
    }
    await capture.catchUp();
    const all = (await bucketEvents(capture.bucketDir)).events;
    const updated = all.slice(4);
    assert.deepEqual(
      updated.map((e) => [e.changeType, e.payload.id]),
      [
        ...[1, 2, 3, 4].map((id) => ['UPDATE-INSERT', id]),
        ...[4, 3, 2, 1].flatMap((id) => [
          ['UPDATE-DELETE', id],
          ['UPDATE-INSERT', id + 10],
        ]),
      ],
    );
    const { schema, rows } = await serverRows();
    const now = new Map(rows.map((r) => [Number(r.id), r]));
    for (const e of updated) {
      const id = Number(e.payload.id);
      // Before the key change a row held what it holds now, under its old key.
      const expected = now.get(id > 10 ? id : id + 10)!;
      assert.equal(e.payload.c_char, 'upd', `${e.changeType} ${id}`);
      assertSameValues(`${e.changeType} ${id}`, schema, e.payload, expected, 'id');
    }
    // The decoder itself, over the server's binlog file: key-only before images against whole ones.
    const base = (await db.query<{ base: string }>('SELECT @@log_bin_basename AS base'))[0]!.base;
    const logs = await db.query<{ Log_name: string }>('SHOW BINARY LOGS');
    let keyOnly = 0;
    for (const { Log_name: name } of logs) {
      const file = join(dirname(base), name);
      const rowsEvents = async (keyOnlyBeforeImages: boolean) => {
        const out: Extract<BinlogEvent, { kind: 'rows' }>[] = [];
        for await (const e of readBinlogFile(file, { keyOnlyBeforeImages }))
          if (e.kind === 'rows' && e.map.table === 'every_type') out.push(e);
        return out;
      };
      const [whole, lazy] = [await rowsEvents(false), await rowsEvents(true)];
      assert.equal(lazy.length, whole.length);
      lazy.forEach((event, i) =>
        event.rows.forEach((row, j) => {
          const expected = whole[i]!.rows[j]!;
          assert.deepEqual(row.after, expected.after);
          if (event.operation !== 'update') return assert.deepEqual(row.before, expected.before);
          keyOnly++;
          assert.deepEqual(row.before, { id: expected.before!.id }, 'only the key is decoded');
          assert.deepEqual(row.fullBefore!(), expected.before);
        }),
      );
    }
    assert.equal(keyOnly, 8, 'update rows read with key-only before images');
  });
});
