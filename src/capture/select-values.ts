/**
 * Reading rows with SELECT (the snapshot, and verify) in the same exact forms the binlog decoder
 * gives (src/core/values.ts): the two paths must agree value for value. The connection runs with
 * time_zone '+00:00' so TIMESTAMP text is UTC; temporal values stay text (no Date objects); FLOAT
 * is selected widened to DOUBLE so its float32 value is not rounded to 6 digits by the server.
 */
import type { Connection } from 'mysql2/promise';
import {
  columnFromSqlType,
  type ColumnSchema,
  normalizeDecimal,
  type Row,
  shortestFloat32,
  type TableSchema,
  type Value,
} from '../core/index.ts';

const ident = (name: string) => `\`${name.replaceAll('`', '``')}\``;

/** A spatial type's declaration: GEOMETRY or one of its subtypes. */
const SPATIAL =
  /^(geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|geometrycollection)\b/i;

/**
 * A column's declaration as information_schema gives it, written as the binlog path rebuilds it
 * (table-schema.ts sqlTypeOf), so that a snapshot and the stream after it have one schema: no
 * display width (`int(11)`, `bigint(20) unsigned`, `year(4)`), no `zerofill`, no (M,D) on FLOAT
 * and DOUBLE, and every spatial type as `geometry`. None of these changes a stored value.
 */
export function declaredType(columnType: string): string {
  return columnType
    .replace(/^(tinyint|smallint|mediumint|int|bigint|year)\(\d+\)/i, '$1')
    .replace(/^(float|double)\(\d+,\d+\)/i, '$1')
    .replace(/ zerofill/i, '')
    .replace(SPATIAL, 'geometry');
}

/** The table's columns and primary key from information_schema. */
export async function readTableSchema(
  conn: Connection,
  database: string,
  table: string,
): Promise<TableSchema | null> {
  const [cols] = (await conn.query(
    `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_KEY AS k
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [database, table],
  )) as unknown as [{ name: string; type: string; nullable: string }[]];
  if (cols.length === 0) return null;
  const [keys] = (await conn.query(
    `SELECT COLUMN_NAME AS name FROM information_schema.KEY_COLUMN_USAGE
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
    [database, table],
  )) as unknown as [{ name: string }[]];
  return {
    database,
    table,
    primaryKeys: keys.map((k) => k.name),
    columns: cols.map((c) => columnFromSqlType(c.name, declaredType(c.type), c.nullable === 'YES')),
  };
}

/** The select-list for `schema`, each column in a form that reads back exactly. */
export function selectList(schema: TableSchema): string {
  return schema.columns
    .map((c) => {
      const id = ident(c.name);
      if (c.kind === 'float') return `CAST(${id} AS DOUBLE) AS ${id}`;
      // The text protocol sends a DOUBLE rounded to 15 digits; CAST AS CHAR gives every digit.
      if (c.kind === 'double') return `CAST(${id} AS CHAR) AS ${id}`;
      if (c.kind === 'bit') return `CAST(${id} AS UNSIGNED) AS ${id}`;
      // mysql2 parses a geometry into an object ({x, y}), which was then written as the text
      // "[object Object]"; as bytes it is the server's own form (SRID and WKB), as the binlog has it.
      if (SPATIAL.test(c.sqlType)) return `CAST(${id} AS BINARY) AS ${id}`;
      return id;
    })
    .join(', ');
}

function utcTimestampText(text: string): string {
  return `${text.replace(' ', 'T')}Z`;
}

/** Converts one value as mysql2 returned it (dateStrings, bigNumberStrings) to our exact form. */
export function valueFromSelect(value: unknown, column: ColumnSchema): Value {
  if (value === null || value === undefined) return null;
  // mysql2 gives strings (dateStrings, bigNumberStrings, jsonStrings), numbers or Buffers.
  const raw = value as string | number | Buffer;
  switch (column.kind) {
    case 'int':
    case 'year':
      return Number(raw);
    case 'bigint':
    case 'bit':
      return BigInt(raw as string | number);
    case 'float':
      return shortestFloat32(Number(raw));
    case 'double':
      return Number(raw);
    case 'decimal':
      return normalizeDecimal(String(raw), column.scale);
    case 'timestamp':
      return utcTimestampText(String(raw));
    case 'binary':
      return Buffer.isBuffer(raw) ? Buffer.from(raw) : Buffer.from(String(raw), 'binary');
    case 'date':
    case 'datetime':
    case 'time':
    case 'enum':
    case 'set':
    case 'json':
    case 'string':
      return Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw);
  }
}

export function rowFromSelect(raw: Record<string, unknown>, schema: TableSchema): Row {
  const row: Row = {};
  for (const c of schema.columns) row[c.name] = valueFromSelect(raw[c.name], c);
  return row;
}

/** Prepares a connection for exact reads: UTC for TIMESTAMP text. */
export async function prepareExactReads(conn: Connection): Promise<void> {
  await conn.query("SET time_zone = '+00:00'");
}

export { ident };
