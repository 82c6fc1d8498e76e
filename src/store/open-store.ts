import { access } from 'node:fs/promises';
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
 * `existing`: a DuckDB file must be there already (commands that only read). `notice`: one-line
 * messages about long work while opening (PostgreSQL: an older history's upgrade).
 */
export async function openStore(
  dataDir: string,
  spec?: string,
  options: { readonly existing?: boolean; readonly notice?: (message: string) => void } = {},
): Promise<HistoryStore> {
  if (!spec || spec.startsWith('duckdb:')) {
    const path = spec ? spec.slice('duckdb:'.length) : duckdbPathOf(dataDir);
    // A command that only reads (query, serve, verify) would otherwise create an empty history
    // where a mistyped --data-dir points, and answer every question with nothing.
    if (
      options.existing &&
      !(await access(path).then(
        () => true,
        () => false,
      ))
    )
      throw new ConfigError(
        'NO_HISTORY',
        `there is no history at ${path}: give the --data-dir that \`tabletime run\` or \`apply\` writes to (or --store)`,
      );
    return DuckdbStore.open(path, { notice: options.notice });
  }
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://'))
    return PostgresStore.open(spec, { notice: options.notice });
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
