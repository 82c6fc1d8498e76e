/**
 * The MySQL (5.1 to 9) and MariaDB binlog files in ../shared/mysql-binlog-fixtures/, read in place.
 * Values are checked against `mysqlbinlog -v` where it reads the file (noted as "mysqlbinlog:"),
 * and against MySQL's documented layouts where it cannot (tagged GTIDs, zstd payloads, binary JSON,
 * VECTOR). Damaged files must end in a clean error that names the offset.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BINLOG_FIXTURES } from '../../../test/support/paths.ts';
import { type BinlogDecoderOptions, type BinlogEvent, BinlogFormatError, readBinlogFile } from './index.ts';

type RowsEvent = Extract<BinlogEvent, { kind: 'rows' }>;

async function read(name: string, options?: BinlogDecoderOptions): Promise<BinlogEvent[]> {
  const events: BinlogEvent[] = [];
  for await (const e of readBinlogFile(join(BINLOG_FIXTURES, name), options)) events.push(e);
  return events;
}

function flatten(events: readonly BinlogEvent[]): BinlogEvent[] {
  return events.flatMap((e) => (e.kind === 'payload' ? flatten(e.events) : [e]));
}

const rowsOf = (events: readonly BinlogEvent[]) =>
  flatten(events).filter((e): e is RowsEvent => e.kind === 'rows');
const gtidsOf = (events: readonly BinlogEvent[]): [string | null, number | null][] =>
  flatten(events).flatMap((e) =>
    e.kind === 'gtid' ? [[e.gtid, e.commitTimestampUs] as [string | null, number | null]] : [],
  );

describe('binlog fixtures', () => {
  it('every file decodes to its end, or stops with a clean error naming the offset', async () => {
    const names = readdirSync(BINLOG_FIXTURES).filter((n) => n !== 'README.md');
    assert.equal(names.length, 23);
    const failures: Record<string, string> = {};
    for (const name of names) {
      try {
        await read(name);
      } catch (err) {
        failures[name] = (err as Error & { code?: string }).code ?? 'crash';
      }
    }
    assert.deepEqual(failures, {
      'binlog_truncated_event.000001': 'BINLOG_FORMAT',
      'binlog_truncated_prev_gtid_event.000001': 'BINLOG_FORMAT',
      'corrupt-relay-bin.000624': 'BINLOG_FORMAT',
    });
  });

  it('truncated and corrupt files: BinlogFormatError with the offset, after the events before it', async () => {
    const expectations: [string, number, RegExp][] = [
      ['binlog_truncated_event.000001', 4, /ends inside an event header/],
      ['binlog_truncated_prev_gtid_event.000001', 120, /ends inside an event header/],
      ['corrupt-relay-bin.000624', 91204, /event type 2 is malformed/],
    ];
    for (const [name, offset, message] of expectations) {
      const seen: BinlogEvent[] = [];
      await assert.rejects(
        (async () => {
          for await (const e of readBinlogFile(join(BINLOG_FIXTURES, name))) seen.push(e);
        })(),
        (err: unknown) => {
          assert.ok(err instanceof BinlogFormatError, name);
          assert.equal(err.offset, offset, name);
          assert.match(err.message, message);
          assert.match(err.message, new RegExp(`at offset ${offset}`));
          return true;
        },
      );
      if (name.startsWith('corrupt')) assert.ok(seen.length > 200, 'the events before the damage were read');
    }
  });

  it('MySQL GTIDs with µs commit timestamps, anonymous GTIDs, and 8.4 tagged GTIDs', async () => {
    assert.deepEqual(gtidsOf(await read('binlog_transaction_with_GTID.000001')), [
      ['006c2cf2-b1ea-11e4-9057-8c705a3d3e78:1', null], // MySQL 5.6: no commit timestamps yet
      ['006c2cf2-b1ea-11e4-9057-8c705a3d3e78:2', null],
      ['006c2cf2-b1ea-11e4-9057-8c705a3d3e78:3', null],
    ]);
    assert.deepEqual(gtidsOf(await read('binlog_transaction_with_anonymous_GTID.000001')), [
      [null, null],
      [null, null],
    ]);
    const invisible = gtidsOf(await read('binlog-invisible-columns.000001'));
    assert.deepEqual(invisible[0], ['97c7af02-4c50-11ec-acd8-681842034964:1', 1637666960682295]);
    // 2021-11-23T11:29:20.682295Z: a commit time with microseconds
    assert.equal(new Date(Math.floor(invisible[0][1]! / 1000)).toISOString(), '2021-11-23T11:29:20.682Z');
    const tagged = await read('binlog_transaction_with_GTID_TAG.000001');
    assert.deepEqual(gtidsOf(tagged), [['55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3', 1770368687207196]]);
    const rows = rowsOf(tagged);
    assert.deepEqual(rows[0]!.rows[0]!.after, { '@1': 3, '@2': 100, '@3': '250.00' });
  });

  it('transaction compression: the zstd payload holds the transaction', async () => {
    const events = await read('transaction_compression.000001');
    const payload = events.find((e) => e.kind === 'payload');
    assert.ok(payload && payload.kind === 'payload');
    assert.deepEqual(
      payload.events.map((e) => e.kind),
      ['query', 'table-map', 'rows', 'xid'],
    );
    const rows = rowsOf(events);
    assert.equal(rows[0]!.map.table, 'tb1');
    assert.equal(rows[0]!.operation, 'insert');
    assert.ok(rows[0]!.rows.length > 0);
    for (const r of rows[0]!.rows) assert.equal(typeof r.after!['@1'], 'number');
  });

  it('key-only before images: where the table map names no key, every image is decoded whole', async () => {
    // Keyed updates are covered over a live server's binlog (src/capture/capture.test.ts).
    const names = readdirSync(BINLOG_FIXTURES).filter((n) => n !== 'README.md');
    let updates = 0;
    for (const name of names) {
      const whole = await read(name).catch(() => null);
      if (!whole) continue; // the damaged files (first test)
      const lazy = rowsOf(await read(name, { keyOnlyBeforeImages: true }));
      assert.deepEqual(lazy, rowsOf(whole), name);
      for (const e of lazy) if (e.operation === 'update') updates += e.rows.length;
    }
    assert.ok(updates >= 3, `update rows compared: ${updates}`);
  });

  it('FULL metadata: names, signedness, charsets, key; invisible columns (mysqlbinlog agrees)', async () => {
    const rows = rowsOf(await read('binlog-invisible-columns.000001'));
    assert.deepEqual(rows[0]!.rows[0]!.after, {
      f1: 1,
      f2: 2,
      f3: -3,
      f4: '4',
      f5: Buffer.from([5]),
      f6: 6000000000n,
    });
    assert.deepEqual(rows[1]!.rows[0]!.after, {
      f1: null,
      f2: null,
      f3: -33,
      f4: '44',
      f5: Buffer.from([0x55]),
      f6: null,
    });
    assert.equal(rows[2]!.operation, 'update');
    assert.deepEqual(rows[2]!.rows[0]!.after, {
      f1: 111,
      f2: 222,
      f3: -333,
      f4: '444',
      f5: Buffer.from([0x55]),
      f6: null,
    });
  });

  it('ENUM, SET, CHAR over 255 bytes, VARCHAR(300), TEXT (mysqlbinlog: @3=1, @4=b00000101)', async () => {
    const rows = rowsOf(await read('mysql-enum-string-set.000001'));
    const digits = '0123456789'.repeat(10);
    const first = rows[0]!.rows[0]!.after!;
    assert.equal(first.f1, digits);
    assert.equal(first.f3, 'var1');
    assert.equal(first.f4, 'one,three');
    assert.equal(first.f5, '0123456789');
    // mysqlbinlog -v prints this VARCHAR(300) value (298 characters: the inserted text skips two digits).
    assert.equal(
      first.f2,
      '0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456780123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456780123456789012345678901234567890123456789',
    );
    assert.equal(rows[1]!.operation, 'update');
    assert.deepEqual(
      [rows[1]!.rows[0]!.after!.f1, rows[1]!.rows[0]!.after!.f3, rows[1]!.rows[0]!.after!.f4],
      ['field1', 'variant2', 'two,four'],
    );
    assert.equal(rows[2]!.operation, 'delete');
    assert.equal(rows[2]!.rows[0]!.before!.f2, 'field_2');
  });

  it('BIT (mysqlbinlog: b100, b00100000) and TIME (mysqlbinlog: -507:48:27)', async () => {
    assert.deepEqual(rowsOf(await read('mysql_type_bit.000001'))[0]!.rows[0]!.after, {
      a: 4n,
      b: 'foo',
      c: 32n,
    });
    assert.deepEqual(rowsOf(await read('time_issue.000001'))[0]!.rows[0]!.after, { '@1': '-507:48:27' });
  });

  it('MINIMAL row metadata and images: absent columns stay absent (mysqlbinlog: @5=3230202323)', async () => {
    const rows = rowsOf(await read('minimal_row_metadata.000001'));
    assert.deepEqual(rows[0]!.rows[0]!.after, { '@1': 1, '@3': 'a', '@5': 3230202323 });
    const partialUpdate = rowsOf(await read('update-partial-row.binlog')).find(
      (r) => r.operation === 'update',
    )!;
    assert.deepEqual(partialUpdate.rows[0], { before: { '@1': 4, '@3': 4 }, after: { '@1': 4, '@3': 40 } });
    const fullUpdate = rowsOf(await read('update-full-row.binlog')).find((r) => r.operation === 'update')!;
    assert.deepEqual(fullUpdate.rows[0], {
      before: { '@1': 4, '@2': 4, '@3': 4 },
      after: { '@1': 4, '@2': 4, '@3': 40 },
    });
    const partialWrite = rowsOf(await read('write-partial-row.binlog')).filter((r) => r.map.table === 'ba');
    assert.deepEqual(partialWrite[1]!.rows[0]!.after, { '@1': 4, '@3': 40 });
    const fullWrite = rowsOf(await read('write-full-row.binlog'));
    assert.deepEqual(fullWrite[0]!.rows[0]!.after, {
      '@1': 2,
      '@2': 25769803786n,
      '@3': '',
      '@4': 0n,
      '@5': 0n,
    });
    assert.equal(fullWrite.find((r) => r.map.table === 'ba')!.rows.length, 5);
  });

  it('MySQL binary JSON with opaque DATE, DATETIME, TIME, DECIMAL values', async () => {
    const values = rowsOf(await read('json-opaque.binlog')).map((r) => r.rows[0]!.after!.a);
    assert.deepEqual(values, [
      '{"a": "base64:type15:VQ=="}',
      '{"b": "2012-03-18"}',
      '{"c": "2012-03-18 11:30:45.000000"}',
      '{"c": "87:31:46.654321"}',
      '{"d": 123.456}',
      '{"e": 9.00}',
      '{"e": [0, 1, true, false]}',
      '{"e": null}',
    ]);
  });

  it('MySQL binary JSON rows, and partial JSON updates decoded as their diffs', async () => {
    const rows = rowsOf(await read('json.binlog.000001'));
    assert.deepEqual(rows[0]!.rows[0]!.after, {
      '@1': 1,
      '@2': '{"age": 24, "data": "xxxxxxxxxx", "name": "Joe"}',
      '@3': 'Joe', // a generated column: json_col->>'$.name'
      '@4': 24,
    });
    const full = rows.find((r) => r.operation === 'update' && !r.partialJson)!;
    assert.equal(full.rows[0]!.after!['@2'], '{"age": 25, "data": "xxxxxxxxxx", "name": "Joe"}');
    const partial = rows.find((r) => r.partialJson)!;
    assert.equal(partial.rows.length, 6);
    // binlog_row_value_options=PARTIAL_JSON with a MINIMAL before image: the JSON column is a diff,
    // and the generated age column (json_col->>'$.age') agrees with each diff's value.
    for (const row of partial.rows) {
      const diffs = row.jsonDiffs!['@2']!;
      assert.equal(diffs.length, 1);
      assert.equal(diffs[0]!.operation, 'REPLACE');
      assert.equal(diffs[0]!.path, '$.age');
      assert.equal(diffs[0]!.value, String(row.after!['@4']));
      assert.equal('@2' in row.after!, false, 'the diffed column is not a value of the row');
    }
    assert.deepEqual(
      partial.rows.map((r) => [r.before!['@1'], r.after!['@3'], r.after!['@4']]),
      [
        [1, 'Joe', 26],
        [2, 'Sue', 34],
        [3, 'Pete', 42],
        [4, 'Joe', 26],
        [5, 'Sue', 34],
        [6, 'Pete', 42],
      ],
    );
  });

  it('MySQL 9 VECTOR as float32 lists', async () => {
    const rows = rowsOf(await read('vector.binlog'));
    assert.deepEqual(
      rows[0]!.rows.map((r) => r.after),
      [
        { id: 1n, vector_column: '[1.1,2.2,3.3]' },
        { id: 2n, vector_column: '[1,-1,0]' },
      ],
    );
    assert.deepEqual(rows[0]!.map.primaryKey, [0]);
  });

  it('a MariaDB binlog: ENUM label, TIMESTAMP in UTC, BLOB bytes (mysqlbinlog: @3=2, @5=1650493084)', async () => {
    const rows = rowsOf(await read('mariadb-bin.000001'));
    assert.deepEqual(rows[0]!.rows[0]!.after, {
      id: 62,
      topic: 'foo',
      event_type: 'JSON',
      event: Buffer.from('{"foo":1}'),
      created: '2022-04-20T22:18:04Z',
    });
    assert.deepEqual(rows[0]!.map.primaryKey, [0]);
  });

  it('statement-based transactions and savepoints are query events, nothing is invented', async () => {
    for (const name of ['binlog_transaction.000001', 'binlog_savepoint.000001']) {
      const events = await read(name);
      assert.equal(rowsOf(events).length, 0, name);
      assert.ok(events.some((e) => e.kind === 'query' && /^insert/i.test(e.sql)));
    }
  });
});
