import type { ColumnSchema } from '../core/index.ts';

export type SqlParam = string | number | null;

/**
 * What differs between the SQL stores (DuckDB, PostgreSQL): connections, types, casts, loading a
 * staging table, and a few statements. Everything else is SqlHistoryStore, shared.
 */
export interface SqlDialect {
  readonly name: string;
  run(sql: string): Promise<void>;
  /** Rows with `$1…` parameters; values as the driver gives them (text for our text casts). */
  rows(sql: string, params?: readonly SqlParam[]): Promise<Record<string, unknown>[]>;
  /** Runs an INSERT/UPDATE/DELETE and returns how many rows it changed (no count(*) needed). */
  change(sql: string, params?: readonly SqlParam[]): Promise<number>;
  ident(name: string): string;
  /** The column type for a source column. */
  columnType(c: ColumnSchema): string;
  /** Staged text -> typed value. */
  castIn(c: ColumnSchema, expr: string): string;
  /** Typed value -> the change-file text form. */
  castOut(c: ColumnSchema, expr: string): string;
  /** A TIMESTAMPTZ expression as 'YYYY-MM-DDTHH:MM:SS.ffffffZ'. */
  formatInstant(expr: string): string;
  /** The text type, and the statement that turns a column into it keeping every value. */
  readonly textType: string;
  alterToText(database: string, table: string, column: string): string;
  /** Creates a temporary all-text table and fills it with `rows`. */
  stage(table: string, columns: readonly string[], rows: readonly (string | null)[][]): Promise<void>;
  /** INSERT … SELECT that skips rows whose primary key is already there. */
  insertIgnore(target: string, columns: readonly string[], select: string): string;
  /** Views/macros/functions for current state, versions and as-of. */
  createViews(database: string, table: string, columns: readonly ColumnSchema[]): Promise<void>;
  close(): Promise<void>;
}
