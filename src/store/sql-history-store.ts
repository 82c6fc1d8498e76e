/**
 * The history store over SQL, shared by every SQL database (docs/history-tables.md). Per source
 * table `db.t`: a schema `db`, a table `t__history` with every version (source columns, typed,
 * plus `_tt_` metadata; primary key `_tt_version_id`), and the dialect's views for the current
 * state, versions with validity intervals, and as-of. A file's versions are staged as text and
 * moved in with one insert that skips known version ids, in the transaction that records the file
 * in `_tabletime.applied_files`: applying twice changes nothing.
 */
import { decodeValue, encodeValue } from '../changefile/index.ts';
import {
  type ChangeEvent,
  columnFromSqlType,
  type ColumnKind,
  type ColumnSchema,
  ConfigError,
  isoFromMicros,
  type PositionBound,
  type Row,
  type TableSchema,
} from '../core/index.ts';
import { NUMBER_KINDS, needsRaw, numberKeyPart, textKey, versionRow } from './history-columns.ts';
import type { SqlDialect, SqlParam } from './sql-dialect.ts';
import type {
  AsOfOptions,
  DiffOut,
  HistoryStore,
  Moment,
  TableSummary,
  TruncateRecord,
  VersionOut,
} from './store.ts';

/** Where tabletime keeps its own tables. */
export const META_SCHEMA = '_tabletime';

/**
 * The version of the views, macros and functions createViews makes. A store that recorded an
 * older one makes them again for every table when it opens. 2: the as-of macro and function no
 * longer take a source column named `ts` for their parameter; DuckDB's plan by aggregate. 3:
 * PostgreSQL's histories keep each version's end (`_tt_valid_to`, filled in for older ones). 4:
 * DuckDB's and BigQuery's `t__versions` give a version's end as PostgreSQL stores it (the earliest
 * later commit time), not the next version's. 5: DuckDB's current view and as-of macro group keyed
 * versions by `_tt_key` and take keyless rows apart. 6: a table without a key's current view and
 * as-of leave out the rows its tombstones removed (keylessRows). 7: DuckDB's histories keep each
 * version's order as a number (`_tt_order`, filled in for older ones) and its plans use it. 8:
 * PostgreSQL's versions view and as-of function name their columns (the source's, the metadata,
 * the end), as new histories keep the as-of filter's columns first.
 */
const VIEWS_VERSION = '8';

/**
 * Metadata columns and their (portable) SQL types; `_tt_version_id` identifies a version (a key
 * in PostgreSQL and BigQuery; see the DuckDB dialect's insertIgnore for DuckDB).
 */
export const META_TYPES: readonly (readonly [string, string])[] = [
  ['_tt_version_id', 'VARCHAR'],
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

/**
 * The last version of each key (or of each keyless row), in `t__history`, optionally up to a time,
 * deleted ones left out. A dialect may select the same rows by a faster plan (SqlDialect.lastVersions).
 */
export function lastVersions(hist: string, where: string): string {
  return `SELECT * FROM (
      SELECT h.*, row_number() OVER (PARTITION BY coalesce(_tt_key, _tt_version_id) ORDER BY _tt_position DESC) AS _tt_rank
        FROM ${hist} h ${where}
    ) latest WHERE _tt_rank = 1 AND NOT _tt_deleted`;
}

/**
 * The rows of a table without a key present among the versions of `hist` that pass `where`. With no
 * key there is no record to follow from one version to the next, so the table is a multiset: a row
 * is written by an INSERT or UPDATE-INSERT and removed by a tombstone (DELETE, UPDATE-DELETE,
 * TRUNCATE) holding the same values, every column and `_tt_raw` (capture writes an update of such a
 * table as its old image's tombstone and its new image). A row held twice and deleted once is
 * there once, and the copy kept is the one written last. A tombstone that holds other values than
 * the row it removed (a column added with a default after the row was written) removes nothing.
 * Only versions without a key are read: a table whose key was added later keeps its older rows
 * out.
 */
export function keylessRows(
  d: SqlDialect,
  hist: string,
  where: string,
  columns: readonly ColumnSchema[],
): string {
  const and = (condition: string) => (where ? `${where} AND ${condition}` : `WHERE ${condition}`);
  const content = rowContent(d, columns);
  const rows = (deleted: boolean) =>
    `SELECT _tt_version_id, _tt_position, ${content} AS _tt_c FROM ${hist} ${and(
      `_tt_key IS NULL AND ${deleted ? '' : 'NOT '}_tt_deleted`,
    )}`;
  // Two parts, one of which returns nothing: with no tombstone up to the moment (a table only ever
  // inserted into), the live rows as they are; otherwise the rows kept, joined back by id. A row
  // whose values no tombstone holds is kept by a hash join, and only the rows a tombstone may remove
  // are numbered. A window over the whole table sorted every row by its values (1.5 s for 200,000
  // rows in PostgreSQL), and the same ids as an IN inside an OR were scanned again for every row
  // (docs/performance.md, "Session 16").
  const tombstones = `EXISTS (SELECT 1 FROM ${hist} ${and('_tt_key IS NULL AND _tt_deleted')})`;
  return `SELECT * FROM ${hist} ${and('_tt_key IS NULL AND NOT _tt_deleted')} AND NOT ${tombstones}
    UNION ALL
    SELECT h.* FROM ${hist} h JOIN (
        WITH r AS (${rows(false)}),
             g AS (SELECT _tt_c, count(*) AS _tt_gone FROM (${rows(true)}) t GROUP BY _tt_c)
        SELECT r._tt_version_id FROM r LEFT JOIN g ON g._tt_c = r._tt_c WHERE g._tt_c IS NULL
        UNION ALL
        SELECT w._tt_version_id FROM (
          SELECT r._tt_version_id, g._tt_gone,
                 row_number() OVER (PARTITION BY r._tt_c ORDER BY r._tt_position, r._tt_version_id) AS _tt_n
            FROM r JOIN g ON g._tt_c = r._tt_c) w
         WHERE w._tt_n > w._tt_gone) k ON k._tt_version_id = h._tt_version_id
     WHERE ${tombstones}`;
}

/**
 * One text for a version's values (its `columns` and `_tt_raw`, referenced by name), equal exactly
 * when every value is: the dialect's rowText, or each value as text with its length first (no
 * value can run into the next) and NULL as '~'.
 */
function rowContent(d: SqlDialect, columns: readonly ColumnSchema[]): string {
  const part = (text: string) =>
    `coalesce(CAST(length(${text}) AS ${d.metaType('VARCHAR')}) || ':' || ${text}, '~')`;
  return (
    d.rowText?.([...columns.map((c) => d.ident(c.name)), '_tt_raw']) ??
    [...columns.map((c) => part(d.castOut(c, d.ident(c.name)))), part('_tt_raw')].join(' || ')
  );
}

/**
 * The window, within a key's versions, of those after this one's position (their earliest commit
 * time is this one's end): by descending position, every group of rows before this one's. Not
 * `ORDER BY _tt_position ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING`: PostgreSQL works that
 * frame out again for every row (20,000 versions of one key: 12 s, against 29 ms), and it would
 * count a version staged twice in one batch (a file written again) as after itself.
 */
export const LATER = 'ORDER BY _tt_position DESC GROUPS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING';

/** Column kinds whose typed equality is exactly their change-file text's equality. */
const EXACT_KEY_KINDS: ReadonlySet<ColumnKind> = new Set([
  'int',
  'bigint',
  'decimal',
  'string',
  'enum',
  'binary',
]);

/**
 * The rows present among the versions of `hist` that pass `where`: each key's last version, or for
 * a table without a key (`primaryKeys` empty) its multiset of rows (keylessRows).
 */
export function rowsPresentIn(
  d: SqlDialect,
  hist: string,
  where: string,
  columns: readonly ColumnSchema[],
  primaryKeys: readonly string[],
): string {
  return primaryKeys.length === 0
    ? keylessRows(d, hist, where, columns)
    : lastVersionsIn(d, hist, where, columns);
}

/** lastVersions, by the dialect's own plan where it has one. */
export function lastVersionsIn(
  d: SqlDialect,
  hist: string,
  where: string,
  columns: readonly ColumnSchema[],
): string {
  return (
    d.lastVersions?.(
      hist,
      where,
      columns.map((c) => c.name),
    ) ?? lastVersions(hist, where)
  );
}

export class SqlHistoryStore implements HistoryStore {
  protected readonly dialect: SqlDialect;
  readonly #known = new Map<string, ColumnSchema[]>();

  constructor(dialect: SqlDialect) {
    this.dialect = dialect;
  }

  /** Creates tabletime's own tables (call once after connecting). */
  async init(): Promise<void> {
    const d = this.dialect;
    const schema = d.createSchema(META_SCHEMA);
    const t = (type: string) => d.metaType(type);
    await d.begin();
    try {
      await d.lockSchemaChanges?.();
      if (schema) await d.run(schema);
      await d.run(`CREATE TABLE IF NOT EXISTS ${this.#meta('applied_files')} (
        name ${t('VARCHAR')}, versions ${t('INTEGER')}, applied_at ${t('TIMESTAMPTZ')}, ${d.primaryKey(['name'])})`);
      await d.run(`CREATE TABLE IF NOT EXISTS ${this.#meta('columns')} (
        database_name ${t('VARCHAR')}, table_name ${t('VARCHAR')}, name ${t('VARCHAR')}, sql_type ${t('VARCHAR')},
        ordinal ${t('INTEGER')}, primary_key ${t('INTEGER')}, ${d.primaryKey(['database_name', 'table_name', 'name'])})`);
      await d.run(`CREATE TABLE IF NOT EXISTS ${this.#meta('store')} (
        name ${t('VARCHAR')}, value ${t('VARCHAR')}, ${d.primaryKey(['name'])})`);
      await this.#refreshViews();
      await d.commit();
    } catch (err) {
      await d.rollback().catch(() => undefined);
      throw err;
    }
  }

  /** Makes every table's views again if they were made by an older tabletime (VIEWS_VERSION). */
  async #refreshViews(): Promise<void> {
    const d = this.dialect;
    const store = this.#meta('store');
    const [made] = await d.rows(`SELECT value FROM ${store} WHERE name = 'views'`);
    if (made?.value === VIEWS_VERSION) return;
    for (const t of await d.rows(`SELECT DISTINCT database_name, table_name FROM ${this.#meta('columns')}`)) {
      const [database, table] = [String(t.database_name), String(t.table_name)];
      const schema = await this.schemaOf(database, table);
      try {
        if (schema) await d.createViews(schema);
      } catch (err) {
        throw new ConfigError(
          'STORE',
          `cannot make the views of ${database}.${table} again for this version of tabletime: ${(err as Error).message.split('\n')[0]} (does a view of yours depend on them?)`,
          { cause: err },
        );
      }
    }
    await d.rows(`DELETE FROM ${store} WHERE name = 'views'`);
    await d.rows(`INSERT INTO ${store} VALUES ('views', $1)`, [VIEWS_VERSION]);
  }

  #hist(database: string, table: string): string {
    return this.dialect.tableName(database, `${table}__history`);
  }

  /**
   * The last version of each key among those `where` keeps, deleted ones left out; `byEnd` when
   * `where` already keeps only the versions valid at its moment (#momentFilter).
   */
  #last(hist: string, where: string, schema: TableSchema, byEnd = false): string {
    // A keyless version is never ended (its end needs a key), so the conditions by end pass every
    // keyless version up to the moment.
    if (byEnd && schema.primaryKeys.length > 0)
      return `SELECT * FROM ${hist} ${where ? `${where} AND` : 'WHERE'} NOT _tt_deleted`;
    return rowsPresentIn(this.dialect, hist, where, schema.columns, schema.primaryKeys);
  }

  /** Whether the versions valid at `at` are found by their stored end (now, or a time). */
  #byEnd(at: Moment): boolean {
    return this.dialect.closeVersions !== undefined && (at === null || typeof at === 'number');
  }

  /** The condition "valid at the moment" by the stored end (#byEnd): for now, or a time. */
  #validAt(at: number | null, params: SqlParam[]): string {
    if (at === null) return '_tt_valid_to IS NULL';
    params.push(isoFromMicros(at));
    const t = `CAST($${params.length} AS ${this.dialect.metaType('TIMESTAMPTZ')})`;
    return `_tt_commit_ts <= ${t} AND (_tt_valid_to IS NULL OR _tt_valid_to > ${t})`;
  }

  /** tabletime's own tables (applied files, the column catalog). */
  #meta(name: string): string {
    return this.dialect.tableName(META_SCHEMA, name);
  }

  /** A source table's history table, as the dialect names it (for a dialect's own load paths). */
  protected historyTable(database: string, table: string): string {
    return this.#hist(database, table);
  }

  /** The history table's columns after making sure it holds every column of `schema`. */
  protected ensureTable(schema: TableSchema): Promise<ColumnSchema[]> {
    return this.#ensureTable(schema);
  }

  /**
   * Records files as applied (inside the caller's transaction), with their numbers of versions:
   * one statement for up to 200 files (a statement a file was the largest cost of applying many
   * small files).
   */
  protected async markApplied(files: readonly { file: string; versions: number }[]): Promise<void> {
    const d = this.dialect;
    for (let i = 0; i < files.length; i += 200) {
      const part = files.slice(i, i + 200);
      // Another worker may have applied the same file meanwhile: its marker is skipped here.
      await d.rows(
        `INSERT INTO ${this.#meta('applied_files')} VALUES ${part.map((_, j) => `($${2 * j + 1}, $${2 * j + 2}, ${d.now})`).join(', ')}${d.skipExistingKey ? ` ${d.skipExistingKey}` : ''}`,
        part.flatMap((f) => [f.file, f.versions]),
      );
    }
  }

  async schemaOf(database: string, table: string): Promise<TableSchema | null> {
    const rows = await this.dialect.rows(
      `SELECT name, sql_type, primary_key FROM ${this.#meta('columns')} WHERE database_name = $1 AND table_name = $2 ORDER BY ordinal`,
      [database, table],
    );
    if (rows.length === 0) return null;
    const primaryKeys = rows
      .filter((r) => Number(r.primary_key) > 0)
      .sort((a, b) => Number(a.primary_key) - Number(b.primary_key))
      .map((r) => String(r.name as string));
    return {
      database,
      table,
      primaryKeys,
      columns: rows.map((r) => columnFromSqlType(String(r.name as string), String(r.sql_type as string))),
    };
  }

  /**
   * Creates or evolves the history table so it has every column of `schema`: the DDL, the column
   * catalog and the views change in one transaction (where the database has them), and ADD COLUMN
   * is IF NOT EXISTS, so a crash in the middle leaves the old state or the new, never a table the
   * catalog does not describe.
   */
  async #ensureTable(schema: TableSchema): Promise<ColumnSchema[]> {
    const d = this.dialect;
    const id = `${schema.database}.${schema.table}`;
    const cached = this.#known.get(id);
    const known = [...(cached ?? (await this.schemaOf(schema.database, schema.table))?.columns ?? [])];
    if (!cached) this.#known.set(id, [...known]);
    const hist = this.#hist(schema.database, schema.table);
    const created = known.length === 0;
    const statements: string[] = [];
    if (created) {
      const create = d.createSchema(schema.database);
      if (create) statements.push(create);
      const lead = d.leadingColumns ?? [];
      const cols = [
        ...lead.map(([n, t]) => `${n} ${d.metaType(t)}`),
        ...schema.columns.map((c) => `${d.ident(c.name)} ${d.columnType(c)}`),
        ...META_TYPES.filter(([n]) => !lead.some(([l]) => l === n)).map(([n, t]) => `${n} ${d.metaType(t)}`),
        ...(d.versionIdKey ? [d.primaryKey(['_tt_version_id'])] : []),
      ];
      statements.push(`CREATE TABLE IF NOT EXISTS ${hist} (${cols.join(', ')})`);
    }
    let changed = created;
    // Run after every ALTER: DuckDB refuses to commit an ALTER TABLE that follows an UPDATE of the
    // same table in one transaction ("another transaction has altered this table").
    const respell: [string, SqlParam[]][] = [];
    for (const c of schema.columns) {
      const old = known.find((k) => k.name === c.name);
      if (!old) {
        if (!created)
          statements.push(
            `ALTER TABLE ${hist} ADD COLUMN IF NOT EXISTS ${d.ident(c.name)} ${d.columnType(c)}`,
          );
        known.push(c);
        changed = true;
      } else if (d.columnType(old) !== d.columnType(c) && d.columnType(old) !== d.textType) {
        // A type change: the column becomes text, which holds every old and new value exactly.
        // A column that is text already holds the new type too: nothing changes. (Treating it as
        // a change once rewrote the catalog and the views, and scanned the whole history, at
        // every batch after a type change: apply ran ten times slower.)
        statements.push(d.alterToText(schema.database, schema.table, c.name));
        known[known.indexOf(old)] = columnFromSqlType(c.name, 'longtext');
        changed = true;
        // The key's text spells an INT as a JSON number and a BIGINT as a string: after INT was
        // widened to BIGINT, the same record got a second key ([5], then ["5"]), kept its old
        // last version beside the new one and never saw its deletion. A key column that is text
        // is spelled as a string from then on (textKey, also for files of the old type), and the
        // earlier versions are re-spelled here, by the pattern textKey uses.
        const part = schema.primaryKeys.indexOf(c.name);
        if (part >= 0) {
          const { pattern, replacement } = numberKeyPart(part, (g) => `\\${g}`);
          const respelled = `regexp_replace(_tt_key, $1, $2)`;
          respell.push([
            `UPDATE ${hist} SET _tt_key = ${respelled} WHERE _tt_key <> ${respelled}`,
            [pattern, replacement],
          ]);
        }
      }
    }
    if (!changed) return known;
    await d.begin();
    try {
      // Every statement is IF NOT EXISTS or rewrites the same catalog rows: a process that made
      // the same change while this one waited for the lock leaves nothing to fail on.
      await d.lockSchemaChanges?.();
      for (const sql of statements) await d.run(sql);
      for (const [sql, params] of respell) await d.change(sql, params);
      // A history that already held both spellings of a record (from before the re-spelling) had
      // each spelling's versions end on their own: every end is worked out again.
      if (respell.length > 0)
        await d.closeVersions?.(hist, `SELECT _tt_key, _tt_commit_ts, _tt_position FROM ${hist}`);
      await d.rows(`DELETE FROM ${this.#meta('columns')} WHERE database_name = $1 AND table_name = $2`, [
        schema.database,
        schema.table,
      ]);
      for (const [i, c] of known.entries()) {
        const pk = schema.primaryKeys.indexOf(c.name) + 1;
        await d.rows(`INSERT INTO ${this.#meta('columns')} VALUES ($1, $2, $3, $4, $5, $6)`, [
          schema.database,
          schema.table,
          c.name,
          c.sqlType,
          i,
          pk,
        ]);
      }
      await d.createViews({ ...schema, columns: known });
      await d.commit();
    } catch (err) {
      await d.rollback().catch(() => undefined);
      throw err;
    }
    this.#known.set(id, [...known]);
    return known;
  }

  async appliedAmong(files: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < files.length; i += 500) {
      const part = files.slice(i, i + 500);
      const rows = await this.dialect.rows(
        `SELECT name FROM ${this.#meta('applied_files')} WHERE name IN (${part.map((_, j) => `$${j + 1}`).join(', ')})`,
        part,
      );
      for (const r of rows) out.add(String(r.name));
    }
    return out;
  }

  async isApplied(file: string): Promise<boolean> {
    return (await this.appliedAmong([file])).has(file);
  }

  async applyFile(
    file: string,
    events: readonly { event: ChangeEvent; schema: TableSchema }[],
  ): Promise<{ inserted: number; duplicates: number }> {
    const { inserted, skipped } = await this.applyFiles([{ file, events }]);
    return { inserted, duplicates: skipped.length > 0 ? events.length : events.length - inserted };
  }

  /**
   * Stores several files' versions and marks them applied, in one transaction: one staging load
   * and one insert per table for the whole batch (the per-file statements dominate otherwise).
   * Files the store has already are skipped.
   */
  async applyFiles(
    files: readonly { file: string; events: readonly { event: ChangeEvent; schema: TableSchema }[] }[],
  ): Promise<{ inserted: number; skipped: string[] }> {
    const d = this.dialect;
    // Tables first (DDL outside the data transaction), then one transaction for versions + markers.
    const byTable = new Map<
      string,
      { schema: TableSchema; items: { event: ChangeEvent; schema: TableSchema; file: string }[] }
    >();
    for (const { file, events } of files) {
      for (const item of events) {
        const id = `${item.event.database}.${item.event.table}`;
        let group = byTable.get(id);
        if (!group) byTable.set(id, (group = { schema: item.schema, items: [] }));
        group.items.push({ ...item, file });
      }
    }
    const prepared: {
      schema: TableSchema;
      columns: ColumnSchema[];
      items: { event: ChangeEvent; schema: TableSchema; file: string }[];
    }[] = [];
    for (const group of byTable.values()) {
      let columns: ColumnSchema[] = [];
      for (const s of new Set(group.items.map((i) => i.schema))) columns = await this.#ensureTable(s);
      prepared.push({ schema: group.schema, columns, items: group.items });
    }
    const known = new Set<string>();
    let inserted = 0;
    await d.begin();
    try {
      for (const file of await this.appliedAmong(files.map((f) => f.file))) known.add(file);
      for (const p of prepared) {
        const items = p.items.filter((i) => !known.has(i.file));
        if (items.length > 0) inserted += await this.#load(p.schema, p.columns, items);
      }
      // Another worker may have applied a file meanwhile: its versions were skipped above (same
      // ids), and markApplied skips its marker.
      await this.markApplied(
        files.filter((f) => !known.has(f.file)).map((f) => ({ file: f.file, versions: f.events.length })),
      );
      await d.commit();
    } catch (err) {
      await d.rollback().catch(() => undefined);
      throw err;
    }
    return { inserted, skipped: [...known] };
  }

  async #load(
    schema: TableSchema,
    columns: readonly ColumnSchema[],
    items: readonly { event: ChangeEvent; schema: TableSchema; file: string }[],
  ): Promise<number> {
    const d = this.dialect;
    const staging = `_tt_staging_${`${schema.database}_${schema.table}`.replace(/[^A-Za-z0-9_]/g, '_')}`;
    const textCols = [...columns.map((c) => d.ident(c.name)), ...META_TYPES.map(([n]) => n)];
    const rows: (string | null)[][] = [];
    const now = isoFromMicros(Date.now() * 1000);
    // Key columns that are text in the history: their key is spelled as a string (textKey).
    const textColumns = new Set(columns.filter((c) => d.columnType(c) === d.textType).map((c) => c.name));
    // Per schema, once rather than once per event: its columns by name, and the key's parts that
    // the file writes as numbers into a history column that is text.
    const perSchema = new Map<TableSchema, { byName: Map<string, ColumnSchema>; textParts: number[] }>();
    for (const { event, schema: s, file } of items) {
      let plan = perSchema.get(s);
      if (!plan) {
        const byName = new Map(s.columns.map((c) => [c.name, c]));
        const textParts = s.primaryKeys.flatMap((k, i) =>
          textColumns.has(k) && NUMBER_KINDS.has(byName.get(k)?.kind ?? '') ? [i] : [],
        );
        perSchema.set(s, (plan = { byName, textParts }));
      }
      const { byName, textParts } = plan;
      const v = versionRow(event, byName);
      const key = textParts.length > 0 ? textKey(v.key, textParts) : v.key;
      const raw: Record<string, string> = {};
      const row: (string | null)[] = [];
      for (const c of columns) {
        const col = byName.get(c.name);
        const value = col ? event.payload[c.name] : undefined;
        if (value === undefined || value === null || !col) {
          row.push(null);
          continue;
        }
        const text = String(encodeValue(value, col));
        if (needsRaw(c, text)) raw[c.name] = text;
        row.push(text);
      }
      row.push(
        v.versionId,
        key,
        v.op,
        String(v.deleted),
        isoFromMicros(v.commitMicros),
        v.position,
        event.position.logFile,
        String(event.position.logPosition),
        String(event.position.rowIndex),
        event.position.gtid ?? null,
        String(event.position.snapshot),
        now,
        file,
        Object.keys(raw).length > 0 ? JSON.stringify(raw) : null,
      );
      rows.push(row);
    }
    const staged = await d.stage(staging, textCols, rows);
    // Every item named: a MERGE (BigQuery) matches columns by name, not by place.
    const select = [
      ...columns.map((c) => `${d.castIn(c, d.ident(c.name))} AS ${d.ident(c.name)}`),
      ...META_TYPES.map(([n, t]) => (t === 'VARCHAR' ? n : `CAST(${n} AS ${d.metaType(t)}) AS ${n}`)),
    ];
    const hist = this.#hist(schema.database, schema.table);
    // The insert says how many rows it added: counting the history before and after would scan it.
    let min = Number.MAX_SAFE_INTEGER;
    let max = 0;
    for (const { event } of items) {
      const p = event.position.snapshot ? 0 : event.position.logPosition;
      if (p < min) min = p;
      if (p > max) max = p;
    }
    const ts = `CAST(_tt_commit_ts AS ${d.metaType('TIMESTAMPTZ')})`;
    // Where the history keeps each version's end: the batch's own versions get theirs from the
    // batch, and closeVersions then ends the versions they follow (and any the batch precedes).
    const ends = d.closeVersions
      ? [`min(${ts}) OVER (PARTITION BY coalesce(_tt_key, _tt_version_id) ${LATER}) AS _tt_valid_to`]
      : [];
    const inserted = await d.change(
      d.insertIgnore(
        hist,
        [...textCols, ...(d.closeVersions ? ['_tt_valid_to'] : [])],
        `SELECT ${[...select, ...ends].join(', ')} FROM ${staged}`,
        { min, max },
      ),
    );
    await d.closeVersions?.(hist, `SELECT _tt_key, ${ts} AS _tt_commit_ts, _tt_position FROM ${staged}`);
    await d.run(`DROP TABLE ${staged}`);
    return inserted;
  }

  async applyTruncate(database: string, table: string, t: TruncateRecord): Promise<number> {
    const d = this.dialect;
    const schema = await this.schemaOf(database, table);
    if (!schema) return 0; // nothing was ever stored for the table: nothing to end
    const hist = this.#hist(database, table);
    const source = schema.columns.map((c) => d.ident(c.name));
    const columns = [...source, ...META_TYPES.map(([n]) => n)];
    // The tombstone keeps what the row held; its id depends only on the key and the position.
    const values = [
      `'t' || substr(${d.md5Hex(`coalesce(_tt_key, _tt_version_id) || '|' || $1`)}, 1, 31)`,
      '_tt_key',
      "'TRUNCATE'",
      'true',
      `CAST($2 AS ${d.metaType('TIMESTAMPTZ')})`,
      `CAST($1 AS ${d.metaType('VARCHAR')})`,
      `CAST($3 AS ${d.metaType('VARCHAR')})`,
      `CAST($4 AS ${d.metaType('BIGINT')})`,
      '0',
      `CAST($5 AS ${d.metaType('VARCHAR')})`,
      'false',
      d.now,
      `CAST($6 AS ${d.metaType('VARCHAR')})`,
      '_tt_raw',
    ];
    // Every item named: a MERGE (BigQuery) matches columns by name, not by place.
    const select = [...source, ...values.map((v, i) => `${v} AS ${META_TYPES[i]![0]}`)];
    const inserted = await d.change(
      d.insertIgnore(
        hist,
        columns,
        `SELECT ${select.join(', ')} FROM (${this.#last(hist, 'WHERE _tt_position < $1', schema)}) v`,
        { min: t.logPosition, max: t.logPosition },
      ),
      [t.positionKey, t.commitTimestamp, t.logFile, String(t.logPosition), t.gtid, t.file],
    );
    await d.closeVersions?.(
      hist,
      `SELECT _tt_key, _tt_commit_ts, _tt_position FROM ${hist} WHERE _tt_position = $1 AND _tt_op = 'TRUNCATE'`,
      [t.positionKey],
    );
    return inserted;
  }

  async tables(): Promise<TableSummary[]> {
    const d = this.dialect;
    const rows = await d.rows(
      `SELECT DISTINCT database_name, table_name FROM ${this.#meta('columns')} ORDER BY 1, 2`,
    );
    const out = [];
    for (const r of rows) {
      const [database, table] = [String(r.database_name), String(r.table_name)];
      const n = await d.rows(
        `SELECT count(*) AS n, ${d.formatInstant('max(_tt_commit_ts)')} AS last FROM ${this.#hist(database, table)}`,
      );
      const last = n[0]!.last;
      out.push({
        database,
        table,
        versions: Number(n[0]!.n),
        lastCommit: typeof last === 'string' ? last : null,
      });
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
    const d = this.dialect;
    return [
      ...schema.columns.map((c) => `${d.castOut(c, d.ident(c.name))} AS ${d.ident(c.name)}`),
      '_tt_raw',
    ].join(', ');
  }

  /** The condition "at or before the moment" (or, `negate`, after it); '' for no bound. */
  #upTo(at: Moment, params: SqlParam[], negate = false): string {
    const d = this.dialect;
    if (at === null) return negate ? '1 = 0' : '';
    if (typeof at === 'number') {
      params.push(isoFromMicros(at));
      return `_tt_commit_ts ${negate ? '>' : '<='} CAST($${params.length} AS ${d.metaType('TIMESTAMPTZ')})`;
    }
    params.push(at.key);
    const op = at.inclusive ? (negate ? '>' : '<=') : negate ? '>=' : '<';
    return `_tt_position ${op} $${params.length}`;
  }

  /**
   * The WHERE clause (and its parameters) that keeps the versions up to a moment, of the records
   * `keys` (`_tt_key` texts), and with a key after `after` (paging: every version of a record has
   * its key, so filtering versions filters records). Its parameters are added to `params`, numbered
   * after those already there (for a statement with two filters).
   */
  #momentFilter(
    at: Moment,
    keys?: readonly string[],
    after?: { schema: TableSchema; key: Row },
    changed?: { hist: string; from: Moment; to: Moment },
    params: SqlParam[] = [],
  ): { where: string; params: SqlParam[]; byEnd: boolean } {
    const d = this.dialect;
    const conditions: string[] = [];
    const byEnd = this.#byEnd(at);
    const upTo = byEnd ? this.#validAt(at as number | null, params) : this.#upTo(at, params);
    if (upTo) conditions.push(upTo);
    if (changed) conditions.push(this.#changedBetween(changed.hist, changed.from, changed.to, params));
    if (keys) {
      if (keys.length === 0) conditions.push('1 = 0');
      else {
        const first = params.length + 1;
        params.push(...keys);
        conditions.push(`_tt_key IN (${keys.map((_, i) => `$${first + i}`).join(', ')})`);
      }
    }
    if (after && after.schema.primaryKeys.length > 0) {
      // (k1, k2) > (a, b) spelled out: not every SQL dialect compares rows.
      const byName = new Map(after.schema.columns.map((c) => [c.name, c]));
      const typed = after.schema.primaryKeys.map((k) => {
        const c = byName.get(k)!;
        params.push(String(encodeValue(after.key[k] ?? null, c)));
        return { id: d.ident(k), value: d.castIn(c, `$${params.length}`) };
      });
      const ors = typed.map((t, i) =>
        [...typed.slice(0, i).map((p) => `${p.id} = ${p.value}`), `${t.id} > ${t.value}`].join(' AND '),
      );
      conditions.push(`(${ors.map((o) => `(${o})`).join(' OR ')})`);
    }
    return { where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', params, byEnd };
  }

  /**
   * The condition "a record with a version after one moment and at or before the other": what a
   * diff can show. Either moment may be the earlier (a diff asked backwards shows the changes
   * undone); the half of the window that runs backwards keeps nothing.
   */
  #changedBetween(hist: string, from: Moment, to: Moment, params: SqlParam[]): string {
    const half = (after: Moment, upTo: Moment) =>
      [this.#upTo(after, params, true), this.#upTo(upTo, params)].filter(Boolean).join(' AND ') || '1 = 1';
    return `_tt_key IN (SELECT _tt_key FROM ${hist} WHERE (${half(from, to)}) OR (${half(to, from)}))`;
  }

  async asOf(database: string, table: string, at: Moment, options: AsOfOptions = {}): Promise<Row[]> {
    const { schema, sql, params } = await this.#asOfQuery(database, table, at, options);
    return (await this.dialect.rows(sql, params)).map((r) => this.#decode(schema, r));
  }

  async *asOfPages(database: string, table: string, at: Moment, pageRows = 10_000): AsyncIterable<Row[]> {
    const { schema, sql, params } = await this.#asOfQuery(database, table, at, {});
    yield* this.#pages(sql, params, pageRows, (r) => this.#decode(schema, r));
  }

  /**
   * The rows of `sql` a page (about `pageRows`) at a time, from one consistent read where the
   * dialect streams; read whole where it does not (BigQuery).
   */
  async *#pages<T>(
    sql: string,
    params: readonly SqlParam[],
    pageRows: number,
    decode: (row: Record<string, unknown>) => T,
  ): AsyncIterable<T[]> {
    const d = this.dialect;
    if (!d.streamRows) {
      yield (await d.rows(sql, params)).map(decode);
      return;
    }
    // Most answers are one page (a small table, one key's history, the probe of a pipeline's
    // freshness): read as a plain result. A longer one is read again as one stream, page by page.
    const head = await d.rows(`${sql} LIMIT ${Math.floor(pageRows) + 1}`, params);
    if (head.length <= pageRows) {
      if (head.length > 0) yield head.map(decode);
      return;
    }
    for await (const page of d.streamRows(sql, params, pageRows)) yield page.map(decode);
  }

  /** The statement asOf runs, ordered by key. */
  async #asOfQuery(database: string, table: string, at: Moment, options: AsOfOptions) {
    const d = this.dialect;
    const schema = await this.#schemaOrFail(database, table);
    const { where, params, byEnd } = this.#momentFilter(
      at,
      options.keys,
      options.after ? { schema, key: options.after } : undefined,
    );
    // Order by the typed key columns of the inner rows, not by the text aliases of the output; a
    // table without a key by position, so that its pages (offsets) hold still.
    const order =
      schema.primaryKeys.length > 0
        ? `ORDER BY ${schema.primaryKeys.map((k) => `v.${d.ident(k)}`).join(', ')}`
        : 'ORDER BY v._tt_position, v._tt_version_id';
    const limit = options.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(options.limit))}`;
    const offset = options.offset ? ` OFFSET ${Math.max(0, Math.floor(options.offset))}` : '';
    const sql = `SELECT ${this.#selectOut(schema)} FROM (${this.#last(this.#hist(database, table), where, schema, byEnd)}) v ${order}${limit}${offset}`;
    return { schema, sql, params };
  }

  async countAsOf(database: string, table: string, at: Moment): Promise<number> {
    const schema = await this.#schemaOrFail(database, table);
    const { where, params, byEnd } = this.#momentFilter(at);
    const rows = await this.dialect.rows(
      `SELECT count(*) AS n FROM (${this.#last(this.#hist(database, table), where, schema, byEnd)}) v`,
      params,
    );
    return Number(rows[0]!.n);
  }

  async keysAsOf(database: string, table: string, at: Moment): Promise<string[]> {
    const schema = await this.#schemaOrFail(database, table);
    const { where, params, byEnd } = this.#momentFilter(at);
    const rows = await this.dialect.rows(
      `SELECT _tt_key FROM (${this.#last(this.#hist(database, table), where, schema, byEnd)}) v WHERE _tt_key IS NOT NULL`,
      params,
    );
    return rows.map((r) => String(r._tt_key as string));
  }

  async positionOfGtid(gtid: string): Promise<PositionBound | null> {
    let best: string | null = null;
    // A transaction's events are contiguous in the binlog: its last version in any table bounds it.
    for (const t of await this.dialect.rows(
      `SELECT DISTINCT database_name, table_name FROM ${this.#meta('columns')}`,
    )) {
      const rows = await this.dialect.rows(
        `SELECT max(_tt_position) AS p FROM ${this.#hist(String(t.database_name), String(t.table_name))} WHERE _tt_gtid = $1`,
        [gtid],
      );
      const p = rows[0]?.p;
      if (typeof p === 'string' && (best === null || p > best)) best = p;
    }
    return best === null ? null : { key: best, inclusive: true, text: gtid };
  }

  async history(database: string, table: string, key?: Row): Promise<VersionOut[]> {
    const { sql, params, decode } = await this.#historyQuery(database, table, key);
    return (await this.dialect.rows(sql, params)).map(decode);
  }

  async *historyPages(
    database: string,
    table: string,
    key?: Row,
    pageRows = 10_000,
  ): AsyncIterable<VersionOut[]> {
    const { sql, params, decode } = await this.#historyQuery(database, table, key);
    yield* this.#pages(sql, params, pageRows, decode);
  }

  /** The statement history runs (every version of the table, or of one key), in key and source order. */
  async #historyQuery(database: string, table: string, key?: Row) {
    const d = this.dialect;
    const schema = await this.#schemaOrFail(database, table);
    let where = '';
    const params: string[] = [];
    if (key) {
      const byName = new Map(schema.columns.map((c) => [c.name, c]));
      params.push(JSON.stringify(schema.primaryKeys.map((k) => encodeValue(key[k] ?? null, byName.get(k)!))));
      const conditions = ['_tt_key = $1'];
      // The typed key columns too, where their equality is exact (never a raw or rounded value):
      // DuckDB compares 10M integers in 3 ms and 10M key texts in 25–45 ms. Every version with
      // this `_tt_key` holds these values, so the condition only narrows the scan.
      for (const k of d.typedKeyFilter ? schema.primaryKeys : []) {
        const c = byName.get(k)!;
        const value = key[k];
        if (value === undefined || value === null || !EXACT_KEY_KINDS.has(c.kind)) continue;
        params.push(String(encodeValue(value, c)));
        conditions.push(`${d.ident(k)} = ${d.castIn(c, `$${params.length}`)}`);
      }
      where = `WHERE ${conditions.join(' AND ')}`;
    }
    const sql = `SELECT ${this.#selectOut(schema)}, _tt_version_id, _tt_op, _tt_deleted, ${d.formatInstant('_tt_commit_ts')} AS _tt_commit,
              _tt_position, _tt_gtid, _tt_snapshot
         FROM ${this.#hist(database, table)} ${where} ORDER BY coalesce(_tt_key, ''), _tt_position`;
    const decode = (r: Record<string, unknown>): VersionOut => ({
      row: this.#decode(schema, r),
      versionId: String(r._tt_version_id),
      op: String(r._tt_op),
      deleted: r._tt_deleted === true,
      commitTimestamp: String(r._tt_commit),
      position: String(r._tt_position),
      gtid: typeof r._tt_gtid === 'string' ? r._tt_gtid : null,
      snapshot: r._tt_snapshot === true,
    });
    return { sql, params, decode };
  }

  async diff(database: string, table: string, from: Moment, to: Moment): Promise<DiffOut> {
    const q = await this.#diffQuery(database, table, from, to);
    return q.toDiff(await this.dialect.rows(q.sql, q.params));
  }

  async *diffPages(
    database: string,
    table: string,
    from: Moment,
    to: Moment,
    pageRows = 10_000,
  ): AsyncIterable<DiffOut> {
    const q = await this.#diffQuery(database, table, from, to);
    if (!this.dialect.streamRows) yield q.toDiff(await this.dialect.rows(q.sql, q.params));
    else for await (const page of this.dialect.streamRows(q.sql, q.params, pageRows)) yield q.toDiff(page);
  }

  /**
   * A keyed table's diff as one statement: each record with a version between the two moments, its
   * row at `from` beside its row at `to` (a full join on the key), inserted records first, then
   * deleted, then the rest, each by key, as diff lists them; `toDiff` turns its rows into changes
   * (a record whose values came back to the same is none). A table without a key is compared as a
   * multiset of rows.
   */
  async #diffQuery(
    database: string,
    table: string,
    from: Moment,
    to: Moment,
  ): Promise<{
    sql: string;
    params: SqlParam[];
    toDiff: (rows: readonly Record<string, unknown>[]) => DiffOut;
  }> {
    const d = this.dialect;
    const schema = await this.#schemaOrFail(database, table);
    const byName = new Map(schema.columns.map((c) => [c.name, c]));
    const text = (row: Row, n: string) => JSON.stringify(encodeValue(row[n] ?? null, byName.get(n)!));
    const hist = this.#hist(database, table);
    const params: SqlParam[] = [];
    // Each side's columns as text (castOut), under names of ours: _tt_b0…, _tt_a0….
    const out = (name: string) => [
      ...schema.columns.map((c, i) => `${d.castOut(c, `${name}.${d.ident(c.name)}`)} AS _tt_${name}${i}`),
      `${name}._tt_raw AS _tt_${name}_raw`,
    ];
    const rowOf = (r: Record<string, unknown>, name: string): Row => {
      const named: Record<string, unknown> = { _tt_raw: r[`_tt_${name}_raw`] };
      schema.columns.forEach((c, i) => (named[c.name] = r[`_tt_${name}${i}`]));
      return this.#decode(schema, named);
    };
    const toDiff = (rows: readonly Record<string, unknown>[]): DiffOut => {
      const diff: DiffOut = { inserted: [], deleted: [], changed: [] };
      for (const r of rows) {
        const change = Number(r._tt_change);
        if (change === 0) diff.inserted.push(rowOf(r, 'a'));
        else if (change === 1) diff.deleted.push(rowOf(r, 'b'));
        else {
          const [old, row] = [rowOf(r, 'b'), rowOf(r, 'a')];
          const columns = schema.columns.map((c) => c.name).filter((n) => text(old, n) !== text(row, n));
          if (columns.length > 0) diff.changed.push({ before: old, after: row, columns });
        }
      }
      return diff;
    };
    if (schema.primaryKeys.length === 0) {
      // No key, so no record to follow from one moment to the other: the rows are a multiset, and
      // the diff is the rows added and the rows gone (a row held twice counts twice). Each side's
      // rows are numbered among those of the same values; a row without its match (the same values
      // and number) on the other side was added or is gone. The database works it out, so a large
      // table is never held in memory (it was read whole into JavaScript before).
      const content = rowContent(d, schema.columns);
      const side = (at: Moment, name: string) => {
        const { where } = this.#momentFilter(at, undefined, undefined, undefined, params);
        return `(SELECT w.*, row_number() OVER (PARTITION BY _tt_c ORDER BY _tt_position, _tt_version_id) AS _tt_n
             FROM (SELECT v.*, ${content} AS _tt_c FROM (${this.#last(hist, where, schema)}) v) w) ${name}`;
      };
      const b = side(from, 'b');
      const a = side(to, 'a');
      const sql = `SELECT ${[...out('b'), ...out('a')].join(', ')},
          CASE WHEN b._tt_c IS NULL THEN 0 ELSE 1 END AS _tt_change
        FROM ${b} FULL OUTER JOIN ${a} ON a._tt_c = b._tt_c AND a._tt_n = b._tt_n
        WHERE a._tt_c IS NULL OR b._tt_c IS NULL
        ORDER BY _tt_change, coalesce(a._tt_c, b._tt_c), coalesce(a._tt_n, b._tt_n)`;
      return { sql, params, toDiff };
    }
    const order = schema.primaryKeys.map((k) => `coalesce(a.${d.ident(k)}, b.${d.ident(k)})`).join(', ');
    const select = `SELECT ${[...out('b'), ...out('a')].join(', ')},
        CASE WHEN b._tt_key IS NULL THEN 0 WHEN a._tt_key IS NULL THEN 1 ELSE 2 END AS _tt_change`;
    if (this.#byEnd(from) && this.#byEnd(to)) {
      // Both moments found by each version's stored end (PostgreSQL): the changed records' versions
      // valid at either moment are read once, then split by moment. Two reads of the table (the
      // changed records, their versions) instead of four (each side read both again). Only the
      // columns the answer and the split need are kept: most of a version's width is metadata.
      const changed = this.#changedBetween(hist, from, to, params);
      const [atFrom, atTo] = [
        this.#validAt(from as number | null, params),
        this.#validAt(to as number | null, params),
      ];
      const kept = [
        ...schema.columns.map((c) => d.ident(c.name)),
        '_tt_raw',
        '_tt_key',
        '_tt_commit_ts',
        '_tt_valid_to',
      ];
      const sql = `WITH _tt_alive AS (
          SELECT ${kept.join(', ')} FROM ${hist}
           WHERE ${changed} AND NOT _tt_deleted AND ((${atFrom}) OR (${atTo})))
        ${select}
        FROM (SELECT * FROM _tt_alive WHERE ${atFrom}) b FULL OUTER JOIN (SELECT * FROM _tt_alive WHERE ${atTo}) a
          ON a._tt_key = b._tt_key
        ORDER BY _tt_change, ${order}`;
      return { sql, params, toDiff };
    }
    // Only the records that have a version between the two moments are read.
    const side = (at: Moment, name: string) => {
      const { where, byEnd } = this.#momentFilter(at, undefined, undefined, { hist, from, to }, params);
      return `(${this.#last(hist, where, schema, byEnd)}) ${name}`;
    };
    const b = side(from, 'b');
    const a = side(to, 'a');
    const sql = `${select}
      FROM ${b} FULL OUTER JOIN ${a} ON a._tt_key = b._tt_key
      ORDER BY _tt_change, ${order}`;
    return { sql, params, toDiff };
  }

  close(): Promise<void> {
    return this.dialect.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
