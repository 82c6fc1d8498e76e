/**
 * Every real Datastream Avro file in ../shared/datastream-fixtures/, read in place: each event's
 * envelope and every payload value are checked against what the file holds (decoded by hand from
 * the raw Avro: decimal bytes, timestamp-micros, time-interval-micros, hex strings).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ChangeEvent, Row } from '../core/index.ts';
import { versionId } from '../core/index.ts';
import { readAll } from '../../test/support/read-all.ts';
import { DATASTREAM_FIXTURES } from '../../test/support/paths.ts';

const file = (name: string) => join(DATASTREAM_FIXTURES, `${name}.avro`);

interface Expected {
  type: ChangeEvent['changeType'];
  /** [log file, position] of a binlog change; null for a backfill row. */
  at: [string, number] | null;
  sourceMs: number;
  payload: Row;
}

function check(events: readonly ChangeEvent[], expected: readonly Expected[], table: string, pk: string[]) {
  assert.equal(events.length, expected.length, 'event count');
  expected.forEach((want, i) => {
    const got = events[i]!;
    assert.equal(got.changeType, want.type, `event ${i} change type`);
    assert.equal(`${got.database}.${got.table}`, table);
    assert.deepEqual(got.primaryKeys, pk);
    assert.equal(got.position.snapshot, want.at === null, `event ${i} snapshot`);
    if (want.at) {
      assert.equal(got.position.logFile, want.at[0]);
      assert.equal(got.position.logPosition, want.at[1]);
      assert.equal(got.readMethod, 'mysql-cdc-binlog');
    } else {
      assert.equal(got.readMethod, 'mysql-backfill-fulldump');
    }
    assert.equal(got.sourceTimestampMs, want.sourceMs, `event ${i} source timestamp`);
    assert.equal(got.commitTimestampUs, null, 'Datastream files carry no commit timestamp');
    assert.deepEqual(got.payload, want.payload, `event ${i} payload`);
  });
}

// The two rows the DataStreamToSpannerDDLIT files revolve around, as Datastream wrote them.
const hex = (s: string) => Buffer.from(s).toString('hex');
function allTypes(n: 1 | 2, text: (s: string) => string, extra: Row = {}, withOtherBool = true): Row {
  const one = n === 1;
  const row: Row = {
    varchar_column: `value${n}`,
    tinyint_column: one ? 10 : 5,
    text_column: text(`text${n}`),
    date_column: one ? '2024-02-08 00:00:00.000000' : '2024-02-09 00:00:00.000000',
    smallint_column: one ? 50 : 25,
    mediumint_column: one ? 1000 : 500,
    int_column: one ? 50000 : 25000,
    bigint_column: one ? 987654321n : 987654n,
    float_column: one ? 45.67 : 12.34, // float32 45.66999816894531 read back as what was stored
    double_column: one ? 123.789 : 56.789,
    decimal_column: one ? '456.12' : '123.45', // decimal(10,2) bytes 00b22c / 3039
    datetime_column: one ? '2024-02-08 08:15:30.000000' : '2024-02-09 15:30:45.000000',
    timestamp_column: one ? '2024-02-08 08:15:30.000000' : '2024-02-09 15:30:45.000000',
    time_column: one ? '08:15:30.000000' : '15:30:45.000000', // 29730000000 / 55845000000 µs
    year_column: one ? 2022 : 2023,
    char_column: text(`char${n}`),
    tinyblob_column: hex(`tinyblob_data_${n}`),
    tinytext_column: text(`tinytext_data_${n}`),
    blob_column: hex(`blob_data_${n}`),
    mediumblob_column: hex(`mediumblob_data_${n}`),
    mediumtext_column: `mediumtext_data_${n}`,
    longblob_column: hex(`longblob_data_${n}`),
    longtext_column: `longtext_data_${n}`,
    enum_column: one ? '2' : '3',
    bool_column: one ? 0 : 1,
  };
  if (withOtherBool) row.other_bool_column = one ? 1 : 0;
  return { ...row, ...extra };
}
// The first files' text columns end in a newline and use 'text_data_N'; the later ones do not.
const firstText = (s: string) =>
  `${s.replace(/^(text|char)(\d)$/, (_m, w: string, d: string) => (w === 'text' ? `text_data_${d}` : `char${d}`))}\n`;
const laterText = (s: string) =>
  s.replace(/^char(\d)$/, 'char_$1').replace(/^tinytext_data_(\d)\n?$/, 'tinytext_data_$1');
const bin1 = {
  binary_column: '62696e6172795f31000000000000000000000000',
  varbinary_column: hex('varbinary_data_1'),
  bit_column: 102n,
};
const bin2 = {
  binary_column: '62696e6172795f32000000000000000000000000',
  varbinary_column: hex('varbinary_data_2'),
  bit_column: 25n,
};

describe('real Datastream Avro files', () => {
  it('reads every file in the fixtures folder without a dead letter', async () => {
    const names = readdirSync(DATASTREAM_FIXTURES).filter((n) => n.endsWith('.avro'));
    assert.equal(names.length, 16);
    for (const name of names) {
      const { events, deadLetters } = await readAll(join(DATASTREAM_FIXTURES, name));
      assert.deepEqual(deadLetters, [], name);
      assert.ok(events.length > 0, name);
    }
  });

  it('DDLIT backfill AllDatatypeColumns: 29 columns of every kind', async () => {
    const { events } = await readAll(file('DataStreamToSpannerDDLIT__mysql-backfill-AllDatatypeColumns'));
    const t1 = (s: string) => (s.startsWith('tinytext') ? `${s}\n` : firstText(s));
    check(
      events,
      [
        { type: 'INSERT', at: null, sourceMs: 1714995568000, payload: allTypes(1, t1, bin1) },
        { type: 'INSERT', at: null, sourceMs: 1714995568000, payload: allTypes(2, t1, bin2) },
      ],
      'l1.AllDatatypeColumns',
      ['varchar_column'],
    );
  });

  it('DDLIT backfill AllDatatypeColumns2 (a column dropped)', async () => {
    const { events } = await readAll(file('DataStreamToSpannerDDLIT__mysql-backfill-AllDatatypeColumns2'));
    const b1 = { ...bin1, binary_column: '62696e6172795f646174615f3100000000000000' };
    const b2 = { ...bin2, binary_column: '62696e6172795f646174615f3200000000000000' };
    check(
      events,
      [
        { type: 'INSERT', at: null, sourceMs: 1714997509000, payload: allTypes(1, laterText, b1, false) },
        { type: 'INSERT', at: null, sourceMs: 1714997509000, payload: allTypes(2, laterText, b2, false) },
      ],
      'l1.AllDatatypeColumns2',
      ['varchar_column'],
    );
  });

  it('DDLIT cdc AllDatatypeColumns2: an update then a delete', async () => {
    const { events } = await readAll(file('DataStreamToSpannerDDLIT__mysql-cdc-AllDatatypeColumns2'));
    const b1 = { ...bin1, binary_column: '62696e6172795f646174615f3100000000000000', tinyint_column: 15 };
    const b2 = { ...bin2, binary_column: '62696e6172795f646174615f3200000000000000' };
    check(
      events,
      [
        {
          type: 'UPDATE-INSERT',
          at: ['mysql-bin.000014', 51287],
          sourceMs: 1714997761000,
          payload: allTypes(1, laterText, b1, false),
        },
        {
          type: 'DELETE',
          at: ['mysql-bin.000014', 51888],
          sourceMs: 1714997794000,
          payload: allTypes(2, laterText, b2, false),
        },
      ],
      'l1.AllDatatypeColumns2',
      ['varchar_column'],
    );
  });

  it('DDLIT cdc1 and cdc2 AllDatatypeColumns: a delete, an update', async () => {
    const t1 = (s: string) => (s.startsWith('tinytext') ? `${s}\n` : firstText(s));
    const del = await readAll(file('DataStreamToSpannerDDLIT__mysql-cdc1-AllDatatypeColumns'));
    check(
      del.events,
      [
        {
          type: 'DELETE',
          at: ['mysql-bin.000014', 48351],
          sourceMs: 1714996408000,
          payload: allTypes(2, t1, bin2),
        },
      ],
      'l1.AllDatatypeColumns',
      ['varchar_column'],
    );
    const upd = await readAll(file('DataStreamToSpannerDDLIT__mysql-cdc2-AllDatatypeColumns'));
    check(
      upd.events,
      [
        {
          type: 'UPDATE-INSERT',
          at: ['mysql-bin.000014', 49214],
          sourceMs: 1714996445000,
          payload: allTypes(1, t1, { ...bin1, tinyint_column: 15 }),
        },
      ],
      'l1.AllDatatypeColumns',
      ['varchar_column'],
    );
  });

  it('EventsIT Users: backfill, then delete, inserts and an update', async () => {
    const user = (id: number, name: string, age: bigint, sub: bigint, plan: string, start: string): Row => ({
      id,
      name,
      age,
      subscribed: sub,
      plan,
      startDate: `${start} 00:00:00.000000`,
    });
    const backfill = await readAll(file('DataStreamToSpannerEventsIT__mysql-backfill-Users'));
    check(
      backfill.events,
      [
        {
          type: 'INSERT',
          at: null,
          sourceMs: 1715231499000,
          payload: user(1, 'Tester Kumar', 30n, 0n, 'A', '2023-01-01'),
        },
        {
          type: 'INSERT',
          at: null,
          sourceMs: 1715231499000,
          payload: user(2, 'Tester Yadav', 33n, 1n, 'B', '2024-01-01'),
        },
      ],
      'l1.Users',
      ['id'],
    );
    const cdc = await readAll(file('DataStreamToSpannerEventsIT__mysql-cdc-Users'));
    check(
      cdc.events,
      [
        {
          type: 'DELETE',
          at: ['mysql-bin.000014', 59424],
          sourceMs: 1715237813000,
          payload: user(2, 'Tester Yadav', 33n, 1n, 'B', '2024-01-01'),
        },
        {
          type: 'INSERT',
          at: ['mysql-bin.000014', 59734],
          sourceMs: 1715237813000,
          payload: user(4, 'Tester', 38n, 1n, 'D', '2023-09-10'),
        },
        {
          type: 'INSERT',
          at: ['mysql-bin.000014', 60050],
          sourceMs: 1715237814000,
          payload: user(3, 'Tester Gupta', 36n, 0n, 'C', '2023-06-07'),
        },
        {
          type: 'UPDATE-INSERT',
          at: ['mysql-bin.000014', 60409],
          sourceMs: 1715237814000,
          payload: user(3, 'Tester Gupta', 50n, 0n, 'Z', '2023-06-07'),
        },
      ],
      'l1.Users',
      ['id'],
    );
  });

  it('TimezoneIT DateData: backfill with sort_keys [ts, 0, 0]; DATETIME is wall clock', async () => {
    const { events } = await readAll(file('DataStreamToSpannerTimezoneIT__DateData'));
    check(
      events,
      [
        {
          type: 'INSERT',
          at: null,
          sourceMs: 1763583648000,
          payload: {
            id: 1n,
            timestamp_column: '2024-02-02 00:00:00.000000',
            datetime_column: '2024-02-02 10:00:00.000000',
          },
        },
        {
          type: 'INSERT',
          at: null,
          sourceMs: 1763583648000,
          payload: {
            id: 2n,
            timestamp_column: '2024-02-02 10:00:00.000000',
            datetime_column: '2024-02-02 20:00:00.000000',
          },
        },
      ],
      'test.DateData',
      ['id'],
    );
  });

  it('numbers: signed/unsigned limits, BIT, DECIMAL bytes, BIGINT UNSIGNED as a string', async () => {
    const { events } = await readAll(file('FormatDatastreamRecordToJsonTest__mysql_numbers_test'));
    check(
      events,
      [
        {
          type: 'INSERT',
          at: ['mysql-bin.000025', 78443180],
          sourceMs: 1628184910000,
          payload: {
            id: 1,
            bitty: 1n,
            booly: 1,
            tiny: 1,
            small: 1,
            medium: 1,
            inty: 1,
            big: 1n,
            floater: 1,
            doubler: 1,
            decimaler: '1.00',
            tinyu: 1,
            smallu: 1,
            mediumu: 1,
            intyu: 1n,
            bigu: 1n,
          },
        },
        {
          type: 'INSERT',
          at: ['mysql-bin.000025', 78443804],
          sourceMs: 1628184913000,
          payload: {
            id: 2,
            bitty: 0n,
            booly: 0,
            tiny: -1,
            small: -1,
            medium: -1,
            inty: -1,
            big: -1n,
            floater: 1.2, // float32 1.2000000476837158
            doubler: 1.3,
            decimaler: '11.22',
            tinyu: 255,
            smallu: 65535,
            mediumu: 16777215,
            intyu: 4294967295n,
            bigu: 0n,
          },
        },
      ],
      'user1.numbers',
      ['id'],
    );
  });

  it('people: the oldest backfill shape (null coordinates, no sort_keys) and a zoned timestamp record', async () => {
    const { events } = await readAll(file('FormatDatastreamRecordToJsonTest__mysql_people_test'));
    check(
      events,
      [
        {
          type: 'INSERT',
          at: null,
          sourceMs: 1623459160000,
          payload: {
            id: 1,
            email: 'dylan@email.com',
            first_name: 'Dylan',
            last_name: 'Person',
            gender: 'M',
            birth_date: '2020-01-01 00:00:00.000000',
            created_at: '2020-02-12 00:00:00.000000',
            datetime_at: '2020-02-12 00:00:00.000000',
            _0col: 1,
            timestamp_with_tz: '2020-10-13T14:30:00.056483Z',
          },
        },
      ],
      'test.people',
      ['id'],
    );
  });

  const alltypes = (id: bigint, val: number): Row => ({
    bool_field: 1,
    int64_field: id,
    float64_field: 3.14159265359,
    string_field: 'This is a test string for MySQL.',
    bytes_field: hex('This is some binary data'),
    timestamp_field: '2024-12-20 10:30:00.000000',
    date_field: '2024-12-20 00:00:00.000000',
    numeric_field: '12345.123400000', // decimal(38,9) bytes 0b3a52b1e940
    val,
  });
  const alltypesPk = [
    'bool_field',
    'bytes_field',
    'date_field',
    'float64_field',
    'int64_field',
    'numeric_field',
    'string_field',
    'timestamp_field',
  ];

  it('alltypes: inserts, a key change (UPDATE-DELETE + UPDATE-INSERT at one position), update and delete', async () => {
    const ins = await readAll(file('SeparateShadowTableDatabaseIT__alltypes-test-3-inserts'));
    check(
      ins.events,
      [
        {
          type: 'INSERT',
          at: ['mysql-bin.000131', 3382],
          sourceMs: 1737459076000,
          payload: alltypes(1n, 10),
        },
        {
          type: 'INSERT',
          at: ['mysql-bin.000131', 3802],
          sourceMs: 1737459076000,
          payload: alltypes(2n, 10),
        },
        {
          type: 'INSERT',
          at: ['mysql-bin.000131', 4222],
          sourceMs: 1737459076000,
          payload: alltypes(3n, 10),
        },
      ],
      'ea-main.alltypes',
      alltypesPk,
    );
    const pk = await readAll(file('SeparateShadowTableDatabaseIT__alltypes-test-pk-update'));
    check(
      pk.events,
      [
        {
          type: 'UPDATE-DELETE',
          at: ['mysql-bin.000131', 5700],
          sourceMs: 1737459529000,
          payload: alltypes(1n, 10),
        },
        {
          type: 'UPDATE-INSERT',
          at: ['mysql-bin.000131', 5700],
          sourceMs: 1737459530000,
          payload: alltypes(10n, 10),
        },
      ],
      'ea-main.alltypes',
      alltypesPk,
    );
    const ud = await readAll(file('SeparateShadowTableDatabaseIT__alltypes-test-update-delete'));
    check(
      ud.events,
      [
        {
          type: 'DELETE',
          at: ['mysql-bin.000131', 4634],
          sourceMs: 1737459389000,
          payload: alltypes(3n, 10),
        },
        {
          type: 'UPDATE-INSERT',
          at: ['mysql-bin.000131', 5167],
          sourceMs: 1737459389000,
          payload: alltypes(2n, 20),
        },
      ],
      'ea-main.alltypes',
      alltypesPk,
    );
  });

  it('my_table: inserts, a key change, update and delete', async () => {
    const at = (pos: number): [string, number] => ['mysql-bin.000131', pos];
    check(
      (await readAll(file('SeparateShadowTableDatabaseIT__my_table-simpleTest-3-inserts'))).events,
      [
        { type: 'INSERT', at: at(1062), sourceMs: 1737457282000, payload: { id: 1, val: 10 } },
        { type: 'INSERT', at: at(1352), sourceMs: 1737457282000, payload: { id: 2, val: 10 } },
        { type: 'INSERT', at: at(1642), sourceMs: 1737457282000, payload: { id: 3, val: 10 } },
      ],
      'ea-main.my_table',
      ['id'],
    );
    const pk = await readAll(file('SeparateShadowTableDatabaseIT__my_table-simpleTest-pk-update'));
    check(
      pk.events,
      [
        { type: 'UPDATE-DELETE', at: at(2550), sourceMs: 1737457695000, payload: { id: 1, val: 10 } },
        { type: 'UPDATE-INSERT', at: at(2550), sourceMs: 1737457696000, payload: { id: 10, val: 10 } },
      ],
      'ea-main.my_table',
      ['id'],
    );
    // The two halves of a key change get distinct ids, and the same ids on every read.
    const again = await readAll(file('SeparateShadowTableDatabaseIT__my_table-simpleTest-pk-update'));
    const ids = pk.events.map(versionId);
    assert.notEqual(ids[0], ids[1]);
    assert.deepEqual(again.events.map(versionId), ids);
    check(
      (await readAll(file('SeparateShadowTableDatabaseIT__my_table-simpleTest-update-delete'))).events,
      [
        { type: 'DELETE', at: at(1932), sourceMs: 1737457506000, payload: { id: 3, val: 10 } },
        { type: 'UPDATE-INSERT', at: at(2241), sourceMs: 1737457506000, payload: { id: 2, val: 20 } },
      ],
      'ea-main.my_table',
      ['id'],
    );
  });

  it('column hints give BLOB/BINARY bytes, DATE and TIMESTAMP their real types', async () => {
    const hints = {
      tinyblob_column: 'tinyblob',
      binary_column: 'binary(20)',
      date_column: 'date',
      timestamp_column: 'timestamp',
      datetime_column: 'datetime',
      bit_column: 'bit(8)',
      enum_column: "enum('1','2','3')",
    };
    const { events, deadLetters } = await readAll(
      file('DataStreamToSpannerDDLIT__mysql-backfill-AllDatatypeColumns'),
      {
        columnHints: (db, table) => (db === 'l1' && table === 'AllDatatypeColumns' ? hints : undefined),
      },
    );
    assert.deepEqual(deadLetters, []);
    const p = events[0]!.payload;
    assert.deepEqual(p.tinyblob_column, Buffer.from('tinyblob_data_1'));
    assert.deepEqual(p.binary_column, Buffer.concat([Buffer.from('binary_1'), Buffer.alloc(12)]));
    assert.equal(p.date_column, '2024-02-08');
    assert.equal(p.timestamp_column, '2024-02-08T08:15:30Z');
    assert.equal(p.datetime_column, '2024-02-08 08:15:30');
    assert.equal(p.bit_column, 102n);
    assert.equal(p.blob_column, hex('blob_data_1'), 'a column without a hint stays as Datastream wrote it');
  });
});
