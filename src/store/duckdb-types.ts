/**
 * Source column -> DuckDB column, and the SQL that turns the staged text (change-file encoding)
 * into it and back. Values DuckDB cannot hold exactly stay exact: DECIMAL wider than 38 digits
 * and TIME (MySQL's range is ±838 h) are VARCHAR; an invalid date such as '0000-00-00' is NULL in
 * its typed column and kept as written in `_tt_raw`.
 */
import type { ColumnSchema } from '../core/index.ts';

export function duckdbType(c: ColumnSchema): string {
  switch (c.kind) {
    case 'int':
      return c.unsigned && /^int\b/.test(c.sqlType) ? 'BIGINT' : 'INTEGER';
    case 'year':
      return 'SMALLINT';
    case 'bigint':
      return c.unsigned ? 'UBIGINT' : 'BIGINT';
    case 'bit':
      return 'UBIGINT';
    case 'float':
      return 'FLOAT';
    case 'double':
      return 'DOUBLE';
    case 'decimal':
      return (c.precision ?? 10) <= 38 ? `DECIMAL(${c.precision ?? 10},${c.scale ?? 0})` : 'VARCHAR';
    case 'date':
      return 'DATE';
    case 'datetime':
      return 'TIMESTAMP';
    case 'timestamp':
      return 'TIMESTAMPTZ';
    case 'binary':
      return 'BLOB';
    case 'time':
    case 'enum':
    case 'set':
    case 'json':
    case 'string':
      return 'VARCHAR';
  }
}

export const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Staged text -> typed value. */
export function castIn(c: ColumnSchema, expr: string): string {
  const type = duckdbType(c);
  if (c.kind === 'binary') return `unhex(${expr})`;
  if (c.kind === 'timestamp') return `TRY_CAST(${expr} AS TIMESTAMPTZ)`;
  return type === 'VARCHAR' ? expr : `TRY_CAST(${expr} AS ${type})`;
}

/** Typed value -> the change-file text form (what decodeValue reads), for query output. */
export function castOut(c: ColumnSchema, expr: string): string {
  const fsp = c.fsp ?? 0;
  const frac = (text: string) => (fsp > 0 ? `substr(${text}, 1, ${20 + fsp})` : `substr(${text}, 1, 19)`);
  switch (c.kind) {
    case 'binary':
      return `lower(hex(${expr}))`;
    case 'date':
      return `strftime(${expr}, '%Y-%m-%d')`;
    case 'datetime':
      return frac(`strftime(${expr}, '%Y-%m-%d %H:%M:%S.%f')`);
    case 'timestamp':
      return `${frac(`strftime(${expr} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f')`)} || 'Z'`;
    case 'float':
      return `CAST(CAST(${expr} AS DOUBLE) AS VARCHAR)`;
    case 'int':
    case 'year':
    case 'bigint':
    case 'bit':
    case 'double':
    case 'decimal':
    case 'time':
    case 'enum':
    case 'set':
    case 'json':
    case 'string':
      return `CAST(${expr} AS VARCHAR)`;
  }
}
