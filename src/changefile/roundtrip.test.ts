/**
 * Writer -> file -> reader gives back every value exactly, for every MySQL type of
 * ARCHITECTURE.md contract 2 at its edges, and the writer's files follow Datastream's layout:
 * visible only when complete, rotated by size, age and schema change.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  columnFromSqlType,
  objectName,
  type Row,
  type TableSchema,
  valuesEqual,
  versionId,
} from '../core/index.ts';
import { ChangeFileWriter, META_DIR, SchemaRegistry } from './index.ts';
import { readAll } from '../../test/support/read-all.ts';
import { binlogEvent } from '../../test/support/events.ts';

const TYPES: [string, string][] = [
  ['id', 'int'],
  ['c_tinyint', 'tinyint(4)'],
  ['c_tinyint_u', 'tinyint(3) unsigned'],
  ['c_smallint', 'smallint(6)'],
  ['c_smallint_u', 'smallint(5) unsigned'],
  ['c_mediumint', 'mediumint(9)'],
  ['c_mediumint_u', 'mediumint(8) unsigned'],
  ['c_int', 'int(11)'],
  ['c_int_u', 'int(10) unsigned'],
  ['c_bigint', 'bigint(20)'],
  ['c_bigint_u', 'bigint(20) unsigned'],
  ['c_float', 'float'],
  ['c_double', 'double'],
  ['c_decimal', 'decimal(65,30)'],
  ['c_decimal_small', 'decimal(10,2)'],
  ['c_date', 'date'],
  ['c_datetime', 'datetime'],
  ['c_datetime6', 'datetime(6)'],
  ['c_timestamp6', 'timestamp(6)'],
  ['c_time6', 'time(6)'],
  ['c_year', 'year(4)'],
  ['c_bit1', 'bit(1)'],
  ['c_bit64', 'bit(64)'],
  ['c_enum', "enum('a','b,c','it''s')"],
  ['c_set', "set('x','y','z')"],
  ['c_json', 'longtext'],
  ['c_varchar', 'varchar(255)'],
  ['c_text', 'text'],
  ['c_blob', 'blob'],
  ['c_binary', 'binary(16)'],
  ['c_varbinary', 'varbinary(64)'],
];

const schema: TableSchema = {
  database: 'shop',
  table: 'every_type',
  primaryKeys: ['id'],
  columns: TYPES.map(([name, type]) => columnFromSqlType(name, type)),
};
// JSON is its own kind on MySQL; MariaDB declares it LONGTEXT. Exercise the MySQL one too.
const jsonSchema: TableSchema = {
  ...schema,
  columns: schema.columns.map((c) => (c.name === 'c_json' ? columnFromSqlType('c_json', 'json') : c)),
};

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);

const minRow: Row = {
  id: 1,
  c_tinyint: -128,
  c_tinyint_u: 0,
  c_smallint: -32768,
  c_smallint_u: 0,
  c_mediumint: -8388608,
  c_mediumint_u: 0,
  c_int: -2147483648,
  c_int_u: 0,
  c_bigint: -9223372036854775808n,
  c_bigint_u: 0n,
  c_float: -3.40282e38,
  c_double: -1.7976931348623157e308,
  c_decimal: '-99999999999999999999999999999999999.999999999999999999999999999999',
  c_decimal_small: '-0.01',
  c_date: '0000-00-00',
  c_datetime: '0000-00-00 00:00:00',
  c_datetime6: '1000-01-01 00:00:00.000000',
  c_timestamp6: '1970-01-01T00:00:01.000000Z',
  c_time6: '-838:59:59.000000',
  c_year: 0,
  c_bit1: 0n,
  c_bit64: 0n,
  c_enum: 'a',
  c_set: '',
  c_json: '{}',
  c_varchar: '',
  c_text: '',
  c_blob: new Uint8Array(0),
  c_binary: new Uint8Array(16),
  c_varbinary: new Uint8Array(0),
};

const maxRow: Row = {
  id: 2,
  c_tinyint: 127,
  c_tinyint_u: 255,
  c_smallint: 32767,
  c_smallint_u: 65535,
  c_mediumint: 8388607,
  c_mediumint_u: 16777215,
  c_int: 2147483647,
  c_int_u: 4294967295,
  c_bigint: 9223372036854775807n,
  c_bigint_u: 18446744073709551615n,
  c_float: 0.1,
  c_double: 5e-324,
  c_decimal: '99999999999999999999999999999999999.999999999999999999999999999999',
  c_decimal_small: '99999999.99',
  c_date: '9999-12-31',
  c_datetime: '9999-12-31 23:59:59',
  c_datetime6: '9999-12-31 23:59:59.999999',
  c_timestamp6: '2038-01-19T03:14:07.999999Z',
  c_time6: '838:59:59.000000',
  c_year: 2155,
  c_bit1: 1n,
  c_bit64: 18446744073709551615n,
  c_enum: "it's",
  c_set: 'x,z',
  c_json:
    '{"big": 12345678901234567890, "pi": 3.141592653589793238, "s": "é\\u0000😀", "a": [1, null, true]}',
  c_varchar: '😀 emoji 𝄞 ünïcödé 中文 "quotes" \\ back\\slash',
  c_text: 'line1\nline2\r\n\ttab \u0000 nul \u2028 sep',
  c_blob: allBytes,
  c_binary: Uint8Array.from([1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  c_varbinary: Uint8Array.from([0xff, 0x00, 0xfe]),
};

const midRow: Row = {
  ...maxRow,
  id: 3,
  c_bigint: 9007199254740993n, // 2^53 + 1: the first integer a double cannot hold
  c_bigint_u: 9007199254740993n,
  c_float: 1.1754944e-38, // FLT_MIN, in its shortest form (1.17549435e-38 is the same float32)
  c_double: 0.1,
  c_decimal: '0.000000000000000000000000000001',
  c_decimal_small: '0.00',
  c_date: '2024-02-29',
  c_datetime6: '2024-02-29 12:34:56.000001',
  c_timestamp6: '2024-03-10T02:30:00.500000Z',
  c_time6: '-00:00:00.000001',
  c_year: 1901,
  c_enum: 'b,c',
  c_set: 'x,y,z',
};

const nullRow: Row = Object.fromEntries(schema.columns.map((c) => [c.name, c.name === 'id' ? 4 : null]));

function assertRowsEqual(got: Row, want: Row, label: string) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${label}: columns`);
  for (const [name, value] of Object.entries(want)) {
    assert.ok(
      valuesEqual(got[name] ?? null, value),
      `${label}: ${name}: got ${String(got[name])}, want ${String(value)}`,
    );
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
  }
  return out.sort();
}

describe('change-file round trip', () => {
  let bucket: string;
  before(async () => {
    bucket = await mkdtemp(join(tmpdir(), 'tabletime-bucket-'));
  });
  after(async () => {
    await rm(bucket, { recursive: true, force: true });
  });

  for (const gzip of [false, true]) {
    it(`every type at its edges, NULL in every column${gzip ? ', gzipped' : ''}`, async () => {
      const dir = join(bucket, gzip ? 'gz' : 'plain');
      const writer = new ChangeFileWriter({ bucketDir: dir, gzip });
      const rows = [minRow, maxRow, midRow, nullRow];
      const written = rows.map((row, i) =>
        binlogEvent(schema, row, {
          changeType: i === 3 ? 'DELETE' : 'INSERT',
          logPosition: 4000 + i,
          before: i === 2 ? maxRow : undefined,
        }),
      );
      for (const e of written) await writer.write(e, schema);
      const jsonEvent = binlogEvent(jsonSchema, maxRow, { logPosition: 5000 });
      for (const f of await writer.finalizeAll()) assert.equal(f.events, 4);
      await writer.write(jsonEvent, jsonSchema); // another schema: another file
      const files = await writer.finalizeAll();
      assert.equal(files.length, 1);

      const objectFiles = (await listFiles(dir)).filter((f) => !f.startsWith(`${META_DIR}/`));
      assert.equal(objectFiles.length, 2);
      for (const f of objectFiles) {
        assert.match(
          f,
          new RegExp(
            `^shop_every_type/\\d{4}/\\d{2}/\\d{2}/\\d{2}/\\d{2}/tt_[0-9-]+_[0-9a-f]{8}\\.jsonl${gzip ? '\\.gz' : ''}$`,
          ),
        );
      }
      const registry = new SchemaRegistry(dir);
      const [first, second] = objectFiles.sort();
      // Files are named by their first position: the every-type file (4000…) sorts before the JSON one (5000).
      const read = await readAll(join(dir, first!), { registry });
      assert.deepEqual(read.deadLetters, []);
      assert.equal(read.events.length, 4);
      read.events.forEach((got, i) => {
        const want = written[i]!;
        assertRowsEqual(got.payload, want.payload, `row ${i}`);
        assert.equal(got.changeType, want.changeType);
        assert.deepEqual(got.position, want.position);
        assert.equal(got.commitTimestampUs, want.commitTimestampUs);
        assert.equal(got.sourceTimestampMs, want.sourceTimestampMs);
        assert.equal(got.readTimestampMs, want.readTimestampMs);
        assert.equal(versionId(got), versionId(want), 'the version id survives the round trip');
      });
      assertRowsEqual(read.events[2]!.before!, maxRow, 'before-image');
      assert.equal(read.events[0]!.before, null);
      const json = await readAll(join(dir, second!), { registry });
      assert.deepEqual(json.deadLetters, []);
      assertRowsEqual(json.events[0]!.payload, maxRow, 'json column');
      assert.notEqual(json.events[0]!.schemaKey, read.events[0]!.schemaKey);
    });
  }

  it('lines are Datastream envelopes that a plain JSON.parse reads without losing digits', async () => {
    const dir = join(bucket, 'envelope');
    const writer = new ChangeFileWriter({ bucketDir: dir });
    await writer.write(
      binlogEvent(schema, maxRow, { logFile: 'mariadb-bin.000007', logPosition: 777, rowIndex: 2 }),
      schema,
    );
    const [file] = await writer.finalizeAll();
    const line = JSON.parse((await readFile(file!.path, 'utf8')).trim()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(line), [
      'uuid',
      'read_timestamp',
      'source_timestamp',
      'object',
      'read_method',
      'stream_name',
      'schema_key',
      'sort_keys',
      'source_metadata',
      'payload',
    ]);
    assert.equal(line.object, 'shop_every_type');
    assert.equal(line.read_method, 'mysql-cdc-binlog');
    assert.match(line.read_timestamp as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$/);
    assert.match(line.schema_key as string, /^[0-9a-f]{40}$/);
    const meta = line.source_metadata as Record<string, unknown>;
    assert.equal(meta.log_file, 'mariadb-bin.000007');
    assert.equal(meta.log_position, 777);
    assert.equal(meta.row_index, 2);
    assert.equal(meta.change_type, 'INSERT');
    assert.equal(meta.is_deleted, false);
    assert.match(meta.commit_timestamp as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    assert.deepEqual((line.sort_keys as unknown[]).slice(1), ['mariadb-bin.000007', 777]);
    const payload = line.payload as Record<string, unknown>;
    assert.equal(payload.c_bigint_u, '18446744073709551615');
    assert.equal(payload.c_bit64, '18446744073709551615');
    assert.equal(payload.c_decimal, '99999999999999999999999999999999999.999999999999999999999999999999');
    assert.equal(payload.c_float, 0.1);
    assert.equal(payload.c_blob, Buffer.from(allBytes).toString('hex'));
  });

  it('a file is visible only when complete', async () => {
    const dir = join(bucket, 'visible');
    const writer = new ChangeFileWriter({ bucketDir: dir, bufferBytes: 1 });
    await writer.write(binlogEvent(schema, minRow), schema);
    await writer.write(binlogEvent(schema, maxRow), schema);
    const before = await listFiles(dir);
    assert.ok(
      before.every((f) => f.startsWith(`${META_DIR}/`)),
      `only tabletime's own files before finalize: ${before.join(', ')}`,
    );
    assert.ok(
      before.some((f) => f.startsWith(`${META_DIR}/tmp/`)),
      'the open file is under _tabletime/tmp/',
    );
    const [file] = await writer.finalizeAll();
    assert.equal(file!.events, 2);
    const afterFiles = await listFiles(dir);
    assert.ok(!afterFiles.some((f) => f.startsWith(`${META_DIR}/tmp/`)), 'the temp file is gone');
    assert.ok(afterFiles.includes(file!.objectPath));
  });

  it('rotates by size, by age and on schema change, keeping source order across files', async () => {
    const dir = join(bucket, 'rotate');
    let now = 1_000_000;
    const writer = new ChangeFileWriter({
      bucketDir: dir,
      maxFileBytes: 4000,
      maxFileAgeMs: 500,
      now: () => now,
    });
    const events = Array.from({ length: 12 }, (_, i) =>
      binlogEvent(schema, { ...maxRow, id: 100 + i }, { logPosition: 10_000 + i }),
    );
    const done = [];
    for (const e of events) done.push(...(await writer.write(e, schema)));
    assert.ok(done.length >= 3, `size rotation made ${done.length} files`);
    assert.ok(done.every((f) => f.bytes >= 4000));
    done.push(...(await writer.finalizeAll()));
    const registry = new SchemaRegistry(dir);
    const ids: number[] = [];
    for (const f of done.sort((a, b) => (a.objectPath < b.objectPath ? -1 : 1))) {
      for (const e of (await readAll(f.path, { registry })).events) ids.push(e.payload.id as number);
    }
    assert.deepEqual(
      ids,
      events.map((e) => e.payload.id),
      'every event once, in order, across the rotated files',
    );

    // Age: a file older than maxFileAgeMs is closed by finalizeExpired or by the next write.
    await writer.write(binlogEvent(schema, minRow), schema);
    now += 499;
    assert.deepEqual(await writer.finalizeExpired(), []);
    now += 1;
    const aged = await writer.finalizeExpired();
    assert.equal(aged.length, 1);
    await writer.write(binlogEvent(schema, minRow), schema);
    now += 600;
    const byWrite = await writer.write(binlogEvent(schema, maxRow), schema);
    assert.equal(byWrite.length, 1, 'the next write closes the aged file first');
    assert.equal(byWrite[0]!.events, 1);

    // Schema change: the open file closes and the next one names another schema key.
    const altered: TableSchema = {
      ...schema,
      columns: [...schema.columns, columnFromSqlType('c_new', 'int')],
    };
    const bySchema = await writer.write(binlogEvent(altered, { ...maxRow, c_new: 5 }), altered);
    assert.equal(bySchema.length, 1);
    const [last] = await writer.finalizeAll();
    assert.notEqual(last!.schemaKey, bySchema[0]!.schemaKey);
    const lastRead = await readAll(last!.path, { registry });
    assert.equal(lastRead.events[0]!.payload.c_new, 5);
  });

  it('keeps every byte of lines of any size and script across flushes, plain and gzipped', async () => {
    // Sizes around the buffer's: tiny, across a flush, beyond its whole room (written by itself).
    const texts = [
      'é',
      '中文'.repeat(40),
      '😀'.repeat(300),
      'x'.repeat(5_000),
      'ü'.repeat(200_000),
      '𝄞'.repeat(90_000),
      'a',
    ];
    for (const [gzip, bufferBytes] of [
      [false, 1000],
      [false, 100_000],
      [true, 1000],
      [true, 100_000],
    ] as const) {
      const dir = join(bucket, `sizes-${gzip}-${bufferBytes}`);
      const writer = new ChangeFileWriter({ bucketDir: dir, bufferBytes, gzip });
      const rows = texts.map((t, i) => ({ ...maxRow, id: i, c_text: t }));
      for (const [i, row] of rows.entries())
        await writer.write(binlogEvent(schema, row, { logPosition: 20_000 + i }), schema);
      const [file] = await writer.finalizeAll();
      const raw = await readFile(file!.path);
      const text = gzip ? gunzipSync(raw) : raw;
      assert.equal(file!.bytes, text.length, 'the byte count is the file content');
      const read = await readAll(file!.path, { registry: new SchemaRegistry(dir) });
      assert.deepEqual(
        read.events.map((e) => e.payload.c_text),
        texts,
      );
    }
  });

  it('gzip files are valid multi-member gzip', async () => {
    const dir = join(bucket, 'gzip-members');
    const writer = new ChangeFileWriter({ bucketDir: dir, gzip: true, bufferBytes: 1 });
    for (let i = 0; i < 3; i++) await writer.write(binlogEvent(schema, { ...minRow, id: i }), schema);
    const [file] = await writer.finalizeAll();
    const text = gunzipSync(await readFile(file!.path)).toString('utf8');
    assert.equal(text.trim().split('\n').length, 3);
  });

  it('lines formatted while the buffer before is being written, and files settling in the background, arrive whole and in order', async () => {
    // A buffer is written out while the next lines go into the other one, and a completed file is
    // synced and moved while the next is written: a buffer reused before its write is done, or a
    // file published before its last write, shows here as lines cut or out of order.
    const dir = join(bucket, 'in-flight');
    const writer = new ChangeFileWriter({ bucketDir: dir, bufferBytes: 700, maxFileBytes: 60_000 });
    const events = Array.from({ length: 3_000 }, (_, i) =>
      binlogEvent(
        schema,
        { ...minRow, id: i, c_text: `row ${i} ${'x'.repeat(i % 97)}` },
        { logPosition: 50_000 + i },
      ),
    );
    const files = [];
    for (const e of events) files.push(...(await writer.write(e, schema)));
    files.push(...(await writer.finalizeAll()));
    assert.ok(files.length >= 10, `rotated into ${files.length} files`);
    const registry = new SchemaRegistry(dir);
    const texts: unknown[] = [];
    for (const f of files.sort((a, b) => (a.objectPath < b.objectPath ? -1 : 1))) {
      const read = await readAll(f.path, { registry });
      assert.deepEqual(read.deadLetters, [], f.objectPath);
      assert.equal((await readFile(f.path)).length, f.bytes, 'the byte count is the file content');
      texts.push(...read.events.map((e) => e.payload.c_text));
    }
    assert.deepEqual(
      texts,
      events.map((e) => e.payload.c_text),
    );
  });

  it('a file that cannot be put in its place fails the next finalize, not the process', async () => {
    // The folder of the table's files is taken by a file: the move of a completed file fails in
    // the background, and the writer's next call says so.
    const dir = join(bucket, 'blocked');
    const writer = new ChangeFileWriter({ bucketDir: dir, maxFileBytes: 2_000 });
    await writer.write(binlogEvent(schema, minRow), schema);
    await writeFile(join(dir, objectName(schema.database, schema.table)), 'in the way');
    let completed = 0;
    for (let i = 0; i < 40 && completed === 0; i++)
      completed += (await writer.write(binlogEvent(schema, { ...maxRow, id: i }), schema)).length;
    assert.ok(completed > 0, 'a file was completed by size');
    await assert.rejects(writer.finalizeAll(), /ENOTDIR|EEXIST/);
    await assert.rejects(writer.write(binlogEvent(schema, minRow), schema), /ENOTDIR|EEXIST/);
    await writer.abort();
  });
});
