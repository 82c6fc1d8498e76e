/**
 * rowJson writes a row's payload without building an object: it must give, byte for byte, the
 * JSON.stringify of the object {column: encodeValue(…)} — key order included (integer-like column
 * names come first in such an object) — for any column names and values.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { columnFromSqlType, type Row, type TableSchema, type Value } from '../core/index.ts';
import { rowJson } from './line-format.ts';
import { encodeValue } from './value-encoding.ts';

const KINDS: [string, fc.Arbitrary<Value>][] = [
  ['int', fc.integer()],
  ['bigint(20) unsigned', fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })],
  ['double', fc.double({ noNaN: true })],
  ['float', fc.float({ noNaN: true, noDefaultInfinity: true }).map((f) => Math.fround(f))],
  ['decimal(30,8)', fc.constantFrom('0.00000000', '-12.50000000', '123456789012345678901.12345678')],
  ['varchar(50)', fc.string({ unit: 'binary' })],
  ['json', fc.constantFrom('{"a": [1, "\\"x\\""]}', 'null', '"\u2028"')],
  ['varbinary(8)', fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b))],
];

const NAME = fc.oneof(
  fc.constantFrom(
    'id',
    '0',
    '1',
    '10',
    '2',
    '007',
    '-1',
    '4294967295',
    '__proto__',
    'a"b',
    'ü\\n',
    'constructor',
  ),
  fc.string({ minLength: 1, maxLength: 6 }),
);

const schemaAndRow = fc
  .uniqueArray(fc.tuple(NAME, fc.integer({ min: 0, max: KINDS.length - 1 })), {
    minLength: 0,
    maxLength: 12,
    selector: ([n]) => n,
  })
  .chain((cols) =>
    fc.tuple(...cols.map(([, k]) => fc.option(KINDS[k]![1], { nil: null, freq: 4 }))).map((values) => {
      const schema: TableSchema = {
        database: 'd',
        table: 't',
        primaryKeys: [],
        columns: cols.map(([n, k]) => columnFromSqlType(n, KINDS[k]![0])),
      };
      const row: Row = Object.fromEntries(cols.map(([n], i) => [n, values[i] ?? null]));
      return { schema, row };
    }),
  );

describe('rowJson', () => {
  it('is JSON.stringify of the encoded row, byte for byte', () => {
    fc.assert(
      fc.property(schemaAndRow, ({ schema, row }) => {
        const reference = JSON.stringify(
          Object.fromEntries(schema.columns.map((c) => [c.name, encodeValue(row[c.name], c)])),
        );
        assert.equal(rowJson(row, schema), reference);
      }),
      { numRuns: 2000 },
    );
  });
});
