/**
 * The embedded default store: one DuckDB file (docs/history-tables.md). The shared logic is
 * SqlHistoryStore; this is DuckDB's dialect: the appender fills an all-text temporary table,
 * `INSERT OR IGNORE` skips known version ids, views and a table macro answer current / as-of.
 */
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { type ColumnSchema, ConfigError } from '../core/index.ts';
import { castIn, castOut, duckdbType, ident } from './duckdb-types.ts';
import type { SqlParam } from './sql-dialect.ts';
import { StandardSqlDialect } from './standard-sql-dialect.ts';
import { lastVersions, SqlHistoryStore } from './sql-history-store.ts';

class DuckdbDialect extends StandardSqlDialect {
  readonly name = 'duckdb';
  readonly textType = 'VARCHAR';
  readonly #instance: DuckDBInstance;
  readonly #conn: DuckDBConnection;
  readonly #ownsInstance: boolean;

  constructor(instance: DuckDBInstance, conn: DuckDBConnection, ownsInstance: boolean) {
    super();
    this.#instance = instance;
    this.#conn = conn;
    this.#ownsInstance = ownsInstance;
  }

  get instance(): DuckDBInstance {
    return this.#instance;
  }

  async run(sql: string): Promise<void> {
    await this.#conn.run(sql);
  }

  async rows(sql: string, params: readonly SqlParam[] = []): Promise<Record<string, unknown>[]> {
    if (params.length === 0) return (await this.#conn.runAndReadAll(sql)).getRowObjectsJson();
    const stmt = await this.#conn.prepare(sql);
    params.forEach((p, i) => {
      if (p === null) stmt.bindNull(i + 1);
      else if (typeof p === 'number') stmt.bindDouble(i + 1, p);
      else stmt.bindVarchar(i + 1, p);
    });
    return (await stmt.runAndReadAll()).getRowObjectsJson();
  }

  async change(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    if (params.length === 0) return Number((await this.#conn.run(sql)).rowsChanged);
    const stmt = await this.#conn.prepare(sql);
    params.forEach((p, i) => {
      if (p === null) stmt.bindNull(i + 1);
      else if (typeof p === 'number') stmt.bindDouble(i + 1, p);
      else stmt.bindVarchar(i + 1, p);
    });
    return Number((await stmt.run()).rowsChanged);
  }

  columnType = duckdbType;
  castIn = castIn;
  castOut = castOut;

  formatInstant(expr: string): string {
    return `strftime(${expr}, '%Y-%m-%dT%H:%M:%S.%fZ')`;
  }

  alterToText(database: string, table: string, column: string): string {
    return `ALTER TABLE ${ident(database)}.${ident(`${table}__history`)} ALTER ${ident(column)} TYPE VARCHAR`;
  }

  async stage(
    table: string,
    columns: readonly string[],
    rows: readonly (string | null)[][],
  ): Promise<string> {
    await this.#conn.run(
      `CREATE OR REPLACE TEMP TABLE ${table} (${columns.map((c) => `${c} VARCHAR`).join(', ')})`,
    );
    const appender = await this.#conn.createAppender(table, 'main', 'temp');
    for (const row of rows) {
      for (const v of row) {
        if (v === null) appender.appendNull();
        else appender.appendVarchar(v);
      }
      appender.endRow();
    }
    appender.flushSync();
    appender.closeSync();
    return table;
  }

  /**
   * No primary key on the version id: DuckDB keeps such an index in memory, pays for it at every
   * insert (about 4 µs a row with the 32-character id) and writes it whole at every checkpoint
   * (a stall of 0.3–0.4 s on a million versions, growing with the history). insertIgnore finds
   * existing versions itself (docs/performance.md).
   */
  readonly versionIdKey = false;

  /**
   * Inserts the versions the history does not have. A stored version with the same id has the same
   * source position, so only history rows with a binlog position in the batch's range can match:
   * `_tt_log_pos`'s zone maps skip every other row group (snapshot rows have position 0, and a
   * batch of them is checked against the table's snapshot rows). Duplicates within the batch (a
   * change captured twice around a crash) are kept once. A history table created with the older
   * primary key still has it: the anti-join keeps it from ever firing.
   */
  insertIgnore(
    target: string,
    columns: readonly string[],
    select: string,
    logPos: { readonly min: number; readonly max: number },
  ): string {
    const cols = columns.join(', ');
    const lo = Math.floor(logPos.min);
    const hi = Math.floor(logPos.max);
    return `INSERT INTO ${target} (${cols})
      WITH incoming AS (${select}),
           fresh AS (SELECT DISTINCT ON (_tt_version_id) * FROM incoming)
      SELECT ${cols} FROM fresh
       WHERE _tt_version_id NOT IN (
         SELECT _tt_version_id FROM ${target}
          WHERE _tt_log_pos BETWEEN ${lo} AND ${hi} AND _tt_version_id IS NOT NULL)`;
  }

  async createViews(database: string, table: string, columns: readonly ColumnSchema[]): Promise<void> {
    const db = ident(database);
    const hist = `${db}.${ident(`${table}__history`)}`;
    const src = columns.map((c) => ident(c.name)).join(', ');
    // Versions of one key in source order; a version is valid until the next one of its key.
    await this.#conn.run(`CREATE OR REPLACE VIEW ${db}.${ident(`${table}__versions`)} AS
      SELECT *, _tt_commit_ts AS _tt_valid_from,
             lead(_tt_commit_ts) OVER (PARTITION BY coalesce(_tt_key, _tt_version_id) ORDER BY _tt_position) AS _tt_valid_to
        FROM ${hist}`);
    await this.#conn.run(
      `CREATE OR REPLACE VIEW ${db}.${ident(table)} AS SELECT ${src} FROM (${lastVersions(hist, '')}) v`,
    );
    await this.#conn.run(`CREATE OR REPLACE MACRO ${db}.${ident(`${table}__as_of`)}(ts) AS TABLE
      SELECT ${src} FROM (${lastVersions(hist, 'WHERE _tt_commit_ts <= ts')}) v`);
  }

  close(): Promise<void> {
    this.#conn.closeSync();
    if (this.#ownsInstance) this.#instance.closeSync();
    return Promise.resolve();
  }
}

export class DuckdbStore extends SqlHistoryStore {
  static async open(path: string): Promise<DuckdbStore> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path);
    } catch (err) {
      // DuckDB gives no error code to tell a lock from other failures; say what is most likely.
      throw new ConfigError(
        'STORE_OPEN',
        `cannot open ${path}: ${(err as Error).message} (DuckDB lets one process hold the file: is a \`tabletime run\` using it?)`,
        { cause: err },
      );
    }
    const conn = await instance.connect();
    await conn.run("SET TimeZone = 'UTC'");
    // DuckDB's own cache grows to 80 % of the machine's memory by default; a history store shares
    // the machine with the source and capture. TABLETIME_DUCKDB_MEMORY changes the limit.
    const limit = process.env.TABLETIME_DUCKDB_MEMORY ?? '256MB';
    if (!/^\d+(\.\d+)?\s*[KMGT]i?B$/i.test(limit))
      throw new ConfigError('STORE', `TABLETIME_DUCKDB_MEMORY='${limit}' is not a size like 256MB or 2GB`);
    await conn.run(`SET memory_limit = '${limit}'`);
    const store = new DuckdbStore(new DuckdbDialect(instance, conn, true));
    await store.init();
    return store;
  }

  /**
   * A second store on the same file, with its own connection: queries served while apply writes
   * see only committed versions (DuckDB lets one process hold the file, not one connection).
   */
  async openReader(): Promise<DuckdbStore> {
    const instance = (this.dialect as DuckdbDialect).instance;
    const conn = await instance.connect();
    await conn.run("SET TimeZone = 'UTC'");
    return new DuckdbStore(new DuckdbDialect(instance, conn, false));
  }
}
