import type { ChangeEvent, ChangeType, Row, TableSchema } from '../../src/core/index.ts';

let counter = 0;

/** A binlog change event for tests; position and timestamps are made up but consistent. */
export function binlogEvent(
  schema: TableSchema,
  payload: Row,
  opts: {
    changeType?: ChangeType;
    logFile?: string;
    logPosition?: number;
    rowIndex?: number;
    commitUs?: number;
    before?: Row;
  } = {},
): ChangeEvent {
  counter++;
  const commitUs = opts.commitUs ?? 1_764_018_954_123_456 + counter;
  return {
    database: schema.database,
    table: schema.table,
    changeType: opts.changeType ?? 'INSERT',
    readMethod: 'mysql-cdc-binlog',
    position: {
      snapshot: false,
      logFile: opts.logFile ?? 'mariadb-bin.000001',
      logPosition: opts.logPosition ?? 1000 + counter * 100,
      rowIndex: opts.rowIndex ?? 0,
      gtid: `0-1-${counter}`,
    },
    commitTimestampUs: commitUs,
    sourceTimestampMs: Math.floor(commitUs / 1_000_000) * 1000,
    readTimestampMs: Math.floor(commitUs / 1000) + 5,
    primaryKeys: schema.primaryKeys,
    schemaKey: '',
    payload,
    before: opts.before ?? null,
    snapshotId: null,
    uuid: '',
    streamName: 'tabletime-test',
  };
}
