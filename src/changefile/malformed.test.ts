/**
 * Bad input never crashes the reader and never costs the good lines around it: each bad line is a
 * dead letter with its file, line number, a code and a reason.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { columnFromSqlType, type TableSchema } from '../core/index.ts';
import { ChangeFileWriter, SchemaRegistry } from './index.ts';
import { readAll } from '../../test/support/read-all.ts';
import { binlogEvent } from '../../test/support/events.ts';
import { DATASTREAM_FIXTURES } from '../../test/support/paths.ts';

const schema: TableSchema = {
  database: 'shop',
  table: 'items',
  primaryKeys: ['id'],
  columns: [
    columnFromSqlType('id', 'int'),
    columnFromSqlType('price', 'decimal(8,2)'),
    columnFromSqlType('data', 'varbinary(8)'),
  ],
};

describe('malformed change files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tabletime-malformed-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('turns each bad line into a dead letter with file, line and reason, and keeps every good line', async () => {
    const writer = new ChangeFileWriter({ bucketDir: dir });
    for (let i = 1; i <= 3; i++) {
      await writer.write(
        binlogEvent(schema, { id: i, price: `${i}.50`, data: Uint8Array.of(i) }, { logPosition: 100 * i }),
        schema,
      );
    }
    const [file] = await writer.finalizeAll();
    const good = (await readFile(file!.path, 'utf8')).trim().split('\n');
    const tamper = (line: string, f: (o: Record<string, any>) => void) => {
      const o = JSON.parse(line) as Record<string, any>;
      f(o);
      return JSON.stringify(o);
    };
    const lines = [
      good[0]!, // 1 good
      '{"uuid": "x", "payload": {', // 2 not JSON
      '', // 3 blank: skipped, not a dead letter
      tamper(good[1]!, (o) => delete o.source_metadata), // 4
      tamper(good[1]!, (o) => (o.source_metadata.change_type = 'UPSERT')), // 5
      tamper(good[1]!, (o) => (o.source_metadata.log_file = '')), // 6 binlog change without coordinates
      tamper(good[1]!, (o) => (o.payload.id = 'twelve')), // 7 wrong type for INT
      tamper(good[1]!, (o) => (o.payload.price = '1.234')), // 8 more digits than the scale
      tamper(good[1]!, (o) => (o.payload.data = 'xyz')), // 9 not hex
      tamper(good[1]!, (o) => (o.payload.extra = 1)), // 10 a column the schema lacks
      '[1, 2, 3]', // 11 not an object
      good[1]!, // 12 good
      good[2]!.slice(0, 40), // 13 cut in the middle, no newline: a crash mid-write
    ];
    await writeFile(file!.path, lines.join('\n'));
    const {
      events,
      lines: lineNos,
      deadLetters,
    } = await readAll(file!.path, { registry: new SchemaRegistry(dir) });
    assert.deepEqual(
      events.map((e) => e.payload.id),
      [1, 2],
    );
    assert.deepEqual(lineNos, [1, 12]);
    assert.deepEqual(
      deadLetters.map((d) => [d.line, d.code]),
      [
        [2, 'MALFORMED_JSON'],
        [4, 'MALFORMED_EVENT'],
        [5, 'MALFORMED_EVENT'],
        [6, 'MALFORMED_EVENT'],
        [7, 'VALUE_TYPE'],
        [8, 'VALUE_TYPE'],
        [9, 'VALUE_TYPE'],
        [10, 'UNKNOWN_COLUMN'],
        [11, 'MALFORMED_EVENT'],
        [13, 'MALFORMED_JSON'],
      ],
    );
    for (const d of deadLetters) {
      assert.equal(d.file, file!.path);
      assert.equal(d.raw, lines[d.line - 1]);
      assert.ok(d.reason.length > 10, d.reason);
    }
    assert.match(deadLetters.find((d) => d.line === 7)!.reason, /column id \(int\) expects an integer/);
    assert.match(deadLetters.find((d) => d.line === 5)!.reason, /UPSERT/);
  });

  it('a schema_key that names another table is a dead letter, not a silent mislabel', async () => {
    const other: TableSchema = { ...schema, table: 'other' };
    const writer = new ChangeFileWriter({ bucketDir: dir });
    await writer.write(binlogEvent(other, { id: 1, price: '1.00', data: null }), other);
    const [file] = await writer.finalizeAll();
    const line = JSON.parse((await readFile(file!.path, 'utf8')).trim()) as Record<string, any>;
    line.source_metadata.table = 'items';
    await writeFile(file!.path, `${JSON.stringify(line)}\n`);
    const { events, deadLetters } = await readAll(file!.path, { registry: new SchemaRegistry(dir) });
    assert.equal(events.length, 0);
    assert.equal(deadLetters[0]!.code, 'SCHEMA_MISMATCH');
  });

  it('an Avro file cut short keeps the records before the cut and reports the rest', async () => {
    const src = join(DATASTREAM_FIXTURES, 'DataStreamToSpannerEventsIT__mysql-cdc-Users.avro');
    const cut = join(dir, 'cut.avro');
    await copyFile(src, cut);
    const size = (await readFile(src)).length;
    await truncate(cut, size - 40);
    const { events, deadLetters } = await readAll(cut);
    assert.equal(deadLetters.length, 1);
    assert.equal(deadLetters[0]!.code, 'MALFORMED_AVRO');
    assert.equal(deadLetters[0]!.file, cut);
    assert.match(deadLetters[0]!.reason, /unreadable after record \d+/);
    assert.ok(events.length < 4, 'the damaged block is not read as if whole');
  });

  it('an Avro file with a damaged sync marker is reported, not a crash', async () => {
    const src = join(
      DATASTREAM_FIXTURES,
      'SeparateShadowTableDatabaseIT__my_table-simpleTest-3-inserts.avro',
    );
    const bytes = await readFile(src);
    const damaged = join(dir, 'damaged.avro');
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0xff; // inside the trailing sync marker
    await writeFile(damaged, bytes);
    const { deadLetters } = await readAll(damaged);
    assert.equal(deadLetters.length, 1);
    assert.equal(deadLetters[0]!.code, 'MALFORMED_AVRO');
  });
});
