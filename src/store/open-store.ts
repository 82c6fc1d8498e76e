import { join } from 'node:path';
import { ConfigError } from '../core/index.ts';
import { DuckdbStore } from './duckdb-store.ts';
import { PostgresStore } from './postgres-store.ts';
import { BigQueryStore } from './bigquery-store.ts';
import type { HistoryStore } from './store.ts';

/** The DuckDB file of a data dir (the embedded default store). */
export function duckdbPathOf(dataDir: string): string {
  return join(dataDir, 'history.duckdb');
}

/**
 * The store for `--store`: none (DuckDB in DIR/history.duckdb), `duckdb:PATH`, or
 * `postgres://user@host:5432/db`, or `bigquery://project/dataset` (not run here: see bigquery-store.ts).
 */
export async function openStore(dataDir: string, spec?: string): Promise<HistoryStore> {
  if (!spec) return DuckdbStore.open(duckdbPathOf(dataDir));
  if (spec.startsWith('duckdb:')) return DuckdbStore.open(spec.slice('duckdb:'.length));
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) return PostgresStore.open(spec);
  if (spec.startsWith('bigquery://')) return BigQueryStore.open(spec);
  throw new ConfigError(
    'STORE',
    `--store takes postgres://user@host:5432/db, bigquery://project/dataset or duckdb:PATH (default: DuckDB in the data dir); '${spec.split(':')[0]}:' is not supported`,
  );
}

/** A second store for queries while apply writes (DuckDB: a connection on the same file). */
export async function openReaderFor(
  store: HistoryStore,
  dataDir: string,
  spec?: string,
): Promise<HistoryStore> {
  if (store instanceof DuckdbStore) return store.openReader();
  return openStore(dataDir, spec);
}
