import type { ColumnSchema, TableSchema } from '../core/index.ts';

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
  /**
   * The rows of one query a page at a time (about `pageRows` each), read on a connection of its
   * own: one consistent snapshot, and a large answer is never held whole. Where missing, `rows`.
   */
  streamRows?(
    sql: string,
    params: readonly SqlParam[],
    pageRows: number,
  ): AsyncIterable<Record<string, unknown>[]>;
  /** Runs an INSERT/UPDATE/DELETE and returns how many rows it changed (no count(*) needed). */
  change(sql: string, params?: readonly SqlParam[]): Promise<number>;
  ident(name: string): string;
  /** A table's qualified name: `"schema"."name"` here; BigQuery would use one dataset for all. */
  tableName(schema: string, name: string): string;
  /** The statement that creates a schema, or null where tables need none. */
  createSchema(schema: string): string | null;
  /** A portable metadata type (VARCHAR, TIMESTAMPTZ, BOOLEAN, BIGINT, INTEGER) in this database. */
  metaType(type: string): string;
  /** A table's primary-key clause (BigQuery's is NOT ENFORCED). */
  primaryKey(columns: readonly string[]): string;
  /** A transaction around a file's versions and its applied marker, where the database has them. */
  begin(): Promise<void>;
  /**
   * Inside a transaction that changes schemas: waits until no other process sharing the database
   * is changing them (PostgreSQL's `CREATE … IF NOT EXISTS` fails, rather than waits, when another
   * session creates the same object at the same moment). Released at commit or rollback.
   */
  lockSchemaChanges?(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
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
  /** Creates an all-text staging table, fills it with `rows`, and returns its name to select from. */
  stage(table: string, columns: readonly string[], rows: readonly (string | null)[][]): Promise<string>;
  /**
   * What ends an INSERT that must skip a row whose primary key exists ('ON CONFLICT DO NOTHING'),
   * or '' where keys are not enforced (BigQuery): two workers may mark the same file applied.
   */
  readonly skipExistingKey: string;
  /** The current time, as SQL. */
  readonly now: string;
  /** The MD5 of a text expression as lower-case hex, as SQL. */
  md5Hex(expr: string): string;
  /**
   * INSERT … SELECT that skips rows whose version id is already there. `logPos` bounds the
   * binlog positions of what is inserted (0 for snapshot rows): a version id already stored has
   * the same position, so a dialect without a key on the id looks only there.
   */
  insertIgnore(
    target: string,
    columns: readonly string[],
    select: string,
    logPos: { readonly min: number; readonly max: number },
  ): string;
  /**
   * Whether a history table gets a primary key on `_tt_version_id` (insertIgnore relies on it),
   * or insertIgnore finds existing versions itself.
   */
  readonly versionIdKey: boolean;
  /**
   * Metadata columns (name, portable type) a new history table holds first, in this order, before
   * the source's: those its scans filter on, where the database reads a row's columns only up to
   * the last one a filter needs (PostgreSQL). A name META_TYPES lacks is the dialect's own column
   * (PostgreSQL's `_tt_valid_to`). Without it, the source's columns, then META_TYPES.
   */
  readonly leadingColumns?: readonly (readonly [string, string])[];
  /**
   * The last version of each key (or of each keyless row) among the versions of `hist` that pass
   * `where`, deleted ones left out: what `lastVersions` selects, by a plan this database runs
   * faster. `columns` are the source columns the history holds. Without it (or undefined), `lastVersions`.
   */
  lastVersions?(hist: string, where: string, columns: readonly string[]): string | undefined;
  /**
   * One text for a row's values (`exprs`, column references), equal exactly when every value is,
   * NULLs included, and cheaper than each value's text (keylessRows). Without it, each column's
   * castOut, length-prefixed.
   */
  rowText?(exprs: readonly string[]): string;
  /**
   * Whether one key's history also compares the typed key columns: a column store compares
   * integers many times faster than key texts; a store with an index on `_tt_key` gains nothing.
   */
  readonly typedKeyFilter?: boolean;
  /**
   * Where the history keeps each version's end, `_tt_valid_to` (the earliest commit time of a
   * later version of its key; NULL while there is none), so that the state at a time is a filter
   * rather than a search for each key's last version: sets it again, inside the caller's
   * transaction, for the versions that `source` (a SELECT of `_tt_key`, `_tt_commit_ts` and
   * `_tt_position` of versions just stored, with `params`) can end, and for those versions
   * themselves. Without it, no such column.
   */
  closeVersions?(hist: string, source: string, params?: readonly SqlParam[]): Promise<void>;
  /**
   * Views/macros/functions for current state, versions and as-of of the history of `schema` (its
   * columns: the history's; no primary key: keylessRows).
   */
  createViews(schema: TableSchema): Promise<void>;
  close(): Promise<void>;
}
