/**
 * The column model every part shares. A column's `kind` decides how its values are held in memory
 * and written to change files (docs/change-file-format.md has the table); `sqlType` keeps the
 * source's own declaration (e.g. `decimal(65,30) unsigned`) so stores can create faithful columns.
 */
export type ColumnKind =
  | 'int' // TINYINT, SMALLINT, MEDIUMINT, INT (signed or unsigned): a JS number
  | 'bigint' // BIGINT (signed or unsigned): a JS bigint
  | 'float' // FLOAT: a JS number holding the shortest decimal that reads back as the same float32
  | 'double' // DOUBLE: a JS number
  | 'decimal' // DECIMAL/NUMERIC: exact digits as a string, `scale` fraction digits
  | 'date' // 'YYYY-MM-DD' (zero dates allowed)
  | 'datetime' // 'YYYY-MM-DD HH:MM:SS[.ffffff]' wall clock, no zone
  | 'timestamp' // 'YYYY-MM-DDTHH:MM:SS[.ffffff]Z', an instant in UTC
  | 'time' // '[-]HHH:MM:SS[.ffffff]', may be negative or over 24 h
  | 'year' // a JS number (0 for YEAR 0000)
  | 'bit' // BIT(n): a JS bigint of the bits, big-endian
  | 'enum' // the label
  | 'set' // the labels joined by ',' in definition order, as MySQL shows them
  | 'json' // the JSON document as text
  | 'string' // CHAR, VARCHAR, TEXT types
  | 'binary'; // BINARY, VARBINARY, BLOB types, GEOMETRY: bytes (Uint8Array)

export interface ColumnSchema {
  readonly name: string;
  readonly kind: ColumnKind;
  /** The source's declaration, lower case, e.g. `bigint(20) unsigned`, `datetime(6)`. */
  readonly sqlType: string;
  readonly unsigned?: boolean;
  readonly precision?: number;
  readonly scale?: number;
  /** Fractional-second digits of DATETIME/TIMESTAMP/TIME (0–6). */
  readonly fsp?: number;
  /** ENUM/SET labels in definition order. */
  readonly labels?: readonly string[];
  /** BIT(n) width, BINARY(n)/CHAR(n) length. */
  readonly length?: number;
  readonly nullable?: boolean;
}

export interface TableSchema {
  readonly database: string;
  readonly table: string;
  readonly columns: readonly ColumnSchema[];
  readonly primaryKeys: readonly string[];
}

/**
 * The prefix of tabletime's own columns in a history table (`_tt_key`, `_tt_valid_to`, …;
 * docs/history-tables.md). A source column whose name starts with it, in any case (DuckDB's names
 * ignore case), could clash with one of them, now or when a later version adds one.
 */
export const RESERVED_PREFIX = '_tt_';

/** The first column of `schema` whose name starts with RESERVED_PREFIX, or undefined. */
export function reservedColumn(schema: TableSchema): string | undefined {
  // Read for every change apply reads: most names are ruled out by their first character.
  return schema.columns.find(
    (c) =>
      c.name.charCodeAt(0) === 95 &&
      c.name.slice(0, RESERVED_PREFIX.length).toLowerCase() === RESERVED_PREFIX,
  )?.name;
}

const KIND_BY_BASE: Record<string, ColumnKind> = {
  tinyint: 'int',
  smallint: 'int',
  mediumint: 'int',
  int: 'int',
  integer: 'int',
  bigint: 'bigint',
  float: 'float',
  double: 'double',
  real: 'double',
  'double precision': 'double',
  decimal: 'decimal',
  numeric: 'decimal',
  dec: 'decimal',
  fixed: 'decimal',
  date: 'date',
  datetime: 'datetime',
  timestamp: 'timestamp',
  time: 'time',
  year: 'year',
  bit: 'bit',
  bool: 'int',
  boolean: 'int',
  enum: 'enum',
  set: 'set',
  json: 'json',
  char: 'string',
  varchar: 'string',
  tinytext: 'string',
  text: 'string',
  mediumtext: 'string',
  longtext: 'string',
  binary: 'binary',
  varbinary: 'binary',
  tinyblob: 'binary',
  blob: 'binary',
  mediumblob: 'binary',
  longblob: 'binary',
  geometry: 'binary',
  point: 'binary',
  linestring: 'binary',
  polygon: 'binary',
  multipoint: 'binary',
  multilinestring: 'binary',
  multipolygon: 'binary',
  geometrycollection: 'binary',
  // MariaDB's own types: their text forms are what users see and what round-trips.
  uuid: 'string',
  inet4: 'string',
  inet6: 'string',
};

/** Splits `'a','b,c','it''s'` (the inside of ENUM(...)/SET(...)) into labels. */
function parseLabels(inside: string): string[] {
  const labels: string[] = [];
  let i = 0;
  while (i < inside.length) {
    const quote = inside[i];
    if (quote !== "'" && quote !== '"') {
      i++;
      continue;
    }
    let label = '';
    i++;
    while (i < inside.length) {
      const ch = inside[i]!;
      if (ch === quote) {
        if (inside[i + 1] === quote) {
          label += quote;
          i += 2;
          continue;
        }
        break;
      }
      if (ch === '\\' && i + 1 < inside.length) {
        label += inside[i + 1];
        i += 2;
        continue;
      }
      label += ch;
      i++;
    }
    labels.push(label);
    i++;
  }
  return labels;
}

/**
 * Builds a ColumnSchema from a MySQL/MariaDB column type as `information_schema.COLUMNS.COLUMN_TYPE`
 * or `SHOW COLUMNS` print it, e.g. `decimal(65,30) unsigned zerofill`, `enum('a','b')`.
 * An unknown type is kept as text ('string') rather than refused, so a new server type never
 * stops capture; the declaration is kept in `sqlType` for the docs and stores.
 */
export function columnFromSqlType(name: string, sqlType: string, nullable = true): ColumnSchema {
  const type = sqlType.trim();
  const lower = type.toLowerCase();
  const match = /^([a-z ]+?)\s*(?:\((.*)\))?\s*((?:unsigned|signed|zerofill|\s)*)$/s.exec(lower);
  const base = (match?.[1] ?? lower).trim();
  const args = match?.[2];
  const unsigned = /\bunsigned\b/.test(match?.[3] ?? '');
  const kind = KIND_BY_BASE[base] ?? 'string';
  const col: { -readonly [K in keyof ColumnSchema]: ColumnSchema[K] } = {
    name,
    kind,
    sqlType: lower,
    nullable,
  };
  if (unsigned) col.unsigned = true;
  if (kind === 'enum' || kind === 'set') {
    // Labels keep their case: read them from the original text, not the lower-cased one.
    const open = type.indexOf('(');
    const close = type.lastIndexOf(')');
    col.labels = parseLabels(type.slice(open + 1, close));
    col.sqlType = `${base}(${type.slice(open + 1, close)})`;
  } else if (args !== undefined) {
    const nums = args.split(',').map((s) => Number.parseInt(s.trim(), 10));
    if (kind === 'decimal') {
      col.precision = nums[0] ?? 10;
      col.scale = nums[1] ?? 0;
    } else if (kind === 'datetime' || kind === 'timestamp' || kind === 'time') {
      col.fsp = nums[0] ?? 0;
    } else if (kind === 'float' || kind === 'double') {
      if (nums.length === 2) {
        col.precision = nums[0];
        col.scale = nums[1];
      }
    } else {
      col.length = nums[0];
    }
  }
  if (kind === 'decimal' && col.precision === undefined) {
    col.precision = 10;
    col.scale = 0;
  }
  if ((kind === 'datetime' || kind === 'timestamp' || kind === 'time') && col.fsp === undefined) col.fsp = 0;
  if (kind === 'bit' && col.length === undefined) col.length = 1;
  return col;
}
