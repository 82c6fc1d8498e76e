/**
 * A large synthetic history for the query figures: `versions` versions over `keys` records of
 * `bench.q (id BIGINT PRIMARY KEY, v INT, s VARCHAR(40), amount DECIMAL(12,2))`, one version a
 * millisecond, 5 % of the records deleted in the last round. The store creates the table and its
 * catalog from one real change (so the layout is the product's), then the rows are generated
 * inside the database, which is much faster than applying that many change files (with what the
 * store derives as it inserts: DuckDB's `_tt_order`, PostgreSQL's `_tt_valid_to`).
 */
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import type { ChangeEvent, TableSchema } from '../src/core/index.ts';
import { columnFromSqlType } from '../src/core/index.ts';
import { DuckdbStore, type HistoryStore, PostgresStore } from '../src/store/index.ts';
import { positionOrder } from '../src/store/duckdb-store.ts';

const SCHEMA: TableSchema = {
  database: 'bench',
  table: 'q',
  primaryKeys: ['id'],
  columns: [
    columnFromSqlType('id', 'bigint'),
    columnFromSqlType('v', 'int'),
    columnFromSqlType('s', 'varchar(40)'),
    columnFromSqlType('amount', 'decimal(12,2)'),
  ],
};

const BASE_US = Date.UTC(2026, 0, 1) * 1000;

function seedEvent(): ChangeEvent {
  return {
    database: 'bench',
    table: 'q',
    changeType: 'INSERT',
    readMethod: 'mysql-cdc-binlog',
    position: { snapshot: false, logFile: 'mariadb-bin.000000', logPosition: 4, rowIndex: 0, gtid: null },
    commitTimestampUs: BASE_US - 1_000_000,
    sourceTimestampMs: Math.floor(BASE_US / 1000) - 1000,
    readTimestampMs: Math.floor(BASE_US / 1000),
    primaryKeys: ['id'],
    schemaKey: 'bench-q',
    payload: { id: -1n, v: 0, s: 'seed', amount: '0.00' },
    uuid: 'seed',
    streamName: 'bench',
  };
}

/**
 * The SELECT that generates version i (in both SQL dialects; `i` is the series column); `end`, the
 * commit time of version j, for a store that keeps each version's end (the key's next version is
 * i + keys).
 */
function generator(
  versions: number,
  keys: number,
  series: string,
  ts: string,
  end?: (j: string) => string,
): string {
  const key = `(i % ${keys})`;
  // floor: DuckDB's `/` divides as a fraction (PostgreSQL's, of two integers, does not), and the
  // last round's deletes and the INSERT of round 0 were one row each in DuckDB's history.
  const round = `floor(i / ${keys})`;
  const lastRound = Math.floor((versions - 1) / keys);
  const deleted = `(${round} = ${lastRound} AND ${key} % 20 = 0)`;
  return `SELECT ${key} AS id, CAST(i % 1000000 AS INTEGER) AS v, 'value ' || CAST(i AS VARCHAR) AS s,
      CAST((i % 100000) / 100.0 AS DECIMAL(12,2)) AS amount,
      md5(CAST(i AS VARCHAR)) AS _tt_version_id, '["' || CAST(${key} AS VARCHAR) || '"]' AS _tt_key,
      CASE WHEN ${deleted} THEN 'DELETE' WHEN ${round} = 0 THEN 'INSERT' ELSE 'UPDATE-INSERT' END AS _tt_op,
      ${deleted} AS _tt_deleted, ${ts} AS _tt_commit_ts,
      '1:0000000001:' || lpad(CAST(i AS VARCHAR), 15, '0') || ':000000000:1' AS _tt_position,
      'mariadb-bin.000001' AS _tt_log_file, i AS _tt_log_pos, 0 AS _tt_row_index, NULL AS _tt_gtid,
      false AS _tt_snapshot, ${ts} AS _tt_ingested_at, 'bench' AS _tt_file, NULL AS _tt_raw${
        end ? `, CASE WHEN i + ${keys} < ${versions} THEN ${end(`(i + ${keys})`)} END AS _tt_valid_to` : ''
      }
    FROM ${series}`;
}

export interface QueryHistory {
  /** A commit time (µs) in the middle of the history. */
  readonly middle: number;
}

export async function buildQueryHistory(
  kind: 'DuckDB' | 'PostgreSQL',
  location: string,
  versions: number,
  keys: number,
): Promise<QueryHistory> {
  const store: HistoryStore =
    kind === 'DuckDB' ? await DuckdbStore.open(location) : await PostgresStore.open(location);
  await store.applyFile('bench-seed', [{ event: seedEvent(), schema: SCHEMA }]);
  await store.close();
  const cols =
    'id, v, s, amount, _tt_version_id, _tt_key, _tt_op, _tt_deleted, _tt_commit_ts, _tt_position, _tt_log_file, _tt_log_pos, _tt_row_index, _tt_gtid, _tt_snapshot, _tt_ingested_at, _tt_file, _tt_raw';
  if (kind === 'DuckDB') {
    const instance = await DuckDBInstance.create(location);
    const conn = await instance.connect();
    const ts = `make_timestamptz(${BASE_US} + i * 1000)`;
    await conn.run(
      `INSERT INTO bench.q__history (${cols}, _tt_order)
        SELECT *, ${positionOrder('_tt_position')} FROM (${generator(versions, keys, `range(${versions}) t(i)`, ts)})`,
    );
    await conn.run('CHECKPOINT');
    conn.closeSync();
    instance.closeSync();
  } else {
    const client = new pg.Client({ connectionString: location });
    client.on('error', () => undefined); // a dropped connection rejects the query; do not crash
    await client.connect();
    const at = (j: string) => `to_timestamp((${BASE_US} + ${j} * 1000) / 1e6)`;
    await client.query(
      `INSERT INTO bench.q__history (${cols}, _tt_valid_to) ${generator(
        versions,
        keys,
        `generate_series(0::bigint, ${versions - 1}) t(i)`,
        at('i'),
        at,
      )
        .replaceAll('AS VARCHAR', 'AS text')
        .replace('CAST(i % 1000000 AS INTEGER)', 'CAST(i % 1000000 AS integer)')}`,
    );
    await client.query('VACUUM ANALYZE bench.q__history');
    await client.end();
  }
  return { middle: BASE_US + Math.floor(versions / 2) * 1000 };
}
