/**
 * The embedded default store: one DuckDB file. Per source table `db.t`:
 *   "db"."t__history"       every version (source columns + _tt_ metadata), primary key _tt_version_id
 *   "db"."t"                view: the current state (last version per key, unless deleted)
 *   "db"."t__versions"      view: every version with _tt_valid_from / _tt_valid_to
 *   "db"."t__as_of"(ts)     table macro: the table as of a TIMESTAMPTZ
 * Loading: the appender fills an all-text staging table, then one INSERT OR IGNORE … SELECT with
 * casts moves it in, in the transaction that also records the file in _tabletime.applied_files.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { decodeValue, encodeValue } from '../changefile/index.ts';
import {
  type ChangeEvent,
  columnFromSqlType,
  type ColumnSchema,
  ConfigError,
  isoFromMicros,
  type Row,
  type TableSchema,
} from '../core/index.ts';
import { castIn, castOut, duckdbType, ident, needsRaw } from './duckdb-types.ts';
import { versionRow } from './history-columns.ts';
import type { DiffOut, HistoryStore, VersionOut } from './store.ts';

const META_TYPES: [string, string][] = [
  ['_tt_version_id', 'VARCHAR PRIMARY KEY'],
  ['_tt_key', 'VARCHAR'],
  ['_tt_op', 'VARCHAR'],
  ['_tt_deleted', 'BOOLEAN'],
  ['_tt_commit_ts', 'TIMESTAMPTZ'],
  ['_tt_position', 'VARCHAR'],
  ['_tt_log_file', 'VARCHAR'],
  ['_tt_log_pos', 'BIGINT'],
  ['_tt_row_index', 'INTEGER'],
  ['_tt_gtid', 'VARCHAR'],
  ['_tt_snapshot', 'BOOLEAN'],
  ['_tt_ingested_at', 'TIMESTAMPTZ'],
  ['_tt_file', 'VARCHAR'],
  ['_tt_raw', 'VARCHAR'],
];

interface Known {
  columns: ColumnSchema[];
}

export class DuckdbStore implements HistoryStore {
  readonly #instance: DuckDBInstance;
  readonly #conn: DuckDBConnection;
  readonly #known = new Map<string, Known>();

  readonly #ownsInstance: boolean;

  private constructor(instance: DuckDBInstance, conn: DuckDBConnection, ownsInstance = true) {
    this.#instance = instance;
    this.#conn = conn;
    this.#ownsInstance = ownsInstance;
  }

  /**
   * A second store on the same file, with its own connection: queries served while apply writes
   * see only committed versions (DuckDB lets one process hold the file, not one connection).
   */
  async openReader(): Promise<DuckdbStore> {
    const conn = await this.#instance.connect();
    await conn.run("SET TimeZone = 'UTC'");
    return new DuckdbStore(this.#instance, conn, false);
  }

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
    await conn.run('CREATE SCHEMA IF NOT EXISTS _tabletime');
    await conn.run(
      `CREATE TABLE IF NOT EXISTS _tabletime.applied_files (name VARCHAR PRIMARY KEY, versions INTEGER, applied_at TIMESTAMPTZ)`,
    );
    await conn.run(`CREATE TABLE IF NOT EXISTS _tabletime.columns (
      database VARCHAR, "table" VARCHAR, name VARCHAR, sql_type VARCHAR, ordinal INTEGER, primary_key INTEGER,
      PRIMARY KEY (database, "table", name))`);
    const store = new DuckdbStore(instance, conn);
    return store;
  }

  async #rows(sql: string, params: (string | number | null)[] = []): Promise<Record<string, unknown>[]> {
    if (params.length === 0) return (await this.#conn.runAndReadAll(sql)).getRowObjectsJson();
    const stmt = await this.#conn.prepare(sql);
    params.forEach((p, i) => {
      if (p === null) stmt.bindNull(i + 1);
      else if (typeof p === 'number') stmt.bindDouble(i + 1, p);
      else stmt.bindVarchar(i + 1, p);
    });
    return (await stmt.runAndReadAll()).getRowObjectsJson();
  }

  async schemaOf(database: string, table: string): Promise<TableSchema | null> {
    const rows = await this.#rows(
      `SELECT name, sql_type, primary_key FROM _tabletime.columns WHERE database = $1 AND "table" = $2 ORDER BY ordinal`,
      [database, table],
    );
    if (rows.length === 0) return null;
    const primaryKeys = rows
      .filter((r) => Number(r.primary_key) > 0)
      .sort((a, b) => Number(a.primary_key) - Number(b.primary_key))
      .map((r) => String(r.name));
    return {
      database,
      table,
      primaryKeys,
      columns: rows.map((r) => columnFromSqlType(String(r.name), String(r.sql_type))),
    };
  }

  /** Creates or evolves the history table so it has every column of `schema`. */
  async #ensureTable(schema: TableSchema): Promise<Known> {
    const id = `${schema.database}.${schema.table}`;
    let known = this.#known.get(id);
    if (!known) {
      const existing = await this.schemaOf(schema.database, schema.table);
      known = { columns: existing ? [...existing.columns] : [] };
      this.#known.set(id, known);
    }
    const db = ident(schema.database);
    const hist = `${db}.${ident(`${schema.table}__history`)}`;
    const created = known.columns.length === 0;
    if (created) {
      await this.#conn.run(`CREATE SCHEMA IF NOT EXISTS ${db}`);
      const cols = [
        ...schema.columns.map((c) => `${ident(c.name)} ${duckdbType(c)}`),
        ...META_TYPES.map(([n, t]) => `${n} ${t}`),
      ];
      await this.#conn.run(`CREATE TABLE IF NOT EXISTS ${hist} (${cols.join(', ')})`);
    }
    let changed = created;
    for (const c of schema.columns) {
      const old = known.columns.find((k) => k.name === c.name);
      if (!old) {
        if (!created)
          await this.#conn.run(`ALTER TABLE ${hist} ADD COLUMN ${ident(c.name)} ${duckdbType(c)}`);
        known.columns.push(c);
        changed = true;
      } else if (duckdbType(old) !== duckdbType(c)) {
        // A type change: the column becomes text, which holds every old and new value exactly.
        if (duckdbType(old) !== 'VARCHAR')
          await this.#conn.run(`ALTER TABLE ${hist} ALTER ${ident(c.name)} TYPE VARCHAR`);
        known.columns[known.columns.indexOf(old)] = columnFromSqlType(c.name, 'longtext');
        changed = true;
      }
    }
    if (changed) await this.#saveCatalog(schema, known);
    return known;
  }

  async #saveCatalog(schema: TableSchema, known: Known): Promise<void> {
    await this.#rows(`DELETE FROM _tabletime.columns WHERE database = $1 AND "table" = $2`, [
      schema.database,
      schema.table,
    ]);
    for (const [i, c] of known.columns.entries()) {
      const pk = schema.primaryKeys.indexOf(c.name) + 1;
      await this.#rows(`INSERT INTO _tabletime.columns VALUES ($1, $2, $3, $4, $5, $6)`, [
        schema.database,
        schema.table,
        c.name,
        c.sqlType,
        i,
        pk,
      ]);
    }
    await this.#createViews(schema.database, schema.table, known.columns);
  }

  async #createViews(database: string, table: string, columns: readonly ColumnSchema[]): Promise<void> {
    const db = ident(database);
    const hist = `${db}.${ident(`${table}__history`)}`;
    const src = columns.map((c) => ident(c.name)).join(', ');
    // Versions of one key in source order; a version is valid until the next one of its key.
    await this.#conn.run(`CREATE OR REPLACE VIEW ${db}.${ident(`${table}__versions`)} AS
      SELECT *, _tt_commit_ts AS _tt_valid_from,
             lead(_tt_commit_ts) OVER (PARTITION BY coalesce(_tt_key, _tt_version_id) ORDER BY _tt_position) AS _tt_valid_to
        FROM ${hist}`);
    await this.#conn.run(`CREATE OR REPLACE VIEW ${db}.${ident(table)} AS
      SELECT ${src} FROM ${hist}
      QUALIFY row_number() OVER (PARTITION BY coalesce(_tt_key, _tt_version_id) ORDER BY _tt_position DESC) = 1 AND NOT _tt_deleted`);
    await this.#conn.run(`CREATE OR REPLACE MACRO ${db}.${ident(`${table}__as_of`)}(ts) AS TABLE
      SELECT ${src} FROM ${hist} WHERE _tt_commit_ts <= ts
      QUALIFY row_number() OVER (PARTITION BY coalesce(_tt_key, _tt_version_id) ORDER BY _tt_position DESC) = 1 AND NOT _tt_deleted`);
  }

  async isApplied(file: string): Promise<boolean> {
    return (await this.#rows('SELECT 1 FROM _tabletime.applied_files WHERE name = $1', [file])).length > 0;
  }

  async applyFile(
    file: string,
    events: readonly { event: ChangeEvent; schema: TableSchema }[],
  ): Promise<{ inserted: number; duplicates: number }> {
    // Tables first (DDL outside the data transaction), then one transaction for versions + marker.
    const byTable = new Map<
      string,
      { schema: TableSchema; items: { event: ChangeEvent; schema: TableSchema }[] }
    >();
    for (const item of events) {
      const id = `${item.event.database}.${item.event.table}`;
      let group = byTable.get(id);
      if (!group) byTable.set(id, (group = { schema: item.schema, items: [] }));
      group.items.push(item);
    }
    const prepared: {
      schema: TableSchema;
      known: Known;
      items: { event: ChangeEvent; schema: TableSchema }[];
    }[] = [];
    for (const group of byTable.values()) {
      let known: Known | undefined;
      for (const s of new Set(group.items.map((i) => i.schema))) known = await this.#ensureTable(s);
      prepared.push({ schema: group.schema, known: known!, items: group.items });
    }
    let inserted = 0;
    await this.#conn.run('BEGIN TRANSACTION');
    try {
      if (await this.isApplied(file)) {
        await this.#conn.run('ROLLBACK');
        return { inserted: 0, duplicates: events.length };
      }
      for (const { schema, known, items } of prepared)
        inserted += await this.#load(schema, known, items, file);
      await this.#rows('INSERT INTO _tabletime.applied_files VALUES ($1, $2, now())', [file, events.length]);
      await this.#conn.run('COMMIT');
    } catch (err) {
      await this.#conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
    return { inserted, duplicates: events.length - inserted };
  }

  async #load(
    schema: TableSchema,
    known: Known,
    items: { event: ChangeEvent; schema: TableSchema }[],
    file: string,
  ): Promise<number> {
    const columns = known.columns;
    const staging = ident(`_tt_staging_${schema.database}_${schema.table}`);
    const textCols = [...columns.map((c) => ident(c.name)), ...META_TYPES.map(([n]) => n)];
    await this.#conn.run(
      `CREATE OR REPLACE TEMP TABLE ${staging} (${textCols.map((c) => `${c} VARCHAR`).join(', ')})`,
    );
    const appender = await this.#conn.createAppender(
      staging.slice(1, -1).replaceAll('""', '"'),
      'main',
      'temp',
    );
    for (const { event, schema: s } of items) {
      const byName = new Map(s.columns.map((c) => [c.name, c]));
      const v = versionRow(event, byName);
      const raw: Record<string, unknown> = {};
      for (const c of columns) {
        const col = byName.get(c.name);
        const value = col ? event.payload[c.name] : undefined;
        if (value === undefined || value === null || !col) {
          appender.appendNull();
          continue;
        }
        const text = String(encodeValue(value, col));
        if (needsRaw(c, text)) raw[c.name] = text;
        appender.appendVarchar(text);
      }
      const meta: (string | null)[] = [
        v.versionId,
        v.key,
        v.op,
        String(v.deleted),
        isoFromMicros(v.commitMicros),
        v.position,
        event.position.logFile,
        String(event.position.logPosition),
        String(event.position.rowIndex),
        event.position.gtid ?? null,
        String(event.position.snapshot),
        isoFromMicros(Date.now() * 1000),
        file,
        Object.keys(raw).length > 0 ? JSON.stringify(raw) : null,
      ];
      for (const m of meta) {
        if (m === null) appender.appendNull();
        else appender.appendVarchar(m);
      }
      appender.endRow();
    }
    appender.flushSync();
    appender.closeSync();
    const hist = `${ident(schema.database)}.${ident(`${schema.table}__history`)}`;
    const select = [
      ...columns.map((c) => castIn(c, ident(c.name))),
      ...META_TYPES.map(([n, t]) =>
        t.startsWith('VARCHAR') ? n : `CAST(${n} AS ${t.replace(' PRIMARY KEY', '')})`,
      ),
    ];
    const before = Number((await this.#rows(`SELECT count(*) AS n FROM ${hist}`))[0]!.n);
    await this.#conn.run(
      `INSERT OR IGNORE INTO ${hist} (${textCols.join(', ')}) SELECT ${select.join(', ')} FROM ${staging}`,
    );
    const after = Number((await this.#rows(`SELECT count(*) AS n FROM ${hist}`))[0]!.n);
    await this.#conn.run(`DROP TABLE ${staging}`);
    return after - before;
  }

  async tables(): Promise<{ database: string; table: string; versions: number }[]> {
    const rows = await this.#rows(`SELECT DISTINCT database, "table" FROM _tabletime.columns ORDER BY 1, 2`);
    const out = [];
    for (const r of rows) {
      const n = await this.#rows(
        `SELECT count(*) AS n FROM ${ident(String(r.database))}.${ident(`${String(r.table)}__history`)}`,
      );
      out.push({ database: String(r.database), table: String(r.table), versions: Number(n[0]!.n) });
    }
    return out;
  }

  async #schemaOrFail(database: string, table: string): Promise<TableSchema> {
    const schema = await this.schemaOf(database, table);
    if (!schema)
      throw new ConfigError(
        'UNKNOWN_TABLE',
        `no history for ${database}.${table}: \`tabletime query tables\` lists what there is`,
      );
    return schema;
  }

  /** Reads rows back into exact values: typed columns through their text form, `_tt_raw` on top. */
  #decode(schema: TableSchema, r: Record<string, unknown>): Row {
    const raw = typeof r._tt_raw === 'string' ? (JSON.parse(r._tt_raw) as Record<string, string>) : {};
    const row: Row = {};
    for (const c of schema.columns) {
      // Every output column is selected as text (castOut); _tt_raw holds what the type could not.
      const text = raw[c.name] ?? (r[c.name] as string | null | undefined);
      row[c.name] = text === null || text === undefined ? null : decodeValue(text, c);
    }
    return row;
  }

  #selectOut(schema: TableSchema): string {
    return [...schema.columns.map((c) => `${castOut(c, ident(c.name))} AS ${ident(c.name)}`), '_tt_raw'].join(
      ', ',
    );
  }

  async asOf(database: string, table: string, atMicros: number | null): Promise<Row[]> {
    const schema = await this.#schemaOrFail(database, table);
    const hist = `${ident(database)}.${ident(`${table}__history`)}`;
    const where = atMicros === null ? '' : `WHERE _tt_commit_ts <= CAST($1 AS TIMESTAMPTZ)`;
    // Order by the typed key columns of the inner rows, not by the text aliases of the output.
    const order =
      schema.primaryKeys.length > 0
        ? `ORDER BY ${schema.primaryKeys.map((k) => `v.${ident(k)}`).join(', ')}`
        : '';
    const rows = await this.#rows(
      `SELECT ${this.#selectOut(schema)} FROM (
         SELECT * FROM ${hist} ${where}
         QUALIFY row_number() OVER (PARTITION BY coalesce(_tt_key, _tt_version_id) ORDER BY _tt_position DESC) = 1 AND NOT _tt_deleted
       ) AS v ${order}`,
      atMicros === null ? [] : [isoFromMicros(atMicros)],
    );
    return rows.map((r) => this.#decode(schema, r));
  }

  async history(database: string, table: string, key?: Row): Promise<VersionOut[]> {
    const schema = await this.#schemaOrFail(database, table);
    const hist = `${ident(database)}.${ident(`${table}__history`)}`;
    let where = '';
    const params: string[] = [];
    if (key) {
      const byName = new Map(schema.columns.map((c) => [c.name, c]));
      const text = JSON.stringify(schema.primaryKeys.map((k) => encodeValue(key[k] ?? null, byName.get(k)!)));
      where = 'WHERE _tt_key = $1';
      params.push(text);
    }
    const rows = await this.#rows(
      `SELECT ${this.#selectOut(schema)}, _tt_version_id, _tt_op, _tt_deleted, strftime(_tt_commit_ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS _tt_commit,
              _tt_position, _tt_gtid, _tt_snapshot
         FROM ${hist} ${where} ORDER BY coalesce(_tt_key, ''), _tt_position`,
      params,
    );
    return rows.map((r) => ({
      row: this.#decode(schema, r),
      versionId: String(r._tt_version_id),
      op: String(r._tt_op),
      deleted: r._tt_deleted === true,
      commitTimestamp: String(r._tt_commit),
      position: String(r._tt_position),
      gtid: typeof r._tt_gtid === 'string' ? r._tt_gtid : null,
      snapshot: r._tt_snapshot === true,
    }));
  }

  async diff(database: string, table: string, fromMicros: number, toMicros: number): Promise<DiffOut> {
    const schema = await this.#schemaOrFail(database, table);
    const byName = new Map(schema.columns.map((c) => [c.name, c]));
    const keyOf = (row: Row) =>
      JSON.stringify(schema.primaryKeys.map((k) => encodeValue(row[k] ?? null, byName.get(k)!)));
    const before = new Map((await this.asOf(database, table, fromMicros)).map((r) => [keyOf(r), r]));
    const after = new Map((await this.asOf(database, table, toMicros)).map((r) => [keyOf(r), r]));
    const out: DiffOut = { inserted: [], deleted: [], changed: [] };
    for (const [k, row] of after) {
      const old = before.get(k);
      if (!old) out.inserted.push(row);
      else {
        const columns = schema.columns
          .map((c) => c.name)
          .filter(
            (n) =>
              JSON.stringify(encodeValue(old[n] ?? null, byName.get(n)!)) !==
              JSON.stringify(encodeValue(row[n] ?? null, byName.get(n)!)),
          );
        if (columns.length > 0) out.changed.push({ before: old, after: row, columns });
      }
    }
    for (const [k, row] of before) if (!after.has(k)) out.deleted.push(row);
    return out;
  }

  close(): Promise<void> {
    this.#conn.closeSync();
    if (this.#ownsInstance) this.#instance.closeSync();
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
