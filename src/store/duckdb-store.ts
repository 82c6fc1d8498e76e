/**
 * The embedded default store: one DuckDB file (docs/history-tables.md). The shared logic is
 * SqlHistoryStore; this is DuckDB's dialect: the appender fills an all-text temporary table,
 * `INSERT OR IGNORE` skips known version ids, views and a table macro answer current / as-of.
 */
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { type ColumnSchema, ConfigError, type TableSchema } from '../core/index.ts';
import {
  columnsRefusal,
  lenientJsonSql,
  NATIVE_FILE,
  nativeSelect,
  type PrescanRow,
  prescanRefusal,
  prescanSql,
} from './duckdb-native.ts';
import { castIn, castOut, duckdbType, ident } from './duckdb-types.ts';
import type { SqlParam } from './sql-dialect.ts';
import { StandardSqlDialect } from './standard-sql-dialect.ts';
import { LATER, META_TYPES, rowsPresentIn, SqlHistoryStore } from './sql-history-store.ts';
import type { ChangeFileRef, NativeApply } from './store.ts';

/** A prepared statement with `$1…` bound: numbers as DOUBLE, the rest as text or NULL. */
async function bound(conn: DuckDBConnection, sql: string, params: readonly SqlParam[]) {
  const stmt = await conn.prepare(sql);
  params.forEach((p, i) => {
    if (p === null) stmt.bindNull(i + 1);
    else if (typeof p === 'number') stmt.bindDouble(i + 1, p);
    else stmt.bindVarchar(i + 1, p);
  });
  return stmt;
}

/**
 * `_tt_position` (position.ts's positionKey: `0:<row index, 12 digits>` for a snapshot row,
 * `1:<file sequence, 10>:<position, 15>:<row index, 9>:<0|1>` for the binlog) as a HUGEINT in the
 * same order: a snapshot row's index above bit 64 (the low 64 bits are left for its rowid, the
 * tie-break, added at query time), a binlog row's four numbers in bits 81–114, 31–80, 1–30 and 0
 * under bit 115. Each field's widest value fits its bits (10^10 < 2^34, 10^15 < 2^50, 10^9 < 2^30).
 * Stored as `_tt_order` when a version is inserted, so that the last version of each key is an
 * aggregate over a fixed-size number instead of a struct holding text (lastVersions).
 */
export function positionOrder(p: string): string {
  return `CASE WHEN ${p}[1:2] = '0:' THEN CAST(${p}[3:] AS HUGEINT) << 64
    ELSE (CAST(1 AS HUGEINT) << 115) + (CAST(${p}[3:12] AS HUGEINT) << 81) + (CAST(${p}[14:28] AS HUGEINT) << 31)
       + (CAST(${p}[30:38] AS HUGEINT) << 1) + CAST(${p}[40:40] AS HUGEINT) END`;
}

/** The column that holds positionOrder(_tt_position) in DuckDB's history tables. */
const ORDER_COLUMN = '_tt_order';

/** A snapshot row's order with its rowid added: two snapshots of one key go to the later row. */
const ORDER_WITH_ROWID = `${ORDER_COLUMN} + CASE WHEN ${ORDER_COLUMN} < (CAST(1 AS HUGEINT) << 115) THEN rowid ELSE 0 END`;

class DuckdbDialect extends StandardSqlDialect {
  readonly name = 'duckdb';
  readonly textType = 'VARCHAR';
  readonly #instance: DuckDBInstance;
  readonly #conn: DuckDBConnection;
  readonly #ownsInstance: boolean;
  readonly #notice: (message: string) => void;

  constructor(
    instance: DuckDBInstance,
    conn: DuckDBConnection,
    ownsInstance: boolean,
    notice: (message: string) => void = () => undefined,
  ) {
    super();
    this.#instance = instance;
    this.#conn = conn;
    this.#ownsInstance = ownsInstance;
    this.#notice = notice;
  }

  get instance(): DuckDBInstance {
    return this.#instance;
  }

  async run(sql: string): Promise<void> {
    await this.#conn.run(sql);
  }

  async rows(sql: string, params: readonly SqlParam[] = []): Promise<Record<string, unknown>[]> {
    if (params.length === 0) return (await this.#conn.runAndReadAll(sql)).getRowObjectsJson();
    return (await (await bound(this.#conn, sql, params)).runAndReadAll()).getRowObjectsJson();
  }

  async *streamRows(
    sql: string,
    params: readonly SqlParam[],
    pageRows: number,
  ): AsyncIterable<Record<string, unknown>[]> {
    // A connection of its own: a streamed result must keep its connection to itself until read
    // to the end, and the reader's connection serves other requests meanwhile.
    const conn = await this.#instance.connect();
    try {
      await conn.run("SET TimeZone = 'UTC'");
      const result =
        params.length === 0 ? await conn.stream(sql) : await (await bound(conn, sql, params)).stream();
      let page: Record<string, unknown>[] = [];
      for await (const chunk of result.yieldRowObjectJson()) {
        for (const row of chunk) {
          page.push(row);
          if (page.length >= pageRows) {
            yield page;
            page = [];
          }
        }
      }
      if (page.length > 0) yield page;
    } finally {
      conn.closeSync();
    }
  }

  async change(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    if (params.length === 0) return Number((await this.#conn.run(sql)).rowsChanged);
    return Number((await (await bound(this.#conn, sql, params)).run()).rowsChanged);
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

  /** One key's history compares the typed key columns too (a failed TRY_CAST matches nothing). */
  readonly typedKeyFilter = true;

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
    return `INSERT INTO ${target} (${cols}, ${ORDER_COLUMN})
      WITH incoming AS (${select}),
           fresh AS (SELECT DISTINCT ON (_tt_version_id) * FROM incoming)
      SELECT ${cols}, ${positionOrder('_tt_position')} FROM fresh
       WHERE _tt_version_id NOT IN (
         SELECT _tt_version_id FROM ${target}
          WHERE _tt_log_pos BETWEEN ${lo} AND ${hi} AND _tt_version_id IS NOT NULL)`;
  }

  /**
   * One aggregate and a lookup by row id instead of a window over every version: the version with
   * the largest order (`_tt_order`, _tt_position as a number; a snapshot row's rowid breaks a tie)
   * names each key's last version, and its rowid and whether it is a tombstone travel in one
   * BIGINT (rowid * 2 + deleted), fetched by rowid. The window sorts every key's versions; the
   * aggregate keeps one per key. A fixed-size number instead of the struct
   * `{_tt_position, rowid, _tt_deleted}` the aggregate took until session 17 (DuckDB builds a
   * sort key of text for each row to compare structs): over 10M versions of 1M keys, the state
   * half-way in 0.47–0.60 s against 1.04–1.13 s (docs/performance.md, "Session 17"). A source
   * column named rowid hides DuckDB's; such a table keeps the window.
   *
   * Keyed versions are grouped by `_tt_key` alone and a keyless row is taken apart (rowsPresentIn
   * sends keyless tables to keylessRows; a keyed table's older keyless rows, from before its key,
   * come back as they are): one column to group, not an expression over two.
   */
  lastVersions(hist: string, where: string, columns: readonly string[]): string | undefined {
    if (columns.some((c) => c.toLowerCase() === 'rowid')) return undefined;
    // `where` is empty or `WHERE` and conditions joined by AND.
    const and = (condition: string) => (where ? `${where} AND ${condition}` : `WHERE ${condition}`);
    // The tombstone test stays inside: as a filter on the fetch, DuckDB plans the current state
    // (no WHERE) four times slower.
    return `SELECT * FROM ${hist} WHERE rowid IN (
        SELECT last.m // 2 FROM (
          SELECT arg_max(rowid * 2 + CAST(_tt_deleted AS INTEGER), ${ORDER_WITH_ROWID}) AS m
            FROM ${hist} ${and('_tt_key IS NOT NULL')}
           GROUP BY _tt_key) last
         WHERE last.m % 2 = 0)
      UNION ALL
      SELECT * FROM ${hist} ${and('_tt_key IS NULL AND NOT _tt_deleted')}`;
  }

  /**
   * Adds `_tt_order` to a history that has none (a new one, or one an older tabletime made) and
   * fills it in, in the caller's transaction (the views are made when a table is created, and again
   * when a store opens with a newer VIEWS_VERSION). insertIgnore fills it in from then on.
   */
  async #ensureOrder(database: string, table: string, hist: string): Promise<void> {
    const [has] = await this.rows(
      `SELECT 1 FROM duckdb_columns() WHERE schema_name = $1 AND table_name = $2 AND column_name = '${ORDER_COLUMN}'`,
      [database, `${table}__history`],
    );
    if (has) return;
    const [size] = await this.rows(`SELECT count(*) AS n FROM ${hist}`);
    const versions = Number(size?.n ?? 0);
    const started = Date.now();
    if (versions > 0)
      this.#notice(
        `upgrading ${database}.${table}: filling in each version's order (${ORDER_COLUMN}) for ${versions} versions, once; apply and queries of this store wait for it`,
      );
    await this.run(`ALTER TABLE ${hist} ADD COLUMN ${ORDER_COLUMN} HUGEINT`);
    await this.run(`UPDATE ${hist} SET ${ORDER_COLUMN} = ${positionOrder('_tt_position')}`);
    if (versions > 0)
      this.#notice(`upgraded ${database}.${table} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  async createViews({ database, table, columns, primaryKeys }: TableSchema): Promise<void> {
    const db = ident(database);
    const hist = `${db}.${ident(`${table}__history`)}`;
    const src = columns.map((c) => ident(c.name)).join(', ');
    await this.#ensureOrder(database, table, hist);
    // Every version with its end, as PostgreSQL stores it: the earliest commit time of its key's
    // later versions (by position; the next version's time when commit times follow positions).
    // `_tt_order` is ours: _tt_position says the same.
    await this.#conn.run(`CREATE OR REPLACE VIEW ${db}.${ident(`${table}__versions`)} AS
      SELECT * EXCLUDE (${ORDER_COLUMN}), _tt_commit_ts AS _tt_valid_from,
             min(_tt_commit_ts) OVER (PARTITION BY coalesce(_tt_key, _tt_version_id) ${LATER}) AS _tt_valid_to
        FROM ${hist}`);
    const last = (where: string) => rowsPresentIn(this, hist, where, columns, primaryKeys);
    await this.#conn.run(
      `CREATE OR REPLACE VIEW ${db}.${ident(table)} AS SELECT ${src} FROM (${last('')}) v`,
    );
    // The parameter is named like our metadata: a source column of the same name would shadow it.
    await this.#conn.run(`CREATE OR REPLACE MACRO ${db}.${ident(`${table}__as_of`)}(_tt_at) AS TABLE
      SELECT ${src} FROM (${last('WHERE _tt_commit_ts <= _tt_at')}) v`);
  }

  close(): Promise<void> {
    this.#conn.closeSync();
    if (this.#ownsInstance) this.#instance.closeSync();
    return Promise.resolve();
  }
}

export class DuckdbStore extends SqlHistoryStore {
  static async open(
    path: string,
    options: { readonly notice?: (message: string) => void } = {},
  ): Promise<DuckdbStore> {
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
    // The WAL is folded into the file every 64 MB instead of DuckDB's 16 MB: each fold rewrites the
    // table's last, partly filled row group, and at 16 MB a backlog paid that every other batch
    // (a million changes applied in 23 s instead of 15 s; docs/performance.md).
    await conn.run("SET checkpoint_threshold = '64MB'");
    const store = new DuckdbStore(new DuckdbDialect(instance, conn, true, options.notice));
    await store.init();
    return store;
  }

  /**
   * Applies our own JSON change files with DuckDB reading them (src/store/duckdb-native.ts): the
   * same versions the JavaScript reader and #load store, without a JavaScript step per row. Refuses,
   * changing nothing, when a file or a line is not one it can prove it reads the same way.
   */
  async applyChangeFiles(
    files: readonly ChangeFileRef[],
    schemaOf: (schemaKey: string) => Promise<TableSchema | undefined>,
  ): Promise<NativeApply> {
    const refuse = (reason: string): NativeApply => ({ applied: false, reason });
    if (files.length === 0)
      return { applied: true, inserted: 0, skipped: [], events: 0, perTable: new Map() };
    const first = files[0]!;
    const prefixLength = first.path.length - first.name.length;
    for (const f of files) {
      if (!NATIVE_FILE.test(f.name)) return refuse(`${f.name} is not one of our JSON change files`);
      if (!f.path.endsWith(f.name) || f.path.length - f.name.length !== prefixLength)
        return refuse('the files are not all in one bucket folder');
      // DuckDB reads a path with *, ?, [ or { as a pattern, which could name other files too.
      if (/[\n\r*?[\]{}]/.test(f.path)) return refuse(`${f.name}: a path DuckDB would read as a pattern`);
    }
    const d = this.dialect;
    const paths = files.map((f) => f.path);
    const nameOf = new Map(files.map((f) => [f.path, f.name]));
    let scan: PrescanRow[];
    try {
      const lenient = await d.rows(lenientJsonSql(paths));
      if (lenient.length > 0)
        return refuse(`${String(lenient[0]!.filename)} may hold JSON that JSON.parse rejects`);
      scan = (await d.rows(prescanSql(paths))) as unknown as PrescanRow[];
    } catch (err) {
      return refuse(`DuckDB cannot read the files: ${(err as Error).message.split('\n')[0]}`);
    }
    // One table and one schema per file; a table's files may have several schemas (a column
    // added or changed between them): each schema's files are read as that schema, into the
    // history's columns after every schema's change.
    const groups = new Map<TableSchema, { id: string; files: Set<string>; lo: number; hi: number }>();
    const tableOfFile = new Map<string, string>();
    const perFile = new Map<string, number>();
    for (const row of scan) {
      const schema =
        row.key_type === 'VARCHAR' && row.schema_key ? await schemaOf(row.schema_key) : undefined;
      const why = prescanRefusal(row, schema);
      if (why) return refuse(`${nameOf.get(row.file) ?? row.file}: ${why}`);
      const id = `${schema!.database}.${schema!.table}`;
      if ((tableOfFile.get(row.file) ?? id) !== id) return refuse(`${nameOf.get(row.file)}: several tables`);
      tableOfFile.set(row.file, id);
      const g = groups.get(schema!);
      if (!g) groups.set(schema!, { id, files: new Set([row.file]), lo: row.lo!, hi: row.hi! });
      else {
        g.files.add(row.file);
        g.lo = Math.min(g.lo, row.lo!);
        g.hi = Math.max(g.hi, row.hi!);
      }
      perFile.set(row.file, (perFile.get(row.file) ?? 0) + Number(row.n));
    }
    // Every schema's change first, in the files' order (their names follow the source's order,
    // as the JavaScript path applies them: a table gets its columns in the same order either way);
    // the last call returns the table's columns after all of them.
    const ordered = [...groups]
      .map(([schema, g]) => ({ schema, ...g, files: [...g.files].sort() }))
      .sort((a, b) => (a.files[0]! < b.files[0]! ? -1 : 1));
    const historyOf = new Map<string, ColumnSchema[]>();
    for (const g of ordered) historyOf.set(g.id, await this.ensureTable(g.schema));
    const plans: {
      id: string;
      schema: TableSchema;
      history: ColumnSchema[];
      hist: string;
      columns: string[];
      lo: number;
      hi: number;
      files: string[];
    }[] = [];
    for (const { id, schema, lo, hi, files } of ordered) {
      const history = historyOf.get(id)!;
      const why = columnsRefusal(schema, history);
      if (why) return refuse(`${id}: ${why}`);
      plans.push({
        id,
        schema,
        history,
        hist: this.historyTable(schema.database, schema.table),
        columns: [...history.map((c) => ident(c.name)), ...META_TYPES.map(([n]) => n)],
        lo,
        hi,
        files,
      });
    }
    let inserted = 0;
    let events = 0;
    const perTable = new Map<string, number>();
    const skipped = new Set<string>();
    await d.begin();
    try {
      for (const name of await this.appliedAmong(files.map((f) => f.name))) skipped.add(name);
      for (const p of plans) {
        // Files the store has (another worker applied them meanwhile) are left out.
        const todo = p.files.filter((f) => !skipped.has(nameOf.get(f)!));
        if (todo.length === 0) continue;
        const select = nativeSelect(todo, p.schema, p.history, prefixLength);
        inserted += await d.change(d.insertIgnore(p.hist, p.columns, select, { min: p.lo, max: p.hi }));
        const n = todo.reduce((sum, f) => sum + (perFile.get(f) ?? 0), 0);
        events += n;
        perTable.set(p.id, (perTable.get(p.id) ?? 0) + n);
      }
      await this.markApplied(
        files
          .filter((f) => !skipped.has(f.name))
          .map((f) => ({ file: f.name, versions: perFile.get(f.path) ?? 0 })),
      );
      await d.commit();
    } catch (err) {
      await d.rollback().catch(() => undefined);
      return refuse(`DuckDB did not take the batch: ${(err as Error).message.split('\n')[0]}`);
    }
    return { applied: true, inserted, skipped: [...skipped], events, perTable };
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
