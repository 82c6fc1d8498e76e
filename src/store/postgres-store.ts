/**
 * The PostgreSQL store (`--store postgres://…`), for larger installations: the same tables and
 * views as DuckDB (SqlHistoryStore), loaded with COPY into a temporary text table and one
 * `INSERT … ON CONFLICT DO NOTHING`, indexed for one key's history and as-of.
 * PostgreSQL text cannot hold a NUL character: such a value is refused by the server.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { type ColumnSchema, ConfigError, TransientError } from '../core/index.ts';
import type { SqlParam } from './sql-dialect.ts';
import { StandardSqlDialect } from './standard-sql-dialect.ts';
import { SqlHistoryStore } from './sql-history-store.ts';

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const ZERO_DATE = `'^0000|^[0-9]{4}-00|^[0-9]{4}-[0-9]{2}-00'`;

function pgType(c: ColumnSchema): string {
  switch (c.kind) {
    case 'int':
      return c.unsigned && /^int\b/.test(c.sqlType) ? 'bigint' : 'integer';
    case 'year':
      return 'smallint';
    case 'bigint':
      return c.unsigned ? 'numeric(20,0)' : 'bigint';
    case 'bit':
      return 'numeric(20,0)';
    case 'float':
      return 'real';
    case 'double':
      return 'double precision';
    case 'decimal':
      return `numeric(${c.precision ?? 10},${c.scale ?? 0})`;
    case 'date':
      return 'date';
    case 'datetime':
      return 'timestamp(6)';
    case 'timestamp':
      return 'timestamptz(6)';
    case 'binary':
      return 'bytea';
    case 'time':
    case 'enum':
    case 'set':
    case 'json':
    case 'string':
      return 'text';
  }
}

/** COPY text format: backslash, tab, newline and carriage return escaped; \N is NULL. */
function copyLine(row: readonly (string | null)[]): string {
  return `${row
    .map((v) =>
      v === null
        ? '\\N'
        : v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r'),
    )
    .join('\t')}\n`;
}

class PostgresDialect extends StandardSqlDialect {
  readonly name = 'postgres';
  readonly textType = 'text';
  readonly #client: pg.Client;

  constructor(client: pg.Client) {
    super();
    this.#client = client;
  }

  async run(sql: string): Promise<void> {
    await this.#client.query(sql);
  }

  async lockSchemaChanges(): Promise<void> {
    // One lock for every tabletime process on this database: apply workers starting together.
    await this.#client.query("SELECT pg_advisory_xact_lock(hashtext('tabletime schema changes'))");
  }

  async rows(sql: string, params: readonly SqlParam[] = []): Promise<Record<string, unknown>[]> {
    return (await this.#client.query(sql, params as SqlParam[])).rows as Record<string, unknown>[];
  }

  async change(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    return (await this.#client.query(sql, params as SqlParam[])).rowCount ?? 0;
  }

  columnType = pgType;

  castIn(c: ColumnSchema, expr: string): string {
    if (c.kind === 'binary') return `decode(${expr}, 'hex')`;
    if (c.kind === 'date' || c.kind === 'datetime' || c.kind === 'timestamp') {
      // No TRY_CAST here: a zero date is NULL in the typed column (kept exactly in _tt_raw).
      return `CASE WHEN ${expr} ~ ${ZERO_DATE} THEN NULL ELSE CAST(${expr} AS ${pgType(c)}) END`;
    }
    return pgType(c) === 'text' ? expr : `CAST(${expr} AS ${pgType(c)})`;
  }

  castOut(c: ColumnSchema, expr: string): string {
    const fsp = c.fsp ?? 0;
    const cut = (text: string) => `substr(${text}, 1, ${fsp > 0 ? 20 + fsp : 19})`;
    switch (c.kind) {
      case 'binary':
        return `encode(${expr}, 'hex')`;
      case 'date':
        return `to_char(${expr}, 'YYYY-MM-DD')`;
      case 'datetime':
        return cut(`to_char(${expr}, 'YYYY-MM-DD HH24:MI:SS.US')`);
      case 'timestamp':
        return `${cut(`to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`)} || 'Z'`;
      case 'float':
        return `CAST(CAST(${expr} AS double precision) AS text)`;
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
        return `CAST(${expr} AS text)`;
    }
  }

  formatInstant(expr: string): string {
    return `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
  }

  #views(database: string, table: string): string[] {
    return [`${ident(database)}.${ident(table)}`, `${ident(database)}.${ident(`${table}__versions`)}`];
  }

  alterToText(database: string, table: string, column: string): string {
    // Views depend on the column's type: drop them; createViews makes them again.
    return [
      ...this.#views(database, table).map((v) => `DROP VIEW IF EXISTS ${v}`),
      `ALTER TABLE ${ident(database)}.${ident(`${table}__history`)} ALTER COLUMN ${ident(column)} TYPE text USING ${ident(column)}::text`,
    ].join('; ');
  }

  async stage(
    table: string,
    columns: readonly string[],
    rows: readonly (string | null)[][],
  ): Promise<string> {
    await this.#client.query(
      `DROP TABLE IF EXISTS ${table}; CREATE TEMP TABLE ${table} (${columns.map((c) => `${c} text`).join(', ')})`,
    );
    const copy = this.#client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
    await pipeline(Readable.from(rows.map(copyLine)), copy);
    return table;
  }

  readonly versionIdKey = true;

  insertIgnore(target: string, columns: readonly string[], select: string): string {
    return `INSERT INTO ${target} (${columns.join(', ')}) ${select} ON CONFLICT DO NOTHING`;
  }

  async createViews(database: string, table: string, columns: readonly ColumnSchema[]): Promise<void> {
    const db = ident(database);
    const hist = `${db}.${ident(`${table}__history`)}`;
    const src = columns.map((c) => ident(c.name)).join(', ');
    const [current, versions] = this.#views(database, table);
    const key = 'coalesce(_tt_key, _tt_version_id)';
    await this.#client.query(
      `CREATE INDEX IF NOT EXISTS ${ident(`${table}__key_position`)} ON ${hist} (_tt_key, _tt_position)`,
    );
    await this.#client.query(`DROP VIEW IF EXISTS ${current}; DROP VIEW IF EXISTS ${versions}`);
    await this.#client.query(`CREATE VIEW ${versions} AS
      SELECT *, _tt_commit_ts AS _tt_valid_from,
             lead(_tt_commit_ts) OVER (PARTITION BY ${key} ORDER BY _tt_position) AS _tt_valid_to
        FROM ${hist}`);
    await this.#client.query(`CREATE VIEW ${current} AS
      SELECT ${src} FROM (SELECT DISTINCT ON (${key}) * FROM ${hist} ORDER BY ${key}, _tt_position DESC) v WHERE NOT v._tt_deleted`);
    // $1, not its name: in a SQL function a column of the same name (a source column `ts`) wins.
    await this.#client
      .query(`CREATE OR REPLACE FUNCTION ${db}.${ident(`${table}__as_of`)}(ts timestamptz) RETURNS SETOF ${hist} LANGUAGE sql STABLE AS $$
      SELECT v.* FROM (SELECT DISTINCT ON (${key}) * FROM ${hist} WHERE _tt_commit_ts <= $1 ORDER BY ${key}, _tt_position DESC) v
       WHERE NOT v._tt_deleted $$`);
  }

  async close(): Promise<void> {
    await this.#client.end();
  }
}

export class PostgresStore extends SqlHistoryStore {
  static async open(url: string): Promise<PostgresStore> {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      // 28xxx: authentication; 3D000: no such database. Messages name the user, never the password.
      if (code.startsWith('28') || code === '3D000') {
        throw new ConfigError('STORE_OPEN', `cannot use the PostgreSQL store: ${(err as Error).message}`, {
          cause: err,
        });
      }
      throw new TransientError(
        'STORE_UNREACHABLE',
        `cannot reach the PostgreSQL store: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const store = new PostgresStore(new PostgresDialect(client));
    try {
      await client.query("SET TIME ZONE 'UTC'");
      await store.init();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    return store;
  }
}
