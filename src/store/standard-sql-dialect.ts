import type { ColumnSchema, TableSchema } from '../core/index.ts';
import type { SqlDialect, SqlParam } from './sql-dialect.ts';

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * What DuckDB and PostgreSQL say alike (schemas, double-quoted names, PRIMARY KEY, BEGIN/COMMIT,
 * now(), md5()). Each concrete dialect adds its connection, types, casts and loading.
 */
export abstract class StandardSqlDialect implements SqlDialect {
  readonly skipExistingKey = 'ON CONFLICT DO NOTHING';
  abstract readonly name: string;
  abstract readonly textType: string;
  abstract run(sql: string): Promise<void>;
  abstract rows(sql: string, params?: readonly SqlParam[]): Promise<Record<string, unknown>[]>;
  abstract change(sql: string, params?: readonly SqlParam[]): Promise<number>;
  abstract columnType(c: ColumnSchema): string;
  abstract castIn(c: ColumnSchema, expr: string): string;
  abstract castOut(c: ColumnSchema, expr: string): string;
  abstract formatInstant(expr: string): string;
  abstract alterToText(database: string, table: string, column: string): string;
  abstract stage(
    table: string,
    columns: readonly string[],
    rows: readonly (string | null)[][],
  ): Promise<string>;
  abstract insertIgnore(
    target: string,
    columns: readonly string[],
    select: string,
    logPos: { readonly min: number; readonly max: number },
  ): string;
  abstract readonly versionIdKey: boolean;
  abstract createViews(schema: TableSchema): Promise<void>;
  abstract close(): Promise<void>;

  readonly now = 'now()';

  ident(name: string): string {
    return quoteIdent(name);
  }

  tableName(schema: string, name: string): string {
    return `${quoteIdent(schema)}.${quoteIdent(name)}`;
  }

  createSchema(schema: string): string {
    return `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`;
  }

  metaType(type: string): string {
    return type;
  }

  md5Hex(expr: string): string {
    return `md5(${expr})`;
  }

  primaryKey(columns: readonly string[]): string {
    return `PRIMARY KEY (${columns.join(', ')})`;
  }

  async begin(): Promise<void> {
    await this.run('BEGIN');
  }

  async commit(): Promise<void> {
    await this.run('COMMIT');
  }

  async rollback(): Promise<void> {
    await this.run('ROLLBACK');
  }
}
