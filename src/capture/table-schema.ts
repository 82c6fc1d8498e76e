/**
 * The table schema a table map event describes, as the change files need it (column names, SQL
 * types, key). The names and the key come from binlog_row_metadata=FULL; without them a rows event
 * cannot be decoded by column name, which preflight refuses.
 */
import { columnFromSqlType, ConfigError, type TableSchema } from '../core/index.ts';
import { maxBytesPerChar } from './binlog/charsets.ts';
import { type BinlogColumn, MysqlType, type TableMap } from './binlog/index.ts';

const BINARY = 63;
const quote = (label: string) => `'${label.replaceAll("'", "''")}'`;

/** The column's declaration, rebuilt from its binlog type and metadata. */
export function sqlTypeOf(col: BinlogColumn): string {
  const u = col.unsigned ? ' unsigned' : '';
  const chars = (bytes: number) => Math.max(1, Math.floor(bytes / maxBytesPerChar(col.collation)));
  switch (col.type) {
    case MysqlType.TINY:
      return `tinyint${u}`;
    case MysqlType.SHORT:
      return `smallint${u}`;
    case MysqlType.INT24:
      return `mediumint${u}`;
    case MysqlType.LONG:
      return `int${u}`;
    case MysqlType.LONGLONG:
      return `bigint${u}`;
    case MysqlType.FLOAT:
      return `float${u}`;
    case MysqlType.DOUBLE:
      return `double${u}`;
    case MysqlType.NEWDECIMAL:
    case MysqlType.DECIMAL:
      return `decimal(${col.meta},${col.meta2})${u}`;
    case MysqlType.YEAR:
      return 'year';
    case MysqlType.DATE:
    case MysqlType.NEWDATE:
      return 'date';
    case MysqlType.TIME:
      return 'time';
    case MysqlType.TIME2:
      return `time(${col.meta})`;
    case MysqlType.DATETIME:
      return 'datetime';
    case MysqlType.DATETIME2:
      return `datetime(${col.meta})`;
    case MysqlType.TIMESTAMP:
      return 'timestamp';
    case MysqlType.TIMESTAMP2:
      return `timestamp(${col.meta})`;
    case MysqlType.BIT:
      return `bit(${col.meta})`;
    case MysqlType.ENUM:
      return col.labels ? `enum(${col.labels.map(quote).join(',')})` : 'enum';
    case MysqlType.SET:
      return col.labels ? `set(${col.labels.map(quote).join(',')})` : 'set';
    case MysqlType.VARCHAR:
    case MysqlType.VAR_STRING:
      return col.collation === BINARY ? `varbinary(${col.meta})` : `varchar(${chars(col.meta)})`;
    case MysqlType.STRING:
      return col.collation === BINARY ? `binary(${col.meta})` : `char(${chars(col.meta)})`;
    case MysqlType.BLOB:
    case MysqlType.TINY_BLOB:
    case MysqlType.MEDIUM_BLOB:
    case MysqlType.LONG_BLOB: {
      const size = ['tiny', '', 'medium', 'long'][(col.meta || 4) - 1] ?? 'long';
      return col.collation === undefined || col.collation === BINARY ? `${size}blob` : `${size}text`;
    }
    case MysqlType.JSON:
      return 'json';
    case MysqlType.GEOMETRY:
      return 'geometry';
    case MysqlType.VECTOR:
      return `vector(${Math.floor((col.meta || 4) / 4)})`;
    default:
      return 'longtext';
  }
}

/** The TableSchema of a table map; the same columns give the same (cached) object. */
export class TableSchemas {
  readonly #cache = new Map<string, TableSchema>();

  of(map: TableMap): TableSchema {
    if (!map.hasNames) {
      throw new ConfigError(
        'BINLOG_ROW_METADATA',
        `the binlog gives no column names for ${map.database}.${map.table}: set binlog_row_metadata=FULL on the server (SET GLOBAL binlog_row_metadata=FULL) and restart capture`,
      );
    }
    const signature = JSON.stringify([
      map.database,
      map.table,
      map.primaryKey,
      map.columns.map((c) => [
        c.name,
        c.type,
        c.meta,
        c.meta2,
        c.unsigned,
        c.collation,
        c.nullable,
        c.labels,
      ]),
    ]);
    let schema = this.#cache.get(signature);
    if (!schema) {
      schema = {
        database: map.database,
        table: map.table,
        primaryKeys: (map.primaryKey ?? []).map((i) => map.columns[i]!.name),
        columns: map.columns.map((c) => columnFromSqlType(c.name, sqlTypeOf(c), c.nullable)),
      };
      this.#cache.set(signature, schema);
    }
    return schema;
  }
}
