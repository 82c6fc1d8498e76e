/**
 * The BigQuery store (`--store bigquery://project/dataset`), the blueprint's versioned table. The
 * same design as DuckDB and PostgreSQL (SqlHistoryStore) with BigQuery's dialect:
 * - every table in the one dataset: `<db>__<table>__history`, views `<db>__<table>` and
 *   `<db>__<table>__versions`, table function `<db>__<table>__as_of(_tt_at)`, tabletime's own tables
 *   `_tabletime__applied_files`, `_tabletime__columns` and `_tabletime__store`;
 * - loading: each file's versions go to a staging table by a **load job** (free, no DML quota,
 *   atomic per file) from newline-delimited JSON, then one `MERGE … WHEN NOT MATCHED THEN INSERT`
 *   on the version id. BigQuery has no transaction across jobs: exactly-once rests on that MERGE
 *   (a file applied again adds nothing) and on the applied-file marker written after it.
 * Not run here: no BigQuery emulator installs offline. The SQL, schemas and requests are tested
 * with a recording client (test/bigquery-store.test.ts); a live test runs when
 * TABLETIME_TEST_BIGQUERY=project/dataset and Google credentials are given.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ColumnSchema, ConfigError, type TableSchema } from '../core/index.ts';
import type { SqlDialect, SqlParam } from './sql-dialect.ts';
import { rowsPresentIn, SqlHistoryStore } from './sql-history-store.ts';

/** What we use of @google-cloud/bigquery's client (structural, so tests can record requests). */
export interface BigQueryClient {
  query(options: BigQueryQuery): Promise<[Record<string, unknown>[], ...unknown[]]>;
  createQueryJob(options: BigQueryQuery): Promise<
    [
      {
        getQueryResults(): Promise<unknown>;
        metadata?: { statistics?: { query?: { numDmlAffectedRows?: string } } };
      },
      ...unknown[],
    ]
  >;
  dataset(id: string): {
    table(id: string): { load(source: string, metadata: Record<string, unknown>): Promise<unknown> };
  };
}

export interface BigQueryQuery {
  query: string;
  params?: Record<string, SqlParam>;
  types?: Record<string, string>;
  location?: string;
}

const bq = (name: string) => `\`${name.replaceAll('`', '\\`')}\``;

/** NUMERIC holds 29 integer and 9 fraction digits; BIGNUMERIC 38 and 38; beyond, exact text. */
function decimalType(c: ColumnSchema): string {
  const p = c.precision ?? 10;
  const s = c.scale ?? 0;
  if (p - s <= 29 && s <= 9) return `NUMERIC(${p}, ${s})`;
  if (p - s <= 38 && s <= 38) return `BIGNUMERIC(${p}, ${s})`;
  return 'STRING';
}

export function bigqueryType(c: ColumnSchema): string {
  switch (c.kind) {
    case 'int':
    case 'year':
      return 'INT64';
    case 'bigint':
      return c.unsigned ? 'NUMERIC(20, 0)' : 'INT64';
    case 'bit':
      return 'NUMERIC(20, 0)';
    case 'float':
    case 'double':
      return 'FLOAT64';
    case 'decimal':
      return decimalType(c);
    case 'date':
      return 'DATE';
    case 'datetime':
      return 'DATETIME';
    case 'timestamp':
      return 'TIMESTAMP';
    case 'binary':
      return 'BYTES';
    case 'time':
    case 'enum':
    case 'set':
    case 'json':
    case 'string':
      return 'STRING';
  }
}

const META: Record<string, string> = {
  VARCHAR: 'STRING',
  TIMESTAMPTZ: 'TIMESTAMP',
  BOOLEAN: 'BOOL',
  BIGINT: 'INT64',
  INTEGER: 'INT64',
};

/** `$1` -> `@p1` (BigQuery's named parameters). */
function named(sql: string): string {
  return sql.replace(/\$(\d+)/g, '@p$1');
}

function paramsOf(params: readonly SqlParam[]): {
  params: Record<string, SqlParam>;
  types: Record<string, string>;
} {
  const out: Record<string, SqlParam> = {};
  const types: Record<string, string> = {};
  params.forEach((p, i) => {
    out[`p${i + 1}`] = p;
    // Every parameter's type is said (a NULL needs it; BigQuery will not put a FLOAT64 in an INT64).
    types[`p${i + 1}`] = typeof p === 'number' ? (Number.isInteger(p) ? 'INT64' : 'FLOAT64') : 'STRING';
  });
  return { params: out, types };
}

export class BigQueryDialect implements SqlDialect {
  readonly skipExistingKey = '';
  readonly name = 'bigquery';
  readonly textType = 'STRING';
  readonly now = 'CURRENT_TIMESTAMP()';
  readonly #client: BigQueryClient;
  readonly #project: string;
  readonly #dataset: string;
  readonly #location: string | undefined;

  constructor(client: BigQueryClient, project: string, dataset: string, location?: string) {
    this.#client = client;
    this.#project = project;
    this.#dataset = dataset;
    this.#location = location;
  }

  async run(sql: string): Promise<void> {
    await this.#client.query({ query: named(sql), location: this.#location });
  }

  async rows(sql: string, params: readonly SqlParam[] = []): Promise<Record<string, unknown>[]> {
    const [rows] = await this.#client.query({
      query: named(sql),
      ...paramsOf(params),
      location: this.#location,
    });
    return rows;
  }

  async change(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    const [job] = await this.#client.createQueryJob({
      query: named(sql),
      ...paramsOf(params),
      location: this.#location,
    });
    await job.getQueryResults();
    return Number(job.metadata?.statistics?.query?.numDmlAffectedRows ?? 0);
  }

  ident = bq;

  tableName(schema: string, name: string): string {
    return bq(`${this.#project}.${this.#dataset}.${schema}__${name}`);
  }

  createSchema(): string {
    return `CREATE SCHEMA IF NOT EXISTS ${bq(`${this.#project}.${this.#dataset}`)}`;
  }

  metaType(type: string): string {
    return META[type] ?? type;
  }

  primaryKey(columns: readonly string[]): string {
    return `PRIMARY KEY (${columns.join(', ')}) NOT ENFORCED`;
  }

  // No transaction across jobs: the MERGE on the version id keeps a repeated file harmless.
  begin(): Promise<void> {
    return Promise.resolve();
  }
  commit(): Promise<void> {
    return Promise.resolve();
  }
  rollback(): Promise<void> {
    return Promise.resolve();
  }

  md5Hex(expr: string): string {
    return `TO_HEX(MD5(${expr}))`;
  }

  columnType = bigqueryType;

  castIn(c: ColumnSchema, expr: string): string {
    const type = bigqueryType(c);
    if (c.kind === 'binary') return `FROM_HEX(${expr})`;
    if (c.kind === 'date' || c.kind === 'datetime' || c.kind === 'timestamp')
      return `SAFE_CAST(${expr} AS ${type})`;
    return type === 'STRING' ? expr : `CAST(${expr} AS ${type})`;
  }

  castOut(c: ColumnSchema, expr: string): string {
    const fsp = c.fsp ?? 0;
    const cut = (text: string) => `SUBSTR(${text}, 1, ${fsp > 0 ? 20 + fsp : 19})`;
    switch (c.kind) {
      case 'binary':
        return `TO_HEX(${expr})`;
      case 'date':
        return `FORMAT_DATE('%Y-%m-%d', ${expr})`;
      case 'datetime':
        return cut(`FORMAT_DATETIME('%Y-%m-%d %H:%M:%E6S', ${expr})`);
      case 'timestamp':
        return `${cut(`FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6S', ${expr}, 'UTC')`)} || 'Z'`;
      case 'float':
      case 'double':
        return `FORMAT('%.17g', ${expr})`; // every digit of the double
      case 'int':
      case 'year':
      case 'bigint':
      case 'bit':
      case 'decimal':
      case 'time':
      case 'enum':
      case 'set':
      case 'json':
      case 'string':
        return `CAST(${expr} AS STRING)`;
    }
  }

  formatInstant(expr: string): string {
    return `FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6SZ', ${expr}, 'UTC')`;
  }

  alterToText(database: string, table: string, column: string): string {
    // BigQuery changes a column's type only to a wider one of its family, never to STRING.
    throw new ConfigError(
      'BIGQUERY_TYPE_CHANGE',
      `${database}.${table}.${column} changed type; BigQuery cannot turn a column into STRING in place: add the new type as a new column in the source, or move the old history aside`,
    );
  }

  async stage(
    table: string,
    columns: readonly string[],
    rows: readonly (string | null)[][],
  ): Promise<string> {
    const name = `_tabletime__${table.replace(/[^A-Za-z0-9_]/g, '_')}`;
    const plain = columns.map((c) => c.replace(/^`|`$/g, ''));
    const dir = await mkdtemp(join(tmpdir(), 'tabletime-bq-'));
    try {
      const file = join(dir, `${name}.jsonl`);
      await writeFile(
        file,
        rows.map((r) => JSON.stringify(Object.fromEntries(plain.map((c, i) => [c, r[i]])))).join('\n'),
      );
      await this.#client
        .dataset(this.#dataset)
        .table(name)
        .load(file, {
          sourceFormat: 'NEWLINE_DELIMITED_JSON',
          writeDisposition: 'WRITE_TRUNCATE',
          schema: { fields: plain.map((c) => ({ name: c, type: 'STRING', mode: 'NULLABLE' })) },
          location: this.#location,
        });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return bq(`${this.#project}.${this.#dataset}.${name}`);
  }

  // The key is not enforced in BigQuery: the MERGE below matches ids itself.
  readonly versionIdKey = true;

  insertIgnore(target: string, columns: readonly string[], select: string): string {
    return `MERGE ${target} T USING (${select}) S ON T._tt_version_id = S._tt_version_id
      WHEN NOT MATCHED THEN INSERT (${columns.join(', ')}) VALUES (${columns.map((c) => `S.${c}`).join(', ')})`;
  }

  async createViews({ database, table, columns, primaryKeys }: TableSchema): Promise<void> {
    const hist = this.tableName(database, `${table}__history`);
    const src = columns.map((c) => bq(c.name)).join(', ');
    const key = 'coalesce(_tt_key, _tt_version_id)';
    const last = (where: string) => rowsPresentIn(this, hist, where, columns, primaryKeys);
    // A version's end as the other stores give it: the earliest commit time of its key's later
    // versions. BigQuery's frames have no GROUPS, so versions of one position share a rank and the
    // frame starts at the next rank.
    await this.run(`CREATE OR REPLACE VIEW ${this.tableName(database, `${table}__versions`)} AS
      SELECT * EXCEPT (_tt_rank),
             MIN(_tt_commit_ts) OVER (PARTITION BY ${key} ORDER BY _tt_rank RANGE BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS _tt_valid_to
        FROM (SELECT *, _tt_commit_ts AS _tt_valid_from,
                     DENSE_RANK() OVER (PARTITION BY ${key} ORDER BY _tt_position) AS _tt_rank
                FROM ${hist})`);
    await this.run(`CREATE OR REPLACE VIEW ${bq(`${this.#project}.${this.#dataset}.${database}__${table}`)} AS
      SELECT ${src} FROM (${last('')}) v`);
    await this
      .run(`CREATE OR REPLACE TABLE FUNCTION ${this.tableName(database, `${table}__as_of`)}(_tt_at TIMESTAMP) AS
      SELECT ${src} FROM (${last('WHERE _tt_commit_ts <= _tt_at')}) v`);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class BigQueryStore extends SqlHistoryStore {
  /** `bigquery://project/dataset[?location=EU]`, with Application Default Credentials. */
  static async open(url: string, client?: BigQueryClient): Promise<BigQueryStore> {
    const u = new URL(url);
    const project = u.hostname;
    const dataset = u.pathname.replace(/^\//, '');
    if (!project || !dataset) throw new ConfigError('STORE', `'${url}' is not bigquery://project/dataset`);
    const location = u.searchParams.get('location') ?? undefined;
    let c = client;
    if (!c) {
      const { BigQuery } = await import('@google-cloud/bigquery');
      c = new BigQuery({ projectId: project });
    }
    const store = new BigQueryStore(new BigQueryDialect(c, project, dataset, location));
    await store.init();
    return store;
  }
}
