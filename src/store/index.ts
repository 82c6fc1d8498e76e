export * from './store.ts';
export { DuckdbStore } from './duckdb-store.ts';
export { META_COLUMNS, keyText, commitMicros } from './history-columns.ts';
