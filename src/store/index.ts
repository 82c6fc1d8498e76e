export * from './store.ts';
export { DuckdbStore } from './duckdb-store.ts';
export { NATIVE_FILE } from './duckdb-native.ts';
export { META_COLUMNS, keyText, commitMicros } from './history-columns.ts';
export { PostgresStore } from './postgres-store.ts';
export { SqlHistoryStore } from './sql-history-store.ts';
export { openStore, openReaderFor, duckdbPathOf } from './open-store.ts';
export { BigQueryStore, BigQueryDialect, bigqueryType, type BigQueryClient } from './bigquery-store.ts';
