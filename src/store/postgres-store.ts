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
import { type ColumnSchema, ConfigError, type TableSchema, TransientError } from '../core/index.ts';
import type { SqlParam } from './sql-dialect.ts';
import { StandardSqlDialect } from './standard-sql-dialect.ts';
import { keylessRows, LATER, META_TYPES, SqlHistoryStore } from './sql-history-store.ts';

/** A version's end for comparisons: no end is after every time. */
const OPEN_END = "coalesce(h._tt_valid_to, 'infinity'::timestamptz)";

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

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIALS = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One value in COPY text format: backslash, tab, newline and carriage return escaped; \N is NULL. */
function copyValue(v: string | null): string {
  if (v === null) return '\\N';
  return COPY_SPECIAL.test(v) ? v.replace(COPY_SPECIALS, (c) => COPY_ESCAPES[c]!) : v;
}

/**
 * The rows as COPY text, in chunks of about 256 KiB: one chunk per row was one socket write per
 * row (a tenth of apply's CPU).
 */
export function* copyChunks(rows: readonly (readonly (string | null)[])[]): Generator<string> {
  let chunk = '';
  for (const row of rows) {
    let line = copyValue(row[0] ?? null);
    for (let i = 1; i < row.length; i++) line += `\t${copyValue(row[i] ?? null)}`;
    chunk += `${line}\n`;
    if (chunk.length >= 256 * 1024) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** PostgreSQL error codes and socket errors that mean the connection is gone, not the statement. */
const CONNECTION_LOST = /^(08|57P0[123])/;
const SOCKET_ERRORS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * The store's one connection, opened again after the server dropped it (a restart, a failover,
 * an idle connection cut): a statement that meets the loss fails with a transient
 * STORE_UNREACHABLE, which the caller's retry loop retries, and the next statement connects again.
 * A connection lost inside a transaction took the transaction with it: until the caller rolls
 * back, its statements fail too, so the rest of a unit of work never runs on a new connection
 * outside the transaction it belongs to.
 */
export class PgConnection {
  readonly #url: string;
  #client: Promise<pg.Client> | null = null;
  #inTransaction = false;
  #lostInTransaction = false;

  constructor(url: string) {
    this.#url = url;
  }

  /** Connects (the first time and after a loss); refuses at once what waiting cannot fix. */
  async open(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.#url });
    // An idle connection cut by the server reports here; without a listener it would end the process.
    client.on('error', () => this.#lose(pending));
    const pending = (async () => {
      try {
        await client.connect();
        await client.query("SET TIME ZONE 'UTC'");
        // The history's scans (as-of, now, diff over millions of versions) are simple filters:
        // compiling them (JIT) took 100–200 ms of a 1 s as-of and gave nothing back
        // (docs/performance.md, session 11). A server before PostgreSQL 11 has no such setting.
        await client.query('SET jit = off').catch((err: { code?: string }) => {
          if (err.code !== '42704') throw err;
        });
        return client;
      } catch (err) {
        await client.end().catch(() => undefined);
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
    })();
    this.#client = pending;
    pending.catch(() => this.#lose(pending));
    return pending;
  }

  /** Forgets a connection that is gone (and the transaction it held). */
  #lose(pending: Promise<pg.Client>): void {
    if (this.#client !== pending) return;
    this.#client = null;
    if (this.#inTransaction) this.#lostInTransaction = true;
  }

  /** Runs `work` on the connection, connecting first if there is none. */
  async use<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    if (this.#lostInTransaction) {
      throw new TransientError(
        'STORE_UNREACHABLE',
        'lost the connection to the PostgreSQL store in the middle of a transaction; it is rolled back',
      );
    }
    const pending = this.#client ?? this.open();
    const client = await pending;
    try {
      return await work(client);
    } catch (err) {
      const { code, message } = err as { code?: string; message?: string };
      // Two writers took the same rows in opposite orders (apply workers, a TRUNCATE's tombstones
      // beside a batch that ends the same versions): PostgreSQL aborts one transaction. Applying
      // is idempotent, so the loser rolls back and applies its batch again.
      if (code === '40P01' || code === '40001')
        throw new TransientError(
          'STORE_CONFLICT',
          `the PostgreSQL store aborted this transaction for another writer (${code === '40P01' ? 'deadlock' : 'serialization failure'}); it is rolled back and applied again: ${message}`,
          { cause: err },
        );
      const lost =
        this.#client !== pending ||
        (code !== undefined && (CONNECTION_LOST.test(code) || SOCKET_ERRORS.has(code))) ||
        /^Connection terminated|not queryable/.test(message ?? '');
      if (!lost) throw err;
      this.#lose(pending);
      void client.end().catch(() => undefined);
      throw new TransientError(
        'STORE_UNREACHABLE',
        `lost the connection to the PostgreSQL store: ${message}`,
        {
          cause: err,
        },
      );
    }
  }

  /** One statement on the connection (see `use`). */
  query(sql: string, params?: SqlParam[]): Promise<pg.QueryResult> {
    return this.use((c) => c.query(sql, params));
  }

  async begin(): Promise<void> {
    await this.query('BEGIN');
    this.#inTransaction = true;
  }

  /** COMMIT; when the connection is lost on the way, whether it committed is unknown (apply is idempotent). */
  async commit(): Promise<void> {
    try {
      await this.query('COMMIT');
    } finally {
      this.#inTransaction = false;
      this.#lostInTransaction = false;
    }
  }

  async rollback(): Promise<void> {
    const lost = this.#lostInTransaction;
    this.#inTransaction = false;
    this.#lostInTransaction = false;
    if (!lost && this.#client) await this.query('ROLLBACK');
  }

  /** A new connection to the same database (not connected until first used). */
  another(): PgConnection {
    return new PgConnection(this.#url);
  }

  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = null;
    if (pending) await (await pending.catch(() => null))?.end();
  }
}

class PostgresDialect extends StandardSqlDialect {
  readonly name = 'postgres';
  readonly textType = 'text';
  readonly #conn: PgConnection;
  readonly #notice: (message: string) => void;

  constructor(conn: PgConnection, notice: (message: string) => void = () => undefined) {
    super();
    this.#conn = conn;
    this.#notice = notice;
  }

  async run(sql: string): Promise<void> {
    await this.#conn.query(sql);
  }

  override begin(): Promise<void> {
    return this.#conn.begin();
  }

  override commit(): Promise<void> {
    return this.#conn.commit();
  }

  override rollback(): Promise<void> {
    return this.#conn.rollback();
  }

  async lockSchemaChanges(): Promise<void> {
    // One lock for every tabletime process on this database: apply workers starting together.
    await this.run("SELECT pg_advisory_xact_lock(hashtext('tabletime schema changes'))");
  }

  async rows(sql: string, params: readonly SqlParam[] = []): Promise<Record<string, unknown>[]> {
    return (await this.#conn.query(sql, params as SqlParam[])).rows as Record<string, unknown>[];
  }

  async change(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    return (await this.#conn.query(sql, params as SqlParam[])).rowCount ?? 0;
  }

  async *streamRows(
    sql: string,
    params: readonly SqlParam[],
    pageRows: number,
  ): AsyncIterable<Record<string, unknown>[]> {
    // A cursor in a read-only snapshot, on a connection of its own: the store's connection serves
    // other requests meanwhile, and every page comes from the same moment.
    const conn = this.#conn.another();
    try {
      await conn.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await conn.query(`DECLARE tt_rows NO SCROLL CURSOR FOR ${sql}`, params as SqlParam[]);
      for (;;) {
        const { rows } = await conn.query(`FETCH FORWARD ${Math.max(1, Math.floor(pageRows))} FROM tt_rows`);
        if (rows.length > 0) yield rows as Record<string, unknown>[];
        if (rows.length < pageRows) break;
      }
      await conn.query('COMMIT');
    } finally {
      await conn.close();
    }
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

  /**
   * A row's own text form: every field quoted where it must be, NULL as nothing, so two rows have
   * the same text exactly when their values are the same. A third of the time of each column's
   * castOut for a table without a key's state (docs/performance.md, "Session 16").
   */
  rowText(exprs: readonly string[]): string {
    return `CAST(ROW(${exprs.join(', ')}) AS text)`;
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
    await this.run(
      `DROP TABLE IF EXISTS ${table}; CREATE TEMP TABLE ${table} (${columns.map((c) => `${c} text`).join(', ')})`,
    );
    await this.#conn.use((c) =>
      pipeline(
        Readable.from(copyChunks(rows)),
        c.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`)),
      ),
    );
    return table;
  }

  readonly versionIdKey = true;

  /**
   * The as-of filter's columns first: PostgreSQL works out where a row's columns start by reading
   * each one before them, and `_tt_valid_to`, added last, sat behind every text column. With them
   * first, as of mid-history over 10,000,000 versions took a tenth to a sixth less
   * (docs/performance.md, "Session 18"). A history made before keeps its order
   * (docs/history-tables.md).
   */
  readonly leadingColumns = [
    ['_tt_commit_ts', 'TIMESTAMPTZ'],
    ['_tt_valid_to', 'TIMESTAMPTZ'],
    ['_tt_deleted', 'BOOLEAN'],
  ] as const;

  insertIgnore(target: string, columns: readonly string[], select: string): string {
    return `INSERT INTO ${target} (${columns.join(', ')}) ${select} ON CONFLICT DO NOTHING`;
  }

  /**
   * Each version's end, `_tt_valid_to`, is the earliest commit time among the later versions of its
   * key (by position): a version is the state at time t exactly when it committed by t and its
   * end is after t (or it has none), which is what "the last version by position among those
   * committed by t" selects. It is the earliest, not the next one's, because commit times need not
   * follow positions (a snapshot's rows carry the time it started).
   *
   * New versions of a key, from its earliest new position p and earliest new commit time t on,
   * can change the ends of: the versions at or after p (the new ones, and any a faster worker
   * stored after them), and the last version before p, L. Ends only grow along the positions and
   * every version before L ends by L's commit time or L's end, so none of them changes unless
   * both are after t: only when commit times go back are the versions before L read too.
   *
   * The usual key is simpler: L is still open (so nothing was stored after it: whoever stored a
   * later version ended it) and committed by t. Its end becomes t, and the new versions' ends,
   * worked out from the batch as they were stored, stand. Only the other keys (a first version, a
   * file after later ones, a replay, times going back) are worked out from their versions.
   *
   * Lookups go through the (_tt_key, _tt_position) index, and the rows to change by their version
   * ids (`= ANY` of an array: the planner cannot count a batch and would otherwise read the whole
   * history).
   */
  async closeVersions(hist: string, source: string, params: readonly SqlParam[] = []): Promise<void> {
    // Apply workers that store versions of the same keys at once would each miss the other's: the
    // ends of a table are set one transaction at a time, each seeing what the one before committed
    // (the lock is held to commit; the statement below takes its snapshot after it).
    await this.rows('SELECT pg_advisory_xact_lock(hashtext($1))', [`tabletime ends ${hist}`]);
    const row = (h: string) =>
      `${h}._tt_version_id AS id, ${h}._tt_key, ${h}._tt_position, ${h}._tt_commit_ts, ${h}._tt_valid_to`;
    // OFFSET 0 keeps each lookup a nested index scan: the planner cannot count the batch's keys.
    await this.change(
      `WITH k AS (
        SELECT _tt_key, min(_tt_commit_ts) AS t, min(_tt_position) AS p FROM (${source}) s
         WHERE _tt_key IS NOT NULL GROUP BY _tt_key),
      l AS (
        SELECT k._tt_key AS key, k.t, k.p, b.*,
               b.id IS NOT NULL AND b._tt_valid_to IS NULL AND b._tt_commit_ts <= k.t AS usual
          FROM k LEFT JOIN LATERAL (
            SELECT ${row('h')} FROM ${hist} h
             WHERE h._tt_key = k._tt_key AND h._tt_position < k.p ORDER BY h._tt_position DESC LIMIT 1) b ON true),
      c AS (
        SELECT a.* FROM l CROSS JOIN LATERAL (
          SELECT ${row('h')} FROM ${hist} h WHERE h._tt_key = l.key AND h._tt_position >= l.p OFFSET 0) a
         WHERE NOT l.usual
        UNION ALL
        SELECT id, _tt_key, _tt_position, _tt_commit_ts, _tt_valid_to FROM l WHERE id IS NOT NULL AND NOT usual
        UNION ALL
        SELECT a.* FROM l CROSS JOIN LATERAL (
          SELECT ${row('h')} FROM ${hist} h
           WHERE h._tt_key = l.key AND h._tt_position < l._tt_position OFFSET 0) a
         WHERE NOT l.usual AND least(l._tt_commit_ts, ${OPEN_END.replaceAll('h.', 'l.')}) > l.t),
      e AS (
        SELECT id, t AS vt FROM l WHERE usual
        UNION ALL
        SELECT id, vt FROM (
          SELECT id, _tt_valid_to AS old,
                 min(_tt_commit_ts) OVER (PARTITION BY _tt_key ${LATER}) AS vt
            FROM c) w
         WHERE vt IS DISTINCT FROM old)
      UPDATE ${hist} h SET _tt_valid_to = e.vt FROM e
       WHERE h._tt_version_id = ANY (ARRAY(SELECT id FROM e)) AND h._tt_version_id = e.id`,
      params,
    );
  }

  /**
   * Adds `_tt_valid_to` to a history that has none (a new one, or one an older tabletime made) and
   * fills it in, in the caller's transaction.
   */
  async #ensureEnds(database: string, table: string, hist: string): Promise<void> {
    const [has] = await this.rows(
      `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = '_tt_valid_to'`,
      [database, `${table}__history`],
    );
    if (has) return;
    // A history an older tabletime made: the fill-in rewrites every row, minutes for tens of
    // millions, while every other process waits for the schema lock. Say so.
    const [size] = await this.rows(
      `SELECT greatest(reltuples, 0)::bigint AS n, EXISTS (SELECT 1 FROM ${hist}) AS any FROM pg_class WHERE oid = $1::regclass`,
      [hist],
    );
    const versions = Number(size?.n ?? 0); // PostgreSQL's estimate; 0 before the table's first ANALYZE
    const announce = size?.any === true;
    const started = Date.now();
    if (announce)
      this.#notice(
        `upgrading ${database}.${table}: filling in each version's end (_tt_valid_to) for ${versions > 0 ? `about ${versions}` : 'its'} versions, once; apply and queries of this store wait for it`,
      );
    await this.run(`ALTER TABLE ${hist} ADD COLUMN _tt_valid_to timestamptz`);
    await this.run(`UPDATE ${hist} h SET _tt_valid_to = e.vt FROM (
        SELECT _tt_version_id,
               min(_tt_commit_ts) OVER (PARTITION BY _tt_key ${LATER}) AS vt
          FROM ${hist} WHERE _tt_key IS NOT NULL) e
      WHERE h._tt_version_id = e._tt_version_id AND e.vt IS NOT NULL`);
    if (announce)
      this.#notice(`upgraded ${database}.${table} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  async createViews({ database, table, columns, primaryKeys }: TableSchema): Promise<void> {
    const db = ident(database);
    const hist = `${db}.${ident(`${table}__history`)}`;
    const src = columns.map((c) => ident(c.name)).join(', ');
    const [current, versions] = this.#views(database, table);
    await this.run(
      `CREATE INDEX IF NOT EXISTS ${ident(`${table}__key_position`)} ON ${hist} (_tt_key, _tt_position)`,
    );
    await this.#ensureEnds(database, table, hist);
    // What users see, whatever the table's own order (leadingColumns): the source's columns, then
    // the metadata as documented, then the end; as a history made before that order shows them.
    const shown = [...columns.map((c) => c.name), ...META_TYPES.map(([n]) => n), '_tt_valid_to'];
    const types = new Map(
      (
        await this.rows(
          `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
            WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
          [hist],
        )
      ).map((r) => [String(r.name), String(r.type)]),
    );
    const list = shown.map(ident).join(', ');
    const asOf = `${db}.${ident(`${table}__as_of`)}`;
    await this.run(
      `DROP VIEW IF EXISTS ${current}; DROP VIEW IF EXISTS ${versions}; DROP FUNCTION IF EXISTS ${asOf}(timestamptz)`,
    );
    await this.run(`CREATE VIEW ${versions} AS SELECT ${list}, _tt_commit_ts AS _tt_valid_from FROM ${hist}`);
    const keyless = primaryKeys.length === 0;
    await this.run(`CREATE VIEW ${current} AS
      SELECT ${src} FROM ${keyless ? `(${keylessRows(this, hist, '', columns)}) v` : `${hist} WHERE _tt_valid_to IS NULL AND NOT _tt_deleted`}`);
    // $1, not its name: in a SQL function a column of the same name (a source column `ts`) wins.
    // Made again rather than replaced: a column added to the table changes what it returns.
    await this.run(`CREATE FUNCTION ${asOf}(ts timestamptz)
      RETURNS TABLE (${shown.map((n) => `${ident(n)} ${types.get(n) ?? 'text'}`).join(', ')}) LANGUAGE sql STABLE AS $$
      SELECT ${list} FROM (${keyless ? keylessRows(this, hist, 'WHERE _tt_commit_ts <= $1', columns) : `SELECT * FROM ${hist} WHERE _tt_commit_ts <= $1 AND (_tt_valid_to IS NULL OR _tt_valid_to > $1) AND NOT _tt_deleted`}) v $$`);
  }

  close(): Promise<void> {
    return this.#conn.close();
  }
}

export class PostgresStore extends SqlHistoryStore {
  /** `notice`: one-line messages about long work at open (an upgrade of an older history). */
  static async open(
    url: string,
    options: { readonly notice?: (message: string) => void } = {},
  ): Promise<PostgresStore> {
    const conn = new PgConnection(url);
    await conn.open();
    const store = new PostgresStore(new PostgresDialect(conn, options.notice));
    try {
      await store.init();
    } catch (err) {
      await conn.close().catch(() => undefined);
      throw err;
    }
    return store;
  }
}
